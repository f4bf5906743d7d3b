"""Customers and their contact persons: ERP-only customers and CRM-only accounts.

The two sets are disjoint (every company name is drawn once), which is the state a new
integration meets: a full synchronization has to create every record on the other side and
must not couple two records that are not the same company. A few records on each side are
ones the standard mappings filter out (blocked customers, inactive and vendor accounts);
they get no contact persons, so every contact the mappings do pick up finds its company.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from accord.demo.dice import Dice
from accord.demo.loader import CHUNK_SIZE, TableRows, table_rows
from accord.demo.parties import Companies, PartyFactory
from accord.demo.schema import CRM_METADATA, ERP_METADATA

__all__ = ["crm_accounts", "erp_customers"]

_CREDIT_LIMITS = (0, 0, 0, 0, 5000, 10000, 15000, 25000, 50000, 100000, 250000)
_MAILBOXES = ("info", "info", "office", "sales", "contact", "purchasing")

_BLOCKED_SHARE = 0.03
_INACTIVE_SHARE = 0.05
_VENDOR_SHARE = 0.05
_FOREIGN_CURRENCY_SHARE = 0.7
"""Of the customers in a country with its own currency, how many are invoiced in it."""
_INACTIVE_CONTACT_SHARE = 0.03


def _share(count: int, share: float) -> int:
    """round(share × count), but at least one, so every filter has something to leave out."""
    return max(1, round(count * share))


def _contact_counts(dice: Dice, count: int, excluded: set[int], total: int) -> list[int]:
    """Contacts per company: one each for the included companies, the rest spread at random."""
    eligible = [index for index in range(count) if index not in excluded]
    counts = [0] * count
    for index in eligible:
        counts[index] = 1
    for index in dice.rng.choices(eligible, k=max(0, total - len(eligible))):
        counts[index] += 1
    return counts


def _employers(counts: Sequence[int], start: int, stop: int) -> list[int]:
    """Company index within the batch ``start:stop`` of every contact, in key order."""
    return [index - start for index in range(start, stop) for _ in range(counts[index])]


def _emails(dice: Dice, companies: Companies) -> list[str]:
    """A general mailbox per company, such as info@ or sales@."""
    mailboxes = dice.picks(_MAILBOXES, len(companies))
    return [f"{box}@{domain}" for box, domain in zip(mailboxes, companies.domain, strict=True)]


def _null(values: Sequence[str]) -> list[str | None]:
    """Dataverse stores a blank text as NULL."""
    return [value or None for value in values]


def erp_customers(
    dice: Dice, names: Sequence[tuple[int, int]], contacts: int, digits: dict[str, int]
) -> Iterator[TableRows]:
    """Yield chunks of ERP ``customer`` rows, each followed by its ``contact`` rows.

    Args:
        dice: the stream for this part of the world.
        names: one company name index per customer (see ``PartyFactory.company_names``).
        contacts: how many contact persons to make in all.
        digits: key widths per number series.
    """
    parties = PartyFactory(dice)
    count = len(names)
    blocked = set(dice.sample(count, _share(count, _BLOCKED_SHARE)))
    per_customer = _contact_counts(dice, count, blocked, contacts)
    customer_key = f"C{{:0{digits['C']}d}}".format
    contact_key = f"CT{{:0{digits['CT']}d}}".format
    contact_count = 0
    for start in range(0, count, CHUNK_SIZE):
        stop = min(count, start + CHUNK_SIZE)
        size = stop - start
        companies = parties.companies(names[start:stop])
        people = parties.people(companies, _employers(per_customer, start, stop))
        keys = [customer_key(number) for number in range(start + 1, stop + 1)]
        currency = [  # blank = the company's own currency, as in BC
            code if code and dice.chance(_FOREIGN_CURRENCY_SHARE) else ""
            for code in (country.currency for country in companies.country)
        ]
        yield (
            "customer",
            table_rows(
                ERP_METADATA.tables["customer"],
                size,
                no=keys,
                name=companies.name,
                contact=people.first_per_employer(size, ""),
                address=companies.address,
                address_2=companies.address_2,
                post_code=companies.post_code,
                city=companies.city,
                country_code=[country.code for country in companies.country],
                county=companies.county,
                email=_emails(dice, companies),
                phone_no=companies.phone,
                fax_no=companies.fax,
                home_page=[f"www.{domain}" for domain in companies.domain],
                currency_code=currency,
                salesperson_code="",  # salespeople come from the CRM's users
                credit_limit=dice.picks(_CREDIT_LIMITS, size),
                blocked=["all" if start + index in blocked else "" for index in range(size)],
                last_modified=dice.moments(size),
            ),
        )
        employers, persons = people.employer, len(people)
        yield (
            "contact",
            table_rows(
                ERP_METADATA.tables["contact"],
                persons,
                no=[contact_key(contact_count + n) for n in range(1, persons + 1)],
                type="person",
                first_name=people.first_name,
                middle_name=people.middle_name,
                surname=people.surname,
                email=people.email,
                phone_no=people.phone,
                mobile_phone_no=people.mobile,
                address=[companies.address[employer] for employer in employers],
                city=[companies.city[employer] for employer in employers],
                post_code=[companies.post_code[employer] for employer in employers],
                country_code=[companies.country[employer].code for employer in employers],
                customer_no=[keys[employer] for employer in employers],
                currency_code=[currency[employer] for employer in employers],
                last_modified=dice.moments(persons),
            ),
        )
        contact_count += persons


def crm_accounts(
    dice: Dice, names: Sequence[tuple[int, int]], contacts: int, owners: Sequence[str]
) -> Iterator[TableRows]:
    """Yield chunks of CRM ``account`` rows, each followed by its ``contact`` rows.

    Args:
        dice: the stream for this part of the world.
        names: one company name index per account.
        contacts: how many contact persons to make in all.
        owners: ids of the users that may own an account.
    """
    parties = PartyFactory(dice)
    count = len(names)
    inactive_count = _share(count, _INACTIVE_SHARE)
    excluded = dice.sample(count, inactive_count + _share(count, _VENDOR_SHARE))
    inactive, vendors = set(excluded[:inactive_count]), set(excluded[inactive_count:])
    per_account = _contact_counts(dice, count, inactive | vendors, contacts)
    for start in range(0, count, CHUNK_SIZE):
        stop = min(count, start + CHUNK_SIZE)
        size = stop - start
        companies = parties.companies(names[start:stop])
        people = parties.people(companies, _employers(per_account, start, stop))
        ids = dice.guids(size)
        contact_ids = dice.guids(len(people))
        primary: list[str | None] = [None] * size
        for employer, contact_id in zip(people.employer, contact_ids, strict=True):
            if primary[employer] is None:  # the first contact is the primary one
                primary[employer] = contact_id
        indices = range(start, stop)
        yield (
            "account",
            table_rows(
                CRM_METADATA.tables["account"],
                size,
                accountid=ids,
                name=companies.name,
                accountnumber=None,  # written by the CUSTOMER mapping from the ERP's number
                address1_primarycontactname=people.first_per_employer(size, None),
                address1_line1=companies.address,
                address1_line2=_null(companies.address_2),
                address1_postalcode=companies.post_code,
                address1_city=companies.city,
                address1_country=[country.code for country in companies.country],
                address1_stateorprovince=_null(companies.county),
                emailaddress1=_emails(dice, companies),
                telephone1=companies.phone,
                fax=_null(companies.fax),
                websiteurl=[f"https://www.{domain}" for domain in companies.domain],
                creditlimit=dice.some(dice.picks(_CREDIT_LIMITS, size), 0.5, None),
                transactioncurrencyid=None,  # the CRM has no currencies until the first sync
                ownerid=dice.picks(owners, size),
                primarycontactid=primary,
                statecode=[1 if index in inactive else 0 for index in indices],
                customertypecode=[11 if index in vendors else 3 for index in indices],
                modifiedon=dice.moments(size),
            ),
        )
        employers, persons = people.employer, len(people)
        yield (
            "contact",
            table_rows(
                CRM_METADATA.tables["contact"],
                persons,
                contactid=contact_ids,
                firstname=people.first_name,
                middlename=_null(people.middle_name),
                lastname=people.surname,
                emailaddress1=people.email,
                telephone1=dice.some(people.phone, 0.9, None),
                mobilephone=_null(people.mobile),
                address1_line1=[companies.address[employer] for employer in employers],
                address1_city=[companies.city[employer] for employer in employers],
                address1_postalcode=[companies.post_code[employer] for employer in employers],
                address1_country=[companies.country[employer].code for employer in employers],
                parentcustomerid=[ids[employer] for employer in employers],
                parentcustomeridtype="account",
                transactioncurrencyid=None,
                statecode=[int(flag) for flag in dice.flags(_INACTIVE_CONTACT_SHARE, persons)],
                modifiedon=dice.moments(persons),
            ),
        )
