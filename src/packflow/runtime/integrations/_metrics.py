"""Aggregate Runner metrics from many workers into one summary.

Each worker turns its ``RunnerSnapshot`` into a *part*: additive counters plus, per step, ``count``,
``errors``, ``sum_ms`` (mean × count), percentile × count products and ``max_ms``. Parts add up
exactly for counters and means (a mean weighted by call count). Workers only keep a rolling
window of recent latencies, so the merged p50/p95/p99 are the count-weighted averages of the
workers' window percentiles — an approximation that is exact when workers see similar latencies
and never exceeds the merged ``max_ms``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COUNTERS", "empty_part", "merge_parts", "part_from_snapshot", "subtract_parts", "summarize"]

COUNTERS = ("records_in", "records_out", "dead_letters", "batches", "backend_calls", "isolation_calls")
_PCTS = ("p50", "p95", "p99")


def empty_part() -> dict[str, Any]:
    """The zero part."""
    part: dict[str, Any] = {name: 0 for name in COUNTERS}
    part.update(dead_letters_by_step={}, steps={}, workers=[])
    return part


def part_from_snapshot(snapshot: dict[str, Any], worker_id: str, encode_dead: int = 0) -> dict[str, Any]:
    """A worker's cumulative snapshot (``RunnerSnapshot.to_dict()``) as a part.

    ``encode_dead`` counts outputs the worker could not encode: they were counted as outputs by
    the Runner and move to dead letters (step ``encode``) here.
    """
    part: dict[str, Any] = {name: int(snapshot[name]) for name in COUNTERS}
    part["records_out"] -= encode_dead
    part["dead_letters"] += encode_dead
    by_step = dict(snapshot.get("dead_letters_by_step", {}))
    if encode_dead:
        by_step["encode"] = by_step.get("encode", 0) + encode_dead
    part["dead_letters_by_step"] = by_step
    part["steps"] = {name: _step_part(stat) for name, stat in snapshot.get("steps", {}).items()}
    part["workers"] = [worker_id]
    return part


def _step_part(stat: dict[str, Any]) -> dict[str, float]:
    count = stat["count"]
    out = {"count": count, "errors": stat["errors"], "sum_ms": stat["mean_ms"] * count, "max_ms": stat["max_ms"]}
    for pct in _PCTS:
        out[f"{pct}_w"] = stat[f"{pct}_ms"] * count
    return out


def merge_parts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The sum of two parts (a new dict)."""
    out: dict[str, Any] = {name: a[name] + b[name] for name in COUNTERS}
    out["dead_letters_by_step"] = _add_maps(a["dead_letters_by_step"], b["dead_letters_by_step"])
    steps = {name: dict(stat) for name, stat in a["steps"].items()}
    for name, stat in b["steps"].items():
        mine = steps.get(name)
        if mine is None:
            steps[name] = dict(stat)
            continue
        for key, value in stat.items():
            mine[key] = max(mine[key], value) if key == "max_ms" else mine[key] + value
    out["steps"] = steps
    out["workers"] = sorted(set(a["workers"]) | set(b["workers"]))
    return out


def subtract_parts(end: dict[str, Any], start: dict[str, Any]) -> dict[str, Any]:
    """What a worker did between two cumulative parts (percentiles re-weighted by the new calls)."""
    out: dict[str, Any] = {name: end[name] - start[name] for name in COUNTERS}
    out["dead_letters_by_step"] = {
        k: v - start["dead_letters_by_step"].get(k, 0) for k, v in end["dead_letters_by_step"].items()
        if v - start["dead_letters_by_step"].get(k, 0)
    }
    steps = {}
    for name, stat in end["steps"].items():
        before = start["steps"].get(name, {})
        count = stat["count"] - before.get("count", 0)
        step = {"count": count, "errors": stat["errors"] - before.get("errors", 0),
                "sum_ms": stat["sum_ms"] - before.get("sum_ms", 0.0), "max_ms": stat["max_ms"]}
        for pct in _PCTS:
            step[f"{pct}_w"] = (stat[f"{pct}_w"] / stat["count"] if stat["count"] else 0.0) * count
        steps[name] = step
    out["steps"] = steps
    out["workers"] = list(end["workers"])
    return out


def summarize(part: dict[str, Any]) -> dict[str, Any]:
    """A JSON-ready summary: counters, dead letters by step, per-step count/errors/mean/p50/p95/p99/max."""
    summary: dict[str, Any] = {name: part[name] for name in COUNTERS}
    summary["dead_letters_by_step"] = dict(part["dead_letters_by_step"])
    summary["workers"] = len(part["workers"])
    steps = {}
    for name, stat in part["steps"].items():
        count = stat["count"]
        steps[name] = {"count": count, "errors": stat["errors"],
                       "mean_ms": stat["sum_ms"] / count if count else 0.0, "max_ms": stat["max_ms"]}
        for pct in _PCTS:
            steps[name][f"{pct}_ms"] = stat[f"{pct}_w"] / count if count else 0.0
    summary["steps"] = steps
    return summary


def _add_maps(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out
