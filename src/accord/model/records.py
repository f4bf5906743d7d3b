"""Records as the engine sees them, and the changes it asks connectors to make."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Record:
    """One row of a table: its key (always text), its field values and its version.

    The version is the table's modified-on value as a naive-UTC datetime; the engine
    compares it with the version stored on the coupling to decide whether the record changed
    since the last sync. ``error`` says why the record cannot be used as read (a stored value
    its column's type cannot convert, a modified-on value that is no time): the engine fails
    such a record alone, with that reason, and goes on with the others.
    """

    __slots__ = ("error", "key", "values", "version")

    def __init__(
        self, key: str, values: dict[str, Any], version: datetime | None, error: str = ""
    ) -> None:
        self.key = key
        self.values = values
        self.version = version
        self.error = error

    def __repr__(self) -> str:
        extra = f", error={self.error!r}" if self.error else ""
        return f"Record({self.key!r}, {self.values!r}, version={self.version!r}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.key, self.values, self.version, self.error) == (
            other.key,
            other.values,
            other.version,
            other.error,
        )

    __hash__ = None  # type: ignore[assignment]


class ChangeKind(StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Expected:
    """What the engine read of a record it now updates: the update is conditional on it.

    A connector whose ``capabilities.optimistic_concurrency`` is true applies the update only
    if the record still has this version *and* still holds these values in the fields the
    update writes (a coarse clock can give an edit the version it had before); otherwise it
    writes nothing and reports the change ``stale``. Why: an edit a user saved between the
    engine's read and its write would otherwise be overwritten and never seen again.
    """

    version: datetime | None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Change:
    """A write a connector is asked to make. Updates carry only the fields that change.

    ``checked`` says the values were already converted and checked against the schema the
    connector's ``describe`` gave (lengths, NOT NULL, known fields): the engine does that for
    every change it makes, so a connector may skip checking them again. ``expected`` (updates
    only, and only to a connector with optimistic concurrency): apply only if the record is
    still as the engine read it (see :class:`Expected`).
    """

    kind: ChangeKind
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    checked: bool = False
    expected: Expected | None = None


@dataclass(slots=True)
class WriteResult:
    """The outcome of one change: the new version on success, the reason on failure.

    ``stale``: a conditional update found the record changed since it was read and wrote
    nothing (``ok`` is false); the engine reads the record again and decides anew.
    """

    key: str
    ok: bool
    version: datetime | None = None
    error: str = ""
    stale: bool = False
    values: dict[str, Any] | None = None
    """The record as the system holds it after the write, where its answer said (a Business
    Central create's 201 body), read as :meth:`Connector.read` would; None: not known. The
    engine uses it instead of reading a record it has just created (see ``PassOptions.known``)."""


STALE = "changed since it was read"
"""The error of a stale result (a conditional update that found the record changed)."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What a connector knows about one field; ``kind`` is one of :data:`FIELD_KINDS`."""

    name: str
    kind: str = "text"
    nullable: bool = True
    length: int | None = None


FIELD_KINDS = ("text", "integer", "decimal", "float", "boolean", "datetime", "date", "other")


@dataclass(frozen=True, slots=True)
class TableSchema:
    """The shape of one table: its fields, its key field and its modified-on field."""

    name: str
    key: str
    modified: str | None
    fields: Mapping[str, FieldInfo]

    def field_names(self) -> list[str]:
        return list(self.fields)
