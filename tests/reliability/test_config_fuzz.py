"""Fuzzing the configuration loader: any text loads or fails with a located ConfigError.

Inputs are mutations of a valid ``accord.toml`` (see :mod:`tests.reliability.configs`) and raw
random text. Whatever the input, ``load_config`` either returns a configuration or raises
:class:`ConfigError` naming the file and a line inside it (the mutated line, where the mutation
alone decides it), never another exception, and it never creates or changes a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accord import ConfigError, Project
from accord.config import Config, load_config

from .configs import (
    HUGE,
    VALID,
    Mutated,
    cycle_mutations,
    generic_mutations,
    line_of,
    located_mutations,
    replace_line,
    row_mutations,
    value_mutations,
)


def fuzz(examples: int) -> settings:
    """Hypothesis settings for one fuzz test; ``ACCORD_FUZZ_SCALE=10`` runs ten times more."""
    return settings(
        max_examples=examples * int(os.environ.get("ACCORD_FUZZ_SCALE", "1")),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


Snapshot = dict[str, tuple[int, int]]


def snapshot(directory: Path) -> Snapshot:
    """Every path under ``directory`` with its size and modification time."""
    found: Snapshot = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root) / name
            stat = path.stat()
            found[str(path.relative_to(directory))] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty folder that is also the current directory (relative state URLs land here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_FUZZ_UNSET_VARIABLE", raising=False)
    yield tmp_path


def load_text(directory: Path, text: str | bytes) -> tuple[Path, Config | ConfigError]:
    """Write ``text`` as accord.toml, load it, and check that loading wrote nothing."""
    path = directory / "accord.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    before = snapshot(directory)
    try:
        outcome: Config | ConfigError = load_config(path)
    except ConfigError as exc:
        outcome = exc
    # Never a partial write: no state database, no folder, no rewritten configuration.
    assert snapshot(directory) == before
    return path, outcome


def lines_of(text: str | bytes) -> list[str]:
    """The file's lines as an editor numbers them: ended by \n, \r\n or \r, nothing else."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def check_error(path: Path, error: ConfigError, text: str | bytes) -> None:
    """The error names the file and, when it names a line, a real line of it."""
    assert error.source == str(path)
    lines = lines_of(text)
    assert 0 <= error.line <= len(lines), (error.line, len(lines), str(error))
    assert error.message, "an error says what is wrong"
    assert str(error).startswith(f"{path}:{error.line}: " if error.line else f"{path}: ")


def check_outcome(directory: Path, text: str | bytes) -> ConfigError | None:
    path, outcome = load_text(directory, text)
    if isinstance(outcome, Config):
        assert outcome.path == path
        return None
    check_error(path, outcome, text)
    # Any problem can be tied to a line, except a section missing from the whole file.
    if outcome.line == 0:
        key = outcome.message.split(":", 1)[0]
        assert outcome.message == f"{key}: is required", str(outcome)
        shown = "\n".join(lines_of(text))
        assert not re.search(rf"^\s*\[*\s*{key}\b", shown, re.MULTILINE), str(outcome)
    return outcome


def test_the_unmutated_configuration_loads(workdir: Path) -> None:
    _, outcome = load_text(workdir, VALID)
    assert isinstance(outcome, Config), outcome
    assert [m.name for m in outcome.mappings] == ["CURRENCY", "SALESPEOPLE", "CUSTOMER"]
    assert not (workdir / ".accord").exists()


@fuzz(400)
@given(mutated=generic_mutations())
def test_line_edits_load_or_fail_with_a_located_config_error(
    workdir: Path, mutated: Mutated
) -> None:
    check_outcome(workdir, mutated.text)


@fuzz(400)
@given(mutated=value_mutations())
@example(Mutated(replace_line(3, f"url = {HUGE}"), "huge integer"))
@example(Mutated(replace_line(3, "url = " + "[" * 600 + "]" * 600), "deep array"))
def test_other_values_load_or_fail_with_a_located_config_error(
    workdir: Path, mutated: Mutated
) -> None:
    check_outcome(workdir, mutated.text)


@fuzz(200)
@given(mutated=row_mutations())
def test_changed_field_rows_load_or_fail_with_a_located_config_error(
    workdir: Path, mutated: Mutated
) -> None:
    check_outcome(workdir, mutated.text)


@fuzz(300)
@given(mutated=located_mutations())
def test_errors_name_the_mutated_line(workdir: Path, mutated: Mutated) -> None:
    error = check_outcome(workdir, mutated.text)
    assert error is not None, f"{mutated.what}: loaded"
    assert error.line == mutated.line, (mutated.what, str(error))


@fuzz(30)
@given(mutated=cycle_mutations())
def test_cycles_are_named_at_a_mapping_in_the_cycle(workdir: Path, mutated: Mutated) -> None:
    error = check_outcome(workdir, mutated.text)
    assert error is not None
    assert "cycle" in error.message
    # The line is the [[mappings]] header of one of the mappings the message names.
    named = [name for name in ("CURRENCY", "SALESPEOPLE", "CUSTOMER") if name in error.message]
    assert len(named) >= 2, error.message
    headers = {line_of(f'name = "{name}"', mutated.text) - 1 for name in named}
    assert all(mutated.text.splitlines()[h - 1] == "[[mappings]]" for h in headers)
    assert error.line in headers, (error.line, headers, error.message)


@fuzz(300)
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_random_text_loads_or_fails_with_a_located_config_error(
    workdir: Path, text: str | bytes
) -> None:
    check_outcome(workdir, text)


def test_a_huge_integer_is_a_config_error_on_its_line(workdir: Path) -> None:
    number = line_of("skip_after = 2")
    _, outcome = load_text(workdir, replace_line(number, f"skip_after = {HUGE}"))
    assert isinstance(outcome, ConfigError)
    assert outcome.line == number
    assert "digits" in outcome.message


def test_deep_nesting_is_a_config_error_on_its_line(workdir: Path) -> None:
    number = line_of("depends_on = ")
    deep = "depends_on = " + "[" * 2000 + "]" * 2000
    _, outcome = load_text(workdir, replace_line(number, deep))
    assert isinstance(outcome, ConfigError)
    assert outcome.line == number
    assert "nested too deeply" in outcome.message


def test_an_unterminated_string_on_the_last_line_names_that_line(workdir: Path) -> None:
    text = VALID.rstrip("\n").rstrip("]") + '"'
    _, outcome = load_text(workdir, text)
    assert isinstance(outcome, ConfigError)
    assert outcome.line == len(text.splitlines())


def test_text_that_is_not_utf8_names_the_line_of_the_bad_byte(workdir: Path) -> None:
    data = VALID.encode().replace(b'"no"', b'"n\xff"')
    _, outcome = load_text(workdir, data)
    assert isinstance(outcome, ConfigError)
    assert outcome.line == line_of('key = "no"')
    assert "not UTF-8" in outcome.message


def test_project_load_creates_no_state_database(workdir: Path) -> None:
    path = workdir / "accord.toml"
    path.write_text(VALID, encoding="utf-8")
    before = snapshot(workdir)
    project = Project.load(path)
    project.close()
    assert snapshot(workdir) == before
    assert not (workdir / ".accord").exists()
