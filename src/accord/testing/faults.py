"""Faults from the systems, injected on purpose: a connector wrapper driven by a plan.

:class:`FaultyConnector` sits between the engine (or a :class:`RetryingConnector`) and a real
connector and makes chosen calls fail the way systems fail in production:

* ``disconnect``: the connection drops. A read stream dies before its n-th batch; a write
  raises after the system applied the first ``committed`` changes of the batch (``committed``
  at least the batch's size is the "commit happened, answer lost" case).
* ``timeout``: no answer in time: a (tiny, in tests) delay, then the same as ``disconnect``.
* ``constraint``: the system refuses one record of a write (a unique index on another field):
  that record's :class:`WriteResult` fails and the others are written, as the SQL connector
  reports it.
* ``read-only``: every write raises :class:`FatalConnectorError` with the message the SQL
  connector gives for a read-only database user or connection (it refuses the whole write
  rather than every record alone, so that no coupling is quarantined for a permission).

A plan is data, so a test, a hypothesis strategy or a seed (:meth:`FaultPlan.random`) can make
one, and the same plan always hits the same calls: calls are counted per operation (read
batches, write calls) in the order the wrapper sees them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, cast

from accord.connectors.base import (
    Capabilities,
    ChangeBatch,
    ChangeFeed,
    ChangeTracking,
    Connector,
)
from accord.connectors.retry import RetryingConnector
from accord.errors import FatalConnectorError, RetriableConnectorError
from accord.model import Change, Record, TableSchema, WriteResult

if TYPE_CHECKING:
    from accord.filters import Filter

Operation = Literal["read", "write"]


class FaultKind(StrEnum):
    DISCONNECT = "disconnect"
    TIMEOUT = "timeout"
    CONSTRAINT = "constraint"
    READ_ONLY = "read-only"


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: which calls it hits and how.

    It hits the calls numbered ``at`` to ``at + times - 1`` (1-based) of its ``operation``
    (``times=None``: every call from ``at`` on), counting only calls on ``table`` when given.
    A read call is one batch of a read stream; a retry of a call is a new call, so ``times``
    at least the retry attempts exhausts them.
    """

    kind: FaultKind
    operation: Operation = "write"
    at: int = 1
    times: int | None = 1
    committed: int = 0
    """disconnect/timeout on a write: changes the system applied before the answer was lost."""
    record: int = 0
    """constraint: the position (modulo the batch's size) of the change refused."""
    delay: float = 0.0
    """timeout: seconds waited before the error."""
    table: str | None = None

    def hits(self, operation: Operation, table: str, number: int) -> bool:
        if operation != self.operation or (self.table is not None and table != self.table):
            return False
        if operation == "read" and self.kind in (FaultKind.CONSTRAINT, FaultKind.READ_ONLY):
            return False  # faults of writes only
        return number >= self.at and (self.times is None or number < self.at + self.times)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults of one run; the first that hits a call decides what happens to it."""

    faults: tuple[Fault, ...] = ()

    @classmethod
    def read_only(cls) -> FaultPlan:
        """A destination whose every write is refused."""
        return cls((Fault(FaultKind.READ_ONLY, "write", times=None),))

    @classmethod
    def random(
        cls,
        seed: int,
        *,
        faults: int = 2,
        calls: int = 8,
        kinds: Sequence[FaultKind] = (
            FaultKind.DISCONNECT,
            FaultKind.TIMEOUT,
            FaultKind.CONSTRAINT,
        ),
    ) -> FaultPlan:
        """A plan drawn from ``seed``: the same seed gives the same plan."""
        dice = random.Random(seed)
        drawn = []
        for _ in range(faults):
            kind = dice.choice(list(kinds))
            operation: Operation = (
                "write" if kind in (FaultKind.CONSTRAINT, FaultKind.READ_ONLY) else "read"
            )
            if kind in (FaultKind.DISCONNECT, FaultKind.TIMEOUT) and dice.random() < 0.5:
                operation = "write"
            drawn.append(
                Fault(
                    kind,
                    operation,
                    at=dice.randint(1, calls),
                    times=dice.randint(1, 4),
                    committed=dice.randint(0, 5),
                    record=dice.randint(0, 5),
                )
            )
        return cls(tuple(drawn))


@dataclass(frozen=True, slots=True)
class Injected:
    """A fault that hit a call: for tests to see what happened."""

    fault: Fault
    operation: Operation
    table: str
    number: int


@dataclass
class _Counts:
    by_operation: dict[str, int] = field(default_factory=dict)
    by_table: dict[tuple[str, str], int] = field(default_factory=dict)


class FaultyConnector:
    """A connector that fails the calls its :class:`FaultPlan` names, and passes the rest."""

    def __init__(
        self,
        inner: Connector,
        plan: FaultPlan,
        *,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.inner = inner
        self.plan = plan
        self.name = inner.name
        self.capabilities: Capabilities = inner.capabilities
        self.sleep = sleep
        self.injected: list[Injected] = []
        self._counts = _Counts()

    def _fault(self, operation: Operation, table: str) -> Fault | None:
        """Count the call, and return the fault that hits it, if any."""
        counts = self._counts
        number = counts.by_operation[operation] = counts.by_operation.get(operation, 0) + 1
        per_table = counts.by_table[operation, table] = (
            counts.by_table.get((operation, table), 0) + 1
        )
        for fault in self.plan.faults:
            if fault.hits(operation, table, per_table if fault.table else number):
                self.injected.append(Injected(fault, operation, table, number))
                return fault
        return None

    def _lost(self, fault: Fault, what: str) -> RetriableConnectorError:
        if fault.kind is FaultKind.TIMEOUT:
            self.sleep(fault.delay)
            return RetriableConnectorError(
                f"system '{self.name}': {what}: timed out after {fault.delay:g} s (injected)"
            )
        return RetriableConnectorError(f"system '{self.name}': {what}: connection lost (injected)")

    # -- the connector interface ----------------------------------------------------------
    def describe(self, table: str) -> TableSchema:
        return self.inner.describe(table)

    def count(
        self, table: str, *, filter: Filter | None = None, modified_after: datetime | None = None
    ) -> int:
        return self.inner.count(table, filter=filter, modified_after=modified_after)

    def max_key(self, table: str, prefix: str) -> str | None:
        return self.inner.max_key(table, prefix)

    def close(self) -> None:
        self.inner.close()

    def read(
        self,
        table: str,
        *,
        filter: Filter | None = None,
        modified_after: datetime | None = None,
        keys: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> Iterator[list[Record]]:
        for batch in self.inner.read(
            table,
            filter=filter,
            modified_after=modified_after,
            keys=keys,
            fields=fields,
            batch_size=batch_size,
        ):
            fault = self._fault("read", table)
            if fault is not None:
                raise self._lost(fault, f"reading table '{table}'")
            yield batch

    # -- change tracking: passed through; each batch of a feed is a read that can fail -----
    def tracks(self, table: str) -> bool:
        return cast(ChangeTracking, self.inner).tracks(table)

    def track(self, table: str) -> str:
        return cast(ChangeTracking, self.inner).track(table)

    def read_changes(
        self,
        table: str,
        token: str | None,
        *,
        filter: Filter | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> ChangeFeed:
        feed = cast(ChangeTracking, self.inner).read_changes(
            table, token, filter=filter, fields=fields, batch_size=batch_size
        )
        return _FaultyFeed(self, table, feed)

    def write(self, table: str, changes: Sequence[Change]) -> list[WriteResult]:
        fault = self._fault("write", table)
        if fault is None or not changes:
            return self.inner.write(table, changes)
        if fault.kind is FaultKind.READ_ONLY:
            raise FatalConnectorError(
                f"system '{self.name}': may not write to table '{table}': attempt to write a "
                "readonly database (the database user or connection is read-only)"
            )
        if fault.kind is FaultKind.CONSTRAINT:
            refused = fault.record % len(changes)
            others = [c for i, c in enumerate(changes) if i != refused]
            written = iter(self.inner.write(table, others))
            failure = WriteResult(
                changes[refused].key,
                False,
                error=f"UNIQUE constraint failed: {table}.name (injected)",
            )
            return [failure if i == refused else next(written) for i in range(len(changes))]
        applied = min(fault.committed, len(changes))
        if applied:
            self.inner.write(table, changes[:applied])
        raise self._lost(fault, f"writing table '{table}'")


class HasConnectors(Protocol):
    """What :func:`inject` needs of a project (an :class:`accord.Project` is one)."""

    def connector(self, system: str) -> Connector: ...


def inject(
    project: HasConnectors,
    system: str,
    plan: FaultPlan,
    *,
    sleep: Callable[[float], object] | None = None,
) -> tuple[RetryingConnector, FaultyConnector]:
    """Put a :class:`FaultyConnector` under the retries of ``project``'s ``system``.

    ``sleep`` (e.g. ``list.append``) replaces the waits of both the faults and the backoff,
    so a test neither waits nor loses the record of how long it would have. Returns the
    retrying wrapper (its ``retries`` and ``waited`` count) and the faulty one (its
    ``injected`` lists the faults that hit).
    """
    retrying = project.connector(system)
    if not isinstance(retrying, RetryingConnector):
        raise TypeError(f"system '{system}' is not opened with retries (in a dry run?)")
    faulty = FaultyConnector(retrying.inner, plan, sleep=sleep or time.sleep)
    retrying.inner = faulty
    if sleep is not None:
        retrying.sleep = sleep
    return retrying, faulty


class _FaultyFeed:
    """A change feed whose batches are reads a :class:`FaultyConnector` may fail."""

    def __init__(self, owner: FaultyConnector, table: str, feed: ChangeFeed) -> None:
        self.owner, self.table, self.feed = owner, table, feed

    @property
    def token(self) -> str | None:
        return self.feed.token

    def __iter__(self) -> Iterator[ChangeBatch]:
        for batch in self.feed:
            fault = self.owner._fault("read", self.table)
            if fault is not None:
                raise self.owner._lost(fault, f"reading the changes of table '{self.table}'")
            yield batch
