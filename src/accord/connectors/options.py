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


_BATCH: Check = (_whole, "a whole number from 1 to 1000000")
BUILTIN_OPTIONS: dict[str, dict[str, Check]] = {
    "sql": {
        "batch_size": _BATCH,
        "busy_timeout": (_seconds, "a number of seconds from 0 to 3600 (SQLite only)"),
    },
    "memory": {"batch_size": _BATCH},
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
