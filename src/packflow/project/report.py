"""``ValidationReport``: every check ``packflow validate`` made, with its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Check", "Level", "ValidationReport"]

Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Check:
    """One check: its ``level``, the ``section`` it belongs to, and what it found."""

    level: Level
    section: str
    message: str


@dataclass
class ValidationReport:
    """The checks run on a project; it is valid when no check is an error."""

    project: Path
    checks: list[Check] = field(default_factory=list)

    def add(self, level: Level, section: str, message: str) -> None:
        """Record one check."""
        self.checks.append(Check(level, section, message))

    def ok(self, section: str, message: str) -> None:
        """Record a passed check."""
        self.add("ok", section, message)

    def warn(self, section: str, message: str) -> None:
        """Record a warning (does not block export)."""
        self.add("warning", section, message)

    def error(self, section: str, message: str) -> None:
        """Record an error (blocks export; ``packflow validate`` exits 1)."""
        self.add("error", section, message)

    @property
    def errors(self) -> list[str]:
        """Messages of the failed checks."""
        return [c.message for c in self.checks if c.level == "error"]

    @property
    def warnings(self) -> list[str]:
        """Messages of the warnings."""
        return [c.message for c in self.checks if c.level == "warning"]

    @property
    def valid(self) -> bool:
        """True when no check failed."""
        return not self.errors
