"""One small synchronized demo (built once by ``accord demo``); each test serves a copy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import Demo, accord, explain
from tests.web.support import Served, serve

RECORDS = 40


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_CONFIG", raising=False)


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("web") / "accord-demo"
    result = accord("demo", "--dir", directory, "--records", str(RECORDS), "--json")
    assert result.exit_code == 0, explain(result)
    return directory


@pytest.fixture
def demo(demo_folder: Path, tmp_path: Path) -> Demo:
    directory = tmp_path / "accord-demo"
    shutil.copytree(demo_folder, directory)
    return Demo(directory)


@pytest.fixture
def served(demo: Demo) -> Iterator[Served]:
    with serve(demo) as s:
        yield s
