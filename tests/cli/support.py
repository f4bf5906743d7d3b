"""Helpers for the command-line tests: run ``accord``, read its JSON, poke the demo databases."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from accord.cli.app import app

MAPPINGS = (
    "CURRENCY",
    "SALESPEOPLE",
    "UNITOFMEASURE",
    "CUSTOMER",
    "CONTACT",
    "ITEM-PRODUCT",
    "RESOURCE-PRODUCT",
)
"""The demo's mappings, in the order ``accord.toml`` lists them."""

WIDE = {"COLUMNS": "200"}
"""A wide terminal, so that tables show whole column headers and ids."""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUNNER = CliRunner()


def accord(*args: str | Path, env: Mapping[str, str] | None = None) -> Result:
    """Run the command line in-process (``CliRunner``)."""
    return RUNNER.invoke(app, [str(a) for a in args], env=env)


def accord_json(*args: str | Path, code: int = 0) -> Any:
    """Run a command with ``--json``; check its exit code and return the parsed output."""
    result = accord(*args, "--json")
    assert result.exit_code == code, explain(result)
    return json.loads(result.stdout)


def explain(result: Result) -> str:
    """What to show when an exit code is not the expected one."""
    return f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n" + (
        f"exception: {result.exception!r}" if result.exception else ""
    )


def plain(text: str) -> str:
    return ANSI.sub("", text)


def executable() -> str:
    """The installed ``accord`` console script (next to this interpreter, or on PATH)."""
    path = Path(sysconfig.get_path("scripts")) / ("accord.exe" if os.name == "nt" else "accord")
    found = str(path) if path.is_file() else shutil.which("accord")
    assert found, "the accord entry point is not installed (pip install -e .)"
    return found


def run_accord(
    *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None, module: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the real ``accord`` executable (or ``python -m accord``) in a subprocess."""
    command = [sys.executable, "-m", "accord"] if module else [executable()]
    environ = {k: v for k, v in os.environ.items() if k != "ACCORD_CONFIG"}
    environ.update({**WIDE, "NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [*command, *(str(a) for a in args)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def utc_now_text() -> str:
    """Now in UTC as the demo databases store timestamps: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def table_rows(text: str) -> dict[str, list[str]]:
    """Rows of a rich table keyed by their first cell: ``a  1  2`` → ``{"a": ["1", "2"]}``.

    Boxed tables split on ``│``; the borderless ones the CLI prints split on white space
    (their cells hold no spaces: names, numbers, statuses).
    """
    rows = {}
    for line in plain(text).splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
        else:
            cells = line.split()
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


@dataclass(frozen=True)
class Demo:
    """A copy of the demo folder that one test may change at will."""

    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "accord.toml"

    def query(self, system: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.directory / f"{system}.db")) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, system: str, sql: str, *params: Any) -> Any:
        return self.query(system, sql, *params)[0][0]

    def execute(self, system: str, sql: str, *params: Any) -> int:
        """Change a demo database behind Accord's back, as a user of that system would."""
        with closing(sqlite3.connect(self.directory / f"{system}.db")) as conn, conn:
            return conn.execute(sql, params).rowcount

    def couplings(self, mapping: str) -> dict[str, str]:
        """local key → integration key, read through ``accord couplings --json``."""
        rows = accord_json("couplings", mapping, "--limit", "1000000", "-c", self.config)
        return {c["local_key"]: c["integration_key"] for c in rows}

    def replace_in_config(self, old: str, new: str) -> None:
        text = self.config.read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in accord.toml"
        self.config.write_text(text.replace(old, new, 1), encoding="utf-8")


def edit_both_sides(demo: Demo, pair: tuple[str, str] | None = None) -> tuple[str, str]:
    """Edit one coupled CUSTOMER's city on both sides (a conflict for the next sync)."""
    local, remote = pair or next(iter(demo.couplings("CUSTOMER").items()))
    demo.execute(
        "erp",
        "UPDATE customer SET city = 'Bergen', last_modified = ? WHERE no = ?",
        utc_now_text(),
        local,
    )
    demo.execute(
        "crm",
        "UPDATE account SET address1_city = 'Milan', modifiedon = ? WHERE accountid = ?",
        utc_now_text(),
        remote,
    )
    return local, remote
