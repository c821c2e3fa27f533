"""``PackflowProject``: create, load_config, validate_required_files, export."""

from __future__ import annotations

import zipfile
from pathlib import Path

from compat_cases._registry import Observed, case, write_files, write_project


def _project():
    from packflow import PackflowProject

    return PackflowProject


def _files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts)


@case()
def project_attributes():
    project = _project()("somewhere")
    return [str(project.base_dir) == str(Path("somewhere").resolve()), project.has_packflow_config,
            repr(project) == f"PackflowProject @ {Path('somewhere').resolve()}"]


@case()
def project_has_config():
    write_project("p")
    return _project()("p").has_packflow_config


@case()
def create_returns_project():
    project = _project().create("new-model")
    return [project.base_dir.name, project.has_packflow_config, Path("new-model").is_dir()]


@case(differs="template-files")
def create_template_files():
    return _files(_project().create("files-model").base_dir)


@case()
def create_mandatory_files():
    files = _files(_project().create("mand-model").base_dir)
    return [f for f in ("inference.py", "packflow.yaml", "requirements.txt") if f in files]


@case()
def create_yaml_values():
    import yaml

    root = _project().create("yaml-model", config_data={"description": "desc", "version": "2.0.0",
                                                        "maintainers": ["m@x"]}).base_dir
    data = yaml.safe_load((root / "packflow.yaml").read_text())
    return {k: data[k] for k in ("name", "version", "description", "maintainers", "inference_backend", "loader")}


@case()
def create_requirements_pin():
    import packflow

    root = _project().create("req-model").base_dir
    return (root / "requirements.txt").read_text().splitlines()[0] == f"packflow=={packflow.__version__}"


@case()
def create_optional_files_none_selected():
    return _files(_project().create("opt-model", optional_files=[]).base_dir)


@case()
def create_optional_files_selected():
    files = _files(_project().create("opt2-model", optional_files=["README.md"]).base_dir)
    return "README.md" in files and "MODEL_CARD.md" not in files


@case()
def create_existing_directory():
    Path("taken").mkdir()
    _project().create("taken")


@case()
def create_existing_directory_force():
    Path("forced").mkdir()
    (Path("forced") / "keep.txt").write_text("mine")
    root = _project().create("forced", force=True).base_dir
    return [(root / "keep.txt").read_text(), (root / "packflow.yaml").is_file()]


@case(differs="pydantic-errors")
def create_invalid_name():
    _project().create("9lives")


@case()
def create_invalid_name_leaves_nothing():
    try:
        _project().create("bad name")
    except Exception:  # noqa: BLE001
        pass
    return sorted(p.name for p in Path(".").iterdir())


@case()
def create_unknown_template():
    _project().create("tmpl-model", template="no-such-template")


@case()
def create_unknown_template_cleans_up():
    try:
        _project().create("tmpl2-model", template="no-such-template")
    except Exception:  # noqa: BLE001
        pass
    return Path("tmpl2-model").exists()


@case(differs="template-files")
def created_project_loads_and_runs():
    from packflow.loaders import LocalLoader

    _project().create("run-model")
    return LocalLoader.from_project("run-model")({"example_field": "example_value"})


@case()
def load_config_applies_env():
    import os

    write_project("p", extra_yaml="env:\n  COMPAT_LOAD_CONFIG: 'on'\n")
    config = _project()("p").load_config()
    return [config.name, os.environ.get("COMPAT_LOAD_CONFIG")]


@case("Not a packflow project")
def load_config_missing():
    Path("empty").mkdir()
    _project()("empty").load_config()


@case()
def required_and_recommended_files():
    return [_project().REQUIRED_FILES, sorted(_project().RECOMMENDED_FILES)]


@case()
def validate_required_files_clean():
    root = write_project("p")
    project = _project()(root)
    errors, warnings = project.validate_required_files(config=project.load_config())
    return {"errors": errors, "warnings": warnings}


@case("requirements.txt")
def validate_required_files_missing_requirements():
    root = write_project("p")
    (root / "requirements.txt").unlink()
    project = _project()(root)
    errors, _ = project.validate_required_files(config=project.load_config())
    return Observed(len(errors), "\n".join(errors))


@case("'packflow' is not listed in requirements.txt")
def validate_required_files_requirements_without_packflow():
    root = write_project("p", files={"requirements.txt": "numpy\n"})
    project = _project()(root)
    errors, _ = project.validate_required_files(config=project.load_config())
    return Observed(len(errors), "\n".join(errors))


@case("README.md", "MODEL_CARD.md")
def validate_required_files_missing_recommended():
    root = write_project("p")
    (root / "README.md").unlink()
    (root / "MODEL_CARD.md").write_text("")
    project = _project()(root)
    errors, warnings = project.validate_required_files(config=project.load_config())
    return Observed({"errors": errors, "n_warnings": len(warnings)}, "\n".join(warnings))


@case("not installed")
def validate_required_files_uninstalled_requirement():
    import packflow

    root = write_project("p", files={"requirements.txt": f"packflow=={packflow.__version__}\nno-such-dist-xyz\n"})
    project = _project()(root)
    errors, warnings = project.validate_required_files(config=project.load_config())
    return Observed({"errors": errors, "n_warnings": len(warnings)}, "\n".join(warnings))


def _zip_names(path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return sorted(archive.namelist())


@case(differs="export-default-dir")
def export_archive_name():
    write_project("p", name="exported-model")
    path = _project()("p").export()
    return [Path(path).name, Path(path).parent.relative_to(Path(".").resolve()).as_posix()]


@case()
def export_output_directory():
    write_project("p", name="outdir-model")
    Path("dist").mkdir()
    return Path(_project()("p").export("dist")).parent.name


@case(differs="export-manifest")
def export_contents():
    write_project("p", files={".gitignore": "secret.txt\n", "secret.txt": "s", "data/table.csv": "a\n1\n",
                              "__pycache__/x.pyc": "", ".venv/lib.py": "", "mod.pyc": ""})
    return _zip_names(_project()("p").export())


@case()
def export_warnings_attribute():
    write_project("p", files={"README.md": None})
    project = _project()("p")
    project.export()
    return any("README.md" in w for w in project.export_warnings)


@case("Export blocked")
def export_blocked():
    root = write_project("p")
    (root / "requirements.txt").unlink()
    _project()(root).export()


@case("Not a packflow project")
def export_not_a_project():
    Path("empty").mkdir()
    _project()("empty").export()


@case()
def export_blocked_writes_nothing():
    root = write_project("p", name="blocked-model")
    (root / "inference.py").write_text("raise RuntimeError('no')\n")
    try:
        _project()(root).export()
    except Exception:  # noqa: BLE001
        pass
    return sorted(p.name for p in Path(".").iterdir())


@case()
def export_archive_loads():
    from packflow.loaders import LocalLoader

    write_project("p", name="roundtrip-model")
    path = _project()("p").export()
    with zipfile.ZipFile(path) as archive:
        archive.extractall("unpacked")
    return LocalLoader.from_project("unpacked")({"a": 1})


@case()
def export_constants():
    import packflow.project as project

    return {name: hasattr(project, name) for name in (
        "EXPORT_EXCLUDE_DIRS", "EXPORT_EXCLUDE_PATTERNS", "FILE_PERMISSIONS", "DIR_PERMISSIONS")}


@case(compare="superset")
def export_exclude_dirs():
    import packflow.project as project

    return sorted(project.EXPORT_EXCLUDE_DIRS)


@case()
def validate_required_files_without_config():
    root = write_project("p", files={"inference.py": "raise RuntimeError('broken')\n"})
    errors, _ = _project()(root).validate_required_files()
    return errors


@case(differs="export-output-dir")
def export_missing_output_directory():
    write_project("p", name="nodir-model")
    return Path(_project()("p").export("no/such/dir")).relative_to(Path.cwd().resolve()).as_posix()


@case()
def create_then_validate_required_files():
    project = _project().create("fresh-model")
    errors, warnings = project.validate_required_files(config=project.load_config())
    return {"errors": errors, "has_warnings": bool(warnings)}
