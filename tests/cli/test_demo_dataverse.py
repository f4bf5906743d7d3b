"""``accord demo --crm dataverse``: the same full synchronization, the CRM behind the local
Dataverse service over HTTPS; the written ``accord.toml`` works again once the service is
served again (``accord dev dataverse --data``) on the same folder and port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accord.services.dataverse import LocalDataverse
from tests.cli.conftest import RECORDS, DemoRun
from tests.cli.support import WIDE, accord, explain

COUNTERS = ("inserted", "modified", "deleted", "unchanged", "skipped", "failed", "coupled")


@dataclass(frozen=True)
class ServedDemo:
    directory: Path
    output: dict[str, Any]
    stdout_and_stderr: str

    @property
    def config(self) -> Path:
        return self.directory / "accord.toml"

    @property
    def credentials(self) -> dict[str, str]:
        path = self.directory / "dataverse" / "credentials.json"
        saved: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return saved

    @property
    def port(self) -> int:
        text = self.config.read_text(encoding="utf-8")
        return int(text.split('url = "https://127.0.0.1:', 1)[1].split('"', 1)[0])

    def env(self) -> dict[str, str]:
        return {"DATAVERSE_SECRET": self.credentials["client_secret"]}


@pytest.fixture(scope="module")
def served_demo(tmp_path_factory: pytest.TempPathFactory) -> ServedDemo:
    directory = tmp_path_factory.mktemp("dv-demo") / "accord-demo"
    result = accord(
        "demo", "--dir", directory, "--records", str(RECORDS), "--crm", "dataverse", "--json"
    )
    assert result.exit_code == 0, explain(result)
    return ServedDemo(directory, json.loads(result.stdout), result.stdout + result.stderr)


def python_accord(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """``python -m accord`` in a subprocess (this checkout's code), output piped."""
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_CONFIG"}
    env.update({**WIDE, "NO_COLOR": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")})
    return subprocess.Popen(
        [sys.executable, "-m", "accord", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    """Lines of the output up to and including the one holding ``marker``."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    process.wait(timeout=30)
    raise AssertionError(f"exit {process.returncode} before {marker!r}:\n{''.join(seen)}")


@contextmanager
def serving(process: subprocess.Popen[str], marker: str) -> Iterator[str]:
    """Wait for ``marker`` in a serving process's output; stop it with SIGTERM afterwards."""
    try:
        yield read_until(process, marker)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def sync_writes_nothing(demo: ServedDemo) -> None:
    again = accord("sync", "-c", demo.config, "--json", env=demo.env())
    assert again.exit_code == 0, explain(again)
    totals = json.loads(again.stdout)["totals"]
    assert totals["inserted"] == totals["modified"] == totals["deleted"] == 0, totals
    assert totals["failed"] == 0, totals


def test_the_summary_is_the_sql_demos(served_demo: ServedDemo, demo_run: DemoRun) -> None:
    """Same seed and size: every mapping's counters equal those of the SQLite demo."""
    out, sql = served_demo.output, demo_run.output
    assert out["ok"] is True and out["not_run"] == {}
    assert out["totals"] == sql["totals"]
    for name, counters in sql["mappings"].items():
        assert {c: out["mappings"][name][c] for c in COUNTERS} == {
            c: counters[c] for c in COUNTERS
        }, name
    assert out["totals"]["inserted"] > 0 and out["totals"]["failed"] == 0
    assert not (served_demo.directory / "crm.db").exists()


def test_the_config_reaches_the_service_with_the_secret_from_the_environment(
    served_demo: ServedDemo,
) -> None:
    text = served_demo.config.read_text(encoding="utf-8")
    credentials = served_demo.credentials
    assert 'connector = "dataverse"' in text
    assert 'client_secret = "${DATAVERSE_SECRET}"' in text
    assert 'ca_bundle = "dataverse/tls/ca.pem"' in text
    assert credentials["client_id"] in text and credentials["tenant"] in text
    for secret in (credentials["client_secret"], credentials["token"]):
        assert secret not in text
        assert secret not in served_demo.stdout_and_stderr


def test_after_a_restart_of_accord_dev_dataverse_sync_writes_nothing_and_verify_agrees(
    served_demo: ServedDemo,
) -> None:
    """What a user does next: serve the same data folder on the same port, then sync."""
    folder = served_demo.directory
    process = python_accord(
        "dev", "dataverse", "--data", "dataverse", "--port", str(served_demo.port), cwd=folder
    )
    with serving(process, "Press Ctrl-C"):
        sync_writes_nothing(served_demo)
        checked = accord("verify", "-c", served_demo.config, "--json", env=served_demo.env())
        assert checked.exit_code == 0, explain(checked)
        assert json.loads(checked.stdout)["disagreeing"] == 0
    # without the secret, the run stops with one clear sentence
    missing = accord("sync", "-c", served_demo.config, env={"DATAVERSE_SECRET": ""})
    assert missing.exit_code == 2, explain(missing)


def test_keep_serving_keeps_the_crm_up_until_sigterm(tmp_path: Path) -> None:
    directory = tmp_path / "served"
    process = python_accord(
        "demo",
        "--dir",
        directory,
        "--records",
        "20",
        "--crm",
        "dataverse",
        "--keep-serving",
        cwd=tmp_path,
    )
    rest = ""
    with serving(process, "press Ctrl-C to stop it") as printed:
        assert "Full synchronization of the demo" in printed
        assert "export DATAVERSE_SECRET=" in printed and "accord sync" in printed
        demo = ServedDemo(directory, {}, printed)
        assert demo.credentials["client_secret"] not in printed
        sync_writes_nothing(demo)
        process.send_signal(signal.SIGTERM)
        rest = process.stdout.read() if process.stdout else ""
    assert process.returncode == 0
    assert "stopped" in rest and "Traceback" not in printed + rest, rest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--crm", "oracle"), "'oracle' is not one of"),
        (("--keep-serving",), "--keep-serving needs --crm dataverse"),
        (("--port", "8443"), "--port needs --crm dataverse"),
    ],
)
def test_bad_demo_options_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = accord("demo", "--dir", tmp_path / "d", "--records", "20", *args)
    assert result.exit_code == 2, explain(result)
    assert message in " ".join(result.stderr.split())
    assert not (tmp_path / "d").exists()


def test_a_taken_port_is_one_clear_sentence(tmp_path: Path) -> None:
    with LocalDataverse.start(tls=False) as taken:
        port = taken.url.rsplit(":", 1)[1]
        result = accord(
            "demo",
            "--dir",
            tmp_path / "d",
            "--records",
            "20",
            "--crm",
            "dataverse",
            "--port",
            port,
        )
    assert result.exit_code == 2, explain(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot build the demo in"), lines


def test_a_rebuild_switches_between_the_two_crms(tmp_path: Path) -> None:
    """A rebuild removes what the other kind of build made: no stale crm.db or service data."""
    folder = tmp_path / "demo"
    built = accord("demo", "--dir", folder, "--records", "20", "--json")
    assert built.exit_code == 0, explain(built)
    assert (folder / "crm.db").is_file()

    served = accord("demo", "--dir", folder, "--records", "20", "--crm", "dataverse", "--json")
    assert served.exit_code == 0, explain(served)
    assert not (folder / "crm.db").exists()
    assert (folder / "dataverse" / "dataverse.db").is_file()

    again = accord("demo", "--dir", folder, "--records", "20", "--json")
    assert again.exit_code == 0, explain(again)
    assert (folder / "crm.db").is_file() and not (folder / "dataverse").exists()
    assert 'connector = "dataverse"' not in (folder / "accord.toml").read_text(encoding="utf-8")
