"""The differential case library: the same calls, run under packflow 0.4.1 and under ours.

Each case is a function using only names 0.4.1 offered; it returns what it observed (or raises).
``case(...)`` registers it with how to compare the two sides; see ``tests/compat/conftest.py``.
This package must import under both packages, so it uses nothing but 0.4.1's public surface.
"""

from compat_cases._registry import CASES, FUZZ, META, Observed, case, fuzz  # noqa: F401
from compat_cases import (  # noqa: F401,E402  (registration happens on import)
    backend_cases,
    cli_cases,
    config_cases,
    fuzz_cases,
    loader_cases,
    normalize_cases,
    preprocessor_cases,
    project_cases,
    surface_cases,
    utils_cases,
)
