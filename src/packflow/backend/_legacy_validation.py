"""packflow 0.4.1's module-level check helpers of ``packflow.backend.validation`` (thin shims).

Each raises ``InferenceBackendValidationError`` on the first violation, with 0.4.1's wording.
``InferenceBackendValidator`` / ``check_io()`` are the current API and report every violation.
"""

from __future__ import annotations

import json
from typing import Any

from packflow.exceptions import InferenceBackendValidationError

__all__ = [
    "_check_output_keys",
    "_input_is_correct_format",
    "_inputs_and_outputs_match_len",
    "_output_is_json_serializable",
    "_output_is_list_of_dicts",
]


def _input_is_correct_format(inputs: Any) -> None:
    """Inputs must be a list of dicts."""
    if not isinstance(inputs, list):
        raise InferenceBackendValidationError(
            f"Production inputs will be in a list format; got {type(inputs).__name__}. Pass a list of dicts."
        )
    for i, value in enumerate(inputs):
        if not isinstance(value, dict):
            raise InferenceBackendValidationError(
                f"Value at index {i} is not a dictionary (got {type(value).__name__}); records are JSON objects."
            )


def _inputs_and_outputs_match_len(inputs: Any, outputs: Any) -> None:
    """One output per input."""
    if len(inputs) != len(outputs):
        raise InferenceBackendValidationError(
            f"Inputs and Outputs must have matching lengths: got {len(outputs)} outputs for {len(inputs)} inputs."
        )


def _output_is_list_of_dicts(outputs: Any) -> None:
    """Outputs must be a list of dicts."""
    if not isinstance(outputs, list):
        raise InferenceBackendValidationError(f"Outputs must be a Python list; got {type(outputs).__name__}.")
    for i, value in enumerate(outputs):
        if not isinstance(value, dict):
            raise InferenceBackendValidationError(
                f"Outputs must be a list of dictionaries: value at index {i} is a {type(value).__name__}."
            )


def _output_is_json_serializable(outputs: Any) -> None:
    """Every output record must encode as JSON (0.4.1's rule: ``json.dumps``)."""
    for i, value in enumerate(outputs):
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise InferenceBackendValidationError(
                f"Value at index {i} is not JSON Serializable ({exc}); convert it with "
                "packflow.utils.ensure_native_types."
            ) from exc


def _check_output_keys(outputs: list[dict], output_keys: list[str], logger: Any) -> None:
    """Log a warning for each declared output key that no output record has."""
    if not output_keys:
        return
    present = set().union(*(record.keys() for record in outputs))
    for key in sorted(set(output_keys) - present):
        logger.warning(f"output_keys: declared key '{key}' was not found in any output record")
