"""``build_demo``: a directory with the two demo databases and their ``accord.toml``.

The directory is ours only if a previous build left the marker file in it; anything else
that is not empty belongs to someone and is never touched. Rebuilding removes exactly the
files a build makes (the databases, the config and the ``.accord/`` state folder).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from accord.demo.config import CONFIG_NAME, write_config
from accord.demo.data import DemoData, DemoSizes
from accord.demo.loader import load_database
from accord.demo.schema import CRM_METADATA, ERP_METADATA
from accord.errors import UsageError

__all__ = ["MARKER_NAME", "DemoWorld", "build_demo"]

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
    """SQLAlchemy URL of the ERP database (absolute path)."""
    crm_url: str
    """SQLAlchemy URL of the CRM database (absolute path)."""
    counts: Mapping[str, int]
    """Rows per ``"system.table"``, including the tables that start empty."""


def build_demo(directory: Path, *, records: int = 1000, seed: int = 42) -> DemoWorld:
    """Build (or rebuild) the demo world in ``directory``.

    Args:
        directory: where to put ``erp.db``, ``crm.db`` and ``accord.toml``; created if
            missing. An existing non-empty directory must come from an earlier build.
        records: customers across both systems; everything else scales with it.
        seed: the same seed and ``records`` give the same rows, byte for byte.

    Raises:
        UsageError: ``records`` is too small, or ``directory`` holds someone else's files.
    """
    sizes = DemoSizes.for_records(records)
    directory = Path(directory)
    _claim(directory)
    root = directory.resolve()
    data = DemoData(sizes, seed)
    counts: dict[str, int] = {}
    urls: dict[str, str] = {}
    for system, metadata, rows in (
        ("erp", ERP_METADATA, data.erp()),
        ("crm", CRM_METADATA, data.crm()),
    ):
        path = root / _DATABASES[system]
        urls[system] = f"sqlite:///{path.as_posix()}"
        loaded = load_database(urls[system], metadata, rows)
        counts.update((f"{system}.{table}", count) for table, count in loaded.items())
    config_path = write_config(root, sizes.key_digits())
    return DemoWorld(
        directory=root,
        config_path=config_path,
        erp_url=urls["erp"],
        crm_url=urls["crm"],
        counts=MappingProxyType(counts),
    )


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
    state = directory / _STATE_DIR
    if state.is_symlink() or state.is_file():
        state.unlink()
    elif state.is_dir():
        shutil.rmtree(state)
    marker.write_text(
        "This directory was made by 'accord demo'; running it again rebuilds the demo here.\n",
        encoding="utf-8",
    )
