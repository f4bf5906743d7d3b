"""Field transfer: compute a destination record's values from a source record.

The field rules of a pass are compiled once into a list of small steps (read, transform,
translate, convert), so that per record the engine only runs a tight loop. Lookups are
resolved beforehand for a whole batch (:mod:`accord.engine.lookups`); here each record only
reads dictionaries, so a batch costs one state query per lookup mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from accord.errors import RecordError
from accord.model import FieldInfo, FieldRule, TableSchema
from accord.model.values import blank, coerce, same

Converter = Callable[[Any], Any]


@dataclass
class Transferred:
    """Destination values for one record; ``deferred`` when a lookup was cleared for now."""

    values: dict[str, Any]
    deferred: list[str] = field(default_factory=list)


def _converter(info: FieldInfo) -> Converter:
    """The conversion into one destination field, with the common cases made cheap."""
    empty = blank(info)
    if info.kind == "text":
        length = info.length

        def text(value: Any) -> Any:
            if value is None or value == "":
                return empty
            if value.__class__ is str and (length is None or len(value) <= length):
                return value
            return coerce(value, info)

        return text
    native = {
        "integer": int,
        "decimal": Decimal,
        "float": float,
        "boolean": bool,
        "datetime": datetime,
        "date": date,
    }.get(info.kind)

    def other(value: Any) -> Any:
        if native is not None and value.__class__ is native:
            return value
        return coerce(value, info)

    return other


@dataclass(frozen=True, slots=True)
class _Step:
    dest: str
    source: str | None
    constant: Any
    convert: Converter
    rule: FieldRule


class TransferPlan:
    """The compiled field rules of one pass onto one destination schema."""

    def __init__(self, rules: list[FieldRule], dest_schema: TableSchema) -> None:
        self.simple: list[tuple[str, str, Converter]] = []
        self.other: list[_Step] = []
        for rule in rules:
            convert = _converter(dest_schema.fields[rule.dest])
            if rule.source and not (rule.has_constant or rule.transform or rule.lookup):
                self.simple.append((rule.dest, rule.source, convert))
            else:
                self.other.append(_Step(rule.dest, rule.source, rule.constant, convert, rule))
        # Constants never change: convert them once (a bad constant fails every record).
        self.constants: dict[str, Any] = {}
        self._constant_error = ""
        for step in [s for s in self.other if s.rule.has_constant]:
            try:
                self.constants[step.dest] = step.convert(step.constant)
            except RecordError as exc:
                self._constant_error = f"constant for {step.dest}: {exc}"
        self.other = [s for s in self.other if not s.rule.has_constant]

    def apply(
        self, source: Mapping[str, Any], resolved: Mapping[str, Mapping[str, str]]
    ) -> Transferred:
        """Destination values for ``source``; raises RecordError naming the field."""
        if self._constant_error:
            raise RecordError(self._constant_error)
        values = {dest: convert(source.get(src)) for dest, src, convert in self.simple}
        out = Transferred(values)
        for step in self.other:
            rule = step.rule
            value = source.get(step.source or "")
            if rule.transform is not None:
                value = rule.transform.apply(value, inverse=rule.inverse_transform)
            if rule.lookup:
                if value is None or value == "":
                    value = None
                else:
                    target = resolved.get(rule.lookup, {}).get(str(value))
                    if target is None:
                        if not rule.clear_on_missing:
                            raise RecordError(
                                f"{rule.source} {value!r} is not coupled in mapping "
                                f"{rule.lookup}; synchronize {rule.lookup} first, or set "
                                "clear_on_missing"
                            )
                        out.deferred.append(rule.dest)
                    value = target
            values[step.dest] = step.convert(value)
        values.update(self.constants)
        return out


def transfer(
    rules: list[FieldRule],
    source: Mapping[str, Any],
    dest_schema: TableSchema,
    resolved: Mapping[str, Mapping[str, str]],
) -> Transferred:
    """One-off transfer (compiles a plan; passes keep theirs)."""
    return TransferPlan(rules, dest_schema).apply(source, resolved)


def differences(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted values that differ from the destination's current ones."""
    return {k: v for k, v in wanted.items() if not same(v, current.get(k))}
