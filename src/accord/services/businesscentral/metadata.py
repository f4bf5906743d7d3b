"""``$metadata`` (OData CSDL XML) and the service document of one API route.

Minimal but valid: the ``Microsoft.NAV`` namespace, one EntityType per entity set with its
key and typed properties (``MaxLength`` on text), ``company`` containing every set, and the
single-valued navigations ``$expand`` accepts. Enums are typed ``Edm.String`` here (BC
declares EnumTypes; their values are the same strings in JSON).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from accord.services.businesscentral.schema import EntitySet

__all__ = ["csdl", "service_document"]

COMPANY_FIELDS = (
    ("id", "Edm.Guid"),
    ("systemVersion", "Edm.String"),
    ("timestamp", "Edm.Int64"),
    ("name", "Edm.String"),
    ("displayName", "Edm.String"),
    ("businessProfileId", "Edm.String"),
    ("systemCreatedAt", "Edm.DateTimeOffset"),
    ("systemCreatedBy", "Edm.Guid"),
    ("systemModifiedAt", "Edm.DateTimeOffset"),
    ("systemModifiedBy", "Edm.Guid"),
)


def csdl(sets: dict[str, EntitySet]) -> str:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        '<Schema Namespace="Microsoft.NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '<EntityType Name="company"><Key><PropertyRef Name="id"/></Key>',
    ]
    for name, edm in COMPANY_FIELDS:
        nullable = ' Nullable="false"' if name == "id" else ""
        lines.append(f'<Property Name="{name}" Type="{edm}"{nullable}/>')
    for entity_set in sets.values():
        lines.append(
            f'<NavigationProperty Name="{entity_set.name}" '
            f'Type="Collection(Microsoft.NAV.{entity_set.entity})" ContainsTarget="true"/>'
        )
    lines.append("</EntityType>")
    for entity_set in sets.values():
        lines.append(f'<EntityType Name="{entity_set.entity}"><Key><PropertyRef Name="id"/></Key>')
        for f in entity_set.fields.values():
            attrs = f'Name="{f.name}" Type="{f.edm_type}"'
            if f.name == "id":
                attrs += ' Nullable="false"'
            if f.max_length is not None:
                attrs += f' MaxLength="{f.max_length}"'
            if f.edm_type == "Edm.Decimal":
                attrs += ' Scale="Variable"'
            lines.append(f"<Property {attrs}/>")
        for nav in entity_set.navigations.values():
            target = sets[nav.target].entity
            lines.append(
                f'<NavigationProperty Name="{nav.name}" Type="Microsoft.NAV.{target}">'
                f'<ReferentialConstraint Property="{nav.field}" ReferencedProperty="id"/>'
                "</NavigationProperty>"
            )
        lines.append("</EntityType>")
    lines.append('<EntityContainer Name="NAV">')
    lines.append('<EntitySet Name="companies" EntityType="Microsoft.NAV.company"/>')
    for entity_set in sets.values():
        lines.append(
            f"<EntitySet Name={quoteattr(entity_set.name)} "
            f'EntityType="Microsoft.NAV.{entity_set.entity}"/>'
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines)


def service_document(sets: dict[str, EntitySet], base: str) -> dict[str, Any]:
    names = ["companies", *sets]
    return {
        "@odata.context": f"{base}/$metadata",
        "value": [{"name": n, "kind": "EntitySet", "url": n} for n in names],
    }
