"""Batch translation of lookup values through the referenced mappings' couplings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from accord.model import Direction, FieldRule, Side
from accord.model.values import is_blank
from accord.state import StateStore


def resolve_lookups(
    store: StateStore,
    rules: list[FieldRule],
    direction: Direction,
    sources: Iterable[Mapping[str, Any]],
    mapping_names: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """For each lookup mapping, source-side key → destination-side key of coupled records.

    ``mapping_names`` maps lower-cased names to the configured spelling. Pending couplings
    do not count: their destination record may not exist yet.
    """
    wanted: dict[str, set[str]] = defaultdict(set)
    lookup_rules = [r for r in rules if r.lookup and not r.has_constant and r.source]
    if not lookup_rules:
        return {}
    for values in sources:
        for rule in lookup_rules:
            value = values.get(rule.source or "")
            if rule.transform is not None:
                value = rule.transform.apply(value, inverse=rule.inverse_transform)
            if not is_blank(value):
                wanted[rule.lookup or ""].add(str(value))
    side = Side.LOCAL if direction is Direction.TO_INTEGRATION else Side.INTEGRATION
    resolved: dict[str, dict[str, str]] = {}
    for name, keys in wanted.items():
        couplings = store.couplings_by(mapping_names.get(name.lower(), name), side, keys)
        resolved[name] = {
            k: c.key_on_destination(direction) for k, c in couplings.items() if not c.pending
        }
    return resolved
