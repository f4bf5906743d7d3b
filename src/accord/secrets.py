"""Secrets never leave Accord: one function every outgoing message goes through.

Finding a password by the shape of a URL fails on the URLs people really write: one without
``@`` or without a scheme (a forgotten host), a password holding ``@``, ``/`` or ``#``, a
driver's error that quotes the URL cut somewhere else. So Accord also remembers the secret
*values* themselves, as the configuration is loaded: the password parsed from every
configured URL (however malformed) and every value substituted from a ``${VAR}`` reference
into a URL. :func:`redact` replaces those values, in plain, percent-encoded and partial
forms, and then whatever still looks like a password in a URL.

It is applied where text leaves Accord: exception messages (every :class:`AccordError`),
job messages and job errors as the state store saves them, and the command line's output.
This module imports nothing of Accord's, so every layer can use it.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, unquote

MASK = "***"
MIN_SECRET = 4
"""Shorter values are not remembered as secrets (they would mask ordinary words); URL shapes
still hide them."""
MIN_PIECE = 6
"""A secret is also hidden piece by piece (split at URL delimiters) from this length on, so
that a driver quoting a URL cut at a '#' or '/' shows no part of it."""

_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None

_DELIMITERS = re.compile(r"[/#?:@&=;,\s'\"]+")
_USERINFO = re.compile(
    r"(?P<head>(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//[^\s:/@'\"]*):(?P<password>[^\s'\"]*)@"
)
"""``scheme://user:password@`` or ``//user:password@`` anywhere in a text; the password runs
to the last '@' of the word (a password may hold '@')."""
_BARE_USERINFO = re.compile(r"(?<![\w/:.])(?P<head>[\w.\-]+):(?P<password>[^\s'\"@/]+)@(?=[\w\[])")
"""``user:password@host`` without a scheme."""
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:[^=&#\s]*(?:password|passwd|pwd|secret|token|api_?key)[^=&#\s]*)=)"
    r"(?P<value>[^&\s'\"]*)",
    re.IGNORECASE,
)


def remember(value: str) -> None:
    """Treat ``value`` as a secret from now on (in every :func:`redact`)."""
    global _pattern
    forms = _forms(value)
    if not forms - _known:
        return
    with _lock:
        _known.update(forms)
        _pattern = None


def remember_url(url: str) -> None:
    """Remember the password(s) a URL carries, whatever its shape (see :func:`url_secrets`)."""
    for secret in url_secrets(url):
        remember(secret)


def forget_all() -> None:
    """Forget every remembered secret (for tests)."""
    global _pattern
    with _lock:
        _known.clear()
        _pattern = None


def url_secrets(url: str) -> list[str]:
    """The values in a URL that may be a password, for URLs that do not parse as well.

    ``scheme://user:pw@host``, ``//user:pw@``, ``user:pw@host`` (the password runs to the
    last '@'); without an '@', what follows the first ':' of the host part
    (``scheme://user:pw/db``, ``user:pw host``) unless it is a port number; and the value of
    every query parameter whose name says password, secret, token or key.
    """
    text = url.strip()
    found: list[str] = []
    rest = text.split("://", 1)[1] if "://" in text else text.removeprefix("//")
    if "@" in rest:
        userinfo = rest[: rest.rindex("@")]
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    else:
        authority = re.split(r"[/?#\s]", rest, maxsplit=1)[0]
        if ":" in authority:
            candidate = authority.split(":", 1)[1]
            if candidate and not candidate.isdigit():
                found.append(candidate)
    if "?" in text:
        for name, value in parse_qsl(text.split("?", 1)[1], keep_blank_values=True):
            if re.search(r"password|passwd|pwd|secret|token|api_?key", name, re.IGNORECASE):
                found.append(value)
    return [f for f in found if f]


def redact(text: str) -> str:
    """``text`` with every remembered secret and every URL password replaced by ``***``."""
    if not text:
        return text
    pattern = _compiled()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    text = _BARE_USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    return _SECRET_PARAMETER.sub(lambda m: f"{m.group('name')}{MASK}", text)


def _forms(value: str) -> set[str]:
    """The spellings of a secret to hide: as given, decoded, encoded, and its long pieces."""
    out: set[str] = set()
    for base in {value, unquote(value)}:
        if len(base) < MIN_SECRET:
            continue
        out |= {base, quote(base, safe=""), quote(base), quote_plus(base)}
        out |= {piece for piece in _DELIMITERS.split(base) if len(piece) >= MIN_PIECE}
    return {form for form in out if len(form) >= MIN_SECRET}


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _known:
            # Longest first: a secret that contains another is hidden whole.
            ordered = sorted(_known, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))
        return _pattern
