"""Batch translation of lookup values through the referenced mappings' couplings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from accord.model import Direction, FieldRule, Side
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
    records = list(sources)
    for rule in lookup_rules:  # by rule: one comprehension over the batch each
        source = rule.source or ""
        values_of: Iterable[Any] = (values.get(source) for values in records)
        if rule.transform is not None:
            apply, inverse = rule.transform.apply, rule.inverse_transform
            values_of = [apply(value, inverse=inverse) for value in values_of]
        wanted[rule.lookup or ""].update(
            str(value) for value in values_of if not (value is None or value == "")
        )
    side = Side.LOCAL if direction is Direction.TO_INTEGRATION else Side.INTEGRATION
    resolved: dict[str, dict[str, str]] = {}
    for name, keys in wanted.items():
        couplings = store.couplings_by(mapping_names.get(name.lower(), name), side, keys)
        resolved[name] = {
            k: c.key_on_destination(direction) for k, c in couplings.items() if not c.pending
        }
    return resolved
