"""Field transfer: compute a destination record's values from a source record.

Lookups are resolved beforehand for a whole batch (:mod:`accord.engine.lookups`); here each
record only reads dictionaries, so a batch costs one state query per lookup mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.errors import RecordError
from accord.model import FieldRule, TableSchema
from accord.model.values import coerce, is_blank, same


@dataclass
class Transferred:
    """Destination values for one record; ``deferred`` when a lookup was cleared for now."""

    values: dict[str, Any]
    deferred: list[str] = field(default_factory=list)


def transfer(
    rules: list[FieldRule],
    source: Mapping[str, Any],
    dest_schema: TableSchema,
    resolved: Mapping[str, Mapping[str, str]],
) -> Transferred:
    """Apply field rules to ``source`` values; raises RecordError naming the field."""
    out = Transferred({})
    for rule in rules:
        value = rule.constant if rule.has_constant else source.get(rule.source or "")
        if rule.transform is not None:
            value = rule.transform.apply(value, inverse=rule.inverse_transform)
        if rule.lookup and not rule.has_constant:
            if is_blank(value):
                value = None
            else:
                target = resolved.get(rule.lookup, {}).get(str(value))
                if target is None:
                    if not rule.clear_on_missing:
                        raise RecordError(
                            f"{rule.source} {value!r} is not coupled in mapping {rule.lookup}; "
                            f"synchronize {rule.lookup} first, or set clear_on_missing"
                        )
                    out.deferred.append(rule.dest)
                value = target
        info = dest_schema.fields[rule.dest]
        out.values[rule.dest] = coerce(value, info)
    return out


def differences(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted values that differ from the destination's current ones."""
    return {k: v for k, v in wanted.items() if not same(v, current.get(k))}
