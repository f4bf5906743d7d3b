"""Table shapes from Business Central's ``$metadata`` (OData CSDL XML).

One ``$metadata`` document describes every entity set of one API (the standard v2.0 API, or
one custom API). Each set's properties become :class:`~accord.connectors.dataverse.metadata.
Attribute` values, the shape the filter renderer and the value conversions already take, so
the two connectors share them: ``Edm.Guid`` reads as lower-case text, enums as their names,
``Edm.DateTimeOffset`` as naive UTC datetimes, ``Edm.Date`` as dates (a blank one as None).
Navigation properties, complex types (postal addresses) and streams (pictures) carry no plain
value and are left out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from accord.connectors.dataverse.metadata import Attribute, Entity
from accord.connectors.dataverse.values import to_wire
from accord.errors import FatalConnectorError
from accord.model.values import blank

PRIMITIVES: Mapping[str, tuple[str, str]] = {
    "Edm.String": ("String", "text"),
    "Edm.Guid": ("Uniqueidentifier", "text"),
    "Edm.Byte": ("Integer", "integer"),
    "Edm.SByte": ("Integer", "integer"),
    "Edm.Int16": ("Integer", "integer"),
    "Edm.Int32": ("Integer", "integer"),
    "Edm.Int64": ("BigInt", "integer"),
    "Edm.Decimal": ("Decimal", "decimal"),
    "Edm.Double": ("Double", "float"),
    "Edm.Single": ("Double", "float"),
    "Edm.Boolean": ("Boolean", "boolean"),
    "Edm.DateTimeOffset": ("DateTime", "datetime"),
    "Edm.Date": ("DateTime", "date"),
    "Edm.TimeOfDay": ("String", "text"),
    "Edm.Duration": ("String", "text"),
}
"""The Dataverse-style attribute type and the Accord kind of each CSDL primitive type."""

BLANK_DATE = "0001-01-01"
BLANK_DATETIME = "0001-01-01T00:00:00Z"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"

ALWAYS_READ_ONLY = frozenset({"id", "lastModifiedDateTime"})
"""Set by Business Central itself on every entity (SystemId and SystemModifiedAt)."""

_READ_ONLY_TERMS = ("Core.V1.Computed", "Core.V1.Immutable")


def parse_metadata(content: bytes, system: str) -> dict[str, Entity]:
    """Each entity set of one ``$metadata`` document, by name (``primary_id`` left empty:
    the connector chooses the key).

    Raises:
        FatalConnectorError: the document is not CSDL XML.
    """
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise FatalConnectorError(
            f"system '{system}': the $metadata document is not XML ({exc})"
        ) from None
    enums: set[str] = set()
    types: dict[str, ET.Element] = {}
    sets: dict[str, str] = {}
    for schema in _children(root, "Schema", deep=True):
        namespaces = {schema.get("Namespace", ""), schema.get("Alias", "")} - {""}
        for element in schema:
            name = element.get("Name", "")
            tag = _local(element.tag)
            if tag == "EnumType":
                enums.update(f"{ns}.{name}" for ns in namespaces)
            elif tag == "EntityType":
                for ns in namespaces:
                    types[f"{ns}.{name}"] = element
            elif tag == "EntityContainer":
                for entity_set in _children(element, "EntitySet"):
                    sets[entity_set.get("Name", "")] = entity_set.get("EntityType", "")
    if not sets and _local(root.tag) != "Edmx":
        raise FatalConnectorError(f"system '{system}': the $metadata document is not CSDL")
    entities: dict[str, Entity] = {}
    for set_name, type_name in sets.items():
        entity_type = types.get(type_name)
        if entity_type is None or not set_name:
            continue
        attributes = _attributes(entity_type, enums)
        entities[set_name] = Entity(set_name, set_name, "", attributes)
    return entities


def _attributes(entity_type: ET.Element, enums: set[str]) -> dict[str, Attribute]:
    attributes: dict[str, Attribute] = {}
    for prop in _children(entity_type, "Property"):
        name = prop.get("Name", "")
        type_name = prop.get("Type", "")
        shape = PRIMITIVES.get(type_name) or (("String", "text") if type_name in enums else None)
        if not name or shape is None:
            continue
        read_only = name in ALWAYS_READ_ONLY or _read_only(prop)
        length = prop.get("MaxLength", "")
        attributes[name] = Attribute(
            name=name,
            type=shape[0],
            kind=shape[1],
            nullable=_blank_of(shape) is not None and name != "id",  # a SystemId is never blank
            length=int(length) if length.isdigit() and int(length) > 0 else None,
            creatable=not read_only,
            updatable=not read_only,
        )
    return attributes


def _read_only(prop: ET.Element) -> bool:
    """``Core.V1.Computed`` / ``Immutable``, or ``Core.V1.Permissions`` of Read only."""
    for annotation in _children(prop, "Annotation"):
        term = annotation.get("Term", "")
        if term.endswith(_READ_ONLY_TERMS) and annotation.get("Bool", "true").lower() == "true":
            return True
        if term.endswith("Core.V1.Permissions"):
            members = annotation.get("EnumMember", "") + " ".join(
                (e.text or "") for e in annotation.iter() if _local(e.tag) == "EnumMember"
            )
            if "Read" in members and "ReadWrite" not in members and "Write" not in members:
                return True
    return False


def _children(element: ET.Element, tag: str, *, deep: bool = False) -> list[ET.Element]:
    found = element.iter() if deep else iter(element)
    return [e for e in found if _local(e.tag) == tag]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _blank_of(shape: tuple[str, str]) -> str | None:
    type_name, kind = shape
    if type_name == "Uniqueidentifier":
        return EMPTY_GUID
    return {"text": "", "date": BLANK_DATE, "datetime": BLANK_DATETIME}.get(kind)


def wire_blank(attribute: Attribute) -> str | None:
    """How Business Central holds "no value" in a field read and written as None: ``""``
    for text, the empty GUID, ``0001-01-01`` for dates. None for numbers and booleans, which
    are blank as ``0`` and ``false`` (and described as not nullable, so that the engine
    writes those rather than a null BC refuses). Business Central holds no nulls."""
    return _blank_of((attribute.type, attribute.kind))


def blanks_as_none(row: Mapping[str, Any], blanks: Mapping[str, str]) -> Mapping[str, Any]:
    """A row with Business Central's blanks as None (``blanks``: field → its :func:`wire_blank`;
    a date is blank from ``0001-01-01`` on, whatever time and fraction follow)."""
    found = []
    for name, blank_text in blanks.items():
        value = row.get(name)
        if isinstance(value, str) and (
            value == blank_text
            or (blank_text.startswith(BLANK_DATE) and value.startswith(BLANK_DATE))
        ):
            found.append(name)
    return {**row, **dict.fromkeys(found)} if found else row


def wire_value(value: Any, attribute: Attribute) -> Any:
    """The JSON value to send: a null as the field's blank (Business Central takes no null)."""
    if value is None:
        text = wire_blank(attribute)
        if text is not None:
            return text
        value = blank(replace(attribute.info(), nullable=False))
    return to_wire(value, attribute)
