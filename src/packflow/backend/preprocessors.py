"""The built-in preprocessors, one per ``input_format``; each compiles its config into a plan once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable

from packflow.backend._legacy import LegacyRecordsMethods, collision_error
from packflow.backend.formats import InputFormats
from packflow.backend._fieldplan import FieldPlan as _FieldPlan
from packflow.exceptions import (
    ConfigurationError,
    PreprocessorInitError,
    PreprocessorRuntimeError,
    UnknownPreprocessorError,
)
from packflow.utils._access import MISSING, RowGetter, compile_row_getter
from packflow.utils.data import check_delimiter_collisions, flatten_dict, set_nested_field_direct

if TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.configuration import BackendConfig
    from packflow.backend.quality import QualityCounters

__all__ = [
    "NumpyPreprocessor",
    "PassthroughPreprocessor",
    "Preprocessor",
    "RecordsPreprocessor",
    "get_preprocessor",
]


class Preprocessor(ABC):
    """Base class: ``resolve()`` compiles the config at construction, ``process()`` runs per batch."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        #: Data-quality counters of the configured fields (None when no field is configured).
        self.quality: QualityCounters | None = None
        self.resolve()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    def __call__(self, raw_inputs: list[dict]) -> Any:
        """Process a batch; any failure becomes ``PreprocessorRuntimeError`` naming record and field."""
        try:
            return self.process(raw_inputs)
        except PreprocessorRuntimeError:
            raise
        except Exception as exc:
            index = getattr(exc, "index", None)
            where = f" at record {index}" if index is not None else ""
            raise PreprocessorRuntimeError(
                f"Failed to preprocess inputs with {type(self).__name__}{where}: {type(exc).__name__}: {exc}",
                record_index=index,
            ) from exc

    def as_step(self) -> Callable[[Any], Any]:
        """The callable the backend's pipeline runs: ``self``, or a bare identity when this is a no-op."""
        return _identity if self.is_noop() else self

    def is_noop(self) -> bool:
        """Whether ``process`` returns its input unchanged whatever it is."""
        return False

    @abstractmethod
    def resolve(self) -> None:
        """Check the config and compile it into an access plan."""

    @abstractmethod
    def process(self, raw_inputs: list[dict]) -> Any:
        """Transform one batch of records."""


class PassthroughPreprocessor(Preprocessor):
    """Returns its input unchanged."""

    def resolve(self) -> None:
        return None

    def is_noop(self) -> bool:
        return type(self).process is PassthroughPreprocessor.process

    def process(self, raw_inputs: list[dict]) -> list[dict]:
        return raw_inputs


class RecordsPreprocessor(LegacyRecordsMethods, Preprocessor):
    """Rename, select and order fields (nested paths allowed), optionally flattening records.

    Without ``rename_fields``, ``feature_names`` or ``flatten_nested_inputs`` it passes records
    through untouched. Missing fields and fields whose value is None are left out of the output.
    """

    def resolve(self) -> None:
        cfg = self.config
        self.passthrough = not (cfg.rename_fields or cfg.feature_names or cfg.flatten_nested_inputs or cfg.required_fields)
        if self.passthrough:
            return
        _check_renames(cfg)
        delimiter = cfg.nested_field_delimiter
        self._flatten = cfg.flatten_nested_inputs
        self._renames = list(cfg.rename_fields.items())
        self._features = list(cfg.feature_names)
        paths = [src for src, _ in self._renames] + self._features
        paths += [p for p in dict.fromkeys(cfg.required_fields) if p not in paths]  # read, not output
        selecting = bool(self._features)
        self._plan: _FieldPlan | None = (
            _FieldPlan(self, paths, cfg, dropping=selecting, renamed=len(self._renames), drops_nulls=selecting)
            if paths else None
        )
        mode = "flat" if self._flatten else "direct"
        self._getter: RowGetter | None = compile_row_getter(paths, delimiter, mode, cfg.flatten_lists) if paths else None
        uses_paths = any(delimiter in p for p in paths)
        self._check_collisions = uses_paths and not self._flatten and not cfg.ignore_delimiter_collisions
        self._build = self._compile_builder(delimiter)

    def is_noop(self) -> bool:
        return self.passthrough and type(self).process is RecordsPreprocessor.process

    def _compile_builder(self, delimiter: str) -> Callable[[dict, tuple], dict]:
        names = [dst for _, dst in self._renames] + self._features
        nested_out = not self._flatten and any(delimiter in n for n in names)
        if not self._renames and not nested_out and self._features:
            features = self._features
            return lambda record, values: {f: v for f, v in zip(features, values) if v is not None and v is not MISSING}
        return self._general_builder(delimiter, nested_out)

    def _general_builder(self, delimiter: str, nested_out: bool) -> Callable[[dict, tuple], dict]:
        n_renames = len(self._renames)
        renames = [dst for _, dst in self._renames]
        features = self._features
        flatten, lists = self._flatten, self.config.flatten_lists
        present = _present_check(nested_out, delimiter)
        put = (lambda out, k, v: set_nested_field_direct(out, k, v, delimiter)) if nested_out else dict.__setitem__

        def build(record: dict, values: tuple) -> dict:
            out: dict = {}
            for dst, value in zip(renames, values[:n_renames]):
                if value is not None and value is not MISSING:
                    put(out, dst, value)
            for name, value in zip(features, values[n_renames:]):
                if value is not None and value is not MISSING and not present(out, name):
                    put(out, name, value)
            if not features:
                out.update(flatten_dict(record, delimiter, lists) if flatten else record)
            return out

        return build

    def process(self, raw_inputs: list[dict]) -> list[dict]:
        if self.passthrough:
            return raw_inputs
        if self._check_collisions:
            self._raise_on_collisions(raw_inputs)
        build = self._build
        if self._getter is None:
            rows: list = [()] * len(_checked(raw_inputs))
        else:
            rows, careful = self._getter._rows(raw_inputs)
            if careful:
                self._plan.careful(raw_inputs, rows, None)  # type: ignore[union-attr]
            else:
                self._plan.clean_or_careful(raw_inputs, rows)  # type: ignore[union-attr]
        try:
            return [build(record, values) for record, values in zip(raw_inputs, rows)]
        except Exception:
            _raise_with_index(build, raw_inputs, rows)
            raise

    def _raise_on_collisions(self, records: list[dict]) -> None:
        delimiter = self.config.nested_field_delimiter
        for index, record in enumerate(_checked(records)):
            found = check_delimiter_collisions(record, delimiter)
            if found:
                raise collision_error(delimiter, found, index)


class NumpyPreprocessor(Preprocessor):
    """Records → 2-D ``numpy`` array, one column per ``feature_names`` entry (nested paths allowed).

    ``feature_names`` name the columns after renaming: with ``rename_fields={"src.ip": "ip"}`` the
    feature ``ip`` is read from ``src.ip``. Each column's dtype is fixed by the configuration
    (``feature_dtypes``, else ``numpy_dtype``, else ``float64``), never by the batch; see
    docs/preprocessors.md.
    """

    def resolve(self) -> None:
        from packflow.backend._columns import ColumnPlan

        cfg = self.config
        if not cfg.feature_names:
            raise PreprocessorInitError(
                "input_format='numpy' needs feature_names: list the fields (nested paths allowed, e.g. "
                "'meta.sensor_id') to turn into array columns, or use input_format='records'."
            )
        _check_renames(cfg)
        source_of = {dst: src for src, dst in cfg.rename_fields.items()}
        self.features = [source_of.get(name, name) for name in cfg.feature_names]
        self._columns = ColumnPlan(list(cfg.feature_names), cfg.numpy_dtype, dict(cfg.feature_dtypes))
        required = [source_of.get(f, f) for f in cfg.required_fields]
        paths = self.features + [p for p in dict.fromkeys(required) if p not in self.features]
        self._plan = _FieldPlan(self, paths, cfg, dropping=True, renamed=len(source_of))
        self._getter = compile_row_getter(paths, cfg.nested_field_delimiter, "field")

    def process(self, raw_inputs: list[dict]) -> Any:
        if not raw_inputs:
            return self._columns.np.empty((0, len(self.features)), dtype=self._columns.array_dtype)
        getter = self._getter
        fast_rows = _try(getter.unchecked_batch or getter.fast_batch, raw_inputs)
        if fast_rows is not None:
            array = self._columns.fast(fast_rows)
            if array is not None:
                self._plan.clean(raw_inputs)
                return array
        rows = getter.rows(raw_inputs)
        self._plan.careful(raw_inputs, rows, self._columns.mismatch)
        array, problem = self._columns.convert(rows)
        if problem is not None:
            raise PreprocessorRuntimeError(
                f"NumpyPreprocessor: record {problem.record} field {problem.field!r} {problem.reason}.",
                record_index=problem.record, field=problem.field,
            )
        return array


_PREPROCESSORS: dict[InputFormats, type[Preprocessor]] = {
    InputFormats.PASSTHROUGH: PassthroughPreprocessor,
    InputFormats.RECORDS: RecordsPreprocessor,
    InputFormats.NUMPY: NumpyPreprocessor,
}


def get_preprocessor(config: BackendConfig) -> Preprocessor:
    """Build the preprocessor that ``config.input_format`` selects."""
    try:
        cls = _PREPROCESSORS[InputFormats(config.input_format)]
    except (ValueError, KeyError) as exc:
        known = ", ".join(f.value for f in InputFormats)
        raise UnknownPreprocessorError(
            f"Unknown input_format {config.input_format!r}; expected one of: {known}."
        ) from exc
    return cls(config)


def _try(batch: Callable[[list], list], records: list) -> list | None:
    try:
        return batch(records)
    except (LookupError, TypeError):
        return None


def _check_renames(cfg: BackendConfig) -> None:
    """Two sources onto one target, or a target that is another rename's source, lose data silently."""
    targets: dict[str, str] = {}
    for source, target in cfg.rename_fields.items():
        if target in targets:
            raise ConfigurationError(
                f"rename_fields maps both {targets[target]!r} and {source!r} onto {target!r}; one value would be lost. "
                "Give each source its own target name."
            )
        targets[target] = source
    clash = sorted(t for t in targets if t in cfg.rename_fields and cfg.rename_fields[t] != t)
    if clash:
        raise ConfigurationError(
            f"rename_fields renames onto {clash[0]!r}, which is itself renamed ({clash[0]!r} -> "
            f"{cfg.rename_fields[clash[0]]!r}); the result would depend on the order. Rename to a new name."
        )


def _present_check(nested: bool, delimiter: str) -> Callable[[dict, str], bool]:
    if not nested:
        return dict.__contains__
    from packflow.utils.data import get_nested_field_direct

    return lambda out, name: get_nested_field_direct(out, name, delimiter) is not None


def _identity(data: Any) -> Any:
    return data


def _raise_with_index(build: Callable[[dict, tuple], dict], records: list, rows: list) -> None:
    """Re-run ``build`` record by record to raise the first failure with its record index."""
    for index, (record, values) in enumerate(zip(records, rows)):
        try:
            build(record, values)
        except Exception as exc:
            raise PreprocessorRuntimeError(
                f"Failed to preprocess inputs with RecordsPreprocessor at record {index}: {type(exc).__name__}: {exc}",
                record_index=index,
            ) from exc


def _checked(records: list) -> list:
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise PreprocessorRuntimeError(
                f"Record {index} is a {type(record).__name__}, not a dict; send records as JSON objects.",
                record_index=index,
            )
    return records
