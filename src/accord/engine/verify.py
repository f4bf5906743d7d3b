"""``accord verify``: coupled pairs whose mapped values disagree, found by reading both sides.

Change detection trusts versions: an edit stamped behind the watermark (another writer's
clock, a backdated import, a restore, an edit made straight in the database) is never read by
an incremental sync. Verify does not look at versions to find them: it streams the couplings
of a mapping in batches, reads both records of each batch (one read per side per batch, one
state query per lookup mapping), applies the mapping's field rules as a pass would
(:class:`TransferPlan` and lookups) and compares the result with the other side.

A bidirectional field agrees when either direction's rule gives the other side's value (a
one-way transform such as ``upper`` maps back onto itself only one way); a one-way field when
its own direction does. A lookup that cannot be translated yet, a pending or quarantined
coupling and a record missing on one side are not compared (the sync, ``accord errors`` and
``find-deleted`` report those).

``fix`` synchronizes the disagreeing pairs through the engine's explicit-records sync, in the
direction that decides: a one-way field's own; for bidirectional fields the side whose record
changed since the last sync (its version differs from the one stored, an older one too), and
when that does not tell, the mapping's ``update_conflict`` policy (``send``/``get``);
otherwise the pair is listed as a conflict and left alone. Fixed pairs are read again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accord.engine.context import MappingContext, SideContext
from accord.engine.lookups import resolve_lookups
from accord.engine.progress import Progress
from accord.engine.results import RunResult
from accord.engine.sync import batch_size, sync_records
from accord.engine.transfer import TransferPlan, differences
from accord.errors import RecordError
from accord.model import (
    Coupling,
    Direction,
    FieldRule,
    Job,
    JobType,
    Record,
    Side,
    TableMapping,
    UpdateConflict,
)
from accord.state.store import utcnow

if TYPE_CHECKING:
    from accord.engine.workspace import Workspace

FieldPair = tuple[str | None, str | None]
"""(local field, integration field); None for the side of a constant."""


@dataclass(frozen=True, slots=True)
class FieldDisagreement:
    """One mapped field whose two values disagree."""

    field: str | None  # local field (None: a constant written to the integration side)
    integration_field: str | None
    local: Any
    integration: Any
    direction: Direction  # the field's own direction


@dataclass(slots=True)
class Disagreement:
    """A coupled pair whose mapped values disagree, and what ``--fix`` does (or did)."""

    mapping: str
    local_key: str
    integration_key: str
    fields: list[FieldDisagreement]
    fix: list[Direction]
    """The explicit syncs that repair it, in order; empty for a conflict."""
    reason: str
    fixed: bool = False

    @property
    def conflict(self) -> bool:
        return not self.fix


@dataclass(slots=True)
class MappingCheck:
    """What verify found in one mapping."""

    mapping: str
    compared: int = 0
    not_compared: int = 0
    """Pending or quarantined couplings, records missing on a side, values that cannot be
    transferred: what ``accord errors`` and the next sync report."""
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def agreeing(self) -> int:
        return self.compared - len(self.disagreements)

    @property
    def conflicts(self) -> int:
        return sum(1 for d in self.disagreements if d.conflict)

    @property
    def fixed(self) -> int:
        return sum(1 for d in self.disagreements if d.fixed)


@dataclass(slots=True)
class VerifyResult:
    mappings: list[MappingCheck] = field(default_factory=list)
    fixing: list[RunResult] = field(default_factory=list)
    """The explicit syncs ``fix`` ran."""

    @property
    def disagreeing(self) -> int:
        return sum(len(m.disagreements) for m in self.mappings)

    @property
    def remaining(self) -> int:
        """Disagreements not fixed (all of them without ``fix``)."""
        return sum(1 for m in self.mappings for d in m.disagreements if not d.fixed)


def side_changed(record: Record, coupling: Coupling, side: Side) -> bool | None:
    """Whether ``record`` changed since its coupling's last sync; None: cannot tell.

    By version: any version other than the one stored (an older one is a backdated edit).
    The one place that says so, for verify's choice of a direction.
    """
    stored = coupling.version(side)
    if record.version is None or stored is None:
        return None
    return bool(record.version != stored)


class MappingVerifier:
    """Compares the coupled pairs of one mapping, a batch of couplings at a time."""

    def __init__(self, project: Workspace, mapping: TableMapping) -> None:
        self.project = project
        self.mapping = mapping
        self.ctx: MappingContext = project.context(mapping.name)
        self.directions = mapping.direction.passes
        self.plans = {
            d: TransferPlan(self.ctx.rules(d), self.ctx.destination(d).schema)
            for d in self.directions
        }
        self.fields = {
            side: self._fields(self.ctx.side(side)) for side in (Side.LOCAL, Side.INTEGRATION)
        }

    def _fields(self, sc: SideContext) -> list[str]:
        names: set[str] = set()
        for d in self.directions:
            if self.ctx.source(d).side is sc.side:
                names.update(self.ctx.source_fields(d))
                if sc.filter is not None:
                    names.update(f for f in sc.filter.fields if f in sc.schema.fields)
            else:
                names.update(self.ctx.destination_fields(d))
        return sorted(names)

    def batches(self, batch_size: int) -> Iterator[list[Coupling]]:
        return self.project.store.iter_couplings(self.mapping.name, batch_size)

    def check(self, couplings: Sequence[Coupling], result: MappingCheck) -> None:
        """Compare one batch; adds to ``result``."""
        ready = [c for c in couplings if not c.pending and not c.skipped]
        result.not_compared += len(couplings) - len(ready)
        if not ready:
            return
        local = self._read(Side.LOCAL, [c.local_key for c in ready])
        integration = self._read(Side.INTEGRATION, [c.integration_key for c in ready])
        pairs = []
        for c in ready:
            lr, ir = local.get(c.local_key), integration.get(c.integration_key)
            if lr is None or ir is None:
                result.not_compared += 1
            else:
                pairs.append((c, lr, ir))
        differing: dict[Direction, dict[str, set[FieldPair]]] = {}
        uncomparable: set[str] = set()
        for d in self.directions:
            differing[d] = self._differences(d, pairs, uncomparable)
        for c, lr, ir in pairs:
            if c.local_key in uncomparable:
                result.not_compared += 1
                continue
            result.compared += 1
            if not any(c.local_key in differing[d] for d in self.directions):
                continue
            found = self._disagreeing_fields(c, lr, ir, differing)
            if found:
                result.disagreements.append(self._decide(c, lr, ir, found))

    def _read(self, side: Side, keys: list[str]) -> dict[str, Record]:
        sc = self.ctx.side(side)
        return {
            r.key: r
            for batch in sc.connector.read(
                sc.table, keys=keys, fields=self.fields[side], batch_size=max(1, len(keys))
            )
            for r in batch
        }

    def _differences(
        self,
        d: Direction,
        pairs: list[tuple[Coupling, Record, Record]],
        uncomparable: set[str],
    ) -> dict[str, set[FieldPair]]:
        """Per local key: the field pairs whose value ``d``'s rules would change."""
        src, rules = self.ctx.source(d), self.ctx.rules(d)
        to_int = d is Direction.TO_INTEGRATION
        sources = [(c, lr if to_int else ir, ir if to_int else lr) for c, lr, ir in pairs]
        resolved = resolve_lookups(
            self.project.store,
            rules,
            d,
            (s.values for _, s, _ in sources),
            self.project.mapping_names,
        )
        by_dest = {r.dest: r for r in rules}
        out: dict[str, set[FieldPair]] = {}
        plan = self.plans[d]
        for c, source, dest in sources:
            try:
                wanted = plan.apply(source.values, resolved)
            except RecordError:
                uncomparable.add(c.local_key)
                continue
            diff = differences(wanted.values, dest.values)
            for name in wanted.deferred:  # a lookup not coupled yet: its blank is not a value
                diff.pop(name, None)
            # A record a pass would not send is not compared this way (asked only of the few
            # that differ: the filter is evaluated here, not by the system).
            if diff and (src.filter is None or src.filter.matches(source.values)):
                out[c.local_key] = {_pair(by_dest[name], to_int) for name in diff}
        return out

    def _disagreeing_fields(
        self,
        c: Coupling,
        lr: Record,
        ir: Record,
        differing: dict[Direction, dict[str, set[FieldPair]]],
    ) -> list[FieldDisagreement]:
        per_direction = {d: differing[d].get(c.local_key, set()) for d in self.directions}
        found = []
        for fm in self.mapping.fields:
            pair: FieldPair = (fm.field, fm.integration_field)  # a constant's own side is None
            if fm.direction is Direction.BIDIRECTIONAL:
                # Disagrees only if neither direction's rule gives the other side's value.
                wrong = all(pair in per_direction.get(d, set()) for d in self.directions)
            else:
                wrong = pair in per_direction.get(fm.direction, set())
            if wrong:
                found.append(
                    FieldDisagreement(
                        fm.field,
                        fm.integration_field,
                        fm.constant if fm.has_constant and fm.field is None else _get(lr, fm.field),
                        fm.constant
                        if fm.has_constant and fm.integration_field is None
                        else _get(ir, fm.integration_field),
                        fm.direction,
                    )
                )
        return found

    def _decide(
        self, c: Coupling, lr: Record, ir: Record, found: list[FieldDisagreement]
    ) -> Disagreement:
        """The explicit syncs that repair the pair, or none (a conflict) with the reason."""
        needed = {f.direction for f in found}
        fix: list[Direction] = []
        reason = ""
        if Direction.BIDIRECTIONAL in needed:
            local = side_changed(lr, c, Side.LOCAL)
            remote = side_changed(ir, c, Side.INTEGRATION)
            policy = self.mapping.update_conflict
            if local and not remote:
                first, reason = Direction.TO_INTEGRATION, "the local record changed"
            elif remote and not local:
                first, reason = Direction.FROM_INTEGRATION, "the integration record changed"
            elif policy in (UpdateConflict.SEND, UpdateConflict.GET):
                first = (
                    Direction.TO_INTEGRATION
                    if policy is UpdateConflict.SEND
                    else Direction.FROM_INTEGRATION
                )
                reason = f"{_which(local, remote)}: update_conflict = {policy.value}"
            else:
                return Disagreement(
                    self.mapping.name,
                    c.local_key,
                    c.integration_key,
                    found,
                    [],
                    f"conflict: {_which(local, remote)}, update_conflict = {policy.value}",
                )
            fix.append(first)
        for d in (Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION):
            if d in needed and d not in fix:
                fix.append(d)
        if not reason:
            reason = "one-way field(s)"
        return Disagreement(self.mapping.name, c.local_key, c.integration_key, found, fix, reason)


def _which(local: bool | None, remote: bool | None) -> str:
    if local and remote:
        return "both records changed"
    if local is None or remote is None:
        return "a version is unknown"
    return "neither record's version changed"


def _pair(rule: FieldRule, to_int: bool) -> FieldPair:
    return (rule.source, rule.dest) if to_int else (rule.dest, rule.source)


def _get(record: Record, name: str | None) -> Any:
    return None if name is None else record.values.get(name)


def verify(
    project: Workspace,
    mappings: Sequence[TableMapping],
    *,
    fix: bool,
    progress: Progress,
) -> VerifyResult:
    """Compare every coupled pair of these mappings; with ``fix``, repair what disagrees."""
    result = VerifyResult()
    for mapping in mappings:
        verifier = MappingVerifier(project, mapping)
        check = MappingCheck(mapping.name)
        job = Job(str(uuid.uuid4()), mapping.name, JobType.CHECK, mapping.direction, utcnow())
        progress.pass_started(job, project.store.coupling_stats(mapping.name).total)
        for batch in verifier.batches(batch_size(project, mapping)):
            verifier.check(batch, check)
            progress.advanced(job, len(batch))
        progress.pass_finished(job)
        result.mappings.append(check)
        if fix and check.disagreements:
            result.fixing.extend(_fix(project, verifier, check, progress))
    return result


def _fix(
    project: Workspace, verifier: MappingVerifier, check: MappingCheck, progress: Progress
) -> list[RunResult]:
    """Explicit syncs of the disagreeing pairs (first directions, then second ones), then a
    fresh comparison of those pairs to tell which are fixed."""
    runs = []
    fixable = [d for d in check.disagreements if d.fix]
    for step in (0, 1):
        for direction in (Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION):
            keys = [d.local_key for d in fixable if len(d.fix) > step and d.fix[step] is direction]
            if keys:
                runs.append(sync_records(project, verifier.mapping, keys, direction, progress))
    if not fixable:
        return runs
    name = check.mapping
    again = MappingCheck(name)
    found = project.store.couplings_by(name, Side.LOCAL, [d.local_key for d in fixable])
    batch = list(found.values())
    size = batch_size(project, verifier.mapping)
    for start in range(0, len(batch), size):
        verifier.check(batch[start : start + size], again)
    still = {d.local_key for d in again.disagreements}
    for d in fixable:
        d.fixed = d.local_key in found and d.local_key not in still
    return runs
