"""The shape of ``accord.toml`` as pydantic models (DESIGN.md §6); unknown keys are errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DirectionText = Literal["to-integration", "from-integration", "bidirectional"]
Scalar = str | int | float | bool


class _Strict(BaseModel):
    """Unknown keys are errors, and so are values of another type: ``skip_after = "2"``,
    ``sync_only_coupled = "no"`` or ``priority = "0"`` is a mistake to point at, not a value
    to guess (TOML has integers, booleans and strings of its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StateModel(_Strict):
    url: str = "sqlite:///.accord/state.db"
    # How long a run's lease of its mappings lasts without a commit renewing it.
    lease_seconds: float = Field(default=300.0, gt=0, le=86400, strict=True)


class RetryModel(_Strict):
    """``retry = { attempts = 5, backoff = 0.5, max_backoff = 30 }`` on a system.

    Strict types: ``attempts = true`` or ``backoff = "1"`` is a mistake, not a number.
    """

    attempts: int = Field(default=3, ge=1, le=100, strict=True)
    backoff: float = Field(default=0.5, ge=0, le=3600, strict=True)
    max_backoff: float = Field(default=30.0, ge=0, le=3600, strict=True)


class SystemModel(_Strict):
    connector: str = "sql"
    url: str
    options: dict[str, Any] = Field(default_factory=dict)
    retry: RetryModel = Field(default_factory=RetryModel)
    # Multi-company: the id CRM rows of this system's company are stamped with (a Business
    # Central system defaults to its company's id).
    company_id: str | None = Field(default=None, min_length=1)


class SeriesModel(_Strict):
    series: str = Field(min_length=1)
    digits: int = Field(default=5, ge=1, le=20)


class TableModel(_Strict):
    key: str | None = None
    modified: str | None = None
    new_keys: Literal["uuid"] | SeriesModel = "uuid"
    stamp_modified: bool = True
    overlap_seconds: float = Field(default=2.0, ge=0)
    # Multi-company: the column holding the company id of a row (e.g. bcbi_companyid).
    company_field: str | None = Field(default=None, min_length=1)
    company_includes_empty: bool = False


class MatchModel(_Strict):
    priority: int = Field(default=0, ge=0)
    case_sensitive: bool = False


class MapTransformModel(_Strict):
    map: dict[str, Scalar]


class FieldModel(_Strict):
    field: str | None = None
    integration_field: str | None = None
    constant: Scalar | None = None
    direction: DirectionText | None = None
    lookup: str | None = None
    clear_on_missing: bool = False
    transform: Literal["upper", "lower", "trim"] | MapTransformModel | None = None
    match: MatchModel | None = None


class MappingModel(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)
    table: str
    integration_table: str
    direction: DirectionText = "bidirectional"
    table_filter: str = ""
    integration_table_filter: str = ""
    sync_only_coupled: bool = True
    update_conflict: Literal["none", "send", "get", "merge"] = "none"
    deletion_conflict: Literal["none", "restore", "uncouple"] = "none"
    create_new_if_no_match: bool = False
    sync_after_coupling: bool = True
    depends_on: list[str] = Field(default_factory=list)
    skip_after: int = Field(default=2, ge=1)
    min_priority: int | None = Field(default=None, ge=0, strict=True)
    # accord run: "30m" / "*/15 * * * *" / "12h" or "off" (see accord.schedule.spec)
    every: str | None = None
    cron: str | None = None
    idle_backoff: str | None = None
    fields: list[FieldModel] = Field(min_length=1)


class ScheduleModel(_Strict):
    """``[schedule]``: what ``accord run`` uses for mappings that do not say themselves."""

    every: str | None = None
    cron: str | None = None
    idle_backoff: str = "12h"


class WorkersModel(_Strict):
    """``[workers]``: where ``accord worker`` and ``accord run --dispatch celery`` meet."""

    broker_url: str | None = None
    result_backend: str | None = None
    queue: str = Field(default="accord", min_length=1, max_length=200)
    # A full pass over more source records than this is split into key ranges.
    part_records: int = Field(default=50_000, ge=1, strict=True)
    # Redis only: how long a task taken by a worker that died waits before it is redelivered.
    visibility_timeout: float = Field(default=3600.0, gt=0, strict=True)


class ConfigModel(_Strict):
    state: StateModel = Field(default_factory=StateModel)
    schedule: ScheduleModel = Field(default_factory=ScheduleModel)
    workers: WorkersModel = Field(default_factory=WorkersModel)
    systems: dict[str, SystemModel] = Field(min_length=1)
    tables: dict[str, TableModel] = Field(default_factory=dict)
    mappings: list[MappingModel] = Field(default_factory=list)
