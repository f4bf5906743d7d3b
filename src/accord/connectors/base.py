"""The connector interface: how the engine reads and writes one system's tables.

A connector streams records in batches, writes batches of changes and reports one result per
change, isolating a failing record from the rest of its batch. What a connector can do is
declared as data in :class:`Capabilities`, never discovered through ``isinstance``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from accord.model import Change, Record, TableSchema, WriteResult
from accord.secrets import redact

if TYPE_CHECKING:
    from accord.filters import Filter


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a connector supports; the engine and the conformance suite branch on these."""

    client_keys: bool = True
    """The engine may choose the key of a record it creates (needed for crash-safe creation)."""
    batch_size: int = 1000
    """Largest number of changes :meth:`Connector.write` takes at once."""
    server_filter: bool = True
    """Filters are evaluated by the system rather than after reading."""
    optimistic_concurrency: bool = False
    """Updates can be made conditional on the version last read."""
    delete: bool = True
    """The connector can delete records."""
    change_tracking: bool = False
    """Some tables may track changes: the connector has the methods of :class:`ChangeTracking`
    (which tables do, :meth:`ChangeTracking.tracks` says)."""


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Records changed (or created) since a token, and keys of records deleted since."""

    records: list[Record]
    deleted: list[str]


class ChangeFeed(Protocol):
    """The changes since a token, batch by batch; ``token`` once every batch was read."""

    @property
    def token(self) -> str | None:
        """The token to read the next changes from: None until the feed is exhausted."""
        ...

    def __iter__(self) -> Iterator[ChangeBatch]: ...


@runtime_checkable
class ChangeTracking(Protocol):
    """What a connector declaring ``capabilities.change_tracking`` adds (optional).

    An incremental pass then reads what changed since a token instead of polling the
    modified-on field: its cost follows the number of changes, and deletions are seen.
    """

    def tracks(self, table: str) -> bool:
        """Whether ``table`` tracks changes (the others are read by modified-on time)."""
        ...

    def track(self, table: str) -> str:
        """A token marking *now*: changes made after this call are in its feed."""
        ...

    def read_changes(
        self,
        table: str,
        token: str | None,
        *,
        filter: Filter | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> ChangeFeed:
        """Changes since ``token``: records matching ``filter`` (only ``fields`` besides key
        and modified-on), and keys of records deleted (whatever the filter).

        ``token=None`` is a full read that ends with a token: every record matching
        ``filter``, then (as ``feed.token``) a token dated at the *start* of the read, so
        that a change made while it was read is in the token's feed (the next one).

        Raises:
            ChangeTokenExpired: the system no longer knows the token (the caller polls).
        """
        ...


@runtime_checkable
class Connector(Protocol):
    """One system, reached through one connector instance."""

    name: str
    capabilities: Capabilities

    def describe(self, table: str) -> TableSchema:
        """Fields, key field, modified-on field and field types of ``table``."""
        ...

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
        """Stream matching records in batches, ordered by (modified, key) or by key.

        ``keys`` restricts the read to those records (missing keys are simply absent);
        ``fields`` limits the values returned (key and modified-on are always read).
        """
        ...

    def count(
        self, table: str, *, filter: Filter | None = None, modified_after: datetime | None = None
    ) -> int:
        """How many records :meth:`read` would return with the same arguments."""
        ...

    def write(self, table: str, changes: Sequence[Change]) -> list[WriteResult]:
        """Apply changes; one result per change, in order. A failing change fails alone."""
        ...

    def max_key(self, table: str, prefix: str) -> str | None:
        """The greatest key starting with ``prefix`` (to continue a number series)."""
        ...

    def close(self) -> None: ...

    # Optional, for ``capabilities.change_tracking``: see :class:`ChangeTracking`
    # (``tracks``, ``track`` and ``read_changes``).


# Optional, not part of the protocol's checks: a connector throttled by its service (HTTP 429
# with Retry-After) may expose ``waited: float``, the seconds it has waited so far; each
# pass's job message then says how long that pass waited.


ConnectorOptions = Mapping[str, Any]


_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@?#]*):(?P<password>.*)@")
"""``scheme://user:password@``. The password runs to the *last* '@': a password spliced in
from the environment may hold '/', '#', '?', ':' or '@' unencoded, and SQLAlchemy reads
everything up to an '@' as the password, so stopping earlier would show part of it."""

_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:[^=&#]*(?:password|passwd|pwd|secret|token|api_?key)[^=&#]*)=)"
    r"(?P<value>[^&]*)",
    re.IGNORECASE,
)
"""A query parameter that carries a secret (``?password=...``, ``&sslpassword=...``); its
value runs to the next '&' or the end, '#' included."""


def redact_url(url: str) -> str:
    """A URL with its password (and any secret query parameter) replaced by ``***``.

    Safe for messages and logs, whatever the password holds: no URL parsing is trusted to
    find where the password ends.
    """
    redacted = _USERINFO.sub(lambda m: f"{m.group('head')}:***@", url, count=1)
    return redact(_SECRET_PARAMETER.sub(lambda m: f"{m.group('name')}***", redacted))
