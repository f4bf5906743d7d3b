"""Companies and people with believable names, addresses, e-mails and phone numbers.

Both demo systems hold customers and their contact persons; this module makes them in a
system-neutral shape, and :mod:`accord.demo.customers` pours them into the ERP's or the
CRM's columns. They are made a batch at a time and kept as columns (one list per attribute),
because drawing a whole column in one comprehension is several times faster than building
one object per company, and a 100,000-customer demo has 250,000 companies and people.
"""

from __future__ import annotations

import re
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import accumulate, repeat

from accord.demo.dice import Dice
from accord.demo.vocabulary import (
    ADDRESS_LINE_2,
    COMPANY_INDUSTRIES,
    COMPANY_PREFIXES,
    COMPANY_STEMS,
    COMPANY_VARIANTS,
    COUNTRIES,
    FIRST_NAMES,
    LAST_NAMES,
    MIDDLE_NAMES,
    STREETS,
    Country,
    ascii_fold,
)

__all__ = ["NAME_SPACE", "Companies", "PartyFactory", "People"]

NAME_SPACE = (
    len(COMPANY_PREFIXES) * len(COMPANY_STEMS) * len(COMPANY_INDUSTRIES) * len(COMPANY_VARIANTS)
)
"""How many distinct company names the word lists spell before numbering kicks in."""

_CUMULATIVE_WEIGHTS = tuple(accumulate(country.weight for country in COUNTRIES))
_TOTAL_WEIGHT = _CUMULATIVE_WEIGHTS[-1]
# (name, its ASCII form for e-mail addresses), folded once rather than per person
_FIRST = tuple((name, ascii_fold(name)) for name in FIRST_NAMES)
_LAST = tuple((name, ascii_fold(name)) for name in LAST_NAMES)
_DIGITS = "0123456789"
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class Companies:
    """A batch of customer companies as columns: entry ``i`` of every list is company ``i``."""

    name: list[str]
    country: list[Country]
    city: list[str]
    county: list[str]
    post_code: list[str]
    address: list[str]
    address_2: list[str]
    """'' for most; a building or floor for some."""
    domain: list[str]
    """Unique per company, so e-mail addresses never collide across companies."""
    phone: list[str]
    fax: list[str]
    """'' when the company has no fax."""

    def __len__(self) -> int:
        return len(self.name)


@dataclass(frozen=True, slots=True)
class People:
    """A batch of contact persons as columns; ``employer`` indexes into a :class:`Companies`."""

    employer: list[int]
    first_name: list[str]
    middle_name: list[str]
    """'' for most."""
    surname: list[str]
    email: list[str]
    phone: list[str]
    mobile: list[str]
    """'' when no mobile number is known."""

    def __len__(self) -> int:
        return len(self.employer)

    def full_names(self) -> list[str]:
        """Names as a customer card's Contact field shows them."""
        return [
            f"{first} {middle} {surname}" if middle else f"{first} {surname}"
            for first, middle, surname in zip(
                self.first_name, self.middle_name, self.surname, strict=True
            )
        ]

    def first_per_employer(self, companies: int, blank: str | None) -> list[str | None]:
        """For each of ``companies`` companies, the full name of its first person, or ``blank``."""
        names: list[str | None] = [blank] * companies
        seen: set[int] = set()
        for employer, name in zip(self.employer, self.full_names(), strict=True):
            if employer not in seen:
                seen.add(employer)
                names[employer] = name
        return names


class PartyFactory:
    """Makes companies and people from one random stream.

    Company names are unique across everything one ``company_names`` call draws: it picks
    distinct indices into the space of word combinations, so the same company never appears
    in both systems and a full synchronization creates no duplicates.
    """

    # NOTE: draws that depend on the row (a city of *this* country) are written inline as
    # ``options[int(rnd() * len(options))]``; a method call per value would double the cost.

    def __init__(self, dice: Dice) -> None:
        self._dice = dice

    def company_names(self, count: int) -> list[tuple[int, int]]:
        """Draw ``count`` distinct (name index, repeat) pairs for :meth:`companies`."""
        rounds = -(-count // NAME_SPACE)  # ceil: past the space, names get a number
        drawn = self._dice.sample(NAME_SPACE * rounds, count)
        return [(index % NAME_SPACE, index // NAME_SPACE) for index in drawn]

    def companies(self, names: Sequence[tuple[int, int]]) -> Companies:
        """Make one company per entry of ``names`` (from :meth:`company_names`)."""
        dice, rnd, size = self._dice, self._dice.random, len(names)
        country = [COUNTRIES[bisect(_CUMULATIVE_WEIGHTS, rnd() * _TOTAL_WEIGHT)] for _ in names]
        spelled = [_spell(index, round_) for index, round_ in names]
        city = [land.cities[int(rnd() * len(land.cities))] for land in country]
        address = []
        for land, number in zip(country, dice.integers(1, 200, size), strict=True):
            number_first, streets = STREETS[land.streets]
            street = streets[int(rnd() * len(streets))]
            address.append(f"{number} {street}" if number_first else f"{street} {number}")
        switchboard = [  # the last digit is 0 for reception, 9 for the fax
            f"{land.phone_prefix} {town.area} {number // 1000} {number % 1000:03d}"
            if town.area
            else f"{land.phone_prefix} {number // 1000} {number % 1000:03d}"
            for land, town, number in zip(
                country, city, dice.integers(100000, 1000000, size), strict=True
            )
        ]
        return Companies(
            name=[
                f"{words} {land.legal_forms[int(rnd() * len(land.legal_forms))]}"
                for (words, _), land in zip(spelled, country, strict=True)
            ],
            country=country,
            city=[town.name for town in city],
            county=[town.county for town in city],
            post_code=[_postcode(rnd, town.postcode) for town in city],
            address=address,
            address_2=[
                f"{dice.pick(ADDRESS_LINE_2)} {dice.between(1, 12)}" if rnd() < 0.15 else ""
                for _ in repeat(None, size)
            ],
            domain=[f"{slug}.{land.tld}" for (_, slug), land in zip(spelled, country, strict=True)],
            phone=[number + "0" for number in switchboard],
            fax=dice.some([number + "9" for number in switchboard], 0.3, ""),
        )

    def people(self, companies: Companies, employers: list[int]) -> People:
        """Make one person per entry of ``employers`` (indices into ``companies``).

        E-mail addresses are ``first.last@domain``, numbered when a company has two people of
        the same name, so they are unique (the CONTACT mapping matches on them).
        """
        dice, rnd, size = self._dice, self._dice.random, len(employers)
        first = dice.picks(_FIRST, size)
        last = dice.picks(_LAST, size)
        email = [
            f"{first_ascii}.{last_ascii}@{companies.domain[employer]}"
            for (_, first_ascii), (_, last_ascii), employer in zip(
                first, last, employers, strict=True
            )
        ]
        _number_repeats(email)
        mobile = []
        for employer in employers:
            country = companies.country[employer]
            if rnd() < 0.6:
                prefixes = country.mobile_prefixes
                prefix = prefixes[int(rnd() * len(prefixes))]
                mobile.append(f"{country.phone_prefix} {prefix} {1000000 + int(rnd() * 9000000)}")
            else:
                mobile.append("")
        return People(
            employer=employers,
            first_name=[name for name, _ in first],
            middle_name=[
                MIDDLE_NAMES[int(rnd() * len(MIDDLE_NAMES))] if rnd() < 0.1 else ""
                for _ in employers
            ],
            surname=[name for name, _ in last],
            email=email,
            phone=[  # a direct line next to the switchboard number
                companies.phone[employer][:-1] + _DIGITS[1 + int(rnd() * 8)]
                for employer in employers
            ],
            mobile=mobile,
        )

    def person_name(self) -> tuple[str, str]:
        """A first name and surname, for users and resources that are people."""
        return self._dice.pick(FIRST_NAMES), self._dice.pick(LAST_NAMES)


def _spell(index: int, round_: int) -> tuple[str, str]:
    """The name (without legal form) and domain slug of company ``index``.

    Every (prefix, stem, industry, variant) combination spells a different name; past the
    space (``round_`` > 0), a number is added.
    """
    index, variant = divmod(index, len(COMPANY_VARIANTS))
    index, industry = divmod(index, len(COMPANY_INDUSTRIES))
    prefix, stem = divmod(index, len(COMPANY_STEMS))
    words = [COMPANY_PREFIXES[prefix] + COMPANY_STEMS[stem], COMPANY_INDUSTRIES[industry]]
    if variant:
        words.append(COMPANY_VARIANTS[variant])
    slug = "-".join(words).lower()
    if round_:
        words.append(str(round_ + 1))
        slug += str(round_ + 1)
    return " ".join(words), slug


def _number_repeats(emails: list[str]) -> None:
    """Make e-mail addresses unique in place: the second anna.mueller@x is anna.mueller2@x."""
    seen: set[str] = set()
    for position, email in enumerate(emails):
        if email in seen:
            local, domain = email.split("@")
            number = 2
            while f"{local}{number}@{domain}" in seen:
                number += 1
            email = emails[position] = f"{local}{number}@{domain}"
        seen.add(email)


def _postcode(rnd: Callable[[], float], template: str) -> str:
    """Fill a postcode template: ``#`` becomes a digit, ``@`` a capital letter."""
    out = ""
    for literal, width, modulus in _postcode_parts(template):
        if literal:
            out += literal
        elif modulus:
            out += f"{int(rnd() * modulus):0{width}d}"
        else:
            out += "".join(_LETTERS[int(rnd() * len(_LETTERS))] for _ in range(width))
    return out


@cache
def _postcode_parts(template: str) -> tuple[tuple[str, int, int], ...]:
    """Split a template into (literal, 0, 0), (``""``, width, 10**width) for a run of ``#``
    and (``""``, width, 0) for a run of ``@``."""
    parts = []
    for run in re.findall(r"#+|@+|[^#@]+", template):
        if run[0] == "#":
            parts.append(("", len(run), 10 ** len(run)))
        elif run[0] == "@":
            parts.append(("", len(run), 0))
        else:
            parts.append((run, 0, 0))
    return tuple(parts)
