"""OData ``$filter`` for an entity set, compiled to SQL for SQLite.

The common subset BC clients send: ``eq ne gt ge lt le``, ``and or not``, parentheses,
``contains``/``startswith``/``endswith``, literals (strings with ``''`` escapes, numbers,
GUIDs, ``true``/``false``, ``null``, dates and datetimes). Errors name the 0-based position,
as OData's parser does (``Syntax error at position 7 in 'number eq'.``). Text comparisons
ignore case, as BC's SQL collation does.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from accord.services.businesscentral.errors import bad_request
from accord.services.businesscentral.schema import EntitySet
from accord.services.common.lexer import Token, TokenStream, parse_instant, token_pattern, tokenize

__all__ = ["compile_filter", "iso_ms", "parse_instant"]

_TOKEN = token_pattern(punctuation="(),/", offset_required=False)
COMPARISONS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
FUNCTIONS = {"contains": ("%", "%"), "startswith": ("", "%"), "endswith": ("%", "")}
NUMERIC = {"Edm.Int32", "Edm.Decimal"}
TEXTUAL = {"Edm.String"}


@dataclass(frozen=True)
class _Operand:
    sql: str
    params: tuple[Any, ...]
    edm: str | None
    """OData type; None for ``null``; ``Edm.Boolean`` for conditions."""
    field: str | None = None
    """The field type (String, DateTime…) when the operand is a property."""
    literal: str | None = None
    """The token kind of a literal (``datetime``, ``date``…), to convert it for the column."""


def iso_ms(value: dt.datetime) -> str:
    """``2020-08-21T07:38:44.293Z``: BC's form of a datetime, milliseconds and UTC."""
    v = value.astimezone(dt.UTC) if value.year > 1 else value
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}."
        f"{v.microsecond // 1000:03d}Z"
    )


def compile_filter(text: str, entity_set: EntitySet) -> tuple[str, tuple[Any, ...]]:
    """SQL ``WHERE`` text and its parameters for ``$filter=text``."""
    parser = _Parser(text, entity_set)
    result = parser.expression()
    if parser.peek().kind != "end":
        parser.fail("Syntax error", parser.peek())
    return parser.condition(result).sql, parser.condition(result).params


class _Parser(TokenStream):
    def __init__(self, text: str, entity_set: EntitySet) -> None:
        super().__init__(text, tokenize(text, _TOKEN, bad_request), bad_request)
        self.entity_set = entity_set

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            self.fail(f"'{text}' expected", token)

    def word(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "name" and token.text == word

    def condition(self, operand: _Operand) -> _Operand:
        """A boolean operand as an SQL condition (a Boolean property becomes ``= 1``)."""
        if operand.edm != "Edm.Boolean":
            raise bad_request(
                f"The $filter expression must evaluate to a single boolean value: '{self.text}'."
            )
        if operand.field is not None:
            return _Operand(f"({operand.sql} = 1)", operand.params, "Edm.Boolean")
        return operand

    def expression(self) -> _Operand:
        return self.join("OR", self.separated("or", self.conjunction))

    def conjunction(self) -> _Operand:
        return self.join("AND", self.separated("and", self.negation))

    def join(self, op: str, parts: list[_Operand]) -> _Operand:
        if len(parts) == 1:
            return parts[0]
        conditions = [self.condition(p) for p in parts]
        # NOTE: groups of 50 keep SQLite's expression tree shallow for long id lists.
        while len(conditions) > 50:
            conditions = [
                self.join(op, conditions[i : i + 50]) for i in range(0, len(conditions), 50)
            ]
        params: tuple[Any, ...] = ()
        for c in conditions:
            params += c.params
        sql = "(" + f" {op} ".join(c.sql for c in conditions) + ")"
        return _Operand(sql, params, "Edm.Boolean")

    def negation(self) -> _Operand:
        if self.is_word("not"):
            self.take()
            inner = self.condition(self.negation())
            return _Operand(f"(NOT {inner.sql})", inner.params, "Edm.Boolean")
        return self.comparison()

    def comparison(self) -> _Operand:
        left = self.primary()
        token = self.peek()
        if token.kind != "name" or token.text not in COMPARISONS:
            return left
        self.take()
        right = self.primary()
        return self.compare(token, left, right)

    def compare(self, token: Token, left: _Operand, right: _Operand) -> _Operand:
        op = token.text
        if left.edm is None or right.edm is None:
            known = right if left.edm is None else left
            if known.edm is None or op not in ("eq", "ne"):
                return _Operand("(1 = 0)", (), "Edm.Boolean")
            test = "IS NULL" if op == "eq" else "IS NOT NULL"
            return _Operand(f"({known.sql} {test})", known.params, "Edm.Boolean")
        left, right = self.converted(left, right), self.converted(right, left)
        if not (
            left.edm == right.edm
            or (left.edm in NUMERIC and right.edm in NUMERIC)
            or {left.edm, right.edm} <= {"Edm.Date", "Edm.DateTimeOffset"}
        ):
            raise bad_request(
                f"A binary operator with incompatible types was detected. Found operand types "
                f"'{left.edm}' and '{right.edm}' for operator kind '{op}' at position "
                f"{token.position} in '{self.text}'."
            )
        return _Operand(
            f"({left.sql} {COMPARISONS[op]} {right.sql})",
            left.params + right.params,
            "Edm.Boolean",
        )

    def converted(self, literal: _Operand, other: _Operand) -> _Operand:
        """A date/datetime literal in the stored form of the property it is compared with."""
        if literal.literal not in ("date", "datetime") or other.field is None:
            return literal
        instant = parse_instant(str(literal.params[0]))
        if other.field == "modified":
            value: Any = int(instant.timestamp() * 1000)
        elif other.field == "Date":
            value = str(literal.params[0])[:10]
        else:
            value = iso_ms(instant)
        return _Operand("?", (value,), other.edm, literal=literal.literal)

    def primary(self) -> _Operand:
        token = self.take()
        if token.kind == "punct" and token.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind == "string":
            return _Operand("?", (token.text[1:-1].replace("''", "'"),), "Edm.String")
        if token.kind == "number":
            is_int = re.fullmatch(r"-?\d+", token.text) is not None
            value: float = int(token.text) if is_int else float(token.text)
            return _Operand("?", (value,), "Edm.Int32" if is_int else "Edm.Decimal")
        if token.kind == "guid":
            return _Operand("?", (token.text.lower(),), "Edm.Guid")
        if token.kind in ("datetime", "date"):
            try:
                parse_instant(token.text)
            except ValueError:
                self.fail(f"Invalid date/time '{token.text}'", token)
            edm = "Edm.Date" if token.kind == "date" else "Edm.DateTimeOffset"
            return _Operand("?", (token.text,), edm, literal=token.kind)
        if token.kind == "name":
            return self.name(token)
        self.fail("Expression expected" if token.kind == "end" else "Syntax error", token)
        raise AssertionError  # pragma: no cover (fail raises)

    def name(self, token: Token) -> _Operand:
        word = token.text
        if word == "null":
            return _Operand("NULL", (), None)
        if word in ("true", "false"):
            return _Operand("1" if word == "true" else "0", (), "Edm.Boolean")
        if self.peek().text == "(":
            return self.function(token)
        field = self.entity_set.fields.get(word)
        if field is None:
            raise bad_request(
                f"Could not find a property named '{word}' on type "
                f"'Microsoft.NAV.{self.entity_set.entity}'."
            )
        if word == "lastModifiedDateTime":
            return _Operand("modified", (), "Edm.DateTimeOffset", field="modified")
        return _Operand(f'"{word}"', (), field.edm_type, field=field.type)

    def function(self, token: Token) -> _Operand:
        if token.text not in FUNCTIONS:
            self.fail(f"Unknown function '{token.text}'", token)
        self.expect("(")
        subject = self.primary()
        self.expect(",")
        pattern = self.primary()
        self.expect(")")
        if subject.edm not in TEXTUAL or pattern.edm not in TEXTUAL or pattern.sql != "?":
            raise bad_request(
                f"The function '{token.text}' takes a text property and a string literal, at "
                f"position {token.position} in '{self.text}'."
            )
        before, after = FUNCTIONS[token.text]
        escaped = re.sub(r"([\\%_])", r"\\\1", str(pattern.params[0]))
        return _Operand(
            f"({subject.sql} LIKE ? ESCAPE '\\')",
            (*subject.params, f"{before}{escaped}{after}"),
            "Edm.Boolean",
        )
