"""Every command explains itself; the configuration comes from --config, ACCORD_CONFIG or ./"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.support import Demo, accord, accord_json, explain, plain, run_accord

OPTIONS = {
    "demo": ("--dir", "--records", "--seed", "--json"),
    "mappings": ("--config", "--json"),
    "sync": ("--records", "--direction", "--full", "--config", "--json"),
    "couple": ("--to", "--create-new", "--sync", "--config", "--json"),
    "uncouple": ("--all", "--config", "--json"),
    "jobs": ("--limit", "--mapping", "--config", "--json"),
    "couplings": ("--limit", "--offset", "--attention", "--config", "--json"),
}


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_help_of_every_command(command: str) -> None:
    result = accord(command, "--help")
    assert result.exit_code == 0, explain(result)
    text = plain(result.stdout)
    assert f"Usage: accord {command}" in text
    for option in OPTIONS[command]:
        assert option in text, option
    if "--config" in OPTIONS[command]:
        assert "ACCORD_CONFIG" in text and "./accord.toml" in text
    if "--direction" in OPTIONS[command] or "--sync" in OPTIONS[command]:
        assert "to-integration" in text and "bidirectional" not in text


def test_help_from_python_dash_m(tmp_path: Path) -> None:
    """``python -m accord`` (the executable itself is run by the demo, sync and error tests)."""
    done = run_accord("--help", cwd=tmp_path, module=True)
    assert done.returncode == 0, done.stderr
    assert "Usage: " in done.stdout
    for command in OPTIONS:
        assert command in done.stdout


def test_accord_config_environment_variable(demo: Demo, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no accord.toml here
    env = {"ACCORD_CONFIG": str(demo.config)}

    result = accord("mappings", "--json", env=env)
    assert result.exit_code == 0, explain(result)
    result = accord("sync", "CURRENCY", "--json", env=env)
    assert result.exit_code == 0, explain(result)
    assert '"CURRENCY"' in result.stdout

    # --config wins over the environment
    env = {"ACCORD_CONFIG": str(tmp_path / "missing.toml")}
    assert accord("jobs", "-n", "1", "-c", demo.config, env=env).exit_code == 0
    result = accord("jobs", env=env)
    assert result.exit_code == 2 and "missing.toml" in result.stderr


def test_accord_toml_in_the_current_folder(demo: Demo, monkeypatch) -> None:
    monkeypatch.chdir(demo.directory)
    rows = accord_json("mappings")
    assert rows[0]["name"] == "CURRENCY"
    assert rows[0]["coupled"] > 0
