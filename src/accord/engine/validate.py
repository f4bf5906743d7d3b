"""Check mappings against the systems' real schemas, with file:line errors."""

from __future__ import annotations

from accord.config import Config
from accord.config.locate import locate
from accord.engine.context import MappingContext
from accord.errors import ConfigError, FilterError
from accord.model import Side


def check_mapping(config: Config, ctx: MappingContext) -> None:
    """Every field, filter and key named by a mapping must exist in its table."""
    mapping = ctx.mapping
    index = config.mappings.index(mapping)
    for j, fm in enumerate(mapping.fields):
        for side in (Side.LOCAL, Side.INTEGRATION):
            name = fm.field_on(side)
            schema = ctx.side(side).schema
            if name is not None and name not in schema.fields:
                raise config.error(
                    f"mapping {mapping.name}: {ctx.side(side).table_ref} has no field "
                    f"'{name}' (fields: {', '.join(schema.fields)})",
                    locate(config.text, ("mappings", index, "fields", j)),
                )
    for side, key in ((Side.LOCAL, "table_filter"), (Side.INTEGRATION, "integration_table_filter")):
        flt = ctx.side(side).filter
        if flt is not None:
            try:
                flt.check_fields(list(ctx.side(side).schema.fields))
            except FilterError as exc:
                raise config.error(
                    f"mapping {mapping.name}: {key}: {exc}",
                    locate(config.text, ("mappings", index, key)),
                ) from None
    for side in (Side.LOCAL, Side.INTEGRATION):
        if ctx.side(side).schema.modified is None:
            ref = ctx.side(side).table_ref
            raise ConfigError(
                f"mapping {mapping.name}: table {ref} has no modified-on field; set "
                f'modified = "..." under [tables."{ref}"]',
                source=str(config.path),
                line=locate(config.text, ("mappings", index)),
            )
