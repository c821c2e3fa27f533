"""Every case, run under packflow 0.4.1 and under ours: same values, compatible exceptions, same key phrases.

A case marked ``differs`` is a deliberate difference (docs/migration.md); here it must really
differ from 0.4.1, and ``test_migration.py`` checks what ours does instead.
"""

from __future__ import annotations

import pytest

from compat_cases import CASES, META
from _compare import behaviour_problems, phrase_problems, record


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name: str, released, ours) -> None:
    meta = META[name]
    old, new = released.run(name), ours.run(name)
    behaviour = behaviour_problems(old, new, meta["compare"])
    phrases = phrase_problems(old, new, meta["phrases"])
    if meta["differs"]:
        record(name, "deliberate difference")
        assert behaviour, f"{name} is listed as deliberate difference {meta['differs']!r} but behaves as 0.4.1 did"
    else:
        record(name, "identical" if not (behaviour or phrases) else "DIFFERENT")
        assert not behaviour, "\n".join(behaviour)
    assert not phrases, "\n".join(phrases)
