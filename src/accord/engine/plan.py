"""What a run does to each record, as data: the plan of a dry run, or a trace of a real one.

The engine reports every record it acts on to a :class:`Recorder` — the same calls in a real
run and in a dry run, so a dry run's plan is what the real run would do. Records left
unchanged are only counted (a plan of a million "unchanged" lines helps nobody).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from accord.model import Action, Direction


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One record's outcome. ``fields`` maps a destination field to ``(before, after)``."""

    mapping: str
    action: Action
    key: str  # the source record (for couple/uncouple: the local record)
    target: str = ""  # the destination record, or the coupled counterpart
    direction: Direction | None = None
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str = ""  # why it failed or was skipped
    conflict: bool = False  # failed (or skipped) because both sides changed


class Recorder(Protocol):
    active: bool
    """False when nobody listens: callers skip building :class:`PlannedChange` objects."""

    def record(self, change: PlannedChange) -> None: ...


class NoRecorder:
    active = False

    def record(self, change: PlannedChange) -> None:
        pass


@dataclass
class Plan:
    """Collects every planned change; counts them by mapping and action."""

    changes: list[PlannedChange] = field(default_factory=list)
    active: bool = True

    def record(self, change: PlannedChange) -> None:
        self.changes.append(change)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for c in self.changes:
            out.setdefault(c.mapping, Counter())[c.action.value] += 1
        return {m: dict(counter) for m, counter in out.items()}
