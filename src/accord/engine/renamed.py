"""Renamed keys: an uncoupled record that looks like a coupled record whose key changed.

An ERP renumbers a customer (``C00003`` → ``C90003``, every other value the same): its
coupling now points to a local record that is gone, and the record under the new key is
uncoupled. Created like any uncoupled record, it would give the CRM a second account. So
before a pass creates uncoupled records, it asks :class:`RenameCheck` which of them match the
counterpart of a coupling whose record on the *same* side (the pass's source) is gone; those
are held back and the coupling is marked failed with a message saying how to re-couple.

"Match" compares the mapping's match criteria when it declares some (every criterion of every
group, blanks included, at least one value given), otherwise every bidirectional field that is
not a lookup — a one-way field often carries the key itself (``no`` → ``accountnumber``), which
is exactly what changed. Only field rows the pass reads take part.

Cost: nothing unless the pass is about to create an uncoupled record. Then, once per pass, the
mapping's couplings are streamed and each batch's source keys are looked up keys-only (one
read per batch); only when some are gone are their counterparts read and indexed.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

from accord.engine.criteria import Criterion, criterion
from accord.model import Coupling, Direction, Record, Side

if TYPE_CHECKING:
    from accord.engine.context import MappingContext, SideContext
    from accord.state import StateStore

RENAMED = "not created: it looks like"
"""How the message of a coupling held as renamed starts (``Pass`` and the review find it)."""

Values = tuple[Hashable | None, ...]


def is_renamed(c: Coupling, direction: Direction) -> bool:
    """The pass in ``direction`` held a record back as the renamed record of ``c``."""
    return c.error(direction).startswith(RENAMED)


def comparison(ctx: MappingContext, direction: Direction) -> list[Criterion]:
    """The field pairs compared: the match criteria, or else the bidirectional fields."""
    rows = [
        fm
        for fm in ctx.mapping.fields
        if not fm.has_constant and not fm.lookup and fm.direction.includes(direction)
    ]
    declared = [fm for fm in rows if fm.match is not None]
    if declared:
        return [criterion(ctx, fm, bool(fm.match and fm.match.case_sensitive)) for fm in declared]
    return [criterion(ctx, fm, True) for fm in rows if fm.direction is Direction.BIDIRECTIONAL]


class RenameCheck:
    """One pass's search for renamed records (the couplings' scan is made once, lazily)."""

    def __init__(
        self, ctx: MappingContext, direction: Direction, store: StateStore, batch_size: int
    ) -> None:
        self.ctx = ctx
        self.direction = direction
        self.store = store
        self.batch_size = max(1, batch_size)
        self.src: SideContext = ctx.source(direction)
        self.dst: SideContext = ctx.destination(direction)
        self.criteria = comparison(ctx, direction)
        local_source = self.src.side is Side.LOCAL
        pairs = [(c, c.normalisers()) for c in self.criteria]
        # (field, normaliser) on the source side and on the destination side
        self._src = [(c.local if local_source else c.integration, n[0 if local_source else 1])
                     for c, n in pairs]  # fmt: skip
        self._dst = [(c.integration if local_source else c.local, n[1 if local_source else 0])
                     for c, n in pairs]  # fmt: skip
        self._index: dict[Values, list[Coupling]] | None = None

    @property
    def fields(self) -> str:
        return ", ".join(c.local for c in self.criteria)

    def find(self, records: Sequence[Record]) -> dict[str, Coupling]:
        """Source key → the coupling each record looks like the renamed record of."""
        if not records or not self.criteria:
            return {}
        index = self._orphans()
        if not index:
            return {}
        found = {}
        for r in records:
            values = tuple([norm(r.values.get(f)) for f, norm in self._src])
            hits = index.get(values) if any(v is not None for v in values) else None
            if hits:
                found[r.key] = hits[0]
        return found

    def _orphans(self) -> dict[Values, list[Coupling]]:
        """Couplings whose source record is gone, by their counterpart's compared values."""
        if self._index is not None:
            return self._index
        src, dst, side = self.src, self.dst, self.src.side
        gone: list[Coupling] = []
        for couplings in self.store.iter_couplings(self.ctx.mapping.name, self.batch_size):
            settled = [c for c in couplings if not c.pending]
            present = _existing(src, [c.key(side) for c in settled], self.batch_size)
            gone += [c for c in settled if c.key(side) not in present]
        index: dict[Values, list[Coupling]] = {}
        by_key = {c.key(dst.side): c for c in gone}
        fields = sorted({f for f, _ in self._dst})
        keys = list(by_key)
        for start in range(0, len(keys), self.batch_size):
            chunk = keys[start : start + self.batch_size]
            for batch in dst.connector.read(
                dst.table, keys=chunk, fields=fields, batch_size=self.batch_size
            ):
                for counterpart in batch:
                    values = tuple([norm(counterpart.values.get(f)) for f, norm in self._dst])
                    if any(v is not None for v in values):
                        index.setdefault(values, []).append(by_key[counterpart.key])
        self._index = index
        return index

    def message(self, record: Record, c: Coupling) -> str:
        """Why ``record`` was not created, and the command that re-couples it."""
        side, mapping = self.src.side, self.ctx.mapping.name
        local_source = side is Side.LOCAL
        local = record.key if local_source else c.local_key
        integration = c.integration_key if local_source else record.key
        return (
            f"{RENAMED} {c.key(side)} renamed to {record.key}; re-couple with: accord couple "
            f"{mapping} {local} --to {integration} ({c.key(side)} is gone from "
            f"{self.src.table_ref}; {record.key} has the same {self.fields} as its coupled "
            f"{self.dst.table_ref} record, which a creation would duplicate)"
        )


def _existing(side: SideContext, keys: list[str], batch_size: int) -> set[str]:
    """Which of ``keys`` exist on ``side`` (keys-only reads, whatever the filter)."""
    found: set[str] = set()
    for start in range(0, len(keys), batch_size):
        chunk = keys[start : start + batch_size]
        for batch in side.connector.read(side.table, keys=chunk, fields=[], batch_size=batch_size):
            found.update(r.key for r in batch)
    return found
