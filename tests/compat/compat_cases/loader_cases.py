"""Loaders: ``inference_backend_parts``, ``LocalLoader``, ``ModuleLoader``, ``from_project``."""

from __future__ import annotations

import sys
from pathlib import Path

from compat_cases._registry import ECHO_BACKEND, case, write_files, write_project


def _local(target: str, files: dict[str, str], base: str = "src"):
    from packflow.loaders import LocalLoader

    write_files(base, files)
    return LocalLoader(target, base_dir=base)


# -- inference_backend_parts ---------------------------------------------------------------------

@case()
def parts_ok():
    from packflow.loaders.utils import inference_backend_parts

    return inference_backend_parts("pkg.module:Backend")


@case("exactly one colon")
def parts_no_colon():
    from packflow.loaders.utils import inference_backend_parts

    inference_backend_parts("pkg.module")


@case("exactly one colon")
def parts_two_colons():
    from packflow.loaders.utils import inference_backend_parts

    inference_backend_parts("a:b:c")


@case(differs="target-parts")
def parts_empty_module():
    from packflow.loaders.utils import inference_backend_parts

    return inference_backend_parts(":Backend")


@case(differs="target-parts")
def parts_spaces():
    from packflow.loaders.utils import inference_backend_parts

    return inference_backend_parts("inference: Backend")


# -- LocalLoader -----------------------------------------------------------------------------------

@case()
def local_load_class():
    backend = _local("model_a:Backend", {"model_a.py": ECHO_BACKEND}).load()
    return [type(backend).__name__, backend({"a": 1})]


@case()
def local_load_kwargs():
    return _local("model_b:Backend", {"model_b.py": ECHO_BACKEND}).load(verbose=True).config.verbose


@case()
def local_load_instance():
    source = ECHO_BACKEND + "\nbackend = Backend(feature_names=['a'])\n"
    backend = _local("model_c:backend", {"model_c.py": source}).load()
    return backend({"a": 1, "b": 2})


@case()
def local_load_nested_module():
    return type(_local("pkg.sub.model_d:Backend", {"pkg/sub/model_d.py": ECHO_BACKEND}).load()).__name__


@case()
def local_base_dir_resolved():
    from packflow.loaders import LocalLoader

    return str(LocalLoader("x:Y", base_dir="rel").base_dir) == str(Path("rel").resolve())


@case()
def local_base_dir_default_cwd():
    from packflow.loaders import LocalLoader

    return str(LocalLoader("x:Y").base_dir) == str(Path.cwd().resolve())


@case()
def local_path_attribute():
    from packflow.loaders import LocalLoader

    return LocalLoader("x:Y").path


@case("Unable to load inference backend module")
def local_missing_file():
    from packflow.loaders import LocalLoader

    LocalLoader("nope:Backend", base_dir=".").load()


@case()
def local_missing_file_direct():
    from packflow.loaders import LocalLoader

    LocalLoader("nope:Backend", base_dir=".").load_backend_module()


@case("Unable to load inference backend module")
def local_missing_attribute():
    _local("model_e:Nope", {"model_e.py": ECHO_BACKEND}).load()


@case()
def local_missing_attribute_direct():
    _local("model_f:Nope", {"model_f.py": ECHO_BACKEND}).load_backend_module()


@case("Unable to load inference backend module")
def local_syntax_error():
    _local("model_g:Backend", {"model_g.py": "def broken(:\n"}).load()


@case()
def local_syntax_error_direct():
    _local("model_h:Backend", {"model_h.py": "def broken(:\n"}).load_backend_module()


@case("Unable to load inference backend module", "import-time failure")
def local_import_raises():
    _local("model_i:Backend", {"model_i.py": "raise RuntimeError('import-time failure')\n"}).load()


@case("Unable to load inference backend module")
def local_bad_target():
    from packflow.loaders import LocalLoader

    LocalLoader("no-colon-here").load()


@case("does not appear to be a packflow InferenceBackend")
def local_not_a_backend():
    _local("model_j:VALUE", {"model_j.py": "VALUE = 42\n"}).load()


@case("does not appear to be a packflow InferenceBackend")
def local_plain_class():
    _local("model_k:Thing", {"model_k.py": "class Thing:\n    pass\n"}).load()


@case()
def local_abstract_backend():
    source = "from packflow import InferenceBackend\n\nclass Backend(InferenceBackend):\n    pass\n"
    _local("model_l:Backend", {"model_l.py": source}).load()


@case()
def local_initialize_fails():
    source = ECHO_BACKEND + "\n    def initialize(self):\n        raise RuntimeError('no weights')\n"
    _local("model_m:Backend", {"model_m.py": source}).load()


@case(differs="sibling-imports")
def local_sibling_import():
    files = {"helper_n.py": "K = 7\n", "model_n.py": ECHO_BACKEND.replace(
        "return inputs", "return [{'k': K} for _ in inputs]") + "\nfrom helper_n import K\n"}
    return _local("model_n:Backend", files).load()({"a": 1})


@case()
def dot_notation_to_pypath():
    from packflow.loaders import LocalLoader

    return [LocalLoader._dot_notation_to_pypath("pkg.mod", "base") == str(Path("base/pkg/mod.py").resolve()),
            LocalLoader._dot_notation_to_pypath("mod") == str(Path("mod.py").resolve())]


@case()
def import_module_from_source():
    from packflow.loaders import LocalLoader

    write_files(".", {"plain_o.py": "X = 5\n"})
    module = LocalLoader._import_module_from_source("plain_o.py")
    return module.X


@case(differs="source-module-name")
def import_module_from_source_registers_stem():
    from packflow.loaders import LocalLoader

    write_files(".", {"plain_p.py": "X = 5\n"})
    module = LocalLoader._import_module_from_source("plain_p.py")
    return [module.__name__, "plain_p" in sys.modules]


@case()
def import_module_from_source_missing():
    from packflow.loaders import LocalLoader

    LocalLoader._import_module_from_source("missing_q.py")


# -- ModuleLoader ----------------------------------------------------------------------------------

def _module_loader(target: str, files: dict[str, str]):
    from packflow.loaders import ModuleLoader

    base = write_files("site", files)
    sys.path.insert(0, str(base))
    return ModuleLoader(target)


@case()
def module_load_class():
    loader = _module_loader("installed_r.model:Backend", {"installed_r/__init__.py": "",
                                                         "installed_r/model.py": ECHO_BACKEND})
    return type(loader.load()).__name__


@case()
def module_missing_module_direct():
    from packflow.loaders import ModuleLoader

    ModuleLoader("no_such_package_xyz.model:Backend").load_backend_module()


@case("Unable to load inference backend module")
def module_missing_module():
    from packflow.loaders import ModuleLoader

    ModuleLoader("no_such_package_xyz.model:Backend").load()


@case("does not exist in loaded module")
def module_missing_attribute_direct():
    _module_loader("installed_s:Nope", {"installed_s.py": ECHO_BACKEND}).load_backend_module()


@case("Unable to load inference backend module", "does not exist in loaded module")
def module_missing_attribute():
    _module_loader("installed_t:Nope", {"installed_t.py": ECHO_BACKEND}).load()


@case("Unable to load inference backend module")
def module_dependency_missing():
    _module_loader("installed_u:Backend", {"installed_u.py": "import no_such_dependency_xyz\n"}).load()


@case()
def module_stdlib_not_backend():
    from packflow.loaders import ModuleLoader

    ModuleLoader("json:dumps").load()


# -- InferenceBackendLoader ------------------------------------------------------------------------

@case()
def loader_base_is_abstract():
    from packflow.loaders import InferenceBackendLoader

    InferenceBackendLoader("x:Y")


@case()
def custom_loader_subclass():
    from packflow import InferenceBackend
    from packflow.loaders import InferenceBackendLoader

    class Inline(InferenceBackend):
        def execute(self, inputs):
            return [{"n": len(inputs)} for _ in inputs]

    class DictLoader(InferenceBackendLoader):
        def load_backend_module(self):
            return {"inline:Inline": Inline}[self.path]

    return DictLoader("inline:Inline").load(verbose=True)([{}, {}])


@case("Unable to load inference backend module", "KeyError")
def custom_loader_subclass_failing():
    from packflow.loaders import InferenceBackendLoader

    class Failing(InferenceBackendLoader):
        def load_backend_module(self):
            raise KeyError("KeyError")

    Failing("x:Y").load()


@case()
def from_project_loads():
    from packflow.loaders import InferenceBackendLoader

    write_project("p")
    return InferenceBackendLoader.from_project("p")({"a": 1})


@case()
def from_project_via_local_loader_class():
    from packflow.loaders import LocalLoader

    write_project("p")
    return type(LocalLoader.from_project("p")).__name__


@case()
def from_project_backend_config():
    from packflow.loaders import InferenceBackendLoader

    write_project("p", extra_yaml="backend_config:\n  verbose: true\n  feature_names: [a]\n")
    backend = InferenceBackendLoader.from_project("p")
    return [backend.config.verbose, backend({"a": 1, "b": 2})]


@case()
def from_project_kwargs_win():
    from packflow.loaders import InferenceBackendLoader

    write_project("p", extra_yaml="backend_config:\n  feature_names: [a]\n")
    return InferenceBackendLoader.from_project("p", feature_names=["b"])({"a": 1, "b": 2})


@case()
def from_project_env_applied():
    import os

    from packflow.loaders import InferenceBackendLoader

    write_project("p", extra_yaml="env:\n  COMPAT_FROM_PROJECT: 'yes'\n")
    InferenceBackendLoader.from_project("p")
    return os.environ.get("COMPAT_FROM_PROJECT")


@case()
def from_project_module_loader():
    from packflow.loaders import InferenceBackendLoader

    write_project("p", target="modmodel_v:Backend", loader="module", files={"modmodel_v.py": ECHO_BACKEND})
    return type(InferenceBackendLoader.from_project("p")).__name__


@case("Not a packflow project")
def from_project_missing_yaml():
    from packflow.loaders import InferenceBackendLoader

    Path("empty").mkdir()
    InferenceBackendLoader.from_project("empty")


@case(differs="pydantic-errors")
def from_project_invalid_yaml_key():
    from packflow.loaders import InferenceBackendLoader

    write_project("p", extra_yaml="unexpected_key: 1\n")
    InferenceBackendLoader.from_project("p")


@case(differs="sys-path")
def from_project_leaves_sys_path():
    from packflow.loaders import InferenceBackendLoader

    root = write_project("p")
    InferenceBackendLoader.from_project("p")
    return str(root) in sys.path


@case(differs="init-wrapped")
def local_backend_init_raises():
    source = ECHO_BACKEND + "\n    def __init__(self, **kwargs):\n        raise ValueError('bad init')\n"
    _local("model_w:Backend", {"model_w.py": source}).load()


@case(differs="target-parts")
def parts_not_a_string():
    from packflow.loaders.utils import inference_backend_parts

    inference_backend_parts(42)


@case(differs="deep-merge")
def from_project_kwargs_dict_merge():
    from packflow.loaders import InferenceBackendLoader

    write_project("p", extra_yaml="backend_config:\n  rename_fields:\n    a: x\n")
    return InferenceBackendLoader.from_project("p", rename_fields={"b": "y"}).config.rename_fields


@case()
def module_loader_instance_and_kwargs():
    loader = _module_loader("installed_x:backend", {"installed_x.py": ECHO_BACKEND + "\nbackend = Backend()\n"})
    return type(loader.load(verbose=True)).__name__


@case()
def local_instance_ignores_kwargs():
    source = ECHO_BACKEND + "\nbackend = Backend(feature_names=['a'])\n"
    backend = _local("model_y:backend", {"model_y.py": source}).load(feature_names=["b"])
    return backend.config.feature_names
