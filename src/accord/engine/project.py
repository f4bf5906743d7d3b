"""A project: one configuration, its systems and its state store — the Python API.

Everything the CLI does is one call on :class:`Project`::

    import accord
    with accord.Project.load("accord.toml") as project:
        run = project.sync(full=True)
        print(run.totals())
        job = project.job(run.jobs[0].id)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from types import TracebackType

from accord.config import Config, dependency_order, load_config
from accord.config.locate import locate
from accord.connectors.base import Connector
from accord.connectors.registry import open_connector
from accord.engine.context import MappingContext, SideContext, compile_filter
from accord.engine.couple import couple_record, uncouple_records
from accord.engine.plan import NoRecorder, Recorder
from accord.engine.progress import NoProgress, Progress
from accord.engine.results import CoupleResult, MappingOverview, RunResult
from accord.engine.sync import run_sync
from accord.engine.validate import check_mapping
from accord.errors import ConfigError, StateError, UsageError
from accord.model import Coupling, Direction, Job, Side, TableMapping, TableSettings
from accord.state import StateStore


class Project:
    """Opens connectors and the state store lazily; close it (or use ``with``) when done."""

    def __init__(self, config: Config, *, batch_size: int = 1000) -> None:
        self.config = config
        self.batch_size = batch_size
        self._connectors: dict[str, Connector] = {}
        self._contexts: dict[str, MappingContext] = {}
        self.recorder: Recorder = NoRecorder()
        """Told every record's outcome (see :mod:`accord.engine.plan`); a dry run collects them."""

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, **kwargs: int) -> Project:
        return cls(load_config(path), **kwargs)

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for connector in self._connectors.values():
            connector.close()
        self._connectors.clear()
        if "store" in self.__dict__:
            self.store.close()
            del self.__dict__["store"]

    # -- resources ------------------------------------------------------------------------
    @cached_property
    def store(self) -> StateStore:
        return StateStore(self.config.state_url)

    @cached_property
    def mapping_names(self) -> dict[str, str]:
        return {m.name.lower(): m.name for m in self.config.mappings}

    def connector(self, system: str) -> Connector:
        if system not in self._connectors:
            sys = self.config.systems[system]
            tables = {
                ref.split(".", 1)[1]: settings
                for ref, settings in self.config.tables.items()
                if ref.split(".", 1)[0] == system
            }
            self._connectors[system] = open_connector(
                sys.connector, system, url=sys.url, tables=tables, options=sys.options
            )
        return self._connectors[system]

    def context(self, mapping_name: str) -> MappingContext:
        """A mapping resolved against its systems' schemas (checked on first use)."""
        mapping = self.config.mapping(mapping_name)
        if mapping.name not in self._contexts:
            index = self.config.mappings.index(mapping)
            sides = []
            for side in (Side.LOCAL, Side.INTEGRATION):
                ref = mapping.table_on(side)
                connector = self.connector(ref.system)
                try:
                    schema = connector.describe(ref.table)
                except ConfigError as exc:
                    raise self.config.error(
                        f"mapping {mapping.name}: {exc.message}",
                        locate(
                            self.config.text,
                            (
                                "mappings",
                                index,
                                "table" if side is Side.LOCAL else "integration_table",
                            ),
                        ),
                    ) from None
                sides.append(
                    SideContext(
                        side=side,
                        connector=connector,
                        table=ref.table,
                        table_ref=str(ref),
                        schema=schema,
                        filter=compile_filter(mapping.filter_on(side)),
                        settings=self.config.table_settings(ref) or TableSettings(),
                    )
                )
            ctx = MappingContext(mapping, sides[0], sides[1])
            check_mapping(self.config, ctx)
            self._contexts[mapping.name] = ctx
        return self._contexts[mapping.name]

    def check(self) -> list[TableMapping]:
        """Validate every mapping against the real schemas; returns them in dependency order."""
        order = dependency_order(self.config)
        for mapping in order:
            self.context(mapping.name)
        return order

    def ordered(self, names: Sequence[str] | None = None) -> list[TableMapping]:
        order = dependency_order(self.config)
        if not names:
            return order
        wanted = {self.config.mapping(n).name for n in names}
        return [m for m in order if m.name in wanted]

    # -- actions --------------------------------------------------------------------------
    def sync(
        self,
        mappings: Sequence[str] | None = None,
        *,
        full: bool = False,
        records: Sequence[str] | None = None,
        direction: Direction | None = None,
        progress: Progress | None = None,
    ) -> RunResult:
        """Synchronize modified records (or everything with ``full``, or only ``records``)."""
        if direction is Direction.BIDIRECTIONAL:
            raise UsageError(
                "a direction for selected records is to-integration or from-integration"
            )
        if records is not None:
            if not mappings or len(mappings) != 1:
                raise UsageError("synchronizing selected records needs exactly one mapping")
            mapping = self.config.mapping(mappings[0])
            if direction is None:
                if mapping.direction is Direction.BIDIRECTIONAL:
                    raise UsageError(
                        f"mapping {mapping.name} is bidirectional: say which way with "
                        "--direction to-integration|from-integration"
                    )
                direction = mapping.direction
            if full:
                raise UsageError("--full and --records cannot be combined")
        self.check()  # nothing runs on an invalid configuration, whichever mappings are asked
        order = self.ordered(mappings)
        return run_sync(
            self,
            order,
            full=full,
            records=records,
            direction=direction,
            progress=progress or NoProgress(),
        )

    def couple(
        self,
        mapping: str,
        local_key: str,
        integration_key: str | None = None,
        *,
        create_new: bool = False,
        sync: Direction | None = None,
        progress: Progress | None = None,
    ) -> CoupleResult:
        """Couple one local record to an integration record (or to a new one)."""
        self.check()
        return couple_record(
            self,
            mapping,
            local_key,
            integration_key,
            create_new=create_new,
            sync=sync,
            progress=progress or NoProgress(),
        )

    def uncouple(
        self, mapping: str, keys: Sequence[str] | None = None, *, all: bool = False
    ) -> Job:
        """Remove couplings; the records stay in both systems."""
        self.check()
        self.context(mapping)
        return uncouple_records(self, mapping, keys, all_=all)

    # -- reading --------------------------------------------------------------------------
    def jobs(self, *, limit: int = 20, mapping: str | None = None) -> list[Job]:
        name = self.config.mapping(mapping).name if mapping else None
        return self.store.jobs(limit=limit, mapping=name)

    def job(self, job_id: str) -> Job:
        job = self.store.job(job_id)
        if job is None:
            raise UsageError(f"no job with id {job_id!r}")
        return job

    def couplings(
        self, mapping: str, *, limit: int = 50, offset: int = 0, attention_only: bool = False
    ) -> list[Coupling]:
        name = self.config.mapping(mapping).name
        return self.store.list_couplings(
            name, limit=limit, offset=offset, attention_only=attention_only
        )

    def overview(self) -> list[MappingOverview]:
        out = []
        for m in dependency_order(self.config):
            stats = self.store.coupling_stats(m.name)
            out.append(
                MappingOverview(
                    name=m.name,
                    direction=m.direction.value,
                    table=str(m.table),
                    integration_table=str(m.integration_table),
                    table_filter=m.table_filter,
                    integration_table_filter=m.integration_table_filter,
                    depends_on=tuple(sorted(m.hard_dependencies())),
                    coupled=stats.total,
                    failed=stats.failed,
                    skipped=stats.skipped,
                    pending=stats.pending,
                )
            )
        return out


__all__ = ["Project", "StateError"]
