"""Browsing a mapping's records and a record's history: what the records page shows.

:func:`browse_records` pages through one side of a mapping (its filter applied), with each
record's coupling, optionally narrowed by a search text and by coupled / not coupled.
:func:`record_history` gathers what the job log says about one record: the jobs that last
synchronized it and every job error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accord.errors import UsageError
from accord.model import Coupling, Job, JobError, Record, Side

if TYPE_CHECKING:
    from accord.engine.workspace import Workspace

SHOWN_FIELDS = 6
"""Fields a page shows per record (the mapped ones first)."""
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class RecordRow:
    key: str
    values: dict[str, Any]
    coupling: Coupling | None

    @property
    def coupled(self) -> bool:
        return self.coupling is not None


@dataclass
class RecordPage:
    """One page of one side's records: ``more`` when a next page holds any."""

    mapping: str
    side: Side
    table: str
    key_field: str
    fields: list[str]
    rows: list[RecordRow] = field(default_factory=list)
    offset: int = 0
    limit: int = 25
    more: bool = False
    search: str = ""
    coupled: bool | None = None


def parse_side(text: str) -> Side:
    """``local`` or ``integration`` (as the URL and the CLI spell them)."""
    try:
        return Side(text)
    except ValueError:
        raise UsageError(f"side {text!r} is not local or integration") from None


def shown_fields(project: Workspace, mapping_name: str, side: Side) -> list[str]:
    ctx = project.context(mapping_name)
    schema = ctx.side(side).schema
    mapped = [f.field_on(side) for f in ctx.mapping.fields]
    names = [n for n in dict.fromkeys(mapped) if n and n in schema.fields and n != schema.key]
    return names[:SHOWN_FIELDS]


def browse_records(
    project: Workspace,
    mapping_name: str,
    side: Side,
    *,
    search: str = "",
    coupled: bool | None = None,
    offset: int = 0,
    limit: int = 25,
) -> RecordPage:
    """Records of ``side`` in key order (the mapping's filter applied), from ``offset``.

    ``search`` keeps records whose key or a shown field contains it (case-insensitive);
    ``coupled`` keeps only coupled (True) or uncoupled (False) records. The side is read in
    batches up to the page's end: a page deep into a large table costs that many reads.
    """
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"a page starts at 0 or later and holds 1 to {MAX_PAGE} records")
    mapping = project.config.mapping(mapping_name)
    ctx = project.context(mapping.name)
    sc = ctx.side(side)
    names = shown_fields(project, mapping.name, side)
    page = RecordPage(
        mapping.name,
        side,
        sc.table_ref,
        sc.schema.key,
        names,
        offset=offset,
        limit=limit,
        search=search,
        coupled=coupled,
    )
    needle = search.strip().casefold()
    seen = 0
    for batch in sc.connector.read(
        sc.table, filter=sc.filter, fields=names, batch_size=project.batch_size
    ):
        batch = sorted(batch, key=lambda r: r.key)
        if needle:
            batch = [r for r in batch if _found(r, names, needle)]
        found = project.store.couplings_by(mapping.name, side, [r.key for r in batch])
        for record in batch:
            c = found.get(record.key)
            if coupled is not None and (c is not None) is not coupled:
                continue
            seen += 1
            if seen <= offset:
                continue
            if len(page.rows) == limit:
                page.more = True
                return page
            page.rows.append(RecordRow(record.key, {n: record.values.get(n) for n in names}, c))
    return page


def _found(record: Record, names: list[str], needle: str) -> bool:
    if needle in record.key.casefold():
        return True
    return any(needle in str(record.values.get(n) or "").casefold() for n in names)


@dataclass
class HistoryEntry:
    """One job that touched the record: its error (if it failed there) or none."""

    job: Job | None
    job_id: str
    error: JobError | None = None


@dataclass
class RecordHistory:
    mapping: str
    side: Side
    key: str
    coupling: Coupling | None
    entries: list[HistoryEntry] = field(default_factory=list)


def record_history(
    project: Workspace, mapping_name: str, side: Side, key: str, *, limit: int = 50
) -> RecordHistory:
    """The coupling of ``side``'s record ``key`` and the jobs that name it, newest first."""
    mapping = project.config.mapping(mapping_name)
    store = project.store
    coupling = store.couplings_by(mapping.name, side, [key]).get(key)
    keys = [key] if coupling is None else [coupling.local_key, coupling.integration_key]
    errors = store.errors_of(mapping.name, keys, limit)
    ids = [e.job_id for e in errors]
    if coupling is not None:
        ids += [j for j in (coupling.job_to, coupling.job_from) if j]
    jobs = store.jobs_by_id(ids)
    history = RecordHistory(mapping.name, side, key, coupling)
    listed = set()
    for e in errors:
        history.entries.append(HistoryEntry(jobs.get(e.job_id), e.job_id, e))
        listed.add(e.job_id)
    for job_id in dict.fromkeys(ids):
        if job_id not in listed:
            history.entries.append(HistoryEntry(jobs.get(job_id), job_id))
    history.entries.sort(key=lambda h: h.job.started_at.isoformat() if h.job else "", reverse=True)
    return history
