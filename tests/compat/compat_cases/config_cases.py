"""``BackendConfig`` / ``load_backend_configuration`` and ``packflow.loaders.config``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from compat_cases._registry import captured_logs, case, env, write_files, write_project


@case()
def load_configuration_defaults():
    from packflow.backend.configuration import BackendConfig, load_backend_configuration

    return load_backend_configuration(BackendConfig).model_dump(mode="json", include={"verbose", "input_format"})


@case()
def load_configuration_kwargs():
    from packflow.backend.configuration import BackendConfig, load_backend_configuration

    cfg = load_backend_configuration(BackendConfig, input_format="numpy", feature_names=["a"])
    return [cfg.input_format.value, cfg.feature_names]


@case()
def load_configuration_with_instance_model():
    from packflow.backend.configuration import BackendConfig, load_backend_configuration

    return load_backend_configuration(BackendConfig(), verbose=True).verbose


@case(differs="pydantic-errors")
def load_configuration_bad_value():
    from packflow.backend.configuration import BackendConfig, load_backend_configuration

    load_backend_configuration(BackendConfig, feature_names="a,b")


@case(differs="override-file")
def override_file_is_read():
    from packflow.backend.configuration import BackendConfig, load_backend_configuration

    Path("override.json").write_text(json.dumps({"configs": {"verbose": True}}))
    env(BACKEND_CONFIG_FILE_PATH=str(Path("override.json").resolve()))
    return load_backend_configuration(BackendConfig).verbose


@case(differs="override-file")
def override_file_missing():
    from packflow.backend.configuration import BackendConfig, load_backend_configuration

    env(BACKEND_CONFIG_FILE_PATH=str(Path("missing.json").resolve()))
    return load_backend_configuration(BackendConfig).verbose


@case(differs="empty-delimiter")
def empty_delimiter():
    from packflow import BackendConfig

    return BackendConfig(nested_field_delimiter="").nested_field_delimiter


@case()
def backend_config_direct_validation_error():
    from packflow import BackendConfig

    BackendConfig(rename_fields=["a"])


# -- PackflowConfig ------------------------------------------------------------------------------

@case()
def packflow_config_defaults():
    from packflow.loaders import PackflowConfig

    data = PackflowConfig(name="demo").model_dump()
    data.pop("python_version")
    return data


@case()
def packflow_config_python_version_default():
    from packflow.loaders.config import PackflowConfig, get_python_version

    return PackflowConfig(name="demo").python_version == get_python_version()


@case()
def packflow_config_bad_name():
    from packflow.loaders import PackflowConfig

    PackflowConfig(name="1-starts-with-digit")


@case()
def packflow_config_bad_target():
    from packflow.loaders import PackflowConfig

    PackflowConfig(name="demo", inference_backend="no_colon")


@case()
def packflow_config_unknown_key():
    from packflow.loaders import PackflowConfig

    PackflowConfig(name="demo", surprise=1)


@case()
def packflow_config_bad_loader():
    from packflow.loaders import PackflowConfig

    PackflowConfig(name="demo", loader="remote")


@case()
def archive_file_name():
    from packflow.loaders import PackflowConfig

    path = PackflowConfig(name="my-model", version="1.2.0").archive_file_name("out")
    return [Path(path).name, Path(path).is_absolute(), Path(path).parent == Path("out").resolve()]


@case()
def normalize_archive_name():
    from packflow.loaders.config import normalize_archive_name

    return [normalize_archive_name("my-model-x"), normalize_archive_name("plain_name")]


@case()
def write_yaml_round_trip():
    import yaml
    from packflow.loaders import PackflowConfig

    cfg = PackflowConfig(name="demo", description="d", maintainers=["m@x"], env={"A": "1"},
                         backend_config={"verbose": True}, extra={"k": "v"})
    path = cfg.write_yaml(".")
    text = Path(path).read_text()
    headers = [line for line in text.splitlines() if line.startswith("# ===")]
    return {"name": Path(path).name, "data": yaml.safe_load(text), "headers": headers}


@case()
def write_yaml_omits_empty_sections():
    from packflow.loaders import PackflowConfig

    text = Path(PackflowConfig(name="demo").write_yaml(".")).read_text()
    return [h for h in ("ENVIRONMENT", "BACKEND CONFIG", "CUSTOM") if h in text]


@case()
def write_requirements_pins_packflow():
    import packflow
    from packflow.loaders import PackflowConfig

    path = PackflowConfig(name="demo").write_requirements(".")
    return [Path(path).name, Path(path).read_text().strip() == f"packflow=={packflow.__version__}"]


@case()
def from_project_path_reads_yaml():
    from packflow.loaders import PackflowConfig

    write_project("p", name="reader")
    cfg = PackflowConfig.from_project_path("p")
    return [cfg.name, cfg.version, cfg.inference_backend, cfg.loader]


@case("Not a packflow project")
def from_project_path_missing():
    from packflow.loaders import PackflowConfig

    Path("empty").mkdir()
    PackflowConfig.from_project_path("empty")


@case(differs="pydantic-errors")
def from_project_path_unknown_key():
    from packflow.loaders import PackflowConfig

    write_project("p", extra_yaml="surprise: 1\n")
    PackflowConfig.from_project_path("p")


@case(differs="empty-yaml")
def from_project_path_empty_file():
    from packflow.loaders import PackflowConfig

    write_files("p", {"packflow.yaml": ""})
    PackflowConfig.from_project_path("p")


@case()
def apply_env_vars_sets_and_warns():
    from packflow.loaders.config import PackflowConfig, apply_env_vars

    env(COMPAT_EXISTING="old")
    with captured_logs() as lines:
        apply_env_vars(PackflowConfig(name="demo", env={"COMPAT_NEW": "1", "COMPAT_EXISTING": "new"}))
    return [os.environ["COMPAT_NEW"], os.environ["COMPAT_EXISTING"], any("COMPAT_EXISTING" in l for l in lines)]


@case()
def get_python_version_format():
    import sys

    from packflow.loaders.config import get_python_version

    return get_python_version() == ".".join(map(str, sys.version_info[:3]))


@case()
def check_python_version_match():
    from packflow.loaders.config import PackflowConfig, check_python_version

    return check_python_version(PackflowConfig(name="demo"))


@case("packflow.yaml specifies Python 2.7")
def check_python_version_mismatch():
    from compat_cases._registry import Observed
    from packflow.loaders.config import PackflowConfig, check_python_version

    message = check_python_version(PackflowConfig(name="demo", python_version="2.7.18"))
    return Observed(isinstance(message, str), message or "")


@case("Could not parse python_version")
def check_python_version_unparsable():
    from compat_cases._registry import Observed
    from packflow.loaders.config import PackflowConfig, check_python_version

    message = check_python_version(PackflowConfig(name="demo", python_version="three"))
    return Observed(isinstance(message, str), message or "")


@case()
def load_packflow_config_dir():
    from packflow.loaders.config import load_packflow_config

    write_project("p", name="loaded")
    return load_packflow_config("p").name


@case("Could not identify packflow project")
def load_packflow_config_missing():
    from packflow.loaders.config import load_packflow_config

    load_packflow_config("nowhere")


@case("Not a packflow project")
def load_packflow_config_not_project():
    from packflow.loaders.config import load_packflow_config

    Path("plain").mkdir()
    load_packflow_config("plain")


@case()
def validate_for_export_clean():
    from packflow.loaders.config import PackflowConfig, validate_for_export

    root = write_project("p")
    errors, warnings = validate_for_export(PackflowConfig.from_project_path(root), project_dir=root)
    return {"errors": errors, "warnings": warnings}


@case("description", "maintainer")
def validate_for_export_warnings():
    from compat_cases._registry import Observed
    from packflow.loaders.config import PackflowConfig, validate_for_export

    errors, warnings = validate_for_export(PackflowConfig(name="bare"))
    return Observed({"errors": errors, "n_warnings": len(warnings)}, "\n".join(warnings))


@case("missing")
def validate_for_export_missing_backend_file():
    from compat_cases._registry import Observed
    from packflow.loaders.config import PackflowConfig, validate_for_export

    root = write_project("p", files={"inference.py": None})
    errors, _ = validate_for_export(PackflowConfig.from_project_path(root), project_dir=root)
    return Observed(bool(errors), "\n".join(errors))


@case("inference_backend 'inference:Backend'")
def validate_for_export_backend_does_not_load():
    from compat_cases._registry import Observed
    from packflow.loaders.config import PackflowConfig, validate_for_export

    root = write_project("p", files={"inference.py": "raise RuntimeError('broken module')\n"})
    errors, _ = validate_for_export(PackflowConfig.from_project_path(root), project_dir=root)
    return Observed(bool(errors), "\n".join(errors))


@case(differs="yaml-errors")
def from_project_path_invalid_yaml_syntax():
    from packflow.loaders import PackflowConfig

    write_files("p", {"packflow.yaml": "name: [unclosed\n"})
    PackflowConfig.from_project_path("p")
