"""Recursive-descent parser from ``$filter`` tokens to the syntax tree.

Grammar (keywords case-insensitive; precedence ``not`` > ``and`` > ``or``)::

    filter     := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | primary
    primary    := "(" or_expr ")"
                | FUNCTION "(" field "," STRING ")"
                | field OPERATOR value
                | field "in" "(" value ("," value)* ")"

Errors point at the offending token and say what was expected there; when the text simply
stops, they point at the last token read (the one that wanted something after it), so that a
position is always inside the text.
"""

from __future__ import annotations

from accord.errors import FilterError
from accord.filters.ast import (
    RESERVED_WORDS,
    And,
    Call,
    Comparison,
    ComparisonOperator,
    Field,
    Function,
    In,
    Literal,
    Node,
    Not,
    Or,
)
from accord.filters.lexer import LITERAL_KINDS, Token, TokenKind, tokenize

MAX_DEPTH = 32
"""Nesting limit for parentheses and ``not``; it keeps every recursive walk of the tree
(rendering, evaluation, SQL compilation) far from Python's recursion limit."""

_OPERATORS = ", ".join(op.value for op in ComparisonOperator) + " or in"
_FUNCTIONS = frozenset(function.value for function in Function)
_COMPARISONS = frozenset(op.value for op in ComparisonOperator)


def parse(text: str) -> Node:
    """Parse ``text`` into the root node of its syntax tree.

    Raises:
        FilterError: the text is empty or malformed; ``position`` names the bad token.
    """
    if not text.strip():
        raise FilterError("empty filter", text=text, position=0)
    return _Parser(text, tokenize(text)).parse()


class _Parser:
    """Holds the token stream; one method per grammar rule."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self._text = text
        self._tokens = tokens
        self._index = 0

    def parse(self) -> Node:
        node = self._or(0, None)
        token = self._peek()
        if token.kind is TokenKind.RPAREN:
            raise self._error("unexpected ')' without a matching '('", token)
        if token.kind is not TokenKind.END:
            raise self._error(
                f"expected 'and', 'or' or the end of the filter, found {token.describe()}", token
            )
        return node

    # -- token stream ---------------------------------------------------------------------

    def _peek(self) -> Token:
        return self._tokens[self._index]

    def _advance(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not TokenKind.END:
            self._index += 1
        return token

    def _error(self, message: str, token: Token) -> FilterError:
        return FilterError(message, text=self._text, position=token.position)

    def _expected(self, what: str, after: Token) -> FilterError:
        """Say ``what`` is missing after ``after``; at the next token, else at ``after``."""
        token = self._peek()
        if token.kind is TokenKind.END:
            return self._error(f"expected {what} after '{after.text}'", after)
        return self._error(f"expected {what} after '{after.text}', found {token.describe()}", token)

    # -- boolean structure ----------------------------------------------------------------

    def _or(self, depth: int, after: Token | None) -> Node:
        operands = [self._and(depth, after)]
        while self._peek().is_word("or"):
            keyword = self._advance()
            operands.append(self._and(depth, keyword))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self, depth: int, after: Token | None) -> Node:
        operands = [self._unary(depth, after)]
        while self._peek().is_word("and"):
            keyword = self._advance()
            operands.append(self._unary(depth, keyword))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _unary(self, depth: int, after: Token | None) -> Node:
        token = self._peek()
        if token.is_word("not"):
            self._check_depth(depth, token)
            self._advance()
            return Not(self._unary(depth + 1, token))
        return self._primary(depth, after)

    def _check_depth(self, depth: int, token: Token) -> None:
        if depth >= MAX_DEPTH:
            raise self._error(
                f"filter is nested too deeply (more than {MAX_DEPTH} levels of '(' and 'not')",
                token,
            )

    def _primary(self, depth: int, after: Token | None) -> Node:
        token = self._peek()
        if token.kind is TokenKind.LPAREN:
            self._check_depth(depth, token)
            self._advance()
            inner = self._or(depth + 1, token)
            self._close(token, "')', 'and' or 'or'")
            return inner
        if token.kind is TokenKind.WORD and token.text.lower() not in RESERVED_WORDS:
            self._advance()
            if self._peek().kind is TokenKind.LPAREN:
                return self._call(token)
            return self._condition(Field(token.text, token.position))
        what = "a condition (a comparison, a function call, 'not' or '(')"
        if after is None:
            raise self._error(f"expected {what}, found {token.describe()}", token)
        raise self._expected(what, after)

    def _close(self, opening: Token, what: str) -> Token:
        """Consume the ')' matching ``opening``; a missing one is reported at ``opening``."""
        token = self._peek()
        if token.kind is TokenKind.RPAREN:
            return self._advance()
        if token.kind is TokenKind.END:
            raise self._error(f"missing ')' to close this '{opening.text}'", opening)
        raise self._error(f"expected {what}, found {token.describe()}", token)

    # -- terms ----------------------------------------------------------------------------

    def _condition(self, field: Field) -> Node:
        token = self._peek()
        if token.is_word("in"):
            return self._in(field, self._advance())
        if token.kind is TokenKind.WORD and token.text.lower() in _COMPARISONS:
            self._advance()
            op = ComparisonOperator(token.text.lower())
            null_message = (
                ""
                if op in (ComparisonOperator.EQ, ComparisonOperator.NE)
                else ("null can only be compared with eq or ne")
            )
            return Comparison(field, op, self._value(token, null_message))
        if token.kind is TokenKind.WORD and token.text.lower() not in RESERVED_WORDS:
            raise self._error(f"unknown operator '{token.text}': expected {_OPERATORS}", token)
        raise self._expected(f"an operator ({_OPERATORS})", self._tokens[self._index - 1])

    def _value(self, after: Token, null_message: str) -> Literal:
        """Read one literal; ``null_message`` is the error for ``null`` where it is not allowed."""
        token = self._peek()
        if token.kind in LITERAL_KINDS:
            self._advance()
            return Literal(token.value, token.position)
        if token.is_word("true", "false", "null"):
            word = token.text.lower()
            if word == "null" and null_message:
                raise self._error(null_message, token)
            self._advance()
            return Literal({"true": True, "false": False, "null": None}[word], token.position)
        if token.kind is TokenKind.WORD and token.text.lower() not in RESERVED_WORDS:
            raise self._error(
                f"expected a value after '{after.text}', found field '{token.text}' "
                "(comparing two fields is not supported)",
                token,
            )
        raise self._expected("a value", after)

    def _in(self, field: Field, keyword: Token) -> In:
        if self._peek().kind is not TokenKind.LPAREN:
            raise self._expected("'(' starting a list of values", keyword)
        opening = self._advance()
        if self._peek().kind is TokenKind.RPAREN:
            raise self._error("expected at least one value in the list after 'in'", self._peek())
        null_message = "null is not allowed in an 'in' list; use 'eq null' instead"
        values = [self._value(opening, null_message)]
        while self._peek().kind is TokenKind.COMMA:
            values.append(self._value(self._advance(), null_message))
        self._close(opening, "',' or ')' in the list of values")
        return In(field, tuple(values))

    def _call(self, name: Token) -> Call:
        if name.text.lower() not in _FUNCTIONS:
            functions = ", ".join(sorted(_FUNCTIONS))
            raise self._error(f"unknown function '{name.text}': expected {functions}", name)
        function = Function(name.text.lower())
        opening = self._advance()
        token = self._peek()
        if token.kind is not TokenKind.WORD or token.text.lower() in RESERVED_WORDS:
            raise self._expected(f"a field name as the first argument of {function}()", opening)
        field = Field(self._advance().text, token.position)
        if self._peek().kind is not TokenKind.COMMA:
            raise self._expected(f"',' and a quoted string in {function}()", token)
        comma = self._advance()
        if self._peek().kind is not TokenKind.STRING:
            raise self._expected(f"a quoted string as the second argument of {function}()", comma)
        value = self._advance()
        self._close(opening, f"')' to end {function}()")
        return Call(function, field, Literal(value.value, value.position))
