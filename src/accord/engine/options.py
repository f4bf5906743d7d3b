"""How a pass selects and treats records: the options a run, a coupling or a repair gives it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from accord.model import Record


@dataclass(frozen=True)
class PassOptions:
    """How a pass selects and treats records.

    ``full``: read every source record (no watermark), create and couple uncoupled ones and
    compare every coupled record (the reference's ForceModify). ``keys``: only these source
    records, compared even if unchanged. ``create_uncoupled`` overrides the mapping's
    "sync only coupled records" setting.
    """

    full: bool = False
    keys: tuple[str, ...] | None = None
    create_uncoupled: bool | None = None
    batch_size: int = 1000
    run_started: datetime | None = None
    """Couplings synchronized since then were written by this run: a full pass does not
    compare them again unless they changed (their echo is known to be in sync)."""
    explicit: bool = False
    """The user named these records and a direction: make the destination match the source,
    even where the other direction holds a value it could not translate yet."""
    probe_first: bool = False
    """Read only keys and versions first, and whole records only for those that need work:
    for a pass that will mostly meet echoes of the pass before it."""
    hold: frozenset[str] = frozenset()
    """Source keys not to create even when uncoupled: match-based coupling found them
    ambiguous, and creating a counterpart would make a duplicate."""
    since: datetime | None = None
    """``sync --since``: also read every source record modified at or after this instant
    (UTC), whatever the watermark, and count a coupled record as changed when its version
    differs from the one stored in either direction (a backdated edit is older)."""
    check_renamed: bool = True
    """Before creating an uncoupled record, look for a coupling it looks like the renamed
    record of (see :mod:`accord.engine.renamed`); ``couple --create-new --force`` turns it off."""
    echoes: Mapping[str, object] = field(default_factory=dict)
    """Source keys the pass before this one wrote, with the version it recorded, where it
    left the coupling quiet in this direction: a record still at that version is an echo,
    counted unchanged without asking the state store (see :attr:`Pass.echoes`)."""
    known: Mapping[str, Record] = field(default_factory=dict)
    """With ``keys``: source records as the system answered the pass that just created them
    (``WriteResult.values`` and version), used instead of reading them again."""
    recheck: frozenset[str] = frozenset()
    """Source keys the pass before this one (the opposite direction, same run) wrote while
    leaving this side's own edits to carry back: compared whatever their version says. On a
    coarse clock that write can leave the very version stored, and a probing pass that only
    reads versions would otherwise take the pair as unchanged."""
    key_range: tuple[object, object] | None = None
    """One part of a full pass split over workers (see :mod:`accord.engine.chunked`): only
    source keys ``lo <= key < hi`` (None: open on that end), in the source's key order.
    Such a part moves no watermark: the pass's last step does, once every part is done."""


__all__ = ["PassOptions"]
