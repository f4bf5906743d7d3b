"""What the Web API connectors (Dataverse, Business Central) check of their system before
anything else, and how they sign in: the same rules and the same sentences for both."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from accord.connectors.dataverse.auth import ClientCredentials, StaticToken, TokenSource
from accord.connectors.options import option_problem
from accord.errors import ConfigError

_WEB_URL = re.compile(r"https?://[^/\s]+")


def check_system(kind: str, name: str, url: str, options: Mapping[str, Any], address: str) -> None:
    """The options are known and of their types, and ``url`` is a web address; else a
    ConfigError naming the system. ``address`` says what the url should be (for the error)."""
    problem = option_problem(kind, options)
    if problem is not None:
        raise ConfigError(f"system '{name}': options.{problem[0]}: {problem[1]}")
    if not _WEB_URL.match(url):
        raise ConfigError(f"system '{name}': url must be {address} (got {url!r})")


def token_source(
    kind: str, name: str, options: Mapping[str, Any], *, scope_url: str, timeout: float
) -> TokenSource:
    """``options.token`` as a fixed bearer token, else msal client credentials for
    ``scope_url`` (tenant, client_id and client_secret must all be set)."""
    if "token" in options:
        return StaticToken(str(options["token"]))
    missing = [o for o in ("tenant", "client_id", "client_secret") if not options.get(o)]
    if missing:
        raise ConfigError(
            f"system '{name}': options.{missing[0]} is not set (the {kind} connector signs in "
            "with tenant, client_id and client_secret, or takes a token)"
        )
    return ClientCredentials(
        name,
        url=scope_url,
        tenant=str(options["tenant"]),
        client_id=str(options["client_id"]),
        client_secret=str(options["client_secret"]),
        authority=options.get("authority"),
        ca_bundle=options.get("ca_bundle"),
        timeout=timeout,
    )
