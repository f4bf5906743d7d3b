"""Writes the demo's ``accord.toml``: both systems, their tables and the standard mappings.

The file follows DESIGN §6 and is meant to be read and edited by people, so it is written by
hand rather than by a TOML library: one field row per line, and a comment saying what each
part is for. Paths in it are relative to the file, so the demo directory can be moved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.demo.bc import BC_COMPANY, BC_ENTITIES, BC_KEYS, BC_MAPPINGS
from accord.demo.mappings import ERP_KEYS, ERP_SERIES, MAPPING_NOTES, STANDARD_MAPPINGS, Entry
from accord.demo.schema import CRM_METADATA

__all__ = [
    "BC_SECRET_VARIABLE",
    "CONFIG_NAME",
    "SECRET_VARIABLE",
    "BusinessCentralErp",
    "DataverseCrm",
    "render_config",
    "write_config",
]

CONFIG_NAME = "accord.toml"

_HEADER = """\
# accord.toml — configuration of the Accord demo, written by 'accord demo'.
#
# Accord couples the records of two systems and keeps them synchronized. Here they are an
# ERP shaped like Business Central (erp.db: customers, contacts, items, resources, ...) and a
# CRM shaped like Dataverse (crm.db or the local Dataverse service: accounts, contacts,
# products, users, ...), coupled by the standard mappings of the Business Central <->
# Dataverse integration.
#
# Paths are relative to this file; ${VAR} would be taken from the environment. Edit it freely,
# but note that 'accord demo' overwrites it when it rebuilds this directory.
"""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _key(name: str) -> str:
    """A TOML key, quoted only when it has to be (``"erp.customer"``)."""
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def _string(text: str) -> str:
    """A TOML basic string."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    """A TOML value: string, boolean, integer, inline table or array."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(key)} = {_value(item)}" for key, item in value.items())
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def _comment(text: str) -> Iterable[str]:
    return (f"# {line}" for line in text.splitlines())


def _tables(digits: Mapping[str, int], bc: bool) -> Iterable[str]:
    """``[tables."system.table"]`` sections: keys, modified-on columns, new-key rules."""
    yield "# Tables: the key, the modified-on column change detection reads, and how the engine"
    yield "# keys the records it creates there (ERP number series; GUIDs in the CRM)."
    if bc:
        yield "# Business Central's entity sets are read by lastModifiedDateTime."
    for table, key in ERP_KEYS.items():
        if bc:
            if table not in BC_ENTITIES:
                continue
            yield ""
            yield f"[tables.{_key('erp.' + BC_ENTITIES[table][0])}]"
            yield f"key = {_string(BC_KEYS.get(table, 'number'))}"
            series = ERP_SERIES.get(table)
            if series is not None:
                yield f"new_keys = {_value({'series': series, 'digits': digits[series]})}"
            continue
        yield ""
        yield f"[tables.{_key('erp.' + table)}]"
        yield f"key = {_string(key)}"
        yield 'modified = "last_modified"'
        series = ERP_SERIES.get(table)
        if series is not None:
            yield f"new_keys = {_value({'series': series, 'digits': digits[series]})}"
    for table in CRM_METADATA.tables:
        yield ""
        yield f"[tables.{_key('crm.' + table)}]"
        yield f"key = {_string(table + 'id')}"
        yield 'modified = "modifiedon"'
        yield 'new_keys = "uuid"'


def _mappings(mappings: Iterable[Entry]) -> Iterable[str]:
    """One ``[[mappings]]`` block per standard mapping, one field row per line."""
    for mapping in mappings:
        yield ""
        yield from _comment(f"{mapping['name']}: {MAPPING_NOTES[mapping['name']]}")
        yield "[[mappings]]"
        for key, value in mapping.items():
            if key == "min_priority":
                yield "# groups of a larger priority number only narrow: they never couple alone"
            if key != "fields":
                yield f"{_key(key)} = {_value(value)}"
        yield "fields = ["
        for row in mapping["fields"]:
            yield f"  {_value(row)},"
        yield "]"


@dataclass(frozen=True)
class DataverseCrm:
    """Where the demo's CRM is served when it is the local Dataverse service, not ``crm.db``.

    Only what a later ``accord sync`` needs to reach the service again: the secret is not
    here, it comes from ``SECRET_VARIABLE`` in the environment.
    """

    url: str
    tenant: str
    client_id: str
    data_dir: str
    """The service's data folder, relative to the config (``accord dev dataverse --data``)."""


SECRET_VARIABLE = "DATAVERSE_SECRET"
"""The environment variable ``accord.toml`` takes the local service's client secret from."""


@dataclass(frozen=True)
class BusinessCentralErp:
    """Where the demo's ERP is served when it is the local Business Central, not ``erp.db``."""

    url: str
    """The API's base (``https://127.0.0.1:PORT/v2.0/<tenant>/production/api/v2.0``)."""
    tenant: str
    client_id: str
    authority: str
    data_dir: str
    """The service's data folder, relative to the config (``accord dev businesscentral``)."""


BC_SECRET_VARIABLE = "BC_SECRET"
"""The environment variable ``accord.toml`` takes the local BC's client secret from."""


def _erp_system(erp: BusinessCentralErp | None) -> list[str]:
    if erp is None:
        return ["[systems.erp]", 'connector = "sql"', 'url = "sqlite:///erp.db"']
    return [
        "# The ERP is the local Business Central service (API v2.0), over HTTPS. Start it",
        f"# again with 'accord dev businesscentral --data {erp.data_dir}' on the same port",
        f"# and set {BC_SECRET_VARIABLE} to the 'client secret' it prints (also in",
        f"# {erp.data_dir}/credentials.json) before 'accord sync'.",
        "[systems.erp]",
        'connector = "businesscentral"',
        f"url = {_string(erp.url)}",
        "",
        "[systems.erp.options]",
        f"tenant = {_string(erp.tenant)}",
        f"client_id = {_string(erp.client_id)}",
        f'client_secret = "${{{BC_SECRET_VARIABLE}}}"',
        f"authority = {_string(erp.authority)}",
        f"company = {_string(BC_COMPANY)}",
        f"ca_bundle = {_string(erp.data_dir + '/tls/ca.pem')}",
    ]


def _crm_system(crm: DataverseCrm | None) -> list[str]:
    if crm is None:
        return ["[systems.crm]", 'connector = "sql"', 'url = "sqlite:///crm.db"']
    port = crm.url.rsplit(":", 1)[-1]
    return [
        "# The CRM is the local Dataverse service, over HTTPS. Start it again with",
        f"#   accord dev dataverse --data {crm.data_dir} --port {port}",
        f"# and set {SECRET_VARIABLE} to the 'client secret' it prints (also in",
        f"# {crm.data_dir}/credentials.json) before 'accord sync'.",
        "[systems.crm]",
        'connector = "dataverse"',
        f"url = {_string(crm.url)}",
        "",
        "[systems.crm.options]",
        f"tenant = {_string(crm.tenant)}",
        f"client_id = {_string(crm.client_id)}",
        f'client_secret = "${{{SECRET_VARIABLE}}}"',
        f"authority = {_string(crm.url + '/' + crm.tenant)}",
        f"ca_bundle = {_string(crm.data_dir + '/tls/ca.pem')}",
    ]


def render_config(
    digits: Mapping[str, int],
    crm: DataverseCrm | None = None,
    erp: BusinessCentralErp | None = None,
) -> str:
    """The text of the demo's ``accord.toml``.

    Args:
        digits: number of digits per ERP number series (``{"C": 5, "CT": 5, ...}``), sized
            so that the engine's new keys do not run out (see ``DemoSizes.key_digits``).
        crm: the local Dataverse service holding the CRM; None for ``crm.db``.
        erp: the local Business Central holding the ERP; None for ``erp.db``.
    """
    lines = [
        _HEADER,
        "[state]",
        "# Couplings, job log and watermarks; created on the first run.",
        'url = "sqlite:///.accord/state.db"',
        "",
        *_erp_system(erp),
        "",
        *_crm_system(crm),
        "",
        *_tables(digits, erp is not None),
        "",
        "# Mappings, adapted from the standard BC <-> Dataverse setup. A field row's direction",
        "# defaults to its mapping's; a constant row writes a fixed value on the side it names.",
        *_mappings(BC_MAPPINGS if erp is not None else STANDARD_MAPPINGS),
    ]
    return "\n".join(lines) + "\n"


def write_config(
    directory: Path,
    digits: Mapping[str, int],
    crm: DataverseCrm | None = None,
    erp: BusinessCentralErp | None = None,
) -> Path:
    """Write ``accord.toml`` into ``directory`` and return its path."""
    path = directory / CONFIG_NAME
    path.write_text(render_config(digits, crm, erp), encoding="utf-8")
    return path
