"""What an engine feature may use of a project: the narrow context the features share.

The features (synchronizing, coupling, matching, repairing, verifying, resolving conflicts)
take a :class:`Workspace` — a configuration, its state store, its connectors and the
mappings resolved against their schemas — never the :class:`~accord.engine.project.Project`
facade itself. The facade (which the CLI, the web UI and Python callers use) imports the
features; the features import this module: the engine package has no import cycle
(``tests/engine/test_import_graph.py`` holds it to that).

A feature that runs another (coupling that synchronizes afterwards, a retry that syncs
now) calls the other feature's function with the same workspace, under the leases the
facade took for the action.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from accord.config import Config, dependency_order
from accord.model import TableMapping

if TYPE_CHECKING:
    from accord.connectors.base import Connector
    from accord.engine.context import MappingContext
    from accord.engine.plan import Recorder
    from accord.state import StateStore

DEFAULT_BATCH_SIZE = 1000
"""Records per batch unless the project is given another size (see ``sync.batch_size``)."""


class Workspace(Protocol):
    """The project as the features see it (:class:`~accord.engine.project.Project` is one)."""

    config: Config
    batch_size: int
    """Records per batch; :data:`DEFAULT_BATCH_SIZE` unless chosen."""
    recorder: Recorder
    """Told every record's outcome (a dry run's plan collects them)."""
    lease_ttl: timedelta
    """How long a mapping lease lasts unless renewed (a split pass's steps adopt it)."""

    @property
    def store(self) -> StateStore: ...

    @property
    def mapping_names(self) -> dict[str, str]:
        """Mapping names by their lower-case spelling (lookups name mappings loosely)."""
        ...

    def connector(self, system: str) -> Connector:
        """The system's connector, opened on first use."""
        ...

    def context(self, mapping_name: str) -> MappingContext:
        """A mapping resolved against its systems' schemas (checked on first use)."""
        ...

    def check(self) -> list[TableMapping]:
        """Validate every mapping against the real schemas; returns them in dependency order."""
        ...


def ordered(config: Config, names: Sequence[str] | None = None) -> list[TableMapping]:
    """The named mappings (every one when none is named) in dependency order."""
    order = dependency_order(config)
    if not names:
        return order
    wanted = {config.mapping(n).name for n in names}
    return [m for m in order if m.name in wanted]
