"""The driver conformance matrix: every scenario through every driver, one expected outcome.

Each cell checks, per record: its output is written exactly once and byte-identical to the codec's
encoding of the expected output, or it is dead-lettered exactly once with the expected step, error
type and (where the driver keeps it) the record as it was sent; nothing is lost; the driver's
process is still healthy afterwards. The table of results is in ``docs/guarantees.md``.
"""

from __future__ import annotations

import pytest

from tests.conformance.drivers import DRIVERS, NOT_KEPT, Driver, Observed
from tests.conformance.scenarios import ANY, SCENARIOS, Scenario



def _cells() -> list:
    cells = []
    for driver in DRIVERS:
        for scenario in SCENARIOS:
            marks = []
            if scenario.name in driver.skip:
                marks.append(pytest.mark.skip(reason=driver.skip[scenario.name]))
            elif scenario.name in driver.xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=driver.xfail[scenario.name]))
            cells.append(pytest.param(driver, scenario, marks=marks, id=f"{driver.name}-{scenario.name}"))
    return cells


def _problems(scenario: Scenario, seen: Observed) -> list[str]:
    problems = []
    unknown = (set(seen.outputs) | set(seen.dead)) - set(range(len(scenario.lines)))
    if unknown:
        problems.append(f"results for records that were never sent: {sorted(unknown)}")
    for i in range(len(scenario.lines)):
        outputs, dead = seen.outputs.get(i, []), seen.dead.get(i, [])
        if i in scenario.dead:
            step, error_type = scenario.dead[i]
            if outputs or len(dead) != 1:
                problems.append(f"record {i}: expected one {step} dead letter, got outputs {outputs} and {dead}")
                continue
            got_step, got_type, record = dead[0]
            if step not in (ANY, got_step) or error_type not in (ANY, got_type):
                problems.append(f"record {i}: dead letter {got_step}/{got_type}, expected {step}/{error_type}")
            if record is not NOT_KEPT and record != scenario.received(i):
                problems.append(f"record {i}: dead letter holds {record!r}, not the record as sent {scenario.received(i)!r}")
        elif dead or outputs != [scenario.expected_output(i)]:
            problems.append(f"record {i}: expected exactly {scenario.expected_output(i)!r}, got {outputs} and {dead}")
    if not seen.healthy:
        problems.append(f"the driver is not healthy afterwards: {seen.note}")
    return problems


@pytest.mark.parametrize(("driver_cls", "scenario"), _cells())
def test_cell(driver_cls: type[Driver], scenario: Scenario, started: dict) -> None:
    driver = started.get_started(driver_cls)  # type: ignore[attr-defined]
    seen = driver.run(scenario)
    problems = _problems(scenario, seen)
    assert not problems, "\n".join(problems) + (f"\n--- the driver's log ---\n{seen.note[-3000:]}" if seen.healthy else "")
