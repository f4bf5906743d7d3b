"""Mistakes a user can make end in one sentence on stderr and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli.support import MAPPINGS, Demo, accord, explain, run_accord

UNREACHABLE = "postgresql+psycopg://u:s3cret@127.0.0.1:1/x"


def assert_usage_error(result: Result, *words: str) -> str:
    """Exit 2, nothing on stdout but blank lines, one line on stderr that has ``words``."""
    assert result.exit_code == 2, explain(result)
    assert isinstance(result.exception, SystemExit), explain(result)
    assert result.stdout.strip() == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_missing_config_says_how_to_create_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (("mappings",), ("sync",), ("jobs",), ("couplings", "CUSTOMER")):
        assert_usage_error(accord(*args), "accord.toml", "not found", "accord demo", "--config")
    missing = tmp_path / "elsewhere.toml"
    assert_usage_error(accord("mappings", "-c", missing), str(missing), "accord demo")


def test_missing_config_from_the_real_executable(tmp_path: Path) -> None:
    done = run_accord("mappings", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout.strip() == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: accord.toml: configuration file not found (give --config PATH, set "
        "ACCORD_CONFIG, or run 'accord demo' to create an example)"
    ]


def test_malformed_toml_names_file_and_line(demo: Demo) -> None:
    lines = demo.config.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("[systems.crm]"))
    lines[number] = 'connector = "sql" = "oops"'
    demo.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    for args in (("mappings",), ("sync", "--json"), ("jobs",)):
        line = assert_usage_error(accord(*args, "-c", demo.config), "not valid TOML")
        assert f"accord.toml:{number + 1}:" in line


@pytest.mark.parametrize(
    "args",
    [
        ("sync", "NOPE"),
        ("sync", "CUSTOMER", "NOPE", "--json"),
        ("couplings", "NOPE"),
        ("couple", "NOPE", "C00001", "--to", "x"),
        ("uncouple", "NOPE", "--all"),
        ("jobs", "--mapping", "NOPE"),
    ],
)
def test_unknown_mapping_lists_the_known_ones(demo: Demo, args: tuple[str, ...]) -> None:
    line = assert_usage_error(accord(*args, "-c", demo.config), "no mapping named 'NOPE'")
    for name in MAPPINGS:
        assert name in line


def test_bad_filter_names_its_position(demo: Demo) -> None:
    demo.replace_in_config("blocked eq ''", "blocked eq eq ''")
    for args in (("mappings",), ("sync", "CUSTOMER"), ("sync", "CURRENCY")):
        line = assert_usage_error(accord(*args, "-c", demo.config), "position", "CUSTOMER")
        assert "accord.toml:" in line and "blocked eq eq" in line


def test_markup_like_text_in_a_message_is_printed_as_is(demo: Demo) -> None:
    demo.replace_in_config("blocked eq ''", "[/b] eq ''")
    assert_usage_error(accord("mappings", "-c", demo.config), "[/b] eq", "position")


@pytest.mark.parametrize("system", ["crm", "state"])
def test_unreachable_database_does_not_show_its_password(demo: Demo, system: str) -> None:
    old = {"crm": 'url = "sqlite:///crm.db"', "state": 'url = "sqlite:///.accord/state.db"'}
    demo.replace_in_config(old[system], f'url = "{UNREACHABLE}"')
    commands = [("mappings",), ("sync",), ("sync", "--json"), ("couple", "CUSTOMER", "C00001")]
    if system == "state":
        commands += [("jobs",), ("couplings", "CUSTOMER"), ("uncouple", "CUSTOMER", "--all")]
    for args in commands:
        result = accord(*args, "-c", demo.config)
        assert result.exit_code == 2, explain(result)
        assert isinstance(result.exception, SystemExit), explain(result)
        assert "s3cret" not in result.stdout + result.stderr
        assert "127.0.0.1" in result.stderr and "***" in result.stderr


def test_no_command_shows_the_commands() -> None:
    result = accord()
    assert result.exit_code == 2
    for command in ("demo", "mappings", "sync", "couple", "uncouple", "jobs", "couplings"):
        assert command in result.stdout + result.stderr
