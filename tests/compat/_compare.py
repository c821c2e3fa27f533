"""How two outcomes of one case compare, and the verdicts of the session (one copy, imported by path)."""

from __future__ import annotations

import json
from typing import Any

#: case name -> "identical" / "deliberate difference" / "DIFFERENT", filled by test_differential.
RESULTS: dict[str, str] = {}


def _texts(outcome: dict[str, Any]) -> str:
    if outcome.get("outcome") == "raised":
        return outcome["exception"]["message"]
    return outcome.get("text") or ""


def _contains(old: Any, new: Any) -> bool:
    if isinstance(old, list) and isinstance(new, list):
        return all(item in new for item in old)
    if isinstance(old, dict) and isinstance(new, dict):
        return all(k in new and new[k] == v for k, v in old.items())
    return old == new


def _show(outcome: dict[str, Any]) -> str:
    if outcome.get("outcome") == "raised":
        exc = outcome["exception"]
        return f"raised {exc['type']}: {exc['message'][:300]}"
    if outcome.get("outcome") == "value":
        return f"returned {json.dumps(outcome['value'])[:300]}"
    return json.dumps(outcome)[:600]


def behaviour_problems(old: dict[str, Any], new: dict[str, Any], compare: str = "equal") -> list[str]:
    """How ours differs from 0.4.1 in return value or exception type (empty when compatible)."""
    if old["outcome"] not in ("value", "raised"):
        return [f"0.4.1 side failed to run the case: {_show(old)}"]
    if old["outcome"] != new["outcome"]:
        return [f"0.4.1 {_show(old)}; ours {_show(new)}"]
    if old["outcome"] == "raised":
        wanted = old["exception"]["type"]
        if wanted not in new["exception"]["mro"]:
            return [f"0.4.1 raised {wanted}; ours raised {new['exception']['type']} "
                    f"(MRO {new['exception']['mro']}), not an instance of it"]
        return []
    same = _contains(old["value"], new["value"]) if compare == "superset" else old["value"] == new["value"]
    return [] if same else [f"0.4.1 {_show(old)}; ours {_show(new)}"]


def phrase_problems(old: dict[str, Any], new: dict[str, Any], phrases: list[str]) -> list[str]:
    """Key phrases missing from either side's message or output."""
    problems = []
    for phrase in phrases:
        if phrase not in _texts(old):
            problems.append(f"case bug: {phrase!r} is not in 0.4.1's text {_texts(old)[:300]!r}")
        if phrase not in _texts(new):
            problems.append(f"{phrase!r} (0.4.1's wording) is missing from ours: {_texts(new)[:400]!r}")
    return problems


def record(name: str, verdict: str) -> None:
    """Remember a case's verdict for the end-of-session summary."""
    RESULTS[name] = verdict


def summary() -> str:
    """``packflow 0.4.1 differential cases: N (identical: a, deliberate difference: b, ...)``."""
    if not RESULTS:
        return ""
    counts: dict[str, int] = {}
    for verdict in RESULTS.values():
        counts[verdict] = counts.get(verdict, 0) + 1
    parts = ", ".join(f"{v}: {n}" for v, n in sorted(counts.items()))
    return f"packflow 0.4.1 differential cases: {len(RESULTS)} ({parts})"
