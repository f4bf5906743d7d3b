"""Table definitions of the two demo systems, as SQLAlchemy Core metadata.

The ERP side imitates Business Central: code keys (``C00001``), and text columns that are
``NOT NULL DEFAULT ''`` because BC stores a blank as an empty string. The CRM side imitates
Dataverse: GUID keys (lower-case text with dashes) and nullable text where NULL means blank.
Every table carries an indexed modified-on column, which is what change detection reads.
Column sizes follow the products closely enough that the sync meets the same length limits.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

__all__ = ["CRM_METADATA", "ERP_METADATA", "GUID_LENGTH"]

GUID_LENGTH = 36
"""Length of a GUID written as text with dashes, e.g. ``0b8f...-...``."""

ERP_METADATA = sa.MetaData()
"""The Business-Central-like ERP (``erp.db``)."""

CRM_METADATA = sa.MetaData()
"""The Dataverse-like CRM (``crm.db``)."""


def _text(name: str, length: int) -> sa.Column[str]:
    """A BC text column: a blank is '' and never NULL."""
    return sa.Column(name, sa.String(length), nullable=False, server_default="")


def _code_key(name: str, length: int) -> sa.Column[str]:
    """A BC code primary key (``no`` or ``code``)."""
    return sa.Column(name, sa.String(length), primary_key=True)


def _last_modified() -> sa.Column[datetime]:
    """BC's SystemModifiedAt, indexed because every incremental read filters on it."""
    return sa.Column("last_modified", sa.DateTime(), nullable=False, index=True)


def _money(name: str, *, nullable: bool = True) -> sa.Column[Decimal]:
    """An amount with two decimals."""
    if nullable:
        return sa.Column(name, sa.Numeric(18, 2), nullable=True)
    return sa.Column(name, sa.Numeric(18, 2), nullable=False, server_default="0")


def _flag(name: str, default: bool) -> sa.Column[bool]:
    """A boolean stored as 0/1 with a server default, like both products' yes/no fields."""
    return sa.Column(name, sa.Boolean(), nullable=False, server_default="1" if default else "0")


sa.Table(
    "currency",
    ERP_METADATA,
    _code_key("code", 10),
    _text("description", 30),
    _text("symbol", 10),
    _last_modified(),
)
sa.Table(
    "salesperson",
    ERP_METADATA,
    _code_key("code", 20),
    _text("name", 50),
    _text("email", 80),
    _text("phone_no", 30),
    _last_modified(),
)
sa.Table(
    "unit_of_measure",
    ERP_METADATA,
    _code_key("code", 10),
    _text("description", 50),
    _last_modified(),
)
sa.Table(
    "customer",
    ERP_METADATA,
    _code_key("no", 20),
    sa.Column("name", sa.String(100), nullable=False),
    _text("contact", 100),
    _text("address", 100),
    _text("address_2", 50),
    _text("post_code", 20),
    _text("city", 30),
    _text("country_code", 10),
    _text("county", 30),
    _text("email", 80),
    _text("phone_no", 30),
    _text("fax_no", 30),
    _text("home_page", 80),
    _text("currency_code", 10),
    _text("salesperson_code", 20),
    _money("credit_limit", nullable=False),
    _text("blocked", 10),
    _last_modified(),
)
sa.Table(
    "contact",
    ERP_METADATA,
    _code_key("no", 20),
    sa.Column("type", sa.String(10), nullable=False, server_default="person"),
    _text("first_name", 30),
    _text("middle_name", 30),
    _text("surname", 30),
    _text("email", 80),
    _text("phone_no", 30),
    _text("mobile_phone_no", 30),
    _text("address", 100),
    _text("city", 30),
    _text("post_code", 20),
    _text("country_code", 10),
    _text("customer_no", 20),
    _text("currency_code", 10),
    _last_modified(),
)
sa.Table(
    "item",
    ERP_METADATA,
    _code_key("no", 20),
    sa.Column("description", sa.String(100), nullable=False),
    _text("base_unit_of_measure", 10),
    _money("unit_price"),
    _money("unit_cost"),
    sa.Column("gross_weight", sa.Numeric(18, 3), nullable=True),
    _text("vendor_item_no", 50),
    sa.Column("inventory", sa.Numeric(18, 2), nullable=True),
    _flag("blocked", False),
    _last_modified(),
)
sa.Table(
    "resource",
    ERP_METADATA,
    _code_key("no", 20),
    sa.Column("name", sa.String(100), nullable=False),
    _text("base_unit_of_measure", 10),
    _money("unit_price"),
    _money("unit_cost"),
    _flag("blocked", False),
    _last_modified(),
)


def _guid_key(name: str) -> sa.Column[str]:
    """A Dataverse primary key: a GUID as lower-case text."""
    return sa.Column(name, sa.CHAR(GUID_LENGTH), primary_key=True)


def _guid_ref(name: str) -> sa.Column[str]:
    """A Dataverse lookup column (a GUID or NULL); no foreign key, as across a web API."""
    return sa.Column(name, sa.CHAR(GUID_LENGTH), nullable=True)


def _optional(name: str, length: int) -> sa.Column[str]:
    """A Dataverse text column: a blank is NULL."""
    return sa.Column(name, sa.String(length), nullable=True)


def _modifiedon() -> sa.Column[datetime]:
    """Dataverse's ``modifiedon``, indexed for incremental reads."""
    return sa.Column("modifiedon", sa.DateTime(), nullable=False, index=True)


def _option(name: str, default: int) -> sa.Column[int]:
    """A Dataverse choice (option set) column such as ``statecode``."""
    return sa.Column(name, sa.Integer(), nullable=False, server_default=str(default))


sa.Table(
    "transactioncurrency",
    CRM_METADATA,
    _guid_key("transactioncurrencyid"),
    _optional("isocurrencycode", 5),
    _optional("currencyname", 100),
    _optional("currencysymbol", 10),
    _option("statecode", 0),
    _modifiedon(),
)
sa.Table(
    "systemuser",
    CRM_METADATA,
    _guid_key("systemuserid"),
    _optional("fullname", 200),
    _optional("internalemailaddress", 100),
    _optional("mobilephone", 64),
    _flag("isdisabled", False),
    _flag("islicensed", True),
    _flag("isintegrationuser", False),
    _modifiedon(),
)
sa.Table(
    "uomschedule",
    CRM_METADATA,
    _guid_key("uomscheduleid"),
    _optional("name", 200),
    _optional("baseuomname", 100),
    _option("statecode", 0),
    _modifiedon(),
)
sa.Table(
    "account",
    CRM_METADATA,
    _guid_key("accountid"),
    sa.Column("name", sa.String(160), nullable=False),
    _optional("accountnumber", 20),
    _optional("address1_primarycontactname", 100),
    _optional("address1_line1", 250),
    _optional("address1_line2", 250),
    _optional("address1_postalcode", 20),
    _optional("address1_city", 80),
    _optional("address1_country", 80),
    _optional("address1_stateorprovince", 50),
    _optional("emailaddress1", 100),
    _optional("telephone1", 50),
    _optional("fax", 50),
    _optional("websiteurl", 200),
    _money("creditlimit"),
    _guid_ref("transactioncurrencyid"),
    _guid_ref("ownerid"),
    _guid_ref("primarycontactid"),
    _option("statecode", 0),
    _option("customertypecode", 3),
    _modifiedon(),
)
sa.Table(
    "contact",
    CRM_METADATA,
    _guid_key("contactid"),
    _optional("firstname", 50),
    _optional("middlename", 50),
    _optional("lastname", 50),
    _optional("emailaddress1", 100),
    _optional("telephone1", 50),
    _optional("mobilephone", 50),
    _optional("address1_line1", 250),
    _optional("address1_city", 80),
    _optional("address1_postalcode", 20),
    _optional("address1_country", 80),
    _guid_ref("parentcustomerid"),
    _optional("parentcustomeridtype", 20),
    _guid_ref("transactioncurrencyid"),
    _option("statecode", 0),
    _modifiedon(),
)
sa.Table(
    "product",
    CRM_METADATA,
    _guid_key("productid"),
    sa.Column("name", sa.String(100), nullable=False),
    _optional("productnumber", 100),
    _money("price"),
    _money("standardcost"),
    _money("currentcost"),
    sa.Column("stockweight", sa.Numeric(18, 3), nullable=True),
    _optional("vendorpartnumber", 100),
    sa.Column("quantityonhand", sa.Numeric(18, 2), nullable=True),
    _guid_ref("defaultuomscheduleid"),
    _option("producttypecode", 1),
    _option("statecode", 0),
    _modifiedon(),
)
