"""Tokenizer for ``$filter`` text: turns characters into tokens and literal values.

Literals are converted here (not in the parser) because only the tokenizer knows where a
malformed date or number starts, and every error must name a position in the user's text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from accord.errors import FilterError
from accord.filters.ast import Guid, Value

MAX_FRACTION_DIGITS = 6
"""Python datetimes hold microseconds; more digits would be rounded silently, so are refused."""


class TokenKind(Enum):
    """What a token is; literal kinds carry their converted value."""

    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    WORD = "word"
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    GUID = "GUID"
    END = "end of filter"


LITERAL_KINDS = frozenset(
    {TokenKind.STRING, TokenKind.NUMBER, TokenKind.DATE, TokenKind.DATETIME, TokenKind.GUID}
)


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, the text as written, its 0-based offset and any literal value."""

    kind: TokenKind
    text: str
    position: int
    value: Value = None

    def is_word(self, *words: str) -> bool:
        """Tell whether this is one of ``words`` (keywords are case-insensitive)."""
        return self.kind is TokenKind.WORD and self.text.lower() in words

    def describe(self) -> str:
        """Quote the token for an error message, shortened so long strings stay readable."""
        if self.kind is TokenKind.END:
            return "the end of the filter"
        text = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        return text if self.kind is TokenKind.STRING else f"'{text}'"


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The extent of a value that starts with a digit or sign: used to match it whole, so that
# "2024-01-01x" is one bad value rather than a date followed by a stray word.
_RUN = re.compile(r"[^\s(),']+")
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]+))?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_PUNCTUATION = {"(": TokenKind.LPAREN, ")": TokenKind.RPAREN, ",": TokenKind.COMMA}


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an END token.

    Raises:
        FilterError: at the first character that cannot start a token, or at the start of a
            malformed literal (unterminated string, impossible date, ...).
    """
    tokens: list[Token] = []
    pos = 0
    while True:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
        if pos >= len(text):
            tokens.append(Token(TokenKind.END, "", len(text)))
            return tokens
        token = _next_token(text, pos)
        tokens.append(token)
        pos += len(token.text)


def _next_token(text: str, pos: int) -> Token:
    char = text[pos]
    if char in _PUNCTUATION:
        return Token(_PUNCTUATION[char], char, pos)
    if char == "'":
        return _string(text, pos)
    run = _RUN.match(text, pos)
    assert run is not None  # the character is neither space, punctuation nor a quote
    if _GUID.fullmatch(run.group()):
        return Token(TokenKind.GUID, run.group(), pos, Guid(run.group()))
    word = _WORD.match(text, pos)
    if word:
        return Token(TokenKind.WORD, word.group(), pos)
    if char.isdigit() or char == "-":
        return _value(text, run.group(), pos)
    raise FilterError(f"unexpected character {char!r}", text=text, position=pos)


def _string(text: str, start: int) -> Token:
    """Read a quoted string where ``''`` stands for one quote."""
    pieces: list[str] = []
    pos = start + 1
    while True:
        end = text.find("'", pos)
        if end < 0:
            raise FilterError(
                "unterminated string: expected a closing quote", text=text, position=start
            )
        pieces.append(text[pos:end])
        if text.startswith("''", end):
            pieces.append("'")
            pos = end + 2
            continue
        return Token(TokenKind.STRING, text[start : end + 1], start, "".join(pieces))


def _value(text: str, run: str, pos: int) -> Token:
    """Read a number, date or datetime that must span the whole ``run``."""
    try:
        if _NUMBER.fullmatch(run):
            number: int | Decimal = Decimal(run) if "." in run else int(run)
            return Token(TokenKind.NUMBER, run, pos, number)
        date = _DATE.fullmatch(run)
        if date:
            year, month, day = (int(part) for part in date.groups())
            return Token(TokenKind.DATE, run, pos, dt.date(year, month, day))
        stamp = _DATETIME.fullmatch(run)
        if stamp:
            return Token(TokenKind.DATETIME, run, pos, _datetime(stamp))
    except (ValueError, OverflowError) as exc:
        raise FilterError(f"invalid value '{run}': {exc}", text=text, position=pos) from None
    raise FilterError(
        f"invalid value '{run}': expected a number, a date (2024-01-31), "
        "a datetime (2024-01-31T10:00:00Z) or a GUID",
        text=text,
        position=pos,
    )


def _datetime(match: re.Match[str]) -> dt.datetime:
    """Build a naive UTC datetime; a value without offset is taken to be UTC already."""
    year, month, day, hour, minute = (int(part) for part in match.groups()[:5])
    second, fraction, offset = match.group(6), match.group(7), match.group(8)
    if fraction is not None and len(fraction) > MAX_FRACTION_DIGITS:
        raise ValueError(f"at most {MAX_FRACTION_DIGITS} fractional digits are supported")
    micro = int(fraction.ljust(MAX_FRACTION_DIGITS, "0")) if fraction else 0
    zone: dt.tzinfo | None = None
    if offset is not None and offset.upper() == "Z":
        zone = dt.UTC
    elif offset is not None:
        sign = -1 if offset[0] == "-" else 1
        delta = dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        zone = dt.timezone(sign * delta)
    value = dt.datetime(year, month, day, hour, minute, int(second or 0), micro, tzinfo=zone)
    if zone is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
