"""Both records of a pair changed since the last sync: what a pass does about it.

The mapping's ``update_conflict`` policy decides: ``send`` / ``get`` let one direction win the
bidirectional fields, ``none`` fails the coupling (a person resolves it), ``merge`` writes the
fields only the source edited, keeps those only the destination edited, and fails only when
the same field was edited on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from accord.engine.merge import MergeBase
from accord.model import Coupling, Direction, FieldRule, Record, UpdateConflict, source_side

WINNERS = {
    UpdateConflict.SEND: Direction.TO_INTEGRATION,
    UpdateConflict.GET: Direction.FROM_INTEGRATION,
}


class Outcome(Enum):
    WRITE = "write"  # this pass writes its changes (minus the destination's own edits)
    FAIL = "fail"  # an update conflict: the coupling fails until someone resolves it
    SKIP = "skip"  # the other direction wins: this pass leaves the pair alone


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str = ""
    """FAIL: the conflict, field by field; SKIP: why."""
    theirs: tuple[str, ...] = ()
    """Destination fields whose own edit stands (merge): not written by this pass."""
    destination_keeps_changes: bool = True
    """After the write, the destination still holds changes the opposite direction must
    carry (fields only it writes, or edits that stood): its version is not taken as synced."""


@dataclass(frozen=True)
class ConflictJudge:
    """Judges pairs changed on both sides, for one direction of one mapping."""

    policy: UpdateConflict
    direction: Direction
    rules: list[FieldRule]
    merge: MergeBase | None
    has_back_rules: bool

    def judge(self, r: Record, c: Coupling, dest: Record, diff: dict[str, object]) -> Verdict:
        """``r`` and ``dest`` both changed since ``c`` last synchronized them; ``diff`` holds
        the destination values this pass would write."""
        conflicting = [rule.dest for rule in self.rules if rule.bidirectional and rule.dest in diff]
        if not conflicting:
            return Verdict(Outcome.WRITE)
        if self.merge is not None:
            clashes, theirs = self.merge.split(r, c, dest, conflicting)
            if clashes:
                return Verdict(Outcome.FAIL, self.message(r, dest, clashes, diff, c))
            # The destination's own edits stand; the opposite pass (or a settle pass) brings
            # them over.
            return Verdict(
                Outcome.WRITE,
                theirs=tuple(theirs),
                destination_keeps_changes=bool(theirs) or self.has_back_rules,
            )
        winner = WINNERS.get(self.policy)
        if winner is None:
            return Verdict(Outcome.FAIL, self.message(r, dest, conflicting, diff))
        if winner is not self.direction:
            return Verdict(
                Outcome.SKIP, f"update conflict: {self.policy.value} lets the other side win"
            )
        # This side wins the bidirectional fields. The losing side's changes to fields only
        # the other direction writes must still flow: its version stays "changed" when such
        # fields exist, so the opposite pass (or a settle pass) sends them.
        return Verdict(Outcome.WRITE, destination_keeps_changes=self.has_back_rules)

    def message(
        self,
        r: Record,
        dest: Record,
        fields: list[str],
        diff: dict[str, object],
        c: Coupling | None = None,
    ) -> str:
        """The conflict for a person: up to five fields, each side's value (and the value
        both agreed on at the last sync, when known)."""
        src_side = source_side(self.direction)
        dst_side = src_side.other
        base = (c.last_values or {}).get(dst_side.value, {}) if c is not None else {}
        shown = "; ".join(
            f"{f}: {src_side.value} {diff[f]!r}, {dst_side.value} {dest.values.get(f)!r}"
            + (f", at last sync {base[f]!r}" if f in base else "")
            for f in fields[:5]
        )
        what = "the same fields" if c is not None else "bidirectional fields differ"
        return (
            f"update conflict: both records changed since the last synchronization, "
            f"{what} ({shown}); resolve with 'accord resolve' (--send or --get) or set "
            f"update_conflict"
        )
