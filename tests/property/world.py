"""A two-system world for property tests, and checks of its couplings.

The ERP ("local") holds ``currency`` and ``customer``; the CRM ("integration") holds
``transactioncurrency`` and ``account``. Two mappings couple them: CURRENCY (one-way,
to-integration) and CUSTOMER (bidirectional, with a lookup through CURRENCY, one field in
each single direction and a constant). Everything a check compares goes through the engine's
own conversions (:func:`coerce`, :func:`same`), so a blank ``''`` equals ``None``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import TestCase

from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine

import accord
from accord.errors import RecordError
from accord.model import Coupling, SyncResult
from accord.model.values import coerce, same
from accord.testing import MemoryDatabase, database, drop_database

CONFIG = """
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "memory"
url = "{erp}"

[systems.crm]
connector = "memory"
url = "{crm}"

[tables."erp.customer"]
new_keys = {{ series = "C", digits = 5 }}
# Wide, so that an edit a clock behind stamps before the version stored is always in the read
# window (the README promises those within the overlap only).
overlap_seconds = 3600

# Number series rather than uuids on the CRM too, so that a replayed example creates the same
# keys in the same order (hypothesis needs deterministic examples to shrink them).
[tables."crm.account"]
new_keys = {{ series = "A", digits = 5 }}
overlap_seconds = 3600

[tables."crm.transactioncurrency"]
new_keys = {{ series = "T", digits = 3 }}

[[mappings]]
name = "CURRENCY"
table = "erp.currency"
integration_table = "crm.transactioncurrency"
direction = "to-integration"
fields = [
  {{ field = "code", integration_field = "isocurrencycode" }},
  {{ field = "description", integration_field = "currencyname" }},
]

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "bidirectional"
integration_table_filter = "statecode eq 0"
update_conflict = "{update_conflict}"
deletion_conflict = "none"
fields = [
  {{ field = "name", integration_field = "name" }},
  {{ field = "city", integration_field = "address1_city" }},
  {{ field = "phone", integration_field = "telephone1" }},
  {{ field = "currency_code", integration_field = "transactioncurrencyid", lookup = "CURRENCY", clear_on_missing = {clear} }},
  {{ field = "credit_limit", integration_field = "creditlimit", direction = "to-integration" }},
  {{ field = "no", integration_field = "accountnumber", direction = "to-integration" }},
  {{ field = "website", integration_field = "websiteurl", direction = "from-integration" }},
  {{ constant = 0, integration_field = "statecode", direction = "to-integration" }},
]
"""

CRM_NAME_LENGTH = 5
"""``account.name`` holds at most this many characters: longer local names fail to go over."""

# (local field, integration field, how it flows)
CUSTOMER_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("name", "name", "both"),
    ("city", "address1_city", "both"),
    ("phone", "telephone1", "both"),
    ("currency_code", "transactioncurrencyid", "lookup"),
    ("credit_limit", "creditlimit", "to"),
    ("no", "accountnumber", "to"),
    ("website", "websiteurl", "from"),
)
BIDIRECTIONAL = frozenset(f for f, _, how in CUSTOMER_FIELDS if how in ("both", "lookup"))
CURRENCY_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("code", "isocurrencycode", "to"),
    ("description", "currencyname", "to"),
)

# What a user may edit on each side: never the destination of a one-way field of CUSTOMER.
LOCAL_CUSTOMER_EDITABLE = ("name", "city", "phone", "currency_code", "credit_limit")
CRM_ACCOUNT_EDITABLE = (
    "name",
    "address1_city",
    "telephone1",
    "transactioncurrencyid",
    "websiteurl",
)
LOCAL_CURRENCY_EDITABLE = ("description",)
CRM_CURRENCY_EDITABLE = ("isocurrencycode", "currencyname")

TABLES = {
    "local": ("customer", "currency"),
    "integration": ("account", "transactioncurrency"),
}
MAPPING_OF = {
    "customer": "CUSTOMER",
    "account": "CUSTOMER",
    "currency": "CURRENCY",
    "transactioncurrency": "CURRENCY",
}


@dataclass
class World:
    """Two memory systems and an ``accord.toml`` in a temporary folder."""

    path: Path
    erp: MemoryDatabase
    crm: MemoryDatabase
    urls: tuple[str, str]
    folder: Path
    _project: accord.Project | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        *,
        update_conflict: str = "send",
        clear_on_missing: bool = True,
        coarse_crm_clock: bool = False,
    ) -> World:
        """``coarse_crm_clock``: the CRM stamps whole seconds, so an edit right after
        Accord's own write carries the very version Accord stored."""
        folder = Path(tempfile.mkdtemp(prefix="accord-property-"))
        tag = uuid.uuid4().hex[:12]
        erp_url, crm_url = f"memory://prop-erp-{tag}", f"memory://prop-crm-{tag}"
        erp, crm = database(erp_url), database(crm_url)
        if coarse_crm_clock:
            crm.clock.resolution = timedelta(seconds=1)
        erp.create_table("currency", ["code", "description"], key="code")
        erp.create_table(
            "customer",
            {
                "no": "text",
                "name": "text",
                "city": "text",
                "phone": "text",
                "credit_limit": "decimal",
                "currency_code": "text",
                "website": "text",
            },
            key="no",
        )
        crm.create_table(
            "transactioncurrency",
            ["transactioncurrencyid", "isocurrencycode", "currencyname"],
            key="transactioncurrencyid",
        )
        crm.create_table(
            "account",
            {
                "accountid": "text",
                "name": "text",
                "address1_city": "text",
                "telephone1": "text",
                "creditlimit": "decimal",
                "accountnumber": "text",
                "transactioncurrencyid": "text",
                "websiteurl": "text",
                "statecode": "integer",
            },
            key="accountid",
            lengths={"name": CRM_NAME_LENGTH},
        )
        path = folder / "accord.toml"
        path.write_text(
            CONFIG.format(
                erp=erp_url,
                crm=crm_url,
                update_conflict=update_conflict,
                clear="true" if clear_on_missing else "false",
            )
        )
        return cls(path, erp, crm, (erp_url, crm_url), folder)

    @property
    def project(self) -> accord.Project:
        if self._project is None:
            self._project = accord.Project.load(self.path)
        return self._project

    def db(self, side: str) -> MemoryDatabase:
        return self.erp if side == "local" else self.crm

    def writes(self) -> tuple[int, int]:
        return self.erp.writes, self.crm.writes

    def close(self) -> None:
        if self._project is not None:
            self._project.close()
            self._project = None
        for url in self.urls:
            drop_database(url)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- state ----------------------------------------------------------------------------
    def couplings(self, mapping: str) -> list[Coupling]:
        return self.project.store.list_couplings(mapping, limit=1_000_000)

    def account_selected(self, row: dict[str, Any]) -> bool:
        """Whether an account passes CUSTOMER's integration filter (the engine's evaluator)."""
        selected = self.project.context("CUSTOMER").integration.filter
        return selected is None or selected.matches(row)


def as_test(machine: type[RuleBasedStateMachine], config: settings) -> type[TestCase]:
    """The machine's unittest case, run with ``config``."""
    case: type[TestCase] = machine.TestCase
    case.settings = config  # type: ignore[attr-defined]  # hypothesis reads it there
    return case


# -- checks ---------------------------------------------------------------------------------
def assert_one_to_one(mapping: str, couplings: Iterable[Coupling]) -> None:
    local: set[str] = set()
    integration: set[str] = set()
    for c in couplings:
        assert not c.pending, f"{mapping}: pending coupling left after a step: {c}"
        assert c.local_key not in local, f"{mapping}: local key {c.local_key!r} coupled twice"
        assert c.integration_key not in integration, (
            f"{mapping}: integration key {c.integration_key!r} coupled twice"
        )
        local.add(c.local_key)
        integration.add(c.integration_key)


def _to_integration(value: Any, info: Any) -> tuple[bool, Any]:
    try:
        return True, coerce(value, info)
    except RecordError:
        return False, None


def mismatches(
    world: World,
    mapping: str,
    local_row: dict[str, Any],
    crm_row: dict[str, Any],
    currency_pairs: dict[str, str],
) -> dict[str, tuple[Any, Any]]:
    """Mapped fields (named by their local field) on which a coupled pair disagrees.

    ``currency_pairs``: local currency code → integration id of non-pending CURRENCY couplings.
    """
    if mapping == "CURRENCY":
        fields, table = CURRENCY_FIELDS, "transactioncurrency"
    else:
        fields, table = CUSTOMER_FIELDS, "account"
    crm_schema = world.crm.tables[table].schema
    erp_schema = world.erp.tables["customer" if mapping == "CUSTOMER" else "currency"].schema
    out: dict[str, tuple[Any, Any]] = {}
    for local_field, crm_field, how in fields:
        lv, cv = local_row.get(local_field), crm_row.get(crm_field)
        if how == "lookup":
            if lv is None or lv == "":
                agree = cv is None or cv == ""
            else:
                agree = lv in currency_pairs and same(currency_pairs[lv], cv)
        elif how == "from":
            ok, expected = _to_integration(cv, erp_schema.fields[local_field])
            agree = ok and same(expected, lv)
        else:
            ok, expected = _to_integration(lv, crm_schema.fields[crm_field])
            agree = ok and same(expected, cv)
        if not agree:
            out[local_field] = (lv, cv)
    if mapping == "CUSTOMER" and not same(crm_row.get("statecode"), 0):
        out["statecode"] = (0, crm_row.get("statecode"))
    return out


def failed(c: Coupling) -> bool:
    return c.skipped or SyncResult.FAILURE in (c.result_to, c.result_from)


def deferred(c: Coupling) -> bool:
    return SyncResult.DEFERRED in (c.result_to, c.result_from)


def errors_of(c: Coupling) -> str:
    return " | ".join(e for e in (c.error_to, c.error_from) if e)
