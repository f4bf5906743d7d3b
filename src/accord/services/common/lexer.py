"""The tokens of OData ``$filter`` text, shared by the local services' filter parsers.

Each service keeps its own grammar (Business Central's and Dataverse's dialects differ) and
its own error type; what they share is how text becomes tokens, how a parser steps through
them, how a syntax error names its 0-based position (as OData's parser does:
``Syntax error at position 7 in 'name eq'.``), and how datetime literals are read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

__all__ = ["Token", "TokenStream", "parse_instant", "token_pattern", "tokenize"]

T = TypeVar("T")
Error = Callable[[str], Exception]
"""Makes the service's own error (400 Bad Request) from a message."""


@dataclass(frozen=True)
class Token:
    kind: str
    """``guid``, ``datetime``, ``date``, ``number``, ``string``, ``name``, ``punct`` (or a
    dialect's own, such as ``list``), and ``end`` after the last."""
    text: str
    position: int


_PATTERN = r"""
    (?P<ws>\s+)
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})OFFSET)
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)[mMdDfFlL]?(?![\w.])
  | (?P<string>'(?:[^']|'')*')
  | (?P<name>[A-Za-z_][\w.]*)
  | (?P<punct>[PUNCTUATION])
"""


def token_pattern(*, punctuation: str, offset_required: bool) -> re.Pattern[str]:
    """The token expression of a dialect: which punctuation it knows (a regex character
    class body, such as ``(),/``) and whether a datetime literal must carry its offset."""
    text = _PATTERN.replace("OFFSET", "" if offset_required else "?")
    return re.compile(text.replace("PUNCTUATION", punctuation), re.VERBOSE)


def tokenize(
    text: str, pattern: re.Pattern[str], error: Error, *, lists: re.Pattern[str] | None = None
) -> list[Token]:
    """The tokens of ``text``, white space left out, ending with an ``end`` token.

    ``lists``: where the text has ``[`` and this expression matches there, its first group
    is one ``list`` token (a dialect's bracketed literal list, read in one step).
    """
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if lists is not None and text[position] == "[":
            listed = lists.match(text, position)
            if listed is not None:
                tokens.append(Token("list", listed.group(1), position))
                position = listed.end()
                continue
        match = pattern.match(text, position)
        if match is None:
            raise error(
                f"Syntax error: character '{text[position]}' is not valid at position "
                f"{position} in '{text}'."
            )
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(kind), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class TokenStream:
    """A parser's place in its tokens."""

    def __init__(self, text: str, tokens: list[Token], error: Error) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self._error = error

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "name" and token.text == word

    def separated(self, word: str, parse: Callable[[], T]) -> list[T]:
        """``parse`` once, and again after each ``word`` that follows: ``a or b or c``."""
        parts = [parse()]
        while self.is_word(word):
            self.take()
            parts.append(parse())
        return parts

    def fail(self, what: str, token: Token) -> NoReturn:
        raise self._error(f"{what} at position {token.position} in '{self.text}'.")


def parse_instant(text: str) -> dt.datetime:
    """An aware UTC datetime from ISO text (a date is midnight; no offset means UTC)."""
    if "T" not in text:
        day = dt.date.fromisoformat(text)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
