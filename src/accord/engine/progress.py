"""How the engine reports progress; the CLI renders it, tests record it."""

from __future__ import annotations

from typing import Protocol

from accord.model import Direction, Job


class Progress(Protocol):
    def pass_started(self, job: Job, total: int | None) -> None: ...
    def advanced(self, job: Job, records: int) -> None: ...
    def pass_finished(self, job: Job) -> None: ...


class NoProgress:
    """The default listener: reports nothing."""

    def pass_started(self, job: Job, total: int | None) -> None:
        pass

    def advanced(self, job: Job, records: int) -> None:
        pass

    def pass_finished(self, job: Job) -> None:
        pass


def pass_label(mapping: str, direction: Direction | None) -> str:
    arrow = {
        Direction.TO_INTEGRATION: "→",
        Direction.FROM_INTEGRATION: "←",
        Direction.BIDIRECTIONAL: "↔",
        None: "·",
    }[direction]
    return f"{mapping} {arrow}"
