"""A database password given through the environment is never shown, whatever fails.

``accord.toml`` names the password as ``${ACCORD_TEST_SECRET}`` in a URL. The tests run the
command line (in-process with CliRunner, and as a real process) and the Python API against
systems that cannot be reached or refuse the login, against a state store that cannot be
opened, and through a pass that fails half-way, then look for the password in everything
Accord said: stdout, stderr, exception text and tracebacks, and the job messages and job
errors it stored in the state store.
"""

from __future__ import annotations

import sqlite3
import traceback
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import accord.cli.app  # noqa: F401  (registers the commands on the shared app)
from accord import AccordError, Project
from accord.cli.common import app
from accord.model import JobStatus
from tests.cli.support import run_accord
from tests.services import postgresql_url

SECRET_VARIABLE = "ACCORD_TEST_SECRET"
TAIL = uuid.uuid4().hex
SECRETS = {
    "plain": f"Hunter2{TAIL}",
    # '/', '#', '?' and ':' make naive URL parsing end the password early and show the rest.
    "awkward": f"p/ss#w?rd:{TAIL}",
}

CONFIG = """\
[state]
url = "{state}"

[systems.erp]
connector = "sql"
url = "{erp}"

[systems.crm]
connector = "sql"
url = "{crm}"
retry = {{ attempts = 2, backoff = 0.05 }}  # retried once (its messages are checked too), soon

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "bidirectional"
fields = [
  {{ field = "name", integration_field = "name" }},
]
"""
LOCAL_STATE = "sqlite:///state.db"
LOCAL_ERP = "sqlite:///erp.db"
LOCAL_CRM = "sqlite:///crm.db"
WITH_SECRET = "${" + SECRET_VARIABLE + "}"
COMMANDS: list[list[str]] = [
    ["mappings"],
    ["mappings", "--json"],
    ["sync"],
    ["sync", "--json"],
    ["sync", "--full", "--json"],
    ["sync", "CUSTOMER", "--records", "C1", "--direction", "to-integration"],
    ["jobs"],
    ["jobs", "--json"],
    ["couplings", "CUSTOMER"],
    ["couplings", "CUSTOMER", "--json"],
    ["couple", "CUSTOMER", "C1", "--to", "A1"],
    ["uncouple", "CUSTOMER", "--all"],
]


def forms(secret: str) -> list[str]:
    """The secret as given, percent-encoded, and its unique tail (catches a partial leak)."""
    return [secret, quote(secret, safe=""), TAIL]


def assert_hidden(secret: str, text: str, where: str) -> None:
    for form in forms(secret):
        assert form not in text, f"the password shows in {where}:\n{text}"


def make_systems(directory: Path) -> None:
    """Two small SQLite systems with one customer each side, so that a sync has work."""
    for name, table, key in (("erp", "customer", "no"), ("crm", "account", "accountid")):
        with closing(sqlite3.connect(directory / f"{name}.db")) as conn, conn:
            conn.execute(
                f"CREATE TABLE {table} ({key} TEXT PRIMARY KEY, name TEXT, last_modified TIMESTAMP)"
            )
            conn.execute(
                f"INSERT INTO {table} VALUES (?, ?, '2024-01-01 00:00:00')",
                ("C1" if name == "erp" else "A1", f"{name} customer"),
            )


@dataclass(frozen=True)
class Case:
    """A folder with accord.toml, its systems, and the password the environment holds."""

    directory: Path
    secret: str

    @property
    def config(self) -> Path:
        return self.directory / "accord.toml"

    @property
    def env(self) -> dict[str, str]:
        return {SECRET_VARIABLE: self.secret}


def make_case(directory: Path, secret: str, **urls: str) -> Case:
    directory.mkdir(parents=True, exist_ok=True)
    make_systems(directory)
    values = {"state": LOCAL_STATE, "erp": LOCAL_ERP, "crm": LOCAL_CRM, **urls}
    (directory / "accord.toml").write_text(CONFIG.format(**values), encoding="utf-8")
    return Case(directory, secret)


def run_everything(
    case: Case,
    monkeypatch: pytest.MonkeyPatch,
    process: list[str] | None = None,
    *,
    module: bool = False,
) -> list[int]:
    """Every command in-process, then ``process`` in a real process; the exit codes.

    The real process is ``python -m accord`` with ``module``, else the ``accord`` script. It
    takes seconds, so it runs for the awkward password only (the harder one to hide).
    """
    monkeypatch.setenv(SECRET_VARIABLE, case.secret)
    monkeypatch.delenv("ACCORD_CONFIG", raising=False)
    monkeypatch.chdir(case.directory)
    runner = CliRunner()
    codes = []
    for args in COMMANDS:
        result = runner.invoke(app, [*args, "--config", str(case.config)])
        shown = result.stdout + result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            shown += "".join(traceback.format_exception(result.exception))
        assert_hidden(case.secret, shown, f"accord {' '.join(args)}")
        codes.append(result.exit_code)
    if process is not None and case.secret == SECRETS["awkward"]:
        done = run_accord(*process, cwd=case.directory, env=case.env, module=module)
        shown = done.stdout + done.stderr
        assert_hidden(case.secret, shown, f"accord {' '.join(process)} (process)")
        assert "Traceback" not in done.stderr, done.stderr
        codes.append(done.returncode)
    return codes


def assert_api_hides(case: Case, monkeypatch: pytest.MonkeyPatch) -> AccordError:
    """The Python API fails with an AccordError whose every rendering hides the password."""
    monkeypatch.setenv(SECRET_VARIABLE, case.secret)
    with pytest.raises(AccordError) as caught, Project.load(case.config) as project:
        project.sync(full=True)
    error = caught.value
    rendered = [str(error), repr(error), *error.args]
    rendered.append("".join(traceback.format_exception(error)))
    rendered.append("".join(traceback.format_exception_only(error)))
    for text in rendered:
        assert_hidden(case.secret, str(text), "an exception")
    return error


def assert_store_hides(case: Case, monkeypatch: pytest.MonkeyPatch) -> int:
    """Job messages and job errors read back from the state store hide the password."""
    monkeypatch.setenv(SECRET_VARIABLE, case.secret)
    with Project.load(case.config) as project:
        jobs = project.jobs(limit=1000)
        for listed in jobs:
            job = project.job(listed.id)
            assert_hidden(case.secret, job.message, f"job {job.id}'s message")
            for item in job.errors:
                assert_hidden(case.secret, repr(item), f"job {job.id}'s errors")
    # And the raw tables, whatever the store layer chooses to read back.
    with closing(sqlite3.connect(case.directory / "state.db")) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                assert_hidden(case.secret, repr(row), f"state table {table}")
    return len(jobs)


@pytest.fixture(params=sorted(SECRETS))
def secret(request: pytest.FixtureRequest) -> str:
    return SECRETS[str(request.param)]


# -- unreachable and refusing systems ---------------------------------------------------------


def test_an_unreachable_postgresql_system_never_shows_its_password(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = f"postgresql+psycopg://accord_nobody:{WITH_SECRET}@127.0.0.1:1/test"
    case = make_case(tmp_path / "case", secret, crm=crm)
    codes = run_everything(case, monkeypatch, ["sync", "--json"], module=True)
    # mappings and sync report the unreachable system; jobs still lists (no jobs).
    assert codes[:6] + codes[len(COMMANDS) :] == [2] * (6 + len(codes) - len(COMMANDS)), codes
    error = assert_api_hides(case, monkeypatch)
    assert "127.0.0.1" in str(error) and "***" in str(error)
    assert_store_hides(case, monkeypatch)


@pytest.mark.postgresql
def test_a_postgresql_login_that_fails_never_shows_its_password(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sa.make_url(postgresql_url())
    crm = (
        f"postgresql+psycopg://accord_no_such_user:{WITH_SECRET}@{server.host}:"
        f"{server.port or 5432}/{server.database}"
    )
    case = make_case(tmp_path / "case", secret, crm=crm)
    codes = run_everything(case, monkeypatch)
    assert codes[:6] == [2] * 6, codes
    error = assert_api_hides(case, monkeypatch)
    assert "accord_no_such_user" in str(error)
    assert_store_hides(case, monkeypatch)


def test_a_state_store_url_with_a_password_never_shows_it(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite takes no password: the store cannot be opened, and says so without showing it.
    state = f"sqlite://accord:{WITH_SECRET}@/state.db"
    case = make_case(tmp_path / "case", secret, state=state)
    codes = run_everything(case, monkeypatch, ["jobs", "--json"])
    assert set(codes) == {2}, codes
    error = assert_api_hides(case, monkeypatch)
    assert "state store" in str(error)


def test_a_system_url_with_a_password_never_shows_it(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = make_case(tmp_path / "case", secret, erp=f"sqlite://accord:{WITH_SECRET}@/erp.db")
    codes = run_everything(case, monkeypatch)
    assert codes[:6] == [2] * 6, codes  # listing jobs and couplings needs no system
    assert "system 'erp'" in str(assert_api_hides(case, monkeypatch))


def test_a_bad_configuration_never_shows_the_password(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = f"postgresql+psycopg://accord_nobody:{WITH_SECRET}@127.0.0.1:1/test"
    case = make_case(tmp_path / "case", secret, crm=crm)
    text = case.config.read_text(encoding="utf-8").replace('"bidirectional"', '"sideways"')
    case.config.write_text(text, encoding="utf-8")
    codes = run_everything(case, monkeypatch, ["sync"])
    assert set(codes) == {2}, codes
    error = assert_api_hides(case, monkeypatch)
    assert "sideways" in str(error)


# -- a pass that fails half-way: its job message is stored ------------------------------------


@pytest.mark.filterwarnings("ignore:Query string argument:sqlalchemy.exc.SAWarning")
def test_a_failed_pass_stores_and_shows_no_password(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The password is a URL parameter pysqlite ignores (with a warning): the system works.
    erp = f"sqlite:///erp.db?password={WITH_SECRET}"
    case = make_case(tmp_path / "case", secret, erp=erp)
    monkeypatch.setenv(SECRET_VARIABLE, case.secret)
    with Project.load(case.config) as project:
        project.check()
        with closing(sqlite3.connect(case.directory / "erp.db")) as conn, conn:
            conn.execute("ALTER TABLE customer RENAME TO gone")  # the pass fails on its read
        run = project.sync(full=True)
    assert not run.ok
    failed = [job for job in run.jobs if job.status is JobStatus.ERROR]
    assert failed, [(job.status, job.message) for job in run.jobs]
    assert all("erp" in job.message and "***" in job.message for job in failed)
    assert assert_store_hides(case, monkeypatch) >= 1
    # The stored messages are shown again by the listing commands.
    codes = run_everything(case, monkeypatch, ["jobs", "--json"], module=True)
    assert codes[COMMANDS.index(["jobs", "--json"])] == 0
    assert codes[len(COMMANDS) :] in ([], [0])


# -- malformed URLs: the password is hidden by its value, whatever the URL's shape ------------

MALFORMED = {
    "no host (no @)": "postgresql+psycopg://accord:{pw}/test",
    "no scheme": "accord:{pw}@127.0.0.1:1/test",
    "no scheme, slashes": "//accord:{pw}@127.0.0.1:1/test",
    "at sign in the password": "postgresql+psycopg://accord:p@{pw}@127.0.0.1:1/test",
    "postgres scheme": "postgres://accord:{pw}@127.0.0.1:1/test",
    "port that is no number": "mysql+pymysql://accord:{pw}@127.0.0.1:notaport/test",
    "query parameter": "postgresql+psycopg://accord@127.0.0.1:1/test?password={pw}",
    "spaces": "accord:{pw} 127.0.0.1",
    "percent-encoded": "postgresql+psycopg://accord:{encoded}@127.0.0.1:1/test",
}


@pytest.mark.parametrize("shape", sorted(MALFORMED))
@pytest.mark.parametrize("where", ["crm", "state"])
def test_a_malformed_url_never_shows_its_password(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch, shape: str, where: str
) -> None:
    """From the environment (plain or percent-encoded) into a system's or the state's URL."""
    encoded = quote(secret, safe="")
    url = MALFORMED[shape].format(pw=WITH_SECRET, encoded=WITH_SECRET)
    case = make_case(tmp_path / "case", secret, **{where: url})
    if shape == "percent-encoded":
        case = Case(case.directory, encoded)  # the environment holds the encoded form
    codes = run_everything(case, monkeypatch, ["sync", "--json"], module=True)
    assert 2 in codes, codes  # the URL is refused somewhere, with a sentence
    monkeypatch.setenv(SECRET_VARIABLE, case.secret)
    with pytest.raises(AccordError) as caught, Project.load(case.config) as project:
        project.sync(full=True)
    for text in (str(caught.value), repr(caught.value), *map(str, caught.value.args)):
        assert_hidden(secret, text, "an exception")
    if where == "crm":
        assert_store_hides(Case(case.directory, secret), monkeypatch)


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_a_password_written_into_a_malformed_url_is_hidden_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """No environment variable: the password is parsed out of the URL itself."""
    secret = f"Literal{TAIL}"
    url = MALFORMED[shape].format(pw=secret, encoded=quote(secret, safe=""))
    case = make_case(tmp_path / "case", secret, crm=url)
    codes = run_everything(case, monkeypatch)
    assert 2 in codes, codes
    assert_store_hides(case, monkeypatch)
