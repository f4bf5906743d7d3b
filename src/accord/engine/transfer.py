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


_NATIVE: dict[str, type] = {
    "integer": int,
    "decimal": Decimal,
    "float": float,
    "boolean": bool,
    "datetime": datetime,
    "date": date,
}


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
    native = _NATIVE.get(info.kind)

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
    """The compiled field rules of one pass onto one destination schema.

    The rules become one generated Python function per plan (see :meth:`_compile`): a dict
    display whose entries inline each converter's fast path (text that fits, a value already
    of the field's native type), so a record costs no Python call per plain field.
    """

    def __init__(self, rules: list[FieldRule], dest_schema: TableSchema) -> None:
        self.simple: list[tuple[str, str, Converter]] = []
        self.other: list[_Step] = []
        infos: dict[str, FieldInfo] = {}
        for rule in rules:
            info = dest_schema.fields[rule.dest]
            infos[rule.dest] = info
            convert = _converter(info)
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
        self._apply = self._compile(infos)

    def apply(
        self, source: Mapping[str, Any], resolved: Mapping[str, Mapping[str, str]]
    ) -> Transferred:
        """Destination values for ``source``; raises RecordError naming the field."""
        if self._constant_error:
            raise RecordError(self._constant_error)
        return self._apply(source, resolved)

    def _compile(
        self, infos: Mapping[str, FieldInfo]
    ) -> Callable[[Mapping[str, Any], Mapping[str, Mapping[str, str]]], Transferred]:
        """Generate the plan's function: simple copies, then lookups and transforms, then
        constants, each through its converter (whose fast path is inlined).

        Only names chosen here and ``repr`` of field names go into the source text.
        """
        env: dict[str, Any] = {
            "Transferred": Transferred,
            "RecordError": RecordError,
            "EMPTY": {},
            "constants": self.constants,
        }
        entries = []
        for i, (dest, src, convert) in enumerate(self.simple):
            env[f"c{i}"] = convert
            entries.append(f"{dest!r}: {_inline(infos[dest], f'get({src!r})', f'c{i}', env, i)}")
        lines = [
            "def apply(source, resolved):",
            "    get = source.get",
            f"    values = {{{', '.join(entries)}}}",
            "    deferred = []",
        ]
        for i, step in enumerate(self.other):
            rule = step.rule
            env[f"s{i}"] = step.convert
            read = f"get({(step.source or '')!r})"
            if rule.transform is not None:
                env[f"t{i}"] = rule.transform.apply
                read = f"t{i}({read}, inverse={bool(rule.inverse_transform)!r})"
            lines.append(f"    v = {read}")
            if rule.lookup:
                env[f"m{i}"] = (
                    f"{rule.source} {{!r}} is not coupled in mapping {rule.lookup}; "
                    f"synchronize {rule.lookup} first, or set clear_on_missing"
                )
                lines += [
                    "    if v is None or v == '':",
                    "        v = None",
                    "    else:",
                    f"        t = resolved.get({rule.lookup!r}, EMPTY).get(str(v))",
                    "        if t is None:",
                    *(
                        [f"            deferred.append({step.dest!r})"]
                        if rule.clear_on_missing
                        else [f"            raise RecordError(m{i}.format(v))"]
                    ),
                    "        v = t",
                ]
            lines.append(f"    values[{step.dest!r}] = s{i}(v)")
        if self.constants:
            lines.append("    values.update(constants)")
        lines.append("    return Transferred(values, deferred)")
        code = compile("\n".join(lines), "<accord transfer plan>", "exec")
        exec(code, env)  # our own generated text, see the docstring
        function: Callable[[Mapping[str, Any], Mapping[str, Mapping[str, str]]], Transferred] = env[
            "apply"
        ]
        return function


def _inline(info: FieldInfo, read: str, convert: str, env: dict[str, Any], i: int) -> str:
    """An expression for ``convert(read)`` with the converter's fast path written out."""
    if info.kind == "text":
        # Blanks are common (an ERP stores no value as ''): the converter's first test, inline.
        env[f"e{i}"] = blank(info)
        fits = "" if info.length is None else f" and len(v) <= {int(info.length)}"
        return (
            f"(v if (v := {read}).__class__ is str and v{fits} "
            f"else e{i} if v is None or v == '' else {convert}(v))"
        )
    native = _NATIVE.get(info.kind)
    if native is None:
        return f"{convert}({read})"
    env[f"n{i}"] = native
    return f"(v if (v := {read}).__class__ is n{i} else {convert}(v))"


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
