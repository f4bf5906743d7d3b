"""A state store that looks new or lost: both systems hold copies it knows nothing of.

A state store is lost (a deleted file, a new database, a wrong URL) while the two systems
keep the records it coupled. The next full synchronization would see every record of a
mapping as uncoupled and create a counterpart for each, on both sides: a second copy of every
record, silently, for a mapping without match criteria (with criteria, ``sync --full``
couples them first). So before a run creates records, each mapping the store has no history
of (no coupling, no job) is checked for *copies*: records of one side whose mapped values
all equal those of a record of the other side, which is what two records Accord kept
synchronized look like. Found, the run is refused (:class:`NewStoreError`) until the user
couples them (``accord match``) or confirms (``--i-know``). Two systems that merely both hold
records (a first synchronization of an ERP and a CRM filled separately, as the demo's) pass.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accord.engine.context import SideContext
from accord.engine.criteria import Criterion, _criterion
from accord.errors import ConnectorError, NewStoreError
from accord.model import Side, TableMapping

if TYPE_CHECKING:
    from accord.engine.workspace import Workspace


@dataclass(frozen=True, slots=True)
class Copies:
    """Records of a mapping the state store knows nothing of, with a copy on the other side."""

    mapping: str
    copies: int
    """Records of the smaller side with an exact copy on the other side."""
    of: int
    """Records of the smaller side (passing the filters)."""
    fields: tuple[str, ...]


def check_new_store(
    project: Workspace, mappings: Sequence[TableMapping], *, match_first: bool
) -> None:
    """Refuse to create records where the store looks new or lost (see the module doc).

    ``mappings``: those the run would create records for. A mapping that the run couples
    by its match criteria first (``match_first``) needs no check: the copies match.
    """
    found = []
    for mapping in mappings:
        if match_first and mapping.match_fields():
            continue
        try:
            copies = find_copies(project, mapping)
        except ConnectorError:
            continue  # a system cannot be read: the run meets it and reports it as usual
        if copies is not None:
            found.append(copies)
    if found:
        raise NewStoreError(_message(found))


def find_copies(project: Workspace, mapping: TableMapping) -> Copies | None:
    """The copies of a mapping the state store has no history of; None if none (or history)."""
    store = project.store
    if store.coupling_stats(mapping.name).total or store.jobs(limit=1, mapping=mapping.name):
        return None
    ctx = project.context(mapping.name)
    criteria = [
        _criterion(ctx, fm, 0, False)
        for fm in mapping.fields
        if fm.field and fm.integration_field and not fm.has_constant and not fm.lookup
    ]
    if not criteria:
        return None
    sides = [
        (side.connector.count(side.table, filter=side.filter), side)
        for side in (ctx.local, ctx.integration)
    ]
    if not all(count for count, _ in sides):
        return None  # one side is empty: nothing to duplicate
    (smaller, small), (_, large) = sorted(sides, key=lambda pair: pair[0])
    seen = set(_values(project, small, criteria))
    copies = sum(1 for values in _values(project, large, criteria) if values in seen)
    if not copies:
        return None
    return Copies(mapping.name, min(copies, smaller), smaller, tuple(c.local for c in criteria))


def _values(
    project: Workspace, side: SideContext, criteria: Sequence[Criterion]
) -> list[tuple[Hashable | None, ...]]:
    """Every record's mapped values in normal form (blank records left out)."""
    local = side.side is Side.LOCAL
    names = [c.local if local else c.integration for c in criteria]
    normals: list[Callable[[Any], Hashable | None]] = [
        c.normalisers()[0 if local else 1] for c in criteria
    ]
    out = []
    for batch in side.connector.read(
        side.table, filter=side.filter, fields=names, batch_size=project.batch_size
    ):
        for record in batch:
            values = tuple(n(record.values.get(f)) for n, f in zip(normals, names, strict=True))
            if any(v is not None for v in values):
                out.append(values)
    return out


def _message(found: Sequence[Copies]) -> str:
    first = found[0]
    more = f" (and in {', '.join(c.mapping for c in found[1:])})" if len(found) > 1 else ""
    return (
        f"the state store looks new or lost: it holds no coupling and no job of mapping "
        f"{first.mapping}, yet {first.copies:,} of its {first.of:,} records have an exact "
        f"copy in the other system{more}, so this run would create a second copy of each; "
        f"couple them first (accord match {first.mapping} --on "
        f"{','.join(first.fields[:2])}, or restore the state store), or run again with "
        "--i-know to create them anyway"
    )
