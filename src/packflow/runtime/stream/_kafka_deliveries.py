"""Crash isolation on Kafka: delivery marks kept in the consumer group's committed-offset metadata.

Kafka has no per-message delivery count (Redis has ``XPENDING``), so packflow keeps one where it
survives a ``kill -9`` and follows a partition to its next owner: the metadata string of the
partition's committed offset. A mark ``packflow:1:<tries>:<end>`` committed at offset ``C`` means

    offsets ``C..end`` were being processed when a consumer stopped without committing them, and
    the record at ``C`` has been started ``tries`` times.

The cost model: one extra synchronous commit per partition per assignment (the *first* batch read
from a partition after it is assigned is marked before it is processed), and nothing on the
following batches, whose ordinary commit clears the mark. After a crash the marked span is
*suspect*: its records are processed one at a time, each preceded by a commit that raises its
``tries``; a record started more than ``max_deliveries`` times is dead-lettered (step ``deliver``)
without being run. So a record that kills the process costs at most ``max_deliveries + 1`` crashes
(one more than on Redis when it is not in the first batch after an assignment, since that batch
was not marked), and only it is dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MARK_PREFIX", "Tracked", "format_mark", "parse_mark"]

MARK_PREFIX = "packflow:1:"


def format_mark(tries: int, end: int) -> str:
    """The metadata saying "``tries`` starts of the committed offset, suspect up to ``end``"."""
    return f"{MARK_PREFIX}{tries}:{end}"


def parse_mark(metadata: str | None) -> tuple[int, int] | None:
    """``(tries, end)`` of a mark, or None for a clean (or foreign) metadata string."""
    if not metadata or not metadata.startswith(MARK_PREFIX):
        return None
    tries, sep, end = metadata[len(MARK_PREFIX) :].partition(":")
    if not sep or not tries.isdigit() or not end.lstrip("-").isdigit():
        return None
    return int(tries), int(end)


@dataclass
class Tracked:
    """What the consumer knows about one assigned partition's delivery history."""

    #: Committed offset (next to read); None until the first record or commit is seen.
    committed: int | None = None
    #: Starts of the record at ``committed`` without a commit (0: clean).
    tries: int = 0
    #: Last offset of the suspect span (records processed alone); -1: none.
    end: int = -1
    #: Whether a mark was committed since the partition was assigned.
    marked: bool = False

    @classmethod
    def from_commit(cls, offset: int, metadata: str | None) -> Tracked:
        mark = parse_mark(metadata)
        committed = offset if offset >= 0 else None
        if mark is None or committed is None or mark[1] < committed:
            return cls(committed)
        return cls(committed, mark[0], mark[1], marked=True)

    @property
    def suspect(self) -> bool:
        return self.committed is not None and self.committed <= self.end

    def after(self, offset: int) -> str:
        """Advance past ``offset`` (written and about to be committed); the metadata to commit with it."""
        self.committed = offset + 1
        self.tries = 1 if self.committed <= self.end else 0
        if self.tries:
            return format_mark(1, self.end)
        self.end = -1
        return ""
