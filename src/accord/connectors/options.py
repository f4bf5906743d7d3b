"""The ``options`` each built-in connector accepts, checked when the configuration loads.

An option that is misspelt or of the wrong type would otherwise be ignored without a word
(``batch_size = "500"``, ``bacth_size = 500``): every key must be known to the connector and
its value of the declared type. Connectors from other packages check their own options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = tuple[Callable[[Any], bool], str]


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1_000_000


def _seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 3600


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _https(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _range(low: int, high: int) -> Check:
    def check(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    return check, f"a whole number from {low} to {high}"


def _positive_seconds(value: Any) -> bool:
    return _seconds(value) and value > 0


_BATCH: Check = (_whole, "a whole number from 1 to 1000000")
_TEXT: Check = (_text, "a non-empty string")
BUILTIN_OPTIONS: dict[str, dict[str, Check]] = {
    "sql": {
        "batch_size": _BATCH,
        "busy_timeout": (_seconds, "a number of seconds from 0 to 3600 (SQLite only)"),
    },
    "memory": {
        "batch_size": _BATCH,
        "change_tracking": (lambda v: isinstance(v, bool), "true or false"),
    },
    "dataverse": {
        "tenant": _TEXT,
        "client_id": _TEXT,
        "client_secret": _TEXT,
        "authority": (_https, "an https:// URL (the Entra ID authority)"),
        "token": _TEXT,
        "ca_bundle": _TEXT,
        "timeout": (_positive_seconds, "a number of seconds above 0, at most 3600"),
        "max_wait": (_seconds, "a number of seconds from 0 to 3600"),
        "max_concurrency": _range(1, 52),
        "page_size": _range(1, 5000),
        "batch_size": _range(1, 1000),
        "change_tracking": (lambda v: isinstance(v, bool), "true or false"),
    },
    "businesscentral": {
        "tenant": _TEXT,
        "client_id": _TEXT,
        "client_secret": _TEXT,
        "authority": (_https, "an https:// URL (the Entra ID authority)"),
        "token": _TEXT,
        "ca_bundle": _TEXT,
        "company": _TEXT,
        "timeout": (_positive_seconds, "a number of seconds above 0, at most 3600"),
        "max_wait": (_seconds, "a number of seconds from 0 to 3600"),
        "max_concurrency": _range(1, 100),
        "page_size": _range(1, 20000),
        "batch_size": _range(1, 100),
    },
}


def option_problem(connector: str, options: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first option the connector does not accept, and why; None when all are fine
    (or the connector is not a built-in one)."""
    known = BUILTIN_OPTIONS.get(connector)
    if known is None:
        return None
    for key, value in options.items():
        if key not in known:
            return key, f"unknown option (the {connector} connector takes: {', '.join(known)})"
        check, wanted = known[key]
        if not check(value):
            return key, f"must be {wanted}, got {value!r}"[:200]
    return None
