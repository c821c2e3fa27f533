"""packflow 0.4.1 methods that subclasses and tests used, kept as thin shims (docs/migration.md).

``InferenceBackend`` and ``RecordsPreprocessor`` inherit these; new code does not need them.
Overriding ``_execute_and_profile_step`` still works: a backend whose class overrides it has
every step of its pipeline routed through the override, as 0.4.1 did.
"""

from __future__ import annotations

from typing import Any, Callable

from packflow.exceptions import InferenceBackendRuntimeError, PreprocessorRuntimeError

__all__ = ["LegacyBackendHooks", "LegacyRecordsMethods", "collision_error"]

Step = Callable[[Any], Any]


class LegacyBackendHooks:
    """``_execute_and_profile_step``, ``_preprocess`` and ``_initialize`` of 0.4.1's ``InferenceBackend``."""

    _preprocessor: Any

    def _execute_and_profile_step(self, method: Callable[[Any], Any], data: Any) -> Any:
        """Run one pipeline step; a failure raises ``InferenceBackendRuntimeError`` naming the step."""
        name = getattr(method, "__name__", "step").strip("_")
        try:
            return method(data)
        except Exception as exc:
            raise InferenceBackendRuntimeError(
                f"{name}() failed in {type(self).__name__}: {type(exc).__name__}: {exc}", step=name
            ) from exc

    def _preprocess(self, raw_inputs: list[dict]) -> Any:
        """Run the configured preprocessor on a batch."""
        return self._preprocessor(raw_inputs)

    def _initialize(self) -> None:
        """Run ``initialize()``, timed, wrapping its failure (0.4.1's name for it)."""
        self._run_initialize()  # type: ignore[attr-defined]

    def _legacy_plan(self, plan: list[tuple[str, Step]]) -> list[tuple[str, Step]]:
        """``plan`` itself, or, when the class overrides ``_execute_and_profile_step``, routed through it."""
        if type(self)._execute_and_profile_step is LegacyBackendHooks._execute_and_profile_step:
            return plan
        methods = {name: (self._preprocess if name == "preprocess" else step) for name, step in plan}
        return [(name, self._through_override(method)) for name, method in methods.items()]

    def _through_override(self, method: Step) -> Step:
        def step(data: Any) -> Any:
            try:
                return self._execute_and_profile_step(method, data)
            except InferenceBackendRuntimeError as exc:
                # The pipeline names the failing step itself: hand it the user's original error.
                if isinstance(exc.__cause__, Exception):
                    raise exc.__cause__ from None
                raise

        return step


class LegacyRecordsMethods:
    """``_uses_nested_paths`` and ``_check_for_delimiter_collisions`` of 0.4.1's ``RecordsPreprocessor``."""

    config: Any

    def _uses_nested_paths(self) -> bool:
        """Whether a ``rename_fields`` source or a ``feature_names`` entry contains the delimiter."""
        delimiter = self.config.nested_field_delimiter
        return any(delimiter in key for key in [*self.config.rename_fields, *self.config.feature_names])

    def _check_for_delimiter_collisions(self, obj: dict) -> None:
        """Raise ``PreprocessorRuntimeError`` if a key of ``obj`` (at any depth) contains the delimiter."""
        from packflow.utils.data import check_delimiter_collisions

        if self.config.ignore_delimiter_collisions:
            return
        found = check_delimiter_collisions(obj, self.config.nested_field_delimiter)
        if found:
            raise collision_error(self.config.nested_field_delimiter, found)


def collision_error(delimiter: str, found: list[str], index: int | None = None) -> PreprocessorRuntimeError:
    """The delimiter-collision error, with 0.4.1's wording ("Keys containing the delimiter ... were found")."""
    where = f" in record {index}" if index is not None else ""
    return PreprocessorRuntimeError(
        f"Keys containing the delimiter '{delimiter}' were found{where}: {found}. This makes nested paths "
        "ambiguous: rename those keys, choose another nested_field_delimiter, or set "
        "ignore_delimiter_collisions=True.",
        record_index=index,
        field=found[0],
    )
