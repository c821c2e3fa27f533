"""Rich notebook display: HTML tables for metrics and statistics (``_repr_html_``).

Jupyter calls ``_repr_html_`` on the last value of a cell; everywhere else these objects print as
before. Pure string building, no dependencies; every value is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["StepStatisticsTable", "html_table"]

_STYLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:right"
_HEAD = "padding:2px 8px;border-bottom:2px solid #999;text-align:right"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "–" if value is None else str(value)


def html_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None) -> str:
    """An HTML table; the first column is left-aligned (row labels)."""
    head = "".join(f'<th style="{_HEAD}">{html.escape(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = [f'<td style="{_CELL};text-align:left">{html.escape(_fmt(row[0]))}</td>']
        cells += [f'<td style="{_CELL}">{html.escape(_fmt(v))}</td>' for v in row[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    title = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return f'<table style="{_STYLE}">{title}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


#: The columns of a step-statistics table, in display order.
STAT_COLUMNS = ("count", "errors", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def statistics_rows(steps: Mapping[str, Any]) -> list[list[Any]]:
    """One row per step: its name, then :data:`STAT_COLUMNS` (models or plain dicts)."""
    rows = []
    for name, stat in steps.items():
        data = stat.model_dump() if hasattr(stat, "model_dump") else dict(stat)
        rows.append([name, *(data.get(c) for c in STAT_COLUMNS)])
    return rows


class StepStatisticsTable(dict):
    """``get_statistics()``'s result: a plain ``dict`` of step → statistics that also renders as a
    table in a notebook."""

    def _repr_html_(self) -> str:
        return html_table(("step", *STAT_COLUMNS), statistics_rows(self), "rolling per-step latency (ms)")
