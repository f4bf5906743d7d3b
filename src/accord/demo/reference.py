"""The small fixed tables: currencies, units of measure and the CRM's users.

They are what the standard mappings' lookups point at. The world starts the way a new
integration does: currencies and units exist only in the ERP (the sync sends them to the
CRM), salespeople exist only as CRM users (the sync brings them to the ERP).
"""

from __future__ import annotations

from typing import Any

from accord.demo.dice import Dice
from accord.demo.loader import Row, rows_from_records
from accord.demo.parties import PartyFactory
from accord.demo.schema import CRM_METADATA, ERP_METADATA
from accord.demo.vocabulary import ascii_fold

__all__ = ["OWN_DOMAIN", "currencies", "systemusers", "units_of_measure"]

OWN_DOMAIN = "cronus-demo.com"
"""E-mail domain of the company that runs both systems."""

_CURRENCIES: tuple[tuple[str, str, str], ...] = (
    ("EUR", "Euro", "€"),
    ("USD", "US Dollar", "$"),
    ("GBP", "Pound Sterling", "£"),
    ("CHF", "Swiss Franc", "CHF"),
    ("SEK", "Swedish Krona", "kr"),
    ("DKK", "Danish Krone", "kr."),
    ("NOK", "Norwegian Krone", "kr"),
    ("PLN", "Polish Zloty", "zł"),
)

_UNITS: tuple[tuple[str, str], ...] = (
    ("PCS", "Piece"),
    ("BOX", "Box"),
    ("KG", "Kilogram"),
    ("HOUR", "Hour"),
    ("DAY", "Day"),
    ("PACK", "Pack"),
    ("L", "Litre"),
    ("M", "Metre"),
)

_REGULAR_USERS = 9
"""Licensed, enabled people: the ones that become ERP salespeople."""


def currencies(dice: Dice) -> list[Row]:
    """ERP currency rows (the company's own currency is the blank code, as in BC)."""
    return rows_from_records(
        ERP_METADATA.tables["currency"],
        (
            {"code": code, "description": name, "symbol": symbol, "last_modified": dice.moment()}
            for code, name, symbol in _CURRENCIES
        ),
    )


def units_of_measure(dice: Dice) -> list[Row]:
    """ERP unit-of-measure rows."""
    return rows_from_records(
        ERP_METADATA.tables["unit_of_measure"],
        (
            {"code": code, "description": name, "last_modified": dice.moment()}
            for code, name in _UNITS
        ),
    )


def systemusers(dice: Dice) -> tuple[list[Row], list[str]]:
    """CRM users, and the ids of those that may own accounts.

    There are regular sellers plus three users the SALESPEOPLE filter must leave out: a
    disabled, an unlicensed and an integration user, each failing exactly one term of
    ``isdisabled eq false and islicensed eq true and isintegrationuser eq false``. Accounts
    are owned by the regular sellers only, so every owner becomes an ERP salesperson.
    """
    parties = PartyFactory(dice)
    users: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(users) < _REGULAR_USERS + 2:
        first, last = parties.person_name()
        full_name = f"{first} {last}"
        if full_name in seen:
            continue
        seen.add(full_name)
        mobile = None
        if dice.chance(0.8):
            mobile = f"+49 {dice.pick(('151', '160', '170'))} {dice.between(1000000, 10000000)}"
        users.append(
            {
                "systemuserid": dice.guid(),
                "fullname": full_name,
                "internalemailaddress": f"{ascii_fold(first)}.{ascii_fold(last)}@{OWN_DOMAIN}",
                "mobilephone": mobile,
                "isdisabled": len(users) == _REGULAR_USERS,  # left the company
                "islicensed": len(users) != _REGULAR_USERS + 1,  # a shared reception login
                "isintegrationuser": False,
                "modifiedon": dice.moment(),
            }
        )
    users.append(
        {
            "systemuserid": dice.guid(),
            "fullname": "Business Central Integration",
            "internalemailaddress": f"bc-integration@{OWN_DOMAIN}",
            "mobilephone": None,
            "isdisabled": False,
            "islicensed": True,
            "isintegrationuser": True,
            "modifiedon": dice.moment(),
        }
    )
    owners = [user["systemuserid"] for user in users[:_REGULAR_USERS]]
    return rows_from_records(CRM_METADATA.tables["systemuser"], users), owners
