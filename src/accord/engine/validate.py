"""Check mappings against the systems' real schemas, with file:line errors."""

from __future__ import annotations

from accord.config import Config
from accord.config.locate import locate
from accord.engine.context import MappingContext, compile_filter
from accord.errors import ConfigError, FilterError
from accord.filters import Filter
from accord.model import Side, TableMapping, TableSchema


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
    for side in (Side.LOCAL, Side.INTEGRATION):
        flt = ctx.side(side).filter
        if flt is not None:
            _check_fields(config, mapping, side, flt, ctx.side(side).schema)
    for side in (Side.LOCAL, Side.INTEGRATION):
        if ctx.side(side).schema.modified is None:
            ref = ctx.side(side).table_ref
            raise ConfigError(
                f"mapping {mapping.name}: table {ref} has no modified-on field; set "
                f'modified = "..." under [tables."{ref}"]',
                source=str(config.path),
                line=locate(config.text, ("mappings", index)),
            )


def _filter_key(side: Side) -> str:
    return "table_filter" if side is Side.LOCAL else "integration_table_filter"


def _check_fields(
    config: Config, mapping: TableMapping, side: Side, flt: Filter, schema: TableSchema
) -> None:
    try:
        flt.check_fields(list(schema.fields))
    except FilterError as exc:
        key = _filter_key(side)
        raise config.error(
            f"mapping {mapping.name}: {key}: {exc}",
            locate(config.text, ("mappings", config.mappings.index(mapping), key)),
        ) from None


def check_filter(
    config: Config, mapping: TableMapping, side: Side, text: str, schema: TableSchema
) -> None:
    """A mapping's own filter of ``side``, checked before anything is added to it (so its
    errors point at it, not at the company filter)."""
    flt = compile_filter(text)
    if flt is not None:
        _check_fields(config, mapping, side, flt, schema)
