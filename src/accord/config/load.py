"""Load ``accord.toml`` into model objects; every error names the file and the line."""

from __future__ import annotations

import graphlib
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from accord import secrets
from accord.config.locate import locate
from accord.config.schema import ConfigModel, FieldModel, MappingModel, WorkersModel
from accord.connectors.options import option_problem
from accord.connectors.retry import RetryPolicy
from accord.errors import ConfigError, FilterError
from accord.filters import parse_filter
from accord.model import (
    DeletionConflict,
    Direction,
    FieldMapping,
    KeyPolicy,
    MatchCriterion,
    TableMapping,
    TableRef,
    TableSettings,
    Transform,
    UpdateConflict,
)
from accord.schedule.spec import Schedule, parse_cron, parse_duration

DEFAULT_NAME = "accord.toml"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class SystemConfig:
    name: str
    connector: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """How calls that failed for a passing reason are retried (``retry = {...}``)."""
    company_id: str | None = None
    """Multi-company: the id this system's company stamps on CRM rows (``company_id = ...``);
    None: the connector's own (a Business Central system's company), if it has one."""


@dataclass(frozen=True)
class Config:
    """A validated configuration; mappings keep their file order."""

    path: Path
    text: str
    state_url: str
    systems: dict[str, SystemConfig]
    tables: dict[str, TableSettings]
    mappings: list[TableMapping]
    lease_seconds: float = 300.0
    """``[state] lease_seconds``: how long a run's lease lasts without a commit renewing it."""
    schedules: dict[str, Schedule] = field(default_factory=dict)
    """``accord run``'s schedule of each scheduled mapping, by name (unscheduled: absent)."""
    workers: WorkersModel = field(default_factory=WorkersModel)
    """``[workers]``: the Celery broker, queue and split size (see :mod:`accord.worker`)."""

    def mapping(self, name: str) -> TableMapping:
        for m in self.mappings:
            if m.name.lower() == name.lower():
                return m
        from accord.errors import UsageError

        known = ", ".join(m.name for m in self.mappings) or "none"
        raise UsageError(f"no mapping named '{name}' (known: {known})")

    def error(self, message: str, line: int) -> ConfigError:
        return ConfigError(message, source=str(self.path), line=line)

    def table_settings(self, ref: TableRef) -> TableSettings | None:
        return self.tables.get(str(ref))


def find_config(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: the argument, else ``$ACCORD_CONFIG``, else ``./accord.toml``."""
    chosen = path or os.environ.get("ACCORD_CONFIG") or DEFAULT_NAME
    return Path(chosen)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    config_path = find_config(path)
    source = str(config_path)
    try:
        data = config_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "configuration file not found (give --config PATH, set ACCORD_CONFIG, "
            "or run 'accord demo' to create an example)",
            source=source,
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc}", source=source) from None
    try:
        # Line ends as a text-mode read gives them: \r\n and \r become \n.
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read configuration: not UTF-8 text ({exc.reason} at byte {exc.start})",
            source=source,
            line=data[: exc.start].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1,
        ) from None
    raw = _parse_toml(text, source)
    try:
        model = ConfigModel.model_validate(raw)
    except ValidationError as exc:
        first = _deepest(exc.errors())
        loc = tuple(first["loc"])
        raise ConfigError(
            f"{_describe_loc(loc, raw)}: {_pydantic_message(first)}",
            source=source,
            line=locate(text, loc),
        ) from None
    return _build(config_path, text, model)


def _deepest(errors: Sequence[Any]) -> Any:
    """The error to report: the first, or where it concerns a choice of shapes (``new_keys =
    "uuid"`` or a table), the one that went deepest into the value given (``digits``), with
    the shapes' own names left out of its location."""
    first = errors[0]
    place = tuple(first["loc"])[:-1]
    same = [e for e in errors if tuple(e["loc"])[: len(place)] == place]
    chosen = dict(max(same, key=lambda e: len(e["loc"])))
    chosen["loc"] = tuple(
        item
        for item in chosen["loc"]
        if not (isinstance(item, str) and (item.endswith("Model") or "[" in item))
    )
    return chosen


_TOML_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)$")
_TOML_AT_END = "(at end of document)"
# Python refuses to convert integers of more than 4300 digits (sys.get_int_max_str_digits).
_LONG_NUMBER = re.compile(r"[0-9A-Fa-f_]{4300,}")
_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'")


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    """``tomllib.loads``, with every way it can fail turned into a located ConfigError."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_AT_LINE.search(message)
        if match:
            line = int(match.group(1))
        elif message.endswith(_TOML_AT_END):
            line = _last_line(text)  # e.g. a string still open when the file ends
        else:  # pragma: no cover - every tomllib message ends with its position
            line = 0
        raise ConfigError(f"not valid TOML: {message}", source=source, line=line) from None
    except ValueError:
        # tomllib lets int() fail on a number too long to convert.
        raise ConfigError(
            "not valid TOML: a number has too many digits",
            source=source,
            line=_long_number_line(text),
        ) from None
    except RecursionError:
        raise ConfigError(
            "not valid TOML: arrays or tables are nested too deeply",
            source=source,
            line=_deepest_line(text),
        ) from None


def _last_line(text: str) -> int:
    return max(1, len(text.rstrip("\n").split("\n")))


def _long_number_line(text: str) -> int:
    """The line of the first number (outside strings) too long for Python to convert."""
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if _LONG_NUMBER.search(_STRINGS.sub('""', line).split("#", 1)[0]):
            return number
    for number, line in enumerate(lines, start=1):
        if _LONG_NUMBER.search(line):
            return number
    return 1


def _deepest_line(text: str) -> int:
    """The line where brackets and braces (outside strings and comments) nest deepest."""
    depth = deepest = 0
    found = 1
    for number, line in enumerate(text.split("\n"), start=1):
        code = _STRINGS.sub('""', line)
        for char in code:
            if char == "#":
                break
            if char in "[{":
                depth += 1
                if depth > deepest:
                    deepest, found = depth, number
            elif char in "]}":
                depth = max(0, depth - 1)
    return found


def _describe_loc(loc: Sequence[Any], raw: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
                if isinstance(name, str) and name and parts and parts[-1] == "mappings":
                    label = f"[{item}] ({name if len(name) <= 60 else name[:57] + '...'})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
        if isinstance(node, dict):
            node = node.get(item) if isinstance(item, str) else None
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            node = node[item]
        else:
            node = None
    return "".join(parts) or "configuration"


def _pydantic_message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}, got {_shown(error['input'])}"
    return str(error["msg"]).lower()


def _shown(value: Any, limit: int = 60) -> str:
    """A short repr for a message; an integer too long for repr() does not crash it."""
    try:
        text = repr(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return "a number with too many digits"
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SECRET_OPTIONS = frozenset({"client_secret", "token", "password"})
"""Options whose values are secrets however they are written."""


def _expand(value: str, source: str, line: int) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} is not set", source=source, line=line)
        secrets.remember(os.environ[name])  # whatever it holds, it is never shown
        return os.environ[name]

    expanded = _VAR.sub(repl, value)
    secrets.remember_url(expanded)  # and the password the URL carries, however malformed
    return expanded


def _resolve_sqlite(url: str, base: Path, source: str, line: int) -> str:
    """A relative SQLite path made absolute against the configuration's folder."""
    prefix = url.split("://", 1)[0] + ":///"
    if url.startswith("sqlite") and url.startswith(prefix) and not url.startswith(prefix + "/"):
        relative = url[len(prefix) :]
        if relative and relative != ":memory:":
            try:
                return prefix + str((base / relative).resolve())
            except (OSError, ValueError) as exc:  # a NUL byte, a loop of links, ...
                raise ConfigError(
                    f"url: not a usable SQLite path: {exc}", source=source, line=line
                ) from None
    return url


def _build(path: Path, text: str, model: ConfigModel) -> Config:
    source = str(path)
    base = path.resolve().parent

    def fail(message: str, loc: tuple[str | int, ...]) -> ConfigError:
        return ConfigError(message, source=source, line=locate(text, loc))

    systems = {}
    for name, sys in model.systems.items():
        line = locate(text, ("systems", name, "url"))
        url = _resolve_sqlite(_expand(sys.url, source, line), base, source, line)
        retry = sys.retry
        if retry.max_backoff < retry.backoff:
            raise fail(
                f"systems.{name}.retry: max_backoff ({retry.max_backoff:g}) is less than "
                f"backoff ({retry.backoff:g})",
                ("systems", name, "retry", "max_backoff"),
            )
        options = {
            key: _expand(value, source, locate(text, ("systems", name, "options", key)))
            if isinstance(value, str) and "${" in value
            else value
            for key, value in sys.options.items()
        }
        bundle = options.get("ca_bundle")
        if isinstance(bundle, str) and bundle and not Path(bundle).expanduser().is_absolute():
            options["ca_bundle"] = str(base / bundle)  # relative to the configuration's folder
        for key in _SECRET_OPTIONS & set(options):
            if isinstance(options[key], str):
                secrets.remember(options[key])  # a secret written out in full is one too
        problem = option_problem(sys.connector, options)
        if problem is not None:
            option, why = problem
            raise fail(
                f"systems.{name}.options.{option}: {why}", ("systems", name, "options", option)
            )
        retry_policy = RetryPolicy(retry.attempts, retry.backoff, retry.max_backoff)
        company_id = (
            _expand(sys.company_id, source, locate(text, ("systems", name, "company_id")))
            if sys.company_id is not None
            else None
        )
        systems[name] = SystemConfig(
            name, sys.connector, url, options, retry_policy, company_id=company_id
        )
    line = locate(text, ("state", "url"))
    state_url = _resolve_sqlite(_expand(model.state.url, source, line), base, source, line)

    tables = {}
    for ref_text, t in model.tables.items():
        try:
            ref = TableRef.parse(ref_text)
        except ValueError as exc:
            raise fail(str(exc), ("tables", ref_text)) from None
        if ref.system not in systems:
            raise fail(f"table '{ref_text}': unknown system '{ref.system}'", ("tables", ref_text))
        policy = (
            KeyPolicy()
            if t.new_keys == "uuid"
            else KeyPolicy(series=t.new_keys.series, digits=t.new_keys.digits)
        )
        tables[ref_text] = TableSettings(
            key=t.key,
            modified=t.modified,
            new_keys=policy,
            stamp_modified=t.stamp_modified,
            overlap_seconds=t.overlap_seconds,
            company_field=t.company_field,
            company_includes_empty=t.company_includes_empty,
        )

    mappings = [_mapping(i, m, systems, fail) for i, m in enumerate(model.mappings)]
    names = [m.name.lower() for m in mappings]
    for i, m in enumerate(mappings):
        if names.index(m.name.lower()) != i:
            raise fail(f"mapping name '{m.name}' is used twice", ("mappings", i, "name"))
        for j, fm in enumerate(model.mappings[i].fields):
            if fm.lookup and fm.lookup.lower() not in names:
                raise fail(
                    f"mapping {m.name}: lookup '{fm.lookup}' is not a mapping",
                    ("mappings", i, "fields", j),
                )
        for dep in m.depends_on:
            if dep.lower() not in names:
                raise fail(
                    f"mapping {m.name}: depends_on '{dep}' is not a mapping",
                    ("mappings", i, "depends_on"),
                )
    used = {str(ref) for m in mappings for ref in (m.table, m.integration_table)}
    for ref_text in tables:
        if ref_text not in used:
            raise fail(
                f"tables.{ref_text}: no mapping uses table '{ref_text}' (a misspelt name? "
                f"tables used: {', '.join(sorted(used)) or 'none'})",
                ("tables", ref_text),
            )
    schedules = _schedules(model, fail)
    config = Config(
        path,
        text,
        state_url,
        systems,
        tables,
        mappings,
        float(model.state.lease_seconds),
        schedules,
        model.workers,
    )
    dependency_order(config)  # a cycle is a configuration error
    return config


def _schedules(model: ConfigModel, fail: Any) -> dict[str, Schedule]:
    """Each mapping's own ``every``/``cron``/``idle_backoff``, else ``[schedule]``'s."""
    default = model.schedule
    if default.every is not None and default.cron is not None:
        raise fail("schedule: give every or cron, not both", ("schedule", "cron"))
    out = {}
    for i, m in enumerate(model.mappings):
        loc: tuple[str | int, ...] = ("mappings", i)
        if m.every is not None and m.cron is not None:
            raise fail(f"mapping {m.name}: give every or cron, not both", (*loc, "cron"))
        own = m.every is not None or m.cron is not None
        every, cron = (m.every, m.cron) if own else (default.every, default.cron)
        where = loc if own else ("schedule",)
        backoff_text, backoff_at = (
            (m.idle_backoff, (*loc, "idle_backoff"))
            if m.idle_backoff is not None
            else (default.idle_backoff, ("schedule", "idle_backoff"))
        )
        prefix = f"mapping {m.name}: " if backoff_at[0] == "mappings" else "schedule: "
        try:
            backoff = None if backoff_text == "off" else parse_duration(backoff_text)
        except ValueError as exc:
            raise fail(f'{prefix}idle_backoff: {exc} (or "off")', backoff_at) from None
        if every is None and cron is None:
            if m.idle_backoff is not None:
                raise fail(
                    f"mapping {m.name}: idle_backoff without a schedule (set every or cron)",
                    (*loc, "idle_backoff"),
                )
            continue  # not scheduled: accord run leaves it alone
        prefix = f"mapping {m.name}: " if own else "schedule: "
        try:
            if every is not None:
                schedule = Schedule(every=parse_duration(every), idle_backoff=backoff)
            else:
                assert cron is not None
                parse_cron(cron)
                schedule = Schedule(cron=cron.strip(), idle_backoff=backoff)
        except ValueError as exc:
            key = "every" if every is not None else "cron"
            raise fail(f"{prefix}{key}: {exc}", (*where, key)) from None
        out[m.name] = schedule
    return out


def _mapping(
    index: int, m: MappingModel, systems: dict[str, SystemConfig], fail: Any
) -> TableMapping:
    loc: tuple[str | int, ...] = ("mappings", index)
    refs = []
    for key in ("table", "integration_table"):
        try:
            ref = TableRef.parse(getattr(m, key))
        except ValueError as exc:
            raise fail(f"mapping {m.name}: {key}: {exc}", (*loc, key)) from None
        if ref.system not in systems:
            raise fail(f"mapping {m.name}: {key}: unknown system '{ref.system}'", (*loc, key))
        refs.append(ref)
    for key in ("table_filter", "integration_table_filter"):
        text = getattr(m, key)
        if text.strip():
            try:
                parse_filter(text)
            except FilterError as exc:
                raise fail(f"mapping {m.name}: {key}: {exc}", (*loc, key)) from None
    direction = Direction(m.direction)
    fields = tuple(
        _field(m.name, direction, f, fail, (*loc, "fields", j)) for j, f in enumerate(m.fields)
    )
    if not any(
        f.direction.includes(p) for f in fields for p in direction.passes
    ):  # pragma: no cover - _field already ensures compatibility
        raise fail(f"mapping {m.name}: no field takes part in its direction", (*loc, "fields"))
    return TableMapping(
        name=m.name,
        table=refs[0],
        integration_table=refs[1],
        direction=direction,
        fields=fields,
        table_filter=m.table_filter.strip(),
        integration_table_filter=m.integration_table_filter.strip(),
        sync_only_coupled=m.sync_only_coupled,
        update_conflict=UpdateConflict(m.update_conflict),
        deletion_conflict=DeletionConflict(m.deletion_conflict),
        create_new_if_no_match=m.create_new_if_no_match,
        sync_after_coupling=m.sync_after_coupling,
        depends_on=tuple(m.depends_on),
        skip_after=m.skip_after,
        min_priority=_min_priority(m, fields, fail, loc),
    )


def _min_priority(
    m: MappingModel, fields: tuple[FieldMapping, ...], fail: Any, loc: tuple[Any, ...]
) -> int | None:
    """``min_priority`` must leave at least one group that may couple on its own."""
    if m.min_priority is None:
        return None
    priorities = [f.match.priority for f in fields if f.match is not None]
    if not any(p <= m.min_priority for p in priorities):
        declared = ", ".join(str(p) for p in sorted(set(priorities))) or "none"
        raise fail(
            f"mapping {m.name}: min_priority = {m.min_priority} leaves no match criterion "
            f"that may couple on its own (priority {m.min_priority} or less; declared: "
            f"{declared})",
            (*loc, "min_priority"),
        )
    return m.min_priority


def _field(
    mapping: str, mapping_direction: Direction, f: FieldModel, fail: Any, loc: tuple[Any, ...]
) -> FieldMapping:
    has_constant = "constant" in f.model_fields_set
    what = f"mapping {mapping}: field row"
    if has_constant:
        if (f.field is None) == (f.integration_field is None):
            raise fail(
                f"{what}: a constant needs exactly one of 'field' or 'integration_field' "
                "(the side it is written to)",
                loc,
            )
        if f.lookup or f.match:
            raise fail(f"{what}: a constant cannot have a lookup or match criteria", loc)
        toward = Direction.TO_INTEGRATION if f.integration_field else Direction.FROM_INTEGRATION
        direction = Direction(f.direction) if f.direction else toward
        if direction is not toward:
            raise fail(
                f"{what}: constant written to the "
                f"{'integration' if f.integration_field else 'local'} side needs direction "
                f"'{toward.value}'",
                loc,
            )
    else:
        if f.field is None or f.integration_field is None:
            raise fail(f"{what}: needs both 'field' and 'integration_field' (or a 'constant')", loc)
        direction = Direction(f.direction) if f.direction else mapping_direction
    if mapping_direction is not Direction.BIDIRECTIONAL and direction not in (
        mapping_direction,
        Direction.BIDIRECTIONAL,
    ):
        raise fail(
            f"{what} {f.field or ''}→{f.integration_field or ''}: direction '{direction.value}' "
            f"does not fit the mapping's direction '{mapping_direction.value}'",
            loc,
        )
    if f.clear_on_missing and not f.lookup:
        raise fail(f"{what}: clear_on_missing needs a lookup", loc)
    transform = None
    if isinstance(f.transform, str):
        transform = Transform(f.transform)
    elif f.transform is not None:
        transform = Transform("map", dict(f.transform.map))
    match = None
    if f.match is not None:
        match = MatchCriterion(f.match.priority, f.match.case_sensitive)
    return FieldMapping(
        field=f.field,
        integration_field=f.integration_field,
        direction=direction,
        constant=f.constant,
        has_constant=has_constant,
        lookup=f.lookup,
        clear_on_missing=f.clear_on_missing,
        transform=transform,
        match=match,
    )


def dependency_order(config: Config) -> list[TableMapping]:
    """Mappings ordered so that each comes after those it depends on (file order otherwise).

    Hard dependencies (lookups without ``clear_on_missing``, ``depends_on``) must not form a
    cycle. Soft lookups also order the mappings when that makes no cycle, so that fewer
    records have to be deferred and settled later.
    """
    hard = _order(config, soft=False)  # raises on a cycle
    try:
        return _order(config, soft=True)
    except ConfigError:
        return hard


def _order(config: Config, *, soft: bool) -> list[TableMapping]:
    by_name = {m.name.lower(): m for m in config.mappings}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for m in config.mappings:
        edges = m.hard_dependencies() | (m.lookups() if soft else set())
        sorter.add(
            m.name.lower(), *(d.lower() for d in sorted(edges) if d.lower() != m.name.lower())
        )
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = [by_name[n].name for n in exc.args[1]]
        first = by_name[exc.args[1][0]]
        index = config.mappings.index(first)
        raise ConfigError(
            "mappings depend on each other in a cycle: "
            + " → ".join(cycle)
            + " (mark one lookup clear_on_missing = true, or remove a depends_on)",
            source=str(config.path),
            line=locate(config.text, ("mappings", index)),
        ) from None
    # Stable order: always take the first mapping in file order whose dependencies are done.
    deps = {
        m.name.lower(): {
            d.lower() for d in m.hard_dependencies() | (m.lookups() if soft else set())
        }
        - {m.name.lower()}
        for m in config.mappings
    }
    order: list[TableMapping] = []
    done: set[str] = set()
    while len(order) < len(config.mappings):
        for m in config.mappings:
            name = m.name.lower()
            if name not in done and deps[name] <= done:
                order.append(m)
                done.add(name)
                break
    return order
