"""What the demo company sells: ERP items and resources, and a few CRM-only products.

Items and resources both map to the CRM's ``product`` table (ITEM-PRODUCT and
RESOURCE-PRODUCT, told apart by ``producttypecode``), so the CRM-only products come in both
types. Their unit group is empty because the CRM has no unit groups until the sync sends
the ERP's units of measure.
"""

from __future__ import annotations

from collections.abc import Iterator

from accord.demo.dice import Dice
from accord.demo.loader import CHUNK_SIZE, Row, table_rows
from accord.demo.parties import PartyFactory
from accord.demo.schema import CRM_METADATA, ERP_METADATA

__all__ = ["crm_products", "items", "resources"]

# noun, base unit, lowest and highest unit price, typical gross weight in kg
_ITEM_FAMILIES: tuple[tuple[str, str, int, int, float], ...] = (
    ("Office Chair", "PCS", 89, 649, 14.0), ("Desk", "PCS", 149, 1299, 35.0),
    ("Conference Table", "PCS", 399, 2999, 60.0), ("Filing Cabinet", "PCS", 119, 699, 28.0),
    ("Monitor Arm", "PCS", 39, 249, 3.5), ("LED Desk Lamp", "PCS", 19, 149, 1.2),
    ("Copy Paper A4", "BOX", 19, 49, 12.5), ("Printer Toner", "PCS", 39, 189, 0.9),
    ("Coffee Beans", "KG", 12, 45, 1.0), ("Bottled Water", "PACK", 4, 12, 9.0),
    ("Cleaning Agent", "L", 3, 25, 1.0), ("Hand Sanitizer", "L", 6, 30, 1.0),
    ("Network Cable", "M", 1, 6, 0.05), ("Steel Shelving", "PCS", 79, 499, 25.0),
    ("Pallet Wrap", "BOX", 25, 90, 8.0), ("Safety Gloves", "PACK", 8, 40, 0.6),
    ("Work Boots", "PCS", 59, 189, 1.8), ("Wood Screws", "PACK", 3, 25, 0.5),
    ("Wall Paint", "L", 8, 40, 1.3), ("Laptop Bag", "PCS", 29, 149, 1.1),
    ("Whiteboard", "PCS", 49, 399, 9.0), ("Headset", "PCS", 29, 299, 0.4),
    ("Storage Box", "PCS", 5, 35, 0.8), ("Extension Cord", "PCS", 9, 39, 0.7),
)  # fmt: skip
_GRADES = ("Standard", "Premium", "Eco", "Compact", "Heavy-Duty", "Deluxe", "Basic", "Pro")
_SERIES = "ABCDEFGHKLMNPRSTVX"
_EQUIPMENT = ("Meeting Room", "Forklift", "Delivery Van", "Mobile Crane", "Projector Kit")
_SERVICES = (
    "On-site Installation", "Consulting Day", "Training Session", "Maintenance Visit",
    "Remote Support Hour", "Project Management", "Design Workshop", "Data Migration",
)  # fmt: skip
_SERVICE_LEVELS = ("Basic", "Standard", "Advanced", "Expert")

_BLOCKED_SHARE = 0.03
_SERVICE_SHARE = 0.3
"""Part of the CRM-only products that are services (RESOURCE-PRODUCT) rather than goods."""


def _models(dice: Dice, count: int) -> list[str]:
    """Model designations such as ``KX-240``."""
    return [
        f"{a}{b}-{number}"
        for a, b, number in zip(
            dice.picks(_SERIES, count),
            dice.picks(_SERIES, count),
            dice.integers(100, 1000, count),
            strict=True,
        )
    ]


def _blocked(dice: Dice, count: int) -> set[int]:
    """Indices of the rows to block: ~3%, at least one, so the mapping filters have work."""
    return set(dice.sample(count, max(1, round(count * _BLOCKED_SHARE))))


def _part_numbers(dice: Dice, count: int, share: float) -> list[str]:
    """Vendor part numbers such as ``K48213``; '' for the items bought without one."""
    numbers = [
        f"{letter}{number}"
        for letter, number in zip(
            dice.picks(_SERIES, count), dice.integers(10000, 100000, count), strict=True
        )
    ]
    return dice.some(numbers, share, "")


def items(dice: Dice, count: int, digits: int) -> Iterator[list[Row]]:
    """Yield chunks of ERP ``item`` rows (keys ``I00001`` …)."""
    blocked = _blocked(dice, count)
    key = f"I{{:0{digits}d}}".format
    for start in range(0, count, CHUNK_SIZE):
        stop = min(count, start + CHUNK_SIZE)
        size = stop - start
        families = dice.picks(_ITEM_FAMILIES, size)
        price = [low + (high - low) * dice.random() for _, _, low, high, _ in families]
        grades = dice.picks(_GRADES, size)
        yield table_rows(
            ERP_METADATA.tables["item"],
            size,
            no=[key(number) for number in range(start + 1, stop + 1)],
            description=[
                f"{grade} {family[0]} {model}"
                for grade, family, model in zip(grades, families, _models(dice, size), strict=True)
            ],
            base_unit_of_measure=[family[1] for family in families],
            unit_price=[round(amount, 2) for amount in price],
            unit_cost=_costs(dice, price, 0.55, 0.8),
            gross_weight=[
                round(family[4] * factor, 3)
                for family, factor in zip(families, dice.uniforms(0.8, 1.2, size), strict=True)
            ],
            vendor_item_no=_part_numbers(dice, size, 0.7),
            inventory=dice.some(dice.integers(1, 500, size), 0.85, 0),
            blocked=[index in blocked for index in range(start, stop)],
            last_modified=dice.moments(size),
        )


def resources(dice: Dice, count: int, digits: int) -> Iterator[list[Row]]:
    """Yield chunks of ERP ``resource`` rows: mostly people, some equipment (``R0001`` …)."""
    parties = PartyFactory(dice)
    blocked = _blocked(dice, count)
    key = f"R{{:0{digits}d}}".format
    for start in range(0, count, CHUNK_SIZE):
        stop = min(count, start + CHUNK_SIZE)
        size = stop - start
        names = []
        for _ in range(size):
            if dice.chance(0.8):
                first, last = parties.person_name()
                names.append(f"{first} {last}")
            else:
                names.append(f"{dice.pick(_EQUIPMENT)} {dice.between(1, 20)}")
        daily = dice.flags(0.3, size)
        price = [dice.uniform(480, 1400) if day else dice.uniform(60, 180) for day in daily]
        yield table_rows(
            ERP_METADATA.tables["resource"],
            size,
            no=[key(number) for number in range(start + 1, stop + 1)],
            name=names,
            base_unit_of_measure=["DAY" if day else "HOUR" for day in daily],
            unit_price=[round(amount, 2) for amount in price],
            unit_cost=_costs(dice, price, 0.5, 0.75),
            blocked=[index in blocked for index in range(start, stop)],
            last_modified=dice.moments(size),
        )


def crm_products(dice: Dice, count: int) -> list[Row]:
    """CRM-only products: goods (type 1) and services (type 2), at least one of each."""
    services = set(dice.sample(count, max(1, round(count * _SERVICE_SHARE))))
    names: list[str] = []
    prices: list[float] = []
    weights: list[float | None] = []
    for index in range(count):
        if index in services:
            names.append(f"{dice.pick(_SERVICES)} ({dice.pick(_SERVICE_LEVELS)})")
            prices.append(dice.uniform(90, 1500))
            weights.append(None)
        else:
            noun, _unit, low, high, kilos = dice.pick(_ITEM_FAMILIES)
            names.append(f"{dice.pick(_GRADES)} {noun} {_models(dice, 1)[0]}")
            prices.append(dice.uniform(low, high))
            weights.append(round(kilos * dice.uniform(0.8, 1.2), 3))
    goods = [index not in services for index in range(count)]
    cost = _costs(dice, prices, 0.5, 0.8)
    return table_rows(
        CRM_METADATA.tables["product"],
        count,
        productid=dice.guids(count),
        name=names,
        productnumber=[f"PRD-{10001 + index}" for index in range(count)],
        price=[round(amount, 2) for amount in prices],
        standardcost=cost,
        currentcost=cost,
        stockweight=weights,
        vendorpartnumber=[
            number if good else None
            for number, good in zip(_part_numbers(dice, count, 1.0), goods, strict=True)
        ],
        quantityonhand=[
            quantity if good else None
            for quantity, good in zip(dice.integers(0, 300, count), goods, strict=True)
        ],
        defaultuomscheduleid=None,  # the CRM has no unit groups until the first sync
        producttypecode=[1 if good else 2 for good in goods],
        statecode=[int(flag) for flag in dice.flags(0.05, count)],
        modifiedon=dice.moments(count),
    )


def _costs(dice: Dice, prices: list[float], low: float, high: float) -> list[float]:
    """Unit costs: a random share between ``low`` and ``high`` of each price, in cents."""
    factors = dice.uniforms(low, high, len(prices))
    return [round(price * factor, 2) for price, factor in zip(prices, factors, strict=True)]
