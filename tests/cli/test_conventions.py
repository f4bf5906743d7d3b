"""Command-line conventions (issue 9 class 17): version, completion, help, widths, times."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer

import accord
from accord.cli.app import app
from tests.cli.support import Demo, explain, plain, run_accord
from tests.cli.support import accord as run

NOT_A_TERMINAL = {"COLUMNS": ""}
"""As in a CI log or a pipe: no terminal, and no COLUMNS to say how wide."""


def _commands() -> dict[str, Any]:
    """The click commands typer builds from the app (typer bundles its own click)."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_version(tmp_path: Path) -> None:
    done = run_accord("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"accord {accord.__version__}"


def test_shell_completion_is_offered(tmp_path: Path) -> None:
    help_text = plain(run("--help").stdout)
    assert "--install-completion" in help_text and "--show-completion" in help_text
    done = run_accord("--show-completion", "bash", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "complete" in done.stdout and "accord" in done.stdout


def test_every_parameter_of_every_command_has_help() -> None:
    missing = [
        f"{name} {param.name}"
        for name, command in _commands().items()
        for param in command.params
        if not (getattr(param, "help", None) or "").strip()
    ]
    assert missing == []


@pytest.mark.parametrize("command", sorted(_commands()))
def test_flags_show_no_value_type(command: str) -> None:
    result = run(command, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0, explain(result)
    assert "<bool>" not in plain(result.stdout)


def test_tables_are_not_cut_when_output_is_not_a_terminal(demo: Demo) -> None:
    done = run_accord("sync", "-c", demo.config, cwd=demo.directory, env=NOT_A_TERMINAL)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.split()}
    assert "RESOURCE-PRODUCT" in rows and "mapping" in rows
    assert rows["mapping"][1:] == [
        "inserted", "modified", "unchanged", "skipped", "failed", "coupled", "status"
    ]  # fmt: skip

    jobs = run_accord("jobs", "-c", demo.config, cwd=demo.directory, env=NOT_A_TERMINAL)
    assert jobs.returncode == 0, jobs.stderr
    assert "…" not in jobs.stdout
    # job times carry the year
    assert re.search(r"RESOURCE-PRODUCT\s+\S+\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", jobs.stdout)


def test_json_times_carry_a_time_zone(demo: Demo) -> None:
    done = run_accord("jobs", "--json", "-c", demo.config, cwd=demo.directory)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)[0]
    for name in ("started_at", "finished_at"):
        assert datetime.fromisoformat(job[name]).utcoffset() is not None, job[name]
    done = run_accord(
        "couplings", "CUSTOMER", "-n", "1", "--json", "-c", demo.config, cwd=demo.directory
    )
    (coupling,) = json.loads(done.stdout)
    assert datetime.fromisoformat(coupling["synced_at"]).utcoffset() is not None


@pytest.mark.parametrize("where", ["state", "system"])
def test_a_postgres_url_gets_a_hint(demo: Demo, where: str) -> None:
    if where == "state":
        demo.replace_in_config(
            'url = "sqlite:///.accord/state.db"', 'url = "postgres://u@127.0.0.1/x"'
        )
    else:
        demo.replace_in_config('url = "sqlite:///crm.db"', 'url = "postgres://u@127.0.0.1/x"')

    done = run_accord("mappings", "-c", demo.config, cwd=demo.directory)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "write postgresql+psycopg://" in done.stderr and "Traceback" not in done.stderr
