"""``accord dev dataverse``: its help, and a real start and stop in a subprocess."""

from __future__ import annotations

import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.cli.support import accord, explain, plain

READY_TIMEOUT = 60


def test_help_lists_the_options() -> None:
    result = accord("dev", "dataverse", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0, explain(result)
    text = plain(result.stdout)
    for option in (
        "--port",
        "--http",
        "--data",
        "--schema",
        "--budget",
        "--window",
        "--latency",
        "--fail-rate",
        "--drop-rate",
    ):
        assert option in text
    group = accord("dev", "--help", env={"COLUMNS": "200"})
    assert "dataverse" in plain(group.stdout)


def test_a_bad_schema_file_is_one_clear_error(tmp_path: Path) -> None:
    schema = tmp_path / "schema.toml"
    schema.write_text("[tables.thing.columns]\nsize = { type = 'Huge' }\n")
    result = accord("dev", "dataverse", "--schema", str(schema))
    assert result.exit_code == 2, explain(result)
    assert "thing.size has type 'Huge'" in plain(result.stderr)
    assert "Traceback" not in result.stderr


class Served:
    """``accord dev <service>`` in a subprocess; ``printed`` holds its ``name: value`` lines
    (the last of each name), ``output`` every line up to the ready message."""

    def __init__(self, *args: str, service: str = "dataverse") -> None:
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "accord", "dev", service, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.printed: dict[str, str] = {}
        self.output: list[str] = []
        while True:
            line = self.lines.get(timeout=READY_TIMEOUT)
            assert line, "the service exited before it was ready"
            self.output.append(line)
            if "Press Ctrl-C" in line:
                break
            name, sep, value = line.strip().partition(": ")
            if sep:
                self.printed[name.strip()] = value.strip()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def rest(self) -> str:
        """What it prints until it exits."""
        out = []
        while line := self.lines.get(timeout=READY_TIMEOUT):
            out.append(line)
        return "".join(out)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def test_start_serve_and_stop_on_ctrl_c(tmp_path: Path) -> None:
    served = Served("--data", str(tmp_path / "dv"))
    try:
        url, token = served.printed["url"], served.printed["token"]
        assert url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=served.printed["ca file"])
        with httpx.Client(verify=context) as client:
            created = client.post(
                f"{url}/api/data/v9.2/accounts",
                json={"name": "From the CLI test"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert created.status_code == 204
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(timeout=READY_TIMEOUT) == 0
        assert "stopped" in served.rest()
    finally:
        served.close()
    assert (tmp_path / "dv" / "dataverse.db").exists()
    # the same data folder keeps its credentials and its data across starts
    again = Served("--data", str(tmp_path / "dv"), "--http")
    try:
        assert again.printed["token"] == token
        assert again.printed["url"].startswith("http://")
        with httpx.Client() as client:
            rows = client.get(
                f"{again.printed['url']}/api/data/v9.2/accounts?$select=name",
                headers={"Authorization": f"Bearer {token}"},
            ).json()["value"]
        assert [r["name"] for r in rows] == ["From the CLI test"]
        again.process.terminate()
        assert again.process.wait(timeout=READY_TIMEOUT) == 0
    finally:
        again.close()


def test_a_port_in_use_is_one_clear_error(dv) -> None:
    port = dv.url.rsplit(":", 1)[1]
    result = accord("dev", "dataverse", "--port", port)
    assert result.exit_code == 2, explain(result)
    assert f"error: cannot use 127.0.0.1:{port}: Address already in use" in plain(result.stderr)
    assert "Traceback" not in result.stderr


def test_sample_data_is_the_demos_crm(tmp_path: Path) -> None:
    served = Served("--sample", "40", "--http")
    try:
        url, token = served.printed["url"], served.printed["token"]
        with httpx.Client() as client:
            body = client.get(
                f"{url}/api/data/v9.2/accounts",
                params={"$count": "true", "$select": "name", "$top": "1"},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
        assert body["@odata.count"] > 0
    finally:
        served.close()
