"""What the demo world holds: its size, and every row of both systems in insert order.

One ``records`` number (customers across both systems) scales every table, so a demo of any
size keeps the same shape. ``DemoData(sizes, seed)`` yields ``(table, rows)`` chunks per
system. Each part of the world has its own random stream (:func:`accord.demo.dice.stream`)
and nothing reads the clock or the OS entropy pool, so the same seed and size give the same
rows on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from accord.demo import catalog, customers, reference
from accord.demo.dice import stream
from accord.demo.loader import Row, TableRows
from accord.demo.parties import PartyFactory
from accord.errors import UsageError

__all__ = ["MIN_RECORDS", "DemoData", "DemoSizes"]

MIN_RECORDS = 20
"""Fewest customers that still leave room for a blocked, an inactive and a vendor one."""

CRM_SHARE = 0.25
"""Part of the customers that exist only in the CRM (the rest exist only in the ERP)."""


def _digits(default: int, total: int) -> int:
    """Key width that leaves room to double the table before numbers run out."""
    return max(default, len(str(2 * total)))


@dataclass(frozen=True)
class DemoSizes:
    """Row counts of the generated tables and the key widths that fit them."""

    records: int
    erp_customers: int
    crm_accounts: int
    erp_contacts: int
    crm_contacts: int
    items: int
    resources: int
    crm_products: int

    @classmethod
    def for_records(cls, records: int) -> DemoSizes:
        """Scale the world from the number of customers across both systems.

        Raises:
            UsageError: ``records`` is below :data:`MIN_RECORDS`.
        """
        if records < MIN_RECORDS:
            raise UsageError(f"records must be at least {MIN_RECORDS} (got {records})")
        crm_accounts = round(records * CRM_SHARE)
        erp_customers = records - crm_accounts
        return cls(
            records=records,
            erp_customers=erp_customers,
            crm_accounts=crm_accounts,
            erp_contacts=round(erp_customers * 1.5),
            crm_contacts=round(crm_accounts * 1.5),
            items=records // 2,
            resources=max(5, records // 20),
            crm_products=max(4, records // 100),
        )

    def key_digits(self) -> dict[str, int]:
        """Digits per number series (``C00001`` …), sized for the synchronized total.

        After a full synchronization the ERP holds the CRM's records too, and the engine
        numbers those with the same series, so the width is sized for both sides together.
        """
        return {
            "C": _digits(5, self.records),
            "CT": _digits(5, self.erp_contacts + self.crm_contacts),
            "I": _digits(5, self.items + self.crm_products),
            "R": _digits(4, self.resources + self.crm_products),
            "SP": 4,
        }


class DemoData:
    """Generates the rows of the ERP and the CRM for one size and seed."""

    def __init__(self, sizes: DemoSizes, seed: int) -> None:
        self.sizes = sizes
        self.seed = seed

    @cached_property
    def _company_names(self) -> list[tuple[int, int]]:
        """Distinct company names for all customers; the ERP takes the first ones."""
        return PartyFactory(stream(self.seed, "names")).company_names(self.sizes.records)

    @cached_property
    def _systemusers(self) -> tuple[list[Row], list[str]]:
        """The CRM's users, and the ids of those that own accounts."""
        return reference.systemusers(stream(self.seed, "crm.systemuser"))

    def erp(self) -> Iterator[TableRows]:
        """Rows of ``erp.db``. Salespeople stay empty: they come from the CRM's users."""
        sizes, seed = self.sizes, self.seed
        digits = sizes.key_digits()
        yield "currency", reference.currencies(stream(seed, "erp.currency"))
        yield "unit_of_measure", reference.units_of_measure(stream(seed, "erp.unit_of_measure"))
        yield "salesperson", []
        names = self._company_names[: sizes.erp_customers]
        yield from customers.erp_customers(
            stream(seed, "erp.customer"), names, sizes.erp_contacts, digits
        )
        for rows in catalog.items(stream(seed, "erp.item"), sizes.items, digits["I"]):
            yield "item", rows
        for rows in catalog.resources(stream(seed, "erp.resource"), sizes.resources, digits["R"]):
            yield "resource", rows

    def crm(self) -> Iterator[TableRows]:
        """Rows of ``crm.db``. Currencies and unit groups stay empty: they come from the ERP."""
        sizes, seed = self.sizes, self.seed
        yield "transactioncurrency", []
        yield "uomschedule", []
        users, owners = self._systemusers
        yield "systemuser", users
        names = self._company_names[sizes.erp_customers :]
        yield from customers.crm_accounts(
            stream(seed, "crm.account"), names, sizes.crm_contacts, owners
        )
        yield "product", catalog.crm_products(stream(seed, "crm.product"), sizes.crm_products)
