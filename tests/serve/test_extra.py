"""The serve extra is optional: light imports, and a missing extra names the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: orjson is not listed: the core codec (packflow.runtime.codec) uses it when installed, as a fast path.
HEAVY = ("starlette", "uvicorn", "prometheus_client", "httptools", "uvloop")


def test_importing_packflow_does_not_import_the_web_stack():
    code = (
        "import sys, packflow, packflow.runtime, packflow.cli, packflow.runtime.serve; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_missing_extra_raises_import_error_naming_the_extra(monkeypatch):
    import importlib.util

    from packflow.runtime.serve._deps import require_serve_extra

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'packflow\[serve\]'") as info:
        require_serve_extra()
    assert "uvicorn" in str(info.value)


def test_cli_without_the_extra_exits_2_with_the_fix():
    code = "import sys; sys.modules['prometheus_client'] = None; from packflow.cli import cli; cli(['serve', 'x:Y'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "pip install 'packflow[serve]'" in result.stderr and "prometheus-client" in result.stderr


def test_serve_config_rejects_bad_values():
    from packflow.exceptions import ConfigurationError
    from packflow.runtime.serve import ServeConfig

    with pytest.raises(ConfigurationError, match="workers"):
        ServeConfig(target="m:X", workers=0)
    config = ServeConfig(target="m:X", backend_kwargs={"a": 1}, max_wait_ms=2.0)
    assert ServeConfig.from_json(config.to_json()) == config
