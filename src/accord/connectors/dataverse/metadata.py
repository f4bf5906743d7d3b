"""Table shapes from Dataverse metadata: ``EntityDefinitions`` with its attributes.

Dataverse names a table three ways (logical name ``account``, entity set ``accounts``,
navigation properties for its lookups), and a lookup is read, filtered and written under three
different names (``_parentcustomerid_value``, ``parentcustomerid``,
``parentcustomerid_account@odata.bind``). This module turns one metadata answer into an
:class:`Entity` that knows all of them, so the rest of the connector speaks in logical names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.model import FieldInfo

KINDS: Mapping[str, str] = {
    "String": "text",
    "Memo": "text",
    "Uniqueidentifier": "text",
    "Lookup": "text",
    "Customer": "text",
    "Owner": "text",
    "Integer": "integer",
    "BigInt": "integer",
    "Picklist": "integer",
    "State": "integer",
    "Status": "integer",
    "Decimal": "decimal",
    "Money": "decimal",
    "Double": "float",
    "Boolean": "boolean",
    "DateTime": "datetime",
}
"""Accord field kind of each ``AttributeType``; option sets are read and written as integers."""

LOOKUPS = frozenset({"Lookup", "Customer", "Owner"})
"""Attribute types read as ``_<name>_value`` and written through a navigation property."""

SKIPPED = frozenset({"Virtual", "EntityName", "ManagedProperty", "CalendarRules", "PartyList"})
"""Attribute types that hold no plain value a record could carry."""

REQUIRED = frozenset({"SystemRequired", "ApplicationRequired"})

ATTRIBUTE_SELECT = (
    "LogicalName,AttributeType,AttributeOf,RequiredLevel,IsValidForRead,IsValidForCreate,"
    "IsValidForUpdate,IsPrimaryId"
)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One column of a table, with the names the Web API uses for it."""

    name: str
    type: str
    kind: str
    nullable: bool = True
    length: int | None = None
    targets: tuple[str, ...] = ()
    """Lookups: the logical names of the tables it may point to (two for a customer lookup)."""
    navigation: Mapping[str, str] = field(default_factory=dict)
    """Lookups: navigation property name per target table (case-sensitive in ``@odata.bind``)."""
    creatable: bool = True
    updatable: bool = True
    type_of: str | None = None
    """``parentcustomeridtype``: the table a polymorphic lookup points to (read from the
    lookup's ``lookuplogicalname`` annotation, written as the target of its bind)."""

    @property
    def is_lookup(self) -> bool:
        return self.type in LOOKUPS

    @property
    def wire_name(self) -> str:
        """The property to ``$select``, ``$filter`` and ``$orderby`` by, and read from rows."""
        if self.type_of is not None:
            return f"_{self.type_of}_value"
        return f"_{self.name}_value" if self.is_lookup else self.name

    @property
    def annotation(self) -> str | None:
        """For a lookup's type: the annotation of the lookup that names its target table."""
        if self.type_of is None:
            return None
        return f"_{self.type_of}_value@Microsoft.Dynamics.CRM.lookuplogicalname"

    def info(self) -> FieldInfo:
        return FieldInfo(self.name, self.kind, nullable=self.nullable, length=self.length)


@dataclass(frozen=True, slots=True)
class Entity:
    """One table: its names, primary id and readable attributes in metadata order."""

    logical: str
    entity_set: str
    primary_id: str
    attributes: Mapping[str, Attribute]
    change_tracking: bool = False

    @property
    def guid_keys(self) -> bool:
        """The primary id is a GUID (always, in Dataverse): keys are compared lower-cased."""
        key = self.attributes.get(self.primary_id)
        return key is None or key.type == "Uniqueidentifier"


def parse_entity(definition: Mapping[str, Any]) -> Entity:
    """An :class:`Entity` from ``EntityDefinitions(LogicalName='x')?$expand=Attributes``.

    ``ManyToOneRelationships`` (when expanded too) give the lookups' navigation property
    names; without them Dataverse's conventions are assumed (the attribute's own name for a
    single target, ``<name>_<target>`` for a polymorphic lookup).
    """
    relations: dict[str, dict[str, str]] = {}
    for relation in definition.get("ManyToOneRelationships") or ():
        attribute = relation.get("ReferencingAttribute")
        target = relation.get("ReferencedEntity")
        navigation = relation.get("ReferencingEntityNavigationPropertyName")
        if attribute and target and navigation:
            relations.setdefault(attribute, {})[target] = navigation
    raws = list(definition.get("Attributes") or ())
    polymorphic = {
        str(raw.get("LogicalName"))
        for raw in raws
        if raw.get("AttributeType") in LOOKUPS and len(raw.get("Targets") or ()) > 1
    }
    attributes: dict[str, Attribute] = {}
    for raw in raws:
        name = str(raw.get("LogicalName") or "")
        if raw.get("AttributeType") == "EntityName" and name[:-4] in polymorphic:
            if name.endswith("type"):
                attributes[name] = Attribute(name, "EntityName", "text", type_of=name[:-4])
            continue
        attribute = _attribute(raw, relations)
        if attribute is not None:
            attributes[attribute.name] = attribute
    return Entity(
        logical=str(definition["LogicalName"]),
        entity_set=str(definition["EntitySetName"]),
        primary_id=str(definition["PrimaryIdAttribute"]),
        attributes=attributes,
        change_tracking=bool(definition.get("ChangeTrackingEnabled")),
    )


def _attribute(
    raw: Mapping[str, Any], relations: Mapping[str, Mapping[str, str]]
) -> Attribute | None:
    name = raw.get("LogicalName")
    kind_name = str(raw.get("AttributeType") or "")
    if not name or raw.get("AttributeOf") or kind_name in SKIPPED:
        return None
    if raw.get("IsValidForRead") is False:
        return None
    kind = KINDS.get(kind_name, "other")
    if kind == "datetime" and _date_only(raw):
        kind = "date"
    required = _value(raw.get("RequiredLevel")) in REQUIRED or bool(raw.get("IsPrimaryId"))
    length = raw.get("MaxLength") if kind_name in ("String", "Memo") else None
    targets: tuple[str, ...] = ()
    navigation: dict[str, str] = {}
    if kind_name in LOOKUPS:
        targets = tuple(str(t) for t in raw.get("Targets") or ())
        known = relations.get(name, {})
        targets = targets or tuple(known)
        for target in targets:
            # an owner binds through one property whatever its target; a customer, one each
            single = len(targets) == 1 or kind_name == "Owner"
            fallback = name if single else f"{name}_{target}"
            navigation[target] = known.get(target, fallback)
    return Attribute(
        name=str(name),
        type=kind_name,
        kind=kind,
        nullable=not required,
        length=int(length) if isinstance(length, int) and length > 0 else None,
        targets=targets,
        navigation=navigation,
        creatable=raw.get("IsValidForCreate") is not False,
        updatable=raw.get("IsValidForUpdate") is not False,
    )


def _value(managed: Any) -> Any:
    """``{"Value": "x"}`` (a managed property) or a bare value."""
    return managed.get("Value") if isinstance(managed, Mapping) else managed


def _date_only(raw: Mapping[str, Any]) -> bool:
    return raw.get("Format") == "DateOnly" or _value(raw.get("DateTimeBehavior")) == "DateOnly"


def field_infos(entity: Entity) -> dict[str, FieldInfo]:
    return {name: attribute.info() for name, attribute in entity.attributes.items()}


def closest(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for a misspelt name, or nothing."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
