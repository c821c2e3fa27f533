"""Runs named differential cases under whichever packflow this interpreter imports.

Protocol (one JSON object per line): the parent writes ``{"case": NAME}`` on stdin; the runner
answers ``{"outcome": "value", "value": ..., "text": ...}`` or ``{"outcome": "raised", "exception":
{"type", "mro", "message"}}``. Each case runs in a fresh temporary working directory with the
environment restored afterwards, and its prints are kept off the protocol stream. The runner is
started once per side (released 0.4.1 in the side virtualenv, ours with our sources on
``PYTHONPATH``) and serves every case of the session.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import tempfile
import traceback
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compat_cases  # noqa: E402  (the case library, importable on both sides)


def qualname(cls: type) -> str:
    """``module.QualName`` (builtins without the module)."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def describe_exception(exc: BaseException) -> dict:
    """Type, MRO and message of an exception, as the parent compares them."""
    return {"type": qualname(type(exc)), "mro": [qualname(c) for c in type(exc).__mro__], "message": str(exc)}


def jsonable(value: object) -> object:
    """``value`` as JSON: arrays keep dtype and shape, floats keep NaN/inf as strings, others repr()."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v) for v in value), key=repr)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        kind = "ndarray" if hasattr(value, "shape") and value.shape else "scalar"
        shape = list(getattr(value, "shape", ()))
        return {f"__{kind}__": jsonable(value.tolist()), "dtype": str(value.dtype), "shape": shape}
    if isinstance(value, Path):
        return str(value)
    return {"__repr__": repr(value)}


def run_case(name: str, args: list | None = None) -> dict:
    """Execute one case (a registered case, or a fuzz case given ``args``) and describe what happened."""
    func = compat_cases.FUZZ[name] if args is not None else compat_cases.CASES[name]
    env = dict(os.environ)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix=f"compat-{name}-") as tmp:
        os.chdir(tmp)
        try:
            with redirect_stdout(io.StringIO()):
                result = func(*args) if args is not None else func()
        except BaseException as exc:  # noqa: BLE001 - SystemExit is an observation too
            return {"outcome": "raised", "exception": describe_exception(exc),
                    "traceback": traceback.format_exc(limit=-3)}
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
    if isinstance(result, compat_cases.Observed):
        return {"outcome": "value", "value": jsonable(result.value), "text": result.text}
    return {"outcome": "value", "value": jsonable(result), "text": None}


def main() -> None:
    protocol = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = run_case(request["case"], request.get("args"))
        except BaseException as exc:  # noqa: BLE001 - the runner itself must answer, not die
            reply = {"outcome": "runner-error", "exception": describe_exception(exc)}
        protocol.write(json.dumps(reply) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
