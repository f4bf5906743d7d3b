"""``build_demo``: a directory with the two demo systems and their ``accord.toml``.

The CRM is either ``crm.db`` or the local Dataverse service, started here in-process (a
background thread) on the ``dataverse/`` data folder, so that the demo runs over HTTPS.

The directory is ours only if a previous build left the marker file in it; anything else
that is not empty belongs to someone and is never touched. Rebuilding removes exactly the
files a build makes (the databases, the service's folder, the config and ``.accord/``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from accord.demo.bc import BC_COMPANY, bc_entities
from accord.demo.config import CONFIG_NAME, BusinessCentralErp, DataverseCrm, write_config
from accord.demo.data import DemoData, DemoSizes
from accord.demo.loader import TableRows, load_database
from accord.demo.schema import CRM_METADATA, ERP_METADATA
from accord.errors import UsageError

if TYPE_CHECKING:
    from accord.services.businesscentral import LocalBusinessCentral
    from accord.services.dataverse import LocalDataverse

__all__ = [
    "BC_DIR",
    "CRM_KINDS",
    "DATAVERSE_DIR",
    "ERP_KINDS",
    "MARKER_NAME",
    "CrmKind",
    "DemoWorld",
    "ErpKind",
    "build_demo",
]

CrmKind = Literal["sql", "dataverse"]
CRM_KINDS: tuple[CrmKind, ...] = ("sql", "dataverse")
ErpKind = Literal["sql", "businesscentral"]
ERP_KINDS: tuple[ErpKind, ...] = ("sql", "businesscentral")
DATAVERSE_DIR = "dataverse"
"""The local Dataverse service's data folder inside the demo directory."""
BC_DIR = "businesscentral"
"""The local Business Central service's data folder inside the demo directory."""

MARKER_NAME = ".accord-demo"
"""File that marks a directory as made by ``accord demo``, so a rebuild may clear it."""

_STATE_DIR = ".accord"
_DATABASES = {"erp": "erp.db", "crm": "crm.db"}
_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class DemoWorld:
    """What ``build_demo`` made, and where the engine finds it."""

    directory: Path
    """Absolute path of the demo directory."""
    config_path: Path
    """``directory / "accord.toml"``."""
    erp_url: str
    """SQLAlchemy URL of the ERP database (absolute path), or the BC API's URL."""
    crm_url: str
    """SQLAlchemy URL of the CRM database (absolute path), or the service's URL."""
    counts: Mapping[str, int]
    """Rows per ``"system.table"``, including the tables that start empty."""
    service: LocalDataverse | None = None
    """The running local Dataverse holding the CRM (``crm="dataverse"``); stop it when done."""
    erp_service: LocalBusinessCentral | None = None
    """The running local Business Central holding the ERP (``erp="businesscentral"``)."""

    def stop(self) -> None:
        """Stop the services the build started (none for SQLite files)."""
        for service in (self.service, self.erp_service):
            if service is not None:
                service.stop()


def build_demo(
    directory: Path,
    *,
    records: int = 1000,
    seed: int = 42,
    crm: CrmKind = "sql",
    port: int = 0,
    erp: ErpKind = "sql",
    erp_port: int = 0,
) -> DemoWorld:
    """Build (or rebuild) the demo world in ``directory``.

    Args:
        directory: where to put ``erp.db``, ``crm.db`` and ``accord.toml``; created if
            missing. An existing non-empty directory must come from an earlier build.
        records: customers across both systems; everything else scales with it.
        seed: the same seed and ``records`` give the same rows, byte for byte.
        crm: ``"dataverse"`` puts the CRM rows into a local Dataverse service started on
            ``port`` (0: a free one) and returned running in ``DemoWorld.service``.
        erp: ``"businesscentral"`` puts the ERP rows into a local Business Central started
            on ``erp_port``, returned running in ``DemoWorld.erp_service``.

    Raises:
        UsageError: ``records`` is too small, ``crm`` is unknown, or ``directory`` holds
            someone else's files.
        OSError: the directory cannot be written, or the port cannot be used.
    """
    if crm not in CRM_KINDS:
        raise UsageError(f"unknown CRM {crm!r} (choose {' or '.join(CRM_KINDS)})")
    if erp not in ERP_KINDS:
        raise UsageError(f"unknown ERP {erp!r} (choose {' or '.join(ERP_KINDS)})")
    sizes = DemoSizes.for_records(records)
    directory = Path(directory)
    _claim(directory)
    root = directory.resolve()
    data = DemoData(sizes, seed)
    counts: dict[str, int] = {}
    erp_service: LocalBusinessCentral | None = None
    service: LocalDataverse | None = None
    try:
        served_erp: BusinessCentralErp | None = None
        if erp == "sql":
            erp_url = f"sqlite:///{(root / _DATABASES['erp']).as_posix()}"
            loaded = load_database(erp_url, ERP_METADATA, data.erp())
            counts.update((f"erp.{table}", count) for table, count in loaded.items())
        else:
            erp_service = _serve_erp(root / BC_DIR, data.erp(), erp_port, counts)
            erp_url = erp_service.url
            served_erp = BusinessCentralErp(
                erp_service.url,
                erp_service.tenant,
                erp_service.client_id,
                erp_service.authority,
                BC_DIR,
            )
        served_crm: DataverseCrm | None = None
        if crm == "sql":
            crm_url = f"sqlite:///{(root / _DATABASES['crm']).as_posix()}"
            loaded = load_database(crm_url, CRM_METADATA, data.crm())
            counts.update((f"crm.{table}", count) for table, count in loaded.items())
        else:
            service = _serve_crm(root / DATAVERSE_DIR, data.crm(), port, counts)
            crm_url = service.url
            served_crm = DataverseCrm(service.url, service.tenant, service.client_id, DATAVERSE_DIR)
        config_path = write_config(root, sizes.key_digits(), served_crm, served_erp)
    except BaseException:
        for started in (erp_service, service):
            if started is not None:
                started.stop()
        raise
    return DemoWorld(
        directory=root,
        config_path=config_path,
        erp_url=erp_url,
        crm_url=crm_url,
        counts=MappingProxyType(counts),
        service=service,
        erp_service=erp_service,
    )


def _serve_erp(
    data_dir: Path, rows: Iterable[TableRows], port: int, counts: dict[str, int]
) -> LocalBusinessCentral:
    """Start the local Business Central and load the demo's ERP rows into its entity sets.

    The rows are the ones ``erp.db`` would get, renamed to the API's fields
    (:mod:`accord.demo.bc`) and stored as trusted bulk loads (no HTTP).
    """
    from accord.demo.bc import BC_ENTITIES
    from accord.services.businesscentral import LocalBusinessCentral

    service = LocalBusinessCentral.start(data_dir=data_dir, port=port)
    try:
        for entity_set, _ in BC_ENTITIES.values():
            counts.setdefault(f"erp.{entity_set}", 0)
        for entity_set, records in bc_entities(rows):
            counts[f"erp.{entity_set}"] += len(service.insert_rows(BC_COMPANY, entity_set, records))
    except BaseException:
        service.stop()
        raise
    return service


def _serve_crm(
    data_dir: Path, rows: Iterable[TableRows], port: int, counts: dict[str, int]
) -> LocalDataverse:
    """Start the local Dataverse with the demo's CRM tables and load the CRM rows into it.

    The rows are the ones ``crm.db`` would get, stored as trusted bulk loads (no HTTP), so
    that both demos start from the same data.
    """
    from accord.services.dataverse import LocalDataverse

    service = LocalDataverse.start(data_dir=data_dir, port=port)
    try:
        for table in CRM_METADATA.tables:
            counts.setdefault(f"crm.{table}", 0)
        for table, chunk in rows:
            columns = list(CRM_METADATA.tables[table].columns.keys())
            if chunk:
                counts[f"crm.{table}"] += service.insert_rows(table, columns, chunk)
    except BaseException:
        service.stop()
        raise
    return service


def _claim(directory: Path) -> None:
    """Make ``directory`` ready for a build, or refuse if it holds files that are not ours.

    The marker is written before anything is built, so an interrupted build can be rebuilt.
    """
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is not a directory; choose another --dir")
    marker = directory / MARKER_NAME
    if directory.is_dir() and any(directory.iterdir()) and not marker.is_file():
        raise UsageError(
            f"{directory} is not empty and was not made by 'accord demo'; choose another --dir"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for database in _DATABASES.values():
        for suffix in _SQLITE_SIDE_FILES:
            (directory / f"{database}{suffix}").unlink(missing_ok=True)
    (directory / CONFIG_NAME).unlink(missing_ok=True)
    for folder in (_STATE_DIR, DATAVERSE_DIR, BC_DIR):
        path = directory / folder
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    marker.write_text(
        "This directory was made by 'accord demo'; running it again rebuilds the demo here.\n",
        encoding="utf-8",
    )
