"""Multi-company: several companies of one ERP tenant share one CRM without seeing each other.

Each company is a system of its own (a Business Central system names its company in
``options.company``; any other system says ``company_id = "..."``). A CRM table whose rows
record their company names the column in its table settings::

    [tables."crm.account"]
    company_field = "bcbi_companyid"

A mapping between a company's table and such a table then

* **stamps** the company's id on every row it writes there (a constant of the
  destination, so creations and updates both carry it, and an update that would only
  restate it is not sent), and
* **filters** every read of that table by it (``company_field eq '<id>'``, and'ed with the
  mapping's own filter): passes, change-tracking reads, match-based coupling, full sync,
  counts and reviews all go through the side's one filter, so a company never reads,
  couples to or overwrites another company's rows.

Rows with an empty company column belong to no company and are read by none, unless the
table says ``company_includes_empty = true`` (the reference's ``CompanyId = this or empty``
filter; with several companies each then reads them, see the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accord.config import Config
from accord.config.locate import locate
from accord.errors import ConfigError
from accord.model import Side, TableMapping, TableSchema, TableSettings


@dataclass(frozen=True)
class CompanyScope:
    """What multi-company adds to one side of a mapping: a filter and a stamp."""

    filter: str
    stamp: tuple[tuple[str, Any], ...]


def company_filter(field: str, company_id: str, includes_empty: bool) -> str:
    """The OData filter text that keeps a company's rows (and the unstamped, if asked)."""
    quoted = "'" + company_id.replace("'", "''") + "'"
    text = f"{field} eq {quoted}"
    return f"({text} or {field} eq null)" if includes_empty else text


def combine_filters(own: str, company: str) -> str:
    """The mapping's own filter and'ed with the company's."""
    return f"({own}) and {company}" if own.strip() else company


def company_scope(
    config: Config,
    mapping: TableMapping,
    side: Side,
    settings: TableSettings,
    schema: TableSchema,
    company_of_other_side: str | None,
) -> CompanyScope | None:
    """The company filter and stamp of ``side`` of ``mapping``, or None when the table has no
    company column. ``company_of_other_side`` is the id of the company whose system is the
    mapping's other side (None when that system names none)."""
    field = settings.company_field
    if field is None:
        return None
    ref = mapping.table_on(side)
    other = mapping.table_on(side.other).system
    where = locate(config.text, ("tables", str(ref), "company_field"))
    if field not in schema.fields:
        raise config.error(
            f"table {ref}: company_field '{field}' is not a field of it "
            f"(fields: {', '.join(schema.fields)})",
            where,
        )
    if not company_of_other_side:
        raise ConfigError(
            f"mapping {mapping.name}: table {ref} keeps its rows per company "
            f"(company_field = '{field}'), but system '{other}' names no company: set "
            f"company_id under [systems.{other}] (or options.company for Business Central)",
            source=str(config.path),
            line=locate(config.text, ("mappings", config.mappings.index(mapping))),
        )
    return CompanyScope(
        filter=company_filter(field, company_of_other_side, settings.company_includes_empty),
        stamp=((field, company_of_other_side),),
    )
