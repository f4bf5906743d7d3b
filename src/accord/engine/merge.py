"""The three-way merge of ``update_conflict = "merge"``: what changed, on which side.

A coupling keeps, for the bidirectional fields, the values both sides held when they last
agreed (its *base*: canonical fingerprints, one dict per side, in ``Coupling.last_values``).
A field differs from the base on one side only: that side's edit wins. On both sides, to
different values: a conflict. Without a base every differing field counts as changed on both
sides (there is no common ancestor to tell).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from accord.model import Coupling, Record, Side
from accord.model.values import fingerprint


class MergeBase:
    """The base of one pass: its bidirectional field pairs, source → destination."""

    def __init__(self, pairs: list[tuple[str, str]], source: Side, destination: Side) -> None:
        self.pairs = pairs
        self.src = source.value
        self.dst = destination.value
        self.source_of = {t: s for s, t in pairs}

    def split(
        self, r: Record, c: Coupling, dest: Record, fields: Iterable[str]
    ) -> tuple[list[str], list[str]]:
        """The destination fields changed on both sides (a conflict) and those changed only on
        the destination (its edit stands). Fields changed only on the source are simply sent."""
        base = c.last_values or {}
        src_base, dst_base = base.get(self.src, {}), base.get(self.dst, {})
        clashes, theirs = [], []
        for t in fields:
            s = self.source_of[t]
            src_changed = s not in src_base or fingerprint(r.values.get(s)) != src_base[s]
            dst_changed = t not in dst_base or fingerprint(dest.values.get(t)) != dst_base[t]
            if src_changed and dst_changed:
                clashes.append(t)
            elif dst_changed:
                theirs.append(t)
        return clashes, theirs

    def changed_on_source(self, r: Record, c: Coupling, dest_field: str) -> bool:
        """Whether the source edited this field since the last sync (known only with a base)."""
        source = self.source_of.get(dest_field)
        base = (c.last_values or {}).get(self.src, {})
        return source is not None and (
            source in base and fingerprint(r.values.get(source)) != base[source]
        )

    def agree(
        self, c: Coupling, r: Record, held: Mapping[str, object], theirs: Iterable[str]
    ) -> None:
        """Keep the values both sides now hold as the next merge's base.

        ``held`` is what the destination holds after this pass (a field left unwritten keeps
        its own value). Fields whose destination edit is still on its way back keep their old
        base, so that the opposite pass sees that edit as a change.
        """
        old = c.last_values or {}
        src_old, dst_old = old.get(self.src, {}), old.get(self.dst, {})
        keep = set(theirs)
        src: dict[str, object] = {}
        dst: dict[str, object] = {}
        for s, t in self.pairs:
            if t in keep:
                if s in src_old:
                    src[s] = src_old[s]
                if t in dst_old:
                    dst[t] = dst_old[t]
                continue
            src[s] = fingerprint(r.values.get(s))
            dst[t] = fingerprint(held.get(t))
        c.last_values = {self.src: src, self.dst: dst}
