"""``EntityDefinitions`` and ``$metadata``: what a client reads to learn the tables.

The shapes are Dataverse's (EntityMetadata, AttributeMetadata and its derived types, option
sets, many-to-one relationships with navigation property names), restricted to the
properties a sync client reads. ``$select`` and a ``$filter`` of ``eq`` tests joined by
``and``/``or`` are supported on the collections, as the enum form
``AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from accord.services.dataverse.errors import bad_query, not_found_segment
from accord.services.dataverse.schema import NAMESPACE_UUID, Attribute, Schema, Table

__all__ = ["csdl", "entity_definitions", "service_document"]

Json = dict[str, Any]

_METADATA_TYPES = {
    "String": "StringAttributeMetadata",
    "Memo": "MemoAttributeMetadata",
    "Integer": "IntegerAttributeMetadata",
    "BigInt": "BigIntAttributeMetadata",
    "Decimal": "DecimalAttributeMetadata",
    "Money": "MoneyAttributeMetadata",
    "Double": "DoubleAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata",
    "DateTime": "DateTimeAttributeMetadata",
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
    "Lookup": "LookupAttributeMetadata",
    "Customer": "LookupAttributeMetadata",
    "Owner": "LookupAttributeMetadata",
    "Uniqueidentifier": "UniqueIdentifierAttributeMetadata",
    "EntityName": "EntityNameAttributeMetadata",
}
_KEY = re.compile(r"^(?P<name>\w+)\((?:LogicalName=)?'?(?P<key>[\w-]+)'?\)$")
_TEST = re.compile(
    r"^\s*(?P<prop>\w+)\s+eq\s+(?:(?:Microsoft\.Dynamics\.CRM\.\w+)?'(?P<s>[^']*)'|(?P<b>true|false))\s*$"
)


def _label(text: str) -> Json:
    label = {"Label": text, "LanguageCode": 1033}
    return {"LocalizedLabels": [label], "UserLocalizedLabel": label}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE_UUID, "/".join(parts)))


def _schema_name(name: str) -> str:
    return name[:1].upper() + name[1:]


def _entity(table: Table) -> Json:
    return {
        "MetadataId": table.metadata_id,
        "LogicalName": table.logical_name,
        "SchemaName": _schema_name(table.logical_name),
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "CollectionSchemaName": _schema_name(table.entity_set),
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "DisplayName": _label(table.logical_name),
        "ChangeTrackingEnabled": table.change_tracking,
        "IsCustomEntity": False,
        "IsActivity": False,
        "OwnershipType": "UserOwned" if "ownerid" in table.attributes else "OrganizationOwned",
    }


def _attribute(table: Table, attribute: Attribute, expand_options: bool) -> Json:
    kind = attribute.type
    writable = not attribute.read_only
    out: Json = {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{_METADATA_TYPES[kind]}",
        "MetadataId": _id(table.logical_name, attribute.name),
        "LogicalName": attribute.name,
        "SchemaName": _schema_name(attribute.name),
        "EntityLogicalName": table.logical_name,
        "AttributeType": kind,
        "AttributeTypeName": {"Value": f"{kind}Type"},
        "AttributeOf": None,
        "IsPrimaryId": attribute.name == table.primary_id,
        "IsPrimaryName": attribute.name == table.primary_name,
        "IsValidForRead": True,
        "IsValidForCreate": writable,
        "IsValidForUpdate": writable and attribute.name != table.primary_id,
        "IsCustomAttribute": False,
        "RequiredLevel": {"Value": _required_level(table, attribute)},
        "DisplayName": _label(attribute.name),
    }
    if kind in ("String", "Memo"):
        out["MaxLength"] = attribute.max_length
        out["Format"] = "Text"
    if kind == "DateTime":
        out["Format"] = "DateAndTime"
        out["DateTimeBehavior"] = {"Value": "UserLocal"}
    if kind in ("Money", "Decimal"):
        out["Precision"] = 2 if kind == "Money" else 3
    if attribute.is_lookup:
        out["Targets"] = list(attribute.targets)
    if attribute.options or kind == "Boolean":
        out["DefaultFormValue"] = attribute.default
        if expand_options:
            out["OptionSet"] = _option_set(table, attribute)
        out["GlobalOptionSet"] = None
    return out


def _required_level(table: Table, attribute: Attribute) -> str:
    if attribute.name == table.primary_id:
        return "SystemRequired"
    return "ApplicationRequired" if attribute.required else "None"


def _option_set(table: Table, attribute: Attribute) -> Json:
    meta: Json = {
        "MetadataId": _id(table.logical_name, attribute.name, "options"),
        "Name": f"{table.logical_name}_{attribute.name}",
        "IsGlobal": False,
        "OptionSetType": attribute.type if attribute.type != "Boolean" else "Boolean",
    }
    if attribute.type == "Boolean":
        meta["TrueOption"] = {"Value": 1, "Label": _label("Yes")}
        meta["FalseOption"] = {"Value": 0, "Label": _label("No")}
        return meta
    options = []
    for option in attribute.options:
        item: Json = {"Value": option.value, "Label": _label(option.label)}
        if attribute.type == "Status":
            item["State"] = option.state
        if attribute.type == "State":
            default = next(
                (
                    o.value
                    for o in table.attributes.get("statuscode", attribute).options
                    if o.state == option.value
                ),
                None,
            )
            item["DefaultStatus"] = default
            item["InvariantName"] = option.label.replace(" ", "")
        options.append(item)
    meta["Options"] = options
    return meta


def _many_to_one(schema: Schema, table: Table) -> list[Json]:
    out = []
    for navigation in table.navigations.values():
        target = schema.tables[navigation.target]
        name = f"{table.logical_name}_{navigation.name}"
        out.append(
            {
                "MetadataId": _id("relationship", name),
                "SchemaName": name,
                "RelationshipType": "OneToManyRelationship",
                "ReferencedEntity": target.logical_name,
                "ReferencedAttribute": target.primary_id,
                "ReferencingEntity": table.logical_name,
                "ReferencingAttribute": navigation.attribute.name,
                "ReferencingEntityNavigationPropertyName": navigation.name,
                "ReferencedEntityNavigationPropertyName": name,
            }
        )
    return out


def _one_to_many(schema: Schema, table: Table) -> list[Json]:
    return [
        r
        for other in schema.tables.values()
        for r in _many_to_one(schema, other)
        if r["ReferencedEntity"] == table.logical_name
    ]


def _select(items: Sequence[Json], text: str | None, keep: Sequence[str] = ()) -> list[Json]:
    if not text:
        return list(items)
    wanted = [s.strip() for s in text.split(",")] + [k for k in keep]
    known = set().union(*(i.keys() for i in items)) if items else set()
    for name in wanted:
        if name not in known and not name.startswith("@") and items:
            optional = {"MaxLength", "Targets", "OptionSet", "Format", "Precision"}
            if name not in optional and name not in {"DefaultFormValue", "GlobalOptionSet"}:
                raise bad_query(f"Could not find a property named '{name}' on type metadata.")
    return [{k: v for k, v in i.items() if k in wanted or k.startswith("@")} for i in items]


def _filter(items: Sequence[Json], text: str | None) -> list[Json]:
    """``a eq 'x' or (b eq 'y' and c eq true)``-style tests (no nesting beyond and/or)."""
    if not text:
        return list(items)
    clauses = []
    for alternative in re.split(r"\s+or\s+", text.strip().strip("()")):
        tests = []
        for part in re.split(r"\s+and\s+", alternative.strip().strip("()")):
            match = _TEST.match(part.strip("() "))
            if match is None:
                raise bad_query(f"The $filter '{text}' is not supported on metadata.")
            value: object = match.group("s")
            if match.group("b"):
                value = match.group("b") == "true"
            tests.append((match.group("prop"), value))
        clauses.append(tests)

    def keep(item: Json) -> bool:
        return any(
            all(
                (str(item.get(p)).lower() == str(v).lower())
                if isinstance(v, str)
                else item.get(p) == v
                for p, v in tests
            )
            for tests in clauses
        )

    return [i for i in items if keep(i)]


def entity_definitions(
    schema: Schema, segments: Sequence[str], params: Mapping[str, str], base: str
) -> Json:
    """The answer to ``GET EntityDefinitions...`` (``segments`` after the first)."""
    expand = params.get("$expand", "")
    first = segments[0]
    if first == "EntityDefinitions":
        tables = list(schema.tables.values())
        items = [_entity_full(schema, t, expand) for t in tables]
        items = _filter(items, params.get("$filter"))
        return {
            "@odata.context": f"{base}$metadata#EntityDefinitions",
            "value": _select(items, params.get("$select"), _expanded(expand)),
        }
    match = _KEY.match(first)
    table = None
    if match and match.group("name") == "EntityDefinitions":
        key = match.group("key")
        table = schema.tables.get(key) or next(
            (t for t in schema.tables.values() if t.metadata_id == key), None
        )
    if table is None:
        raise not_found_segment(first)
    if len(segments) == 1:
        item = _entity_full(schema, table, expand)
        selected = _select([item], params.get("$select"), _expanded(expand))[0]
        return {"@odata.context": f"{base}$metadata#EntityDefinitions/$entity", **selected}
    return _entity_part(schema, table, segments[1:], params, base)


def _expand_options(expand: str) -> dict[str, str | None]:
    """``Attributes($select=a,b),Keys`` → ``{"Attributes": "a,b", "Keys": None}``."""
    options: dict[str, str | None] = {}
    depth, current, parts = 0, "", []
    for char in expand:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    parts.append(current)
    for part in (p.strip() for p in parts if p.strip()):
        name, _, rest = part.partition("(")
        select = re.search(r"\$select=([^;)]*)", rest)
        options[name.strip()] = select.group(1) if select else None
    return options


def _expanded(expand: str) -> list[str]:
    return list(_expand_options(expand))


def _entity_full(schema: Schema, table: Table, expand: str) -> Json:
    item = _entity(table)
    options = _expand_options(expand)
    parts: dict[str, Callable[[], list[Json]]] = {
        "Attributes": lambda: [_attribute(table, a, False) for a in table.attributes.values()],
        "ManyToOneRelationships": lambda: _many_to_one(schema, table),
        "OneToManyRelationships": lambda: _one_to_many(schema, table),
        "Keys": lambda: _keys(table),
    }
    for name, select in options.items():
        if name not in parts:
            raise bad_query(f"Could not find a property named '{name}' on type EntityMetadata.")
        item[name] = _select(parts[name](), select)
    return item


def _keys(table: Table) -> list[Json]:
    return [
        {
            "MetadataId": _id(table.logical_name, "key", name),
            "LogicalName": name,
            "SchemaName": _schema_name(name),
            "EntityLogicalName": table.logical_name,
            "KeyAttributes": list(columns),
            "EntityKeyIndexStatus": "Active",
        }
        for name, columns in table.keys.items()
    ]


def _entity_part(
    schema: Schema, table: Table, segments: Sequence[str], params: Mapping[str, str], base: str
) -> Json:
    context = f"{base}$metadata#EntityDefinitions('{table.metadata_id}')"
    head = segments[0]
    if head == "Keys" and len(segments) == 1:
        keys = _filter(_keys(table), params.get("$filter"))
        return {"@odata.context": f"{context}/Keys", "value": _select(keys, params.get("$select"))}
    if head in ("ManyToOneRelationships", "OneToManyRelationships") and len(segments) == 1:
        rows = (_many_to_one if head.startswith("Many") else _one_to_many)(schema, table)
        rows = _filter(rows, params.get("$filter"))
        return {
            "@odata.context": f"{context}/{head}",
            "value": _select(rows, params.get("$select")),
        }
    expand_options = "OptionSet" in params.get("$expand", "")
    attributes: list[Attribute] = list(table.attributes.values())
    single = False
    match = _KEY.match(head)
    if match and match.group("name") == "Attributes":
        key = match.group("key")
        found = table.attributes.get(key) or next(
            (a for a in attributes if _id(table.logical_name, a.name) == key), None
        )
        if found is None:
            raise not_found_segment(head)
        attributes, single = [found], True
    elif head != "Attributes":
        raise not_found_segment(head)
    cast = segments[1] if len(segments) > 1 else None
    if cast is not None:
        type_name = cast.removeprefix("Microsoft.Dynamics.CRM.")
        if (
            not cast.startswith("Microsoft.Dynamics.CRM.")
            or type_name not in _METADATA_TYPES.values()
        ):
            raise not_found_segment(cast)
        attributes = [a for a in attributes if _METADATA_TYPES[a.type] == type_name]
        if single and not attributes:
            raise not_found_segment(cast)
    if len(segments) > 2:
        raise not_found_segment(segments[2])
    items = [_attribute(table, a, expand_options) for a in attributes]
    items = _filter(items, params.get("$filter"))
    keep = ["OptionSet"] if expand_options else []
    items = _select(items, params.get("$select"), keep)
    suffix = f"/Attributes/{cast}" if cast else "/Attributes"
    if single:
        return {"@odata.context": f"{context}{suffix}/$entity", **items[0]}
    return {"@odata.context": f"{context}{suffix}", "value": items}


def service_document(schema: Schema, base: str) -> Json:
    sets = [
        {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
        for t in schema.tables.values()
    ]
    sets.append({"name": "EntityDefinitions", "kind": "EntitySet", "url": "EntityDefinitions"})
    return {"@odata.context": f"{base}$metadata", "value": sets}


def csdl(schema: Schema, annotations: bool = False) -> str:
    """A minimal but valid CSDL document: entity types, keys, properties, navigation."""
    out: list[str] = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" '
        'xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '<EntityType Name="crmbaseentity" Abstract="true"/>',
    ]
    q: Callable[[str], str] = quoteattr
    for table in schema.tables.values():
        out.append(f'<EntityType Name={q(table.logical_name)} BaseType="mscrm.crmbaseentity">')
        out.append(f"<Key><PropertyRef Name={q(table.primary_id)}/></Key>")
        for attribute in table.attributes.values():
            out.append(f"<Property Name={q(attribute.web_name)} Type={q(attribute.edm_type)}/>")
        for navigation in table.navigations.values():
            out.append(
                f"<NavigationProperty Name={q(navigation.name)} "
                f'Type={q("mscrm." + navigation.target)} Nullable="true">'
                f"<ReferentialConstraint Property={q(navigation.attribute.web_name)} "
                f"ReferencedProperty={q(schema.tables[navigation.target].primary_id)}/>"
                "</NavigationProperty>"
            )
        for collection in table.collections.values():
            out.append(
                f"<NavigationProperty Name={q(collection.name)} "
                f"Type={q(f'Collection(mscrm.{collection.source.logical_name})')} "
                f"Partner={q(collection.navigation.name)}/>"
            )
        out.append("</EntityType>")
    out.append('<EntityContainer Name="System">')
    for table in schema.tables.values():
        out.append(
            f"<EntitySet Name={q(table.entity_set)} EntityType={q('mscrm.' + table.logical_name)}>"
        )
        for navigation in table.navigations.values():
            target_set = schema.tables[navigation.target].entity_set
            out.append(
                f"<NavigationPropertyBinding Path={q(navigation.name)} Target={q(target_set)}/>"
            )
        if annotations:
            out.append(
                '<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
                f'<PropertyValue Property="Supported" Bool="{str(table.change_tracking).lower()}"/>'
                "</Record></Annotation>"
            )
        out.append("</EntitySet>")
    out.extend(["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"])
    return "\n".join(out)
