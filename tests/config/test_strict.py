"""Configuration slips that used to load without a word are refused, each at its own line.

Unknown ``options`` keys and options of the wrong type, ``[tables]`` sections no mapping
uses, values of a loose type (``skip_after = "2"``), a ``key =`` or ``modified =`` that the
table cannot use, a key column holding duplicates, and a system's SQLite file that does not
exist (Accord would have created it empty) — while the state store and the demo still create
their own files.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from accord import ConfigError, Project
from accord.config import load_config
from tests.cli.support import run_accord
from tests.reliability.configs import VALID, line_of


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "accord.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}:{caught.value.line}: ")
    return caught.value


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("options = { batch_size = 500 }", "options = { batch_sise = 500 }", "unknown option"),
        ("options = { batch_size = 500 }", 'options = { batch_size = "500" }', "whole number"),
        ("options = { batch_size = 500 }", "options = { batch_size = 0 }", "whole number"),
        ("options = { batch_size = 500 }", 'options = { busy_timeout = "5" }', "seconds"),
        ('[tables."crm.account"]', '[tables."crm.acount"]', "no mapping uses"),
        ("skip_after = 2", 'skip_after = "2"', "integer"),
        ("sync_only_coupled = true", 'sync_only_coupled = "no"', "boolean"),
        ("priority = 0", 'priority = "0"', "integer"),
        ("stamp_modified = true", 'stamp_modified = "true"', "boolean"),
        ("overlap_seconds = 2.0", 'overlap_seconds = "2"', "number"),
        ("digits = 5", 'digits = "5"', "integer"),
    ],
)
def test_a_slip_is_refused_at_its_line(tmp_path: Path, old: str, new: str, words: str) -> None:
    assert old in VALID, old
    text = VALID.replace(old, new, 1)
    error = load_error(tmp_path, text)
    assert words in error.message, error.message
    assert error.line == line_of(new, text), (error.line, str(error))


def test_an_option_in_its_own_section_is_refused_at_its_line(tmp_path: Path) -> None:
    text = VALID.replace(
        "options = { batch_size = 500 }\n", "\n[systems.crm.options]\nbatch_sise = 500\n"
    )
    error = load_error(tmp_path, text)
    assert "batch_sise" in error.message and error.line == line_of("batch_sise", text)


def test_the_valid_values_still_load(tmp_path: Path) -> None:
    path = tmp_path / "accord.toml"
    text = VALID.replace("overlap_seconds = 2.0", "overlap_seconds = 2").replace(
        "options = { batch_size = 500 }", "options = { batch_size = 500, busy_timeout = 5 }"
    )
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.tables["erp.customer"].overlap_seconds == 2
    assert config.systems["crm"].options == {"batch_size": 500, "busy_timeout": 5}


# -- against the real tables ------------------------------------------------------------------

SYSTEMS = """\
[systems.erp]
url = "sqlite:///erp.db"

[systems.crm]
url = "sqlite:///crm.db"

[tables."erp.customer"]
key = "{key}"
modified = "{modified}"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
fields = [
  {{ field = "name", integration_field = "name" }},
]
"""


def make_systems(directory: Path, *, duplicate: bool = False) -> None:
    with closing(sqlite3.connect(directory / "erp.db")) as conn, conn:
        conn.execute(
            "CREATE TABLE customer (id INTEGER PRIMARY KEY, no TEXT, name TEXT, "
            "changed TIMESTAMP, flag BOOLEAN)"
        )
        rows = [(1, "C1", "a"), (2, "C2", "b"), (3, "C1" if duplicate else "C3", "c")]
        conn.executemany("INSERT INTO customer VALUES (?, ?, ?, '2024-01-01 00:00:00', 0)", rows)
    with closing(sqlite3.connect(directory / "crm.db")) as conn, conn:
        conn.execute(
            "CREATE TABLE account (accountid TEXT PRIMARY KEY, name TEXT, modifiedon TIMESTAMP)"
        )


def check_error(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "accord.toml"
    path.write_text(text, encoding="utf-8")
    with Project.load(path) as project, pytest.raises(ConfigError) as caught:
        project.check()
    return caught.value


@pytest.mark.parametrize(
    ("key", "modified", "at", "words"),
    [
        ("nope", "changed", 'key = "nope"', "no column 'nope'"),
        ("no", "gone", 'modified = "gone"', "no column 'gone'"),
        ("no", "flag", 'modified = "flag"', "cannot hold a version"),
    ],
)
def test_a_bad_table_setting_is_refused_at_its_line(
    tmp_path: Path, key: str, modified: str, at: str, words: str
) -> None:
    make_systems(tmp_path)
    text = SYSTEMS.format(key=key, modified=modified)
    error = check_error(tmp_path, text)
    assert words in error.message and error.line == line_of(at, text), str(error)


def test_duplicate_values_in_the_key_column_are_refused_before_any_write(tmp_path: Path) -> None:
    make_systems(tmp_path, duplicate=True)
    text = SYSTEMS.format(key="no", modified="changed")
    error = check_error(tmp_path, text)
    assert "erp.customer" in error.message and "'no'" in error.message
    assert "'C1' is the key of 2 records" in error.message
    assert error.line == line_of('key = "no"', text)
    (tmp_path / "accord.toml").write_text(text, encoding="utf-8")
    done = run_accord("sync", "--full", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "'C1' is the key of 2 records" in done.stderr and "Traceback" not in done.stderr
    with closing(sqlite3.connect(tmp_path / "crm.db")) as conn:
        assert conn.execute("SELECT count(*) FROM account").fetchone() == (0,)


def test_a_missing_sqlite_file_is_named_not_created(tmp_path: Path) -> None:
    make_systems(tmp_path)
    text = SYSTEMS.format(key="no", modified="changed").replace("crm.db", "crm-typo.db")
    (tmp_path / "accord.toml").write_text(text, encoding="utf-8")
    done = run_accord("sync", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "crm-typo.db does not exist" in done.stderr and "Traceback" not in done.stderr
    assert f"accord.toml:{line_of('crm-typo.db', text)}:" in done.stderr
    assert not (tmp_path / "crm-typo.db").exists()
    # the state store is Accord's own: it is created as before
    text = SYSTEMS.format(key="no", modified="changed")
    (tmp_path / "accord.toml").write_text(text, encoding="utf-8")
    done = run_accord("sync", "--full", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".accord" / "state.db").exists()
