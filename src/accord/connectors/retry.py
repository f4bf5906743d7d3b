"""Retries of connector calls that failed for a passing reason (lost connection, timeout).

:class:`RetryingConnector` wraps every connector a project opens. A call that raises
:class:`RetriableConnectorError` is made again after an exponential backoff with jitter, up to
the system's ``retry`` setting; a :class:`FatalConnectorError` (or any other error) goes
straight through, because trying again would only fail the same way later.

Two calls cannot simply be made again:

* **A read is a stream.** The engine consumes batches from a generator, and a generator that
  raised is finished. The wrapper opens a new read and resumes right after the last record it
  delivered, so the engine sees every record once:

  - a read by ``keys`` asks again for the keys not delivered yet;
  - a read ordered by (modified, key) (``modified_after`` given and the table has a
    modified-on field) restarts at the last version delivered and drops the records of that
    version it already delivered. Only the datetime comparison the connector already makes
    for ``modified_after`` is used, never a comparison of keys, whose order depends on the
    database's collation;
  - a read ordered by key is read again from the start, with the same arguments and so the
    same order, and skips everything up to and including the last key delivered (the same
    records keyset pagination would skip). If that record is gone by then, the position is
    lost; the read fails with a clear message rather than guess, and the pass ends with
    status ``error``, which a rerun repairs.

  A read that delivered records since its last failure starts counting its attempts afresh:
  a long stream may meet several short outages.
* **A write may have been applied even though it raised**: the commit happened, the answer
  was lost. Updates set values and deletes are idempotent, so they are simply sent again.
  Inserts are not: before sending a batch again, the wrapper reads back the keys it was to
  insert (the engine chooses them, so they are known). A record that exists and holds the
  values of the insert is taken as written by the lost attempt (success, with the version read
  back); one that exists with other values fails alone with a message that says so, never
  overwritten; the rest are sent again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar, cast

from accord.connectors.base import Capabilities, ChangeFeed, ChangeTracking, Connector
from accord.errors import RetriableConnectorError
from accord.model import Change, ChangeKind, Record, TableSchema, WriteResult
from accord.model.values import same

if TYPE_CHECKING:
    from accord.filters import Filter

T = TypeVar("T")

log = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)
"""The finest step of a version: ``modified > v - _TICK`` selects ``modified >= v``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a system's calls are retried (``retry`` in accord.toml).

    ``attempts`` counts the first call: 1 means no retry. The n-th retry waits between half
    and all of ``min(max_backoff, backoff * 2 ** (n - 1))`` seconds: exponential, so a system
    that is down is not hammered, and jittered, so that workers that failed together do not
    come back together.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0

    def delay(self, failures: int, jitter: float) -> float:
        """Seconds to wait after ``failures`` failures in a row; ``jitter`` is in [0, 1)."""
        # the exponent is bounded only so that the float cannot overflow
        cap = min(self.max_backoff, self.backoff * 2.0 ** min(failures - 1, 1000))
        return cap * (0.5 + jitter / 2)


class RetryingConnector:
    """A connector whose retriable failures are retried (see the module docstring).

    ``sleep`` and ``jitter`` are injectable so tests neither wait nor depend on chance.
    ``retries`` and ``waited`` count, over the wrapper's life, the calls made again and the
    seconds spent waiting.
    """

    def __init__(
        self,
        inner: Connector,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], object] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities: Capabilities = inner.capabilities
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.jitter = jitter
        self.retries = 0
        self.waited = 0.0

    # -- the retry loop -------------------------------------------------------------------
    def _wait(self, what: str, exc: RetriableConnectorError, failures: int, began: float) -> None:
        """Wait before attempt ``failures + 1``, or raise when no attempt is left."""
        if failures >= self.policy.attempts:
            took = time.monotonic() - began
            raise RetriableConnectorError(
                f"{exc} (gave up {what} after {failures} attempt{'s' * (failures > 1)} in "
                f"{took:.1f} s; [systems.{self.name}] retry sets the attempts and the backoff)"
            ) from exc
        delay = self.policy.delay(failures, self.jitter())
        log.info(
            "system %s: %s failed (%s); attempt %d in %.2f s",
            self.name,
            what,
            exc,
            failures + 1,
            delay,
        )
        self.retries += 1
        self.waited += delay
        self.sleep(delay)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        failures, began = 0, time.monotonic()
        while True:
            try:
                return call()
            except RetriableConnectorError as exc:
                failures += 1
                self._wait(what, exc, failures, began)

    # -- the connector interface ----------------------------------------------------------
    def describe(self, table: str) -> TableSchema:
        return self._call(f"describing table '{table}'", lambda: self.inner.describe(table))

    def count(
        self, table: str, *, filter: Filter | None = None, modified_after: datetime | None = None
    ) -> int:
        return self._call(
            f"counting table '{table}'",
            lambda: self.inner.count(table, filter=filter, modified_after=modified_after),
        )

    def max_key(self, table: str, prefix: str) -> str | None:
        return self._call(f"reading table '{table}'", lambda: self.inner.max_key(table, prefix))

    def close(self) -> None:
        self.inner.close()

    # -- change tracking (where the inner connector declares it) --------------------------
    def tracks(self, table: str) -> bool:
        inner = cast(ChangeTracking, self.inner)
        return self._call(f"describing table '{table}'", lambda: inner.tracks(table))

    def track(self, table: str) -> str:
        inner = cast(ChangeTracking, self.inner)
        return self._call(f"reading table '{table}'", lambda: inner.track(table))

    def read_changes(
        self,
        table: str,
        token: str | None,
        *,
        filter: Filter | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> ChangeFeed:
        """Opening the feed is retried; a failure later in it ends the pass, and the next
        pass reads from the same token again (a feed has no position to resume from)."""
        inner = cast(ChangeTracking, self.inner)
        return self._call(
            f"reading the changes of table '{table}'",
            lambda: inner.read_changes(
                table, token, filter=filter, fields=fields, batch_size=batch_size
            ),
        )

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
        if keys is not None:
            yield from self._read_keys(table, filter, keys, fields, batch_size)
        else:
            yield from self._read_stream(table, filter, modified_after, fields, batch_size)

    def _read_keys(
        self,
        table: str,
        filter: Filter | None,
        keys: Sequence[str],
        fields: Sequence[str] | None,
        batch_size: int,
    ) -> Iterator[list[Record]]:
        """Records by key; after a failure, ask again for the keys not delivered yet."""
        wanted = list(dict.fromkeys(keys))
        delivered: set[str] = set()
        failures, began = 0, time.monotonic()
        while True:
            ask = [k for k in wanted if k not in delivered] if failures else wanted
            try:
                for batch in self.inner.read(
                    table, filter=filter, keys=ask, fields=fields, batch_size=batch_size
                ):
                    # a key may come back spelt otherwise ('007' asked, '7' read): drop repeats
                    fresh = [r for r in batch if r.key not in delivered]
                    if fresh:
                        delivered.update(r.key for r in fresh)
                        failures = 0
                        yield fresh
                return
            except RetriableConnectorError as exc:
                failures += 1
                self._wait(f"reading table '{table}'", exc, failures, began)

    def _read_stream(
        self,
        table: str,
        filter: Filter | None,
        modified_after: datetime | None,
        fields: Sequence[str] | None,
        batch_size: int,
    ) -> Iterator[list[Record]]:
        """An ordered read that resumes after the last record delivered (module docstring)."""
        by_version = modified_after is not None and self.describe(table).modified is not None
        last_key: str | None = None
        last_version: datetime | None = None
        ties: set[str] = set()  # keys delivered with version last_version
        after = modified_after
        failures, began = 0, time.monotonic()
        while True:
            skipping = failures > 0 and not by_version and last_key is not None
            # after a failure, the records of the last version delivered come again: drop them
            resume_version = last_version if failures > 0 and by_version else None
            resume_ties = ties
            try:
                for batch in self.inner.read(
                    table, filter=filter, modified_after=after, fields=fields, batch_size=batch_size
                ):
                    if skipping:
                        at = next((i for i, r in enumerate(batch) if r.key == last_key), None)
                        if at is None:
                            continue
                        batch, skipping = batch[at + 1 :], False
                    elif resume_version is not None:
                        batch = [
                            r
                            for r in batch
                            if r.version != resume_version or r.key not in resume_ties
                        ]
                        if batch and batch[-1].version != resume_version:
                            resume_version = None  # past that version: nothing more to drop
                    if not batch:
                        continue
                    if by_version:
                        first, tail = batch[0].version, batch[-1].version
                        if (
                            first is None
                            or tail is None
                            or tail < first
                            or (last_version is not None and first < last_version)
                        ):
                            by_version = False  # not in version order after all: by position
                        else:
                            # the keys delivered with the newest version: the batch's tail
                            run = []
                            for r in reversed(batch):
                                if r.version != tail:
                                    break
                                run.append(r.key)
                            if tail == last_version:
                                ties.update(run)
                            else:
                                last_version, ties = tail, set(run)
                    last_key = batch[-1].key
                    failures = 0
                    yield batch
            except RetriableConnectorError as exc:
                failures += 1
                self._wait(f"reading table '{table}'", exc, failures, began)
                if by_version and last_version is not None:
                    after = last_version - _TICK  # from the last version delivered on
                continue
            if skipping:
                raise RetriableConnectorError(
                    f"system '{self.name}': cannot resume reading table '{table}' after a "
                    f"failure: the last record read ({last_key!r}) is gone, so where to go on "
                    "is unknown; run the synchronization again"
                )
            return

    def write(self, table: str, changes: Sequence[Change]) -> list[WriteResult]:
        settled: dict[int, WriteResult] = {}
        failures, began = 0, time.monotonic()
        while True:
            try:
                if failures:
                    settled.update(self._already_inserted(table, changes, settled))
                todo = [i for i in range(len(changes)) if i not in settled]
                results = self.inner.write(table, [changes[i] for i in todo]) if todo else []
            except RetriableConnectorError as exc:
                failures += 1
                self._wait(f"writing table '{table}'", exc, failures, began)
                continue
            written = dict(zip(todo, results, strict=True))
            return [settled[i] if i in settled else written[i] for i in range(len(changes))]

    def _already_inserted(
        self, table: str, changes: Sequence[Change], settled: dict[int, WriteResult]
    ) -> dict[int, WriteResult]:
        """Inserts an attempt that raised may have applied anyway, found by reading them back."""
        inserts = {
            c.key: i
            for i, c in enumerate(changes)
            if c.kind is ChangeKind.INSERT and i not in settled
        }
        if not inserts:
            return {}
        names = sorted({f for i in inserts.values() for f in changes[i].values})
        found: dict[int, WriteResult] = {}
        for batch in self.inner.read(table, keys=list(inserts), fields=names):
            for record in batch:
                i = inserts.get(record.key)
                if i is None:
                    continue
                change = changes[i]
                other = next(
                    (f for f, v in change.values.items() if not same(v, record.values.get(f))),
                    None,
                )
                if other is None:
                    found[i] = WriteResult(change.key, True, record.version)
                else:
                    found[i] = WriteResult(
                        change.key,
                        False,
                        error=(
                            f"a record with key {change.key!r} already exists with other values "
                            f"({other}: {record.values.get(other)!r}, not "
                            f"{change.values[other]!r}) after a write whose answer was lost; "
                            "it is left as it is"
                        ),
                    )
        return found
