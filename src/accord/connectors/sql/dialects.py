"""Hints for database URLs SQLAlchemy refuses but people (and other tools) commonly write."""

from __future__ import annotations

_HINTS = {
    "postgres": (
        "SQLAlchemy calls the dialect 'postgresql': write postgresql+psycopg://… "
        "(Heroku and libpq accept postgres://, SQLAlchemy does not)"
    ),
}


def dialect_hint(url: str) -> str:
    """``"; <hint>"`` for a URL whose scheme is a known misspelling, else ``""``.

    Appended to the error SQLAlchemy gives (``Can't load plugin: sqlalchemy.dialects:postgres``),
    which names the problem but not the fix.
    """
    scheme = url.split("://", 1)[0].split("+", 1)[0].strip().lower() if "://" in url else ""
    hint = _HINTS.get(scheme)
    return f"; {hint}" if hint else ""
