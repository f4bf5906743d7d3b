"""Couplings: the durable link between one local and one integration record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from accord.model.direction import Direction, Side


class SyncResult(StrEnum):
    """Outcome of the last pass in one direction for a coupling.

    ``deferred`` means the record was written but a lookup was cleared because its target was
    not coupled yet; like a failure it is retried on the next pass until it settles.
    """

    NONE = ""
    SUCCESS = "success"
    FAILURE = "failure"
    DEFERRED = "deferred"


LOOKUP_DEFERRED = "lookup not coupled yet"
"""The message of a direction deferred by a cleared lookup. A direction deferred because it
is *due* (it owns fields it has not sent yet) has none."""


@dataclass(slots=True)
class Coupling:
    """One coupling and its per-direction sync state (reference: CRM Integration Record)."""

    mapping: str
    local_key: str
    integration_key: str
    id: int | None = None
    pending: bool = False
    local_version: datetime | None = None
    integration_version: datetime | None = None
    result_to: SyncResult = SyncResult.NONE
    job_to: str | None = None
    error_to: str = ""
    result_from: SyncResult = SyncResult.NONE
    job_from: str | None = None
    error_from: str = ""
    repeats: int = 0
    skipped: bool = False
    last_values: dict[str, Any] | None = None
    coupled_at: datetime | None = None
    synced_at: datetime | None = None
    local_hash: int | None = None
    """Checksum of the local record's mapped values at the last sync: an edit within the same
    clock tick as the version stored still shows (coarse clocks)."""
    integration_hash: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def version(self, side: Side) -> datetime | None:
        return self.local_version if side is Side.LOCAL else self.integration_version

    def set_version(self, side: Side, value: datetime | None) -> None:
        if side is Side.LOCAL:
            self.local_version = value
        else:
            self.integration_version = value

    def checksum(self, side: Side) -> int | None:
        return self.local_hash if side is Side.LOCAL else self.integration_hash

    def set_checksum(self, side: Side, value: int | None) -> None:
        if side is Side.LOCAL:
            self.local_hash = value
        else:
            self.integration_hash = value

    def key(self, side: Side) -> str:
        return self.local_key if side is Side.LOCAL else self.integration_key

    def set_result(
        self, direction: Direction, result: SyncResult, job: str | None, error: str = ""
    ) -> None:
        if direction is Direction.TO_INTEGRATION:
            self.result_to, self.job_to, self.error_to = result, job, error
        else:
            self.result_from, self.job_from, self.error_from = result, job, error

    def result(self, direction: Direction) -> SyncResult:
        return self.result_to if direction is Direction.TO_INTEGRATION else self.result_from

    def error(self, direction: Direction) -> str:
        return self.error_to if direction is Direction.TO_INTEGRATION else self.error_from

    def needs_retry(self, direction: Direction) -> bool:
        """Failed or deferred in this direction and not quarantined."""
        return not self.skipped and self.result(direction) in (
            SyncResult.FAILURE,
            SyncResult.DEFERRED,
        )

    def cleared_lookup(self, direction: Direction) -> bool:
        """``direction`` last wrote a blank for a lookup it could not translate yet."""
        return self.result(direction) is SyncResult.DEFERRED and self.error(direction).startswith(
            LOOKUP_DEFERRED
        )

    def due(self, direction: Direction) -> bool:
        """``direction`` is deferred only because it owns fields not sent yet: no source change
        and no cleared lookup (its blanks, if any, are real values)."""
        return self.result(direction) is SyncResult.DEFERRED and not self.error(direction)

    def key_on_source(self, direction: Direction) -> str:
        return self.local_key if direction is Direction.TO_INTEGRATION else self.integration_key

    def key_on_destination(self, direction: Direction) -> str:
        return self.integration_key if direction is Direction.TO_INTEGRATION else self.local_key

    def creator(self) -> Direction | None:
        """The direction whose pass is creating a pending coupling's missing record.

        The creating pass records its job on its own direction only; the opposite one, due
        at once when it owns fields, gets a job when it runs. Couplings recorded before that
        rule are told by their versions (the creator knew its source's, not the new record's).
        """
        if self.job_to and not self.job_from:
            return Direction.TO_INTEGRATION
        if self.job_from and not self.job_to:
            return Direction.FROM_INTEGRATION
        if self.local_version and not self.integration_version:
            return Direction.TO_INTEGRATION
        if self.integration_version and not self.local_version:
            return Direction.FROM_INTEGRATION
        return None

    def pending_for(self, direction: Direction) -> bool:
        """Pending, and the creation of ``direction``'s pass (an unknown creator counts as
        any pass's: the behaviour before creators were recorded)."""
        return self.pending and self.creator() in (direction, None)

    @property
    def last_result(self) -> str:
        """A one-word summary for listings."""
        if self.skipped:
            return "skipped"
        if self.pending:
            return "pending"
        results = {self.result_to, self.result_from}
        if SyncResult.FAILURE in results:
            return "failed"
        if SyncResult.DEFERRED in results:
            return "deferred"
        if SyncResult.SUCCESS in results:
            return "ok"
        return "coupled"
