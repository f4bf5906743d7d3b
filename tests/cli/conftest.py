"""One small demo, built and synchronized once by ``accord demo``; each test gets a copy."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import accord.cli.app  # imports every command module
from tests.cli.support import Demo, accord, explain

RECORDS = 200


@dataclass(frozen=True)
class DemoRun:
    """The folder ``accord demo --json`` made, and what it printed (never changed by tests)."""

    directory: Path
    output: dict[str, Any]


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Print as in a terminal 200 columns wide, so tables show whole headers and ids.

    The CLI's consoles read COLUMNS when they are made, at import (pytest-xdist workers have
    COLUMNS=80 by then), so setting the variable per run would not be enough.
    """
    out, err = Console(width=200), Console(stderr=True, width=200)
    for name, module in list(sys.modules.items()):  # every command module holds its own name
        if name.startswith("accord.cli") and hasattr(module, "console"):
            monkeypatch.setattr(module, "console", out)
            if hasattr(module, "err"):
                monkeypatch.setattr(module, "err", err)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    directory = tmp_path_factory.mktemp("cli") / "accord-demo"
    result = accord("demo", "--dir", directory, "--records", str(RECORDS), "--json")
    assert result.exit_code == 0, explain(result)
    return DemoRun(directory, json.loads(result.stdout))


@pytest.fixture
def demo(demo_run: DemoRun, tmp_path: Path) -> Demo:
    """A private copy of the synchronized demo folder."""
    directory = tmp_path / "accord-demo"
    shutil.copytree(demo_run.directory, directory)
    return Demo(directory)
