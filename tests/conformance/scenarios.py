"""The rows of the conformance matrix: what a client sends, and the one outcome every driver owes.

Each scenario is 8 records ``{"id": i, "x": ...}`` sent as JSON bytes; record 3 misbehaves (or,
for ``wide_int``, every record holds an integer wider than 64 bits). A record's outcome is either
its output — byte-identical to ``codec.encode({"id": i, "y": 2x})`` — or a dead letter with a step,
an error type and the record as it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from packflow.runtime import codec

ANY = "*"  # a step or error type the driver's protocol decides (e.g. for a record that killed a process)
SIZE = 8
BAD = 3


@dataclass(frozen=True)
class Scenario:
    name: str
    lines: list[bytes]
    #: id -> (step, error type) of the records that must be dead-lettered.
    dead: dict[int, tuple[str, str]] = field(default_factory=dict)
    #: id -> output other than ``{"id": i, "y": 2x}``.
    outputs: dict[int, Any] = field(default_factory=dict)

    def expected_output(self, i: int) -> bytes:
        """The bytes every driver must write for record ``i``'s output."""
        if i in self.outputs:
            return codec.encode(self.outputs[i])
        return codec.encode({"id": i, "y": 2 * codec.decode(self.lines[i])["x"]})

    def received(self, i: int) -> Any:
        """Record ``i`` as sent: the decoded object, or the text when it is not JSON."""
        try:
            return codec.decode(self.lines[i])
        except codec.DecodeError:
            return self.lines[i].decode()


def _lines(do: str | None = None, x: int = 0) -> list[bytes]:
    records: list[dict[str, Any]] = [{"id": i, "x": x + i} for i in range(SIZE)]
    if do is not None:
        records[BAD]["do"] = do
    return [codec.encode(r) for r in records]


def _nan_input() -> list[bytes]:
    lines = _lines()
    lines[BAD] = b'{"id": 3, "x": NaN}'
    return lines


SCENARIOS = [
    Scenario("poison", _lines("poison"), {BAD: ("execute", "ValueError")}),
    Scenario("system_exit", _lines("sysexit"), {BAD: ("execute", "SystemExit")}),
    Scenario("unencodable_output", _lines("unencodable"), {BAD: ("encode", "EncodeError")}),
    Scenario("wide_int", _lines(x=2**64)),
    Scenario("nan_output", _lines("nan"), outputs={BAD: {"id": BAD, "y": None}}),
    Scenario("nan_input", _nan_input(), {BAD: ("decode", "DecodeError")}),
    Scenario("mutates_inputs", _lines("mutate"), {BAD: ("execute", "ValueError")}),
    Scenario("wrong_output_count", _lines("drop"), {BAD: ("output-contract", "OutputContractError")}),
    Scenario("bad_record_index", _lines("bad_index"), {BAD: ("execute", "ValueError")}),
    # Last: they may leave a process stuck or dead (drivers restart what they must).
    Scenario("hanging_record", _lines("hang"), {BAD: ("timeout", ANY)}),
    # The killer's dead letter is named by the driver's protocol: serve execute/BackendProcessDied
    # (the engine died computing it), stream deliver/DeliveryLimitError (delivered too often).
    Scenario("process_killing", _lines("exit"), {BAD: (ANY, ANY)}),
]
