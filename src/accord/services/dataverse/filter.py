"""OData ``$filter`` for one table: tokens, a parser, and SQL for SQLite.

The grammar is the common subset Dataverse clients send: ``eq ne gt ge lt le``, ``and or
not``, parentheses, ``contains``/``startswith``/``endswith``, ``Microsoft.Dynamics.CRM.In``
and ``NotIn``, literals (strings with ``''`` escapes, numbers, GUIDs, ``null``,
``true``/``false``, dates and datetimes) and properties (``name``, ``_x_value``). Errors
name the 0-based position, as Dataverse (OData's parser) does: ``Syntax error at position 7
in 'name eq'.`` String comparisons are case-insensitive because the columns are.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from accord.services.common.lexer import Token, TokenStream, parse_instant, token_pattern, tokenize
from accord.services.dataverse.errors import bad_query
from accord.services.dataverse.schema import Attribute, Table

__all__ = ["compile_filter", "parse_datetime"]

_TOKEN = token_pattern(punctuation=r"(),\[\]=/", offset_required=True)
_LIST = re.compile(r"\[\s*('[^']*(?:''[^']*)*'(?:\s*,\s*'[^']*(?:''[^']*)*')*)\s*\]")
"""A ``PropertyValues`` list of string literals, taken as one token: a read by a thousand
keys sends a thousand of them, and one regular expression reads them far faster than a
token (and a parser step) each. Anything else in brackets is tokenized piece by piece."""
_LIST_VALUE = re.compile(r"'([^']*(?:''[^']*)*)'")
_CANONICAL_GUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
COMPARISONS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
OPERATOR_KINDS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
STRING_FUNCTIONS = {"contains": ("%", "%"), "startswith": ("", "%"), "endswith": ("%", "")}
NUMERIC = {"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double"}


@dataclass(frozen=True)
class Operand:
    """A compiled operand: SQL text with parameters, and its OData type (None for null)."""

    sql: str
    params: tuple[Any, ...]
    edm: str | None
    attribute: Attribute | None = None
    equals: str | None = None
    """The column of a ``column = literal`` test (ORs of them become one ``IN``)."""


def parse_datetime(text: str) -> float:
    """Seconds since the epoch of an ISO date or datetime (a date is midnight UTC)."""
    return parse_instant(text).timestamp()


def _tokens(text: str) -> list[Token]:
    return tokenize(text, _TOKEN, bad_query, lists=_LIST)


def compile_filter(text: str, table: Table) -> tuple[str, tuple[Any, ...]]:
    """SQL ``WHERE`` text and parameters for ``$filter=text`` on ``table``."""
    parser = _Parser(text, table)
    operand = parser.expression()
    if parser.peek().kind != "end":
        parser.fail("Syntax error", parser.peek())
    if operand.edm != "Edm.Boolean":
        raise bad_query(
            f"The $filter expression must evaluate to a single boolean value: '{text}'."
        )
    if operand.attribute is not None:  # a bare boolean property
        return f"({operand.sql} = 1)", operand.params
    return operand.sql, operand.params


class _Parser(TokenStream):
    """Recursive descent: or → and → not → comparison → primary."""

    def __init__(self, text: str, table: Table) -> None:
        super().__init__(text, _tokens(text), bad_query)
        self.table = table

    def expect(self, text: str) -> Token:
        token = self.take()
        if token.text != text:
            self.fail("')' or ',' expected" if text in ")," else f"'{text}' expected", token)
        return token

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "name" and token.text == word

    def expression(self) -> Operand:
        return self.logical("OR", self.separated("or", self.conjunction))

    def conjunction(self) -> Operand:
        return self.logical("AND", self.separated("and", self.negation))

    def logical(self, op: str, operands: list[Operand]) -> Operand:
        """One flat ``(a OR b OR c)``: nesting each pair would overflow SQLite's parser stack
        on the long ``id eq … or id eq …`` filters that reads by key send."""
        if len(operands) == 1:
            return operands[0]
        parts = [self.predicate(o) for o in operands]
        if op == "OR":
            parts = _in_lists(parts)
            if len(parts) == 1:
                return parts[0]
        return _balanced(op, parts)

    def predicate(self, operand: Operand) -> Operand:
        """A boolean operand as SQL that is a condition (a bare property becomes ``= 1``)."""
        if operand.edm != "Edm.Boolean":
            raise bad_query(
                f"A binary operator with incompatible types was detected. Found operand "
                f"types '{operand.edm or 'null'}' and 'Edm.Boolean' in '{self.text}'."
            )
        if operand.attribute is not None:
            return Operand(f"({operand.sql} = 1)", operand.params, "Edm.Boolean")
        return operand

    def negation(self) -> Operand:
        if self.is_word("not"):
            self.take()
            inner = self.predicate(self.negation())
            return Operand(f"(NOT {inner.sql})", inner.params, "Edm.Boolean")
        return self.comparison()

    def comparison(self) -> Operand:
        left = self.primary()
        token = self.peek()
        if token.kind != "name" or token.text not in COMPARISONS:
            return left
        self.take()
        right = self.primary()
        return self.compare(token.text, left, right)

    def compare(self, op: str, left: Operand, right: Operand) -> Operand:
        if left.edm is None and right.edm is None:
            return Operand("(1 = 1)" if op == "eq" else "(1 = 0)", (), "Edm.Boolean")
        if left.edm is None or right.edm is None:
            known = left if right.edm is None else right
            if op not in ("eq", "ne"):
                return Operand("(1 = 0)", (), "Edm.Boolean")  # null compares false
            test = "IS NULL" if op == "eq" else "IS NOT NULL"
            return Operand(f"({known.sql} {test})", known.params, "Edm.Boolean")
        if not _compatible(left.edm, right.edm):
            raise bad_query(
                f"A binary operator with incompatible types was detected. Found operand types "
                f"'{left.edm}' and '{right.edm}' for operator kind '{OPERATOR_KINDS[op]}'."
            )
        sql = f"({left.sql} {COMPARISONS[op]} {right.sql})"
        equals = None
        if op == "eq" and left.attribute is not None and right.sql == "?":
            equals = left.sql
        return Operand(sql, left.params + right.params, "Edm.Boolean", equals=equals)

    def primary(self) -> Operand:
        token = self.take()
        if token.kind == "punct" and token.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind == "string":
            return Operand("?", (token.text[1:-1].replace("''", "'"),), "Edm.String")
        if token.kind == "number":
            text = token.text
            is_int = re.fullmatch(r"-?\d+", text) is not None
            value: int | float = int(text) if is_int else float(text)
            return Operand("?", (value,), "Edm.Int32" if is_int else "Edm.Decimal")
        if token.kind == "guid":
            return Operand("?", (token.text.lower(),), "Edm.Guid")
        if token.kind in ("datetime", "date"):
            try:
                return Operand("?", (parse_datetime(token.text),), "Edm.DateTimeOffset")
            except ValueError:
                self.fail(f"Invalid datetime '{token.text}'", token)
        if token.kind == "name":
            return self.name(token)
        if token.kind == "end":
            self.fail("Expression expected", token)
        self.fail("Syntax error", token)
        raise AssertionError  # pragma: no cover (fail raises)

    def name(self, token: Token) -> Operand:
        word = token.text
        if word == "null":
            return Operand("NULL", (), None)
        if word in ("true", "false"):
            return Operand("1" if word == "true" else "0", (), "Edm.Boolean")
        if self.peek().text == "(":
            return self.function(token)
        if self.peek().text == "/":
            raise bad_query(
                f"Filtering on navigation properties ('{word}/...') is not supported by the "
                f"local service, at position {token.position} in '{self.text}'."
            )
        attribute = self.table.by_web_name(word)
        if attribute is None:
            raise bad_query(
                f"Could not find a property named '{word}' on type '{self.table.type_name}'."
            )
        return Operand(f'"{attribute.name}"', (), attribute.edm_type, attribute)

    def function(self, token: Token) -> Operand:
        word = token.text
        self.expect("(")
        if word in STRING_FUNCTIONS:
            subject = self.primary()
            self.expect(",")
            pattern = self.primary()
            self.expect(")")
            if subject.edm != "Edm.String" or pattern.edm != "Edm.String" or not pattern.params:
                raise bad_query(
                    f"The function '{word}' takes a string property and a string literal, at "
                    f"position {token.position} in '{self.text}'."
                )
            before, after = STRING_FUNCTIONS[word]
            escaped = re.sub(r"([\\%_])", r"\\\1", str(pattern.params[0]))
            return Operand(
                f"({subject.sql} LIKE ? ESCAPE '\\')",
                (*subject.params, f"{before}{escaped}{after}"),
                "Edm.Boolean",
            )
        if word in ("Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn"):
            return self.in_list(token)
        raise bad_query(f"Unknown function '{word}' at position {token.position} in '{self.text}'.")

    def in_list(self, token: Token) -> Operand:
        """``Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a','b'])``."""
        args: dict[str, Any] = {}
        while True:
            key = self.take()
            self.expect("=")
            if self.peek().kind == "list":
                text = self.take().text
                args[key.text] = [v.replace("''", "'") for v in _LIST_VALUE.findall(text)]
            elif self.peek().text == "[":
                self.take()
                values: list[str] = []
                while self.peek().text != "]":
                    value = self.take()
                    if value.kind != "string":
                        self.fail("String literal expected", value)
                    values.append(value.text[1:-1].replace("''", "'"))
                    if self.peek().text == ",":
                        self.take()
                self.take()
                args[key.text] = values
            else:
                value = self.take()
                if value.kind != "string":
                    self.fail("String literal expected", value)
                args[key.text] = value.text[1:-1].replace("''", "'")
            if self.peek().text != ",":
                break
            self.take()
        self.expect(")")
        name, listed = args.get("PropertyName"), args.get("PropertyValues")
        if not isinstance(name, str) or not isinstance(listed, list) or not listed:
            raise bad_query(
                f"{token.text} needs PropertyName and PropertyValues, at position "
                f"{token.position} in '{self.text}'."
            )
        attribute = self.table.by_web_name(name) or self.table.attributes.get(name)
        if attribute is None:
            raise bad_query(
                f"Could not find a property named '{name}' on type '{self.table.type_name}'."
            )
        params = tuple(_coerce(attribute, v) for v in listed)
        marks = ", ".join("?" * len(params))
        negate = "NOT " if token.text.endswith("NotIn") else ""
        return Operand(f'("{attribute.name}" {negate}IN ({marks}))', params, "Edm.Boolean")


def _in_lists(parts: list[Operand]) -> list[Operand]:
    """``a = 1 OR a = 2 OR b = 3`` as ``a IN (1, 2) OR b = 3``, in first-seen order."""
    groups: dict[str, list[Operand]] = {}
    order: list[str | Operand] = []
    for part in parts:
        if part.equals is None:
            order.append(part)
            continue
        if part.equals not in groups:
            groups[part.equals] = []
            order.append(part.equals)
        groups[part.equals].append(part)
    result: list[Operand] = []
    for item in order:
        if isinstance(item, Operand):
            result.append(item)
            continue
        group = groups[item]
        if len(group) == 1:
            result.append(group[0])
            continue
        values = tuple(p.params[0] for p in group)
        marks = ", ".join("?" * len(values))
        result.append(Operand(f"({item} IN ({marks}))", values, "Edm.Boolean"))
    return result


def _balanced(op: str, parts: list[Operand]) -> Operand:
    """Join in groups of at most 50: SQLite caps an expression tree's depth at 1000."""
    if len(parts) > 50:
        size = -(-len(parts) // 50)
        parts = [_balanced(op, parts[i : i + size]) for i in range(0, len(parts), size)]
    params: tuple[Any, ...] = ()
    for part in parts:
        params += part.params
    return Operand("(" + f" {op} ".join(p.sql for p in parts) + ")", params, "Edm.Boolean")


def _compatible(left: str, right: str) -> bool:
    return left == right or (left in NUMERIC and right in NUMERIC)


def _coerce(attribute: Attribute, text: str) -> Any:
    """A PropertyValues string as the attribute's stored value."""
    edm = attribute.edm_type
    try:
        if edm in ("Edm.Int32", "Edm.Int64"):
            return int(text)
        if edm in ("Edm.Decimal", "Edm.Double"):
            return float(text)
        if edm == "Edm.Boolean":
            return {"true": 1, "false": 0}[text.lower()]
        if edm == "Edm.Guid":
            if _CANONICAL_GUID.fullmatch(text):  # already as uuid.UUID writes it, but case
                return text.lower()
            return str(uuid.UUID(text))
        if edm == "Edm.DateTimeOffset":
            return parse_datetime(text)
    except (ValueError, KeyError):
        raise bad_query(
            f"The value '{text}' is not a valid {edm} for '{attribute.name}'."
        ) from None
    return text
