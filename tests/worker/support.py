"""Workers for the tests: real ``accord worker`` processes on the real Redis or RabbitMQ.

Every test gets its own queue, so tests running side by side (xdist) never take each other's
tasks; its workers are stopped (and the queue deleted) at teardown. A broker that does not
answer skips the test with the reason, or fails it when ``CI=true``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from accord.demo import build_demo
from accord.worker.app import Broker, close_app, make_app
from tests.reliability.kill_support import child_env

BROKERS = {
    "redis": os.environ.get("ACCORD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "rabbitmq": os.environ.get("ACCORD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
ACCORD = [sys.executable, "-m", "accord"]
VISIBILITY_TIMEOUT = 8.0
"""Redis: how soon a task of a killed worker is handed out again (RabbitMQ: at once)."""


def broker_url(kind: str) -> str:
    url = BROKERS[kind]
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 3):
            pass
    except OSError as exc:
        message = f"{kind} not reachable at {parts.hostname}:{parts.port}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def demo_world(directory: Path, state_url: str, *, records: int, extra: str = "") -> Path:
    """The demo world with its state store at ``state_url`` and small ranges per task."""
    config = build_demo(directory, records=records, seed=42).config_path
    text = config.read_text()
    default = 'url = "sqlite:///.accord/state.db"'
    assert default in text
    text = text.replace(default, f'url = "{state_url}"', 1)
    text += f"\n[workers]\nvisibility_timeout = {VISIBILITY_TIMEOUT}\n{extra}"
    config.write_text(text)
    return config


@dataclass
class Workers:
    """``accord worker`` processes on one queue; :meth:`start` adds one."""

    config: Path
    url: str
    queue: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:10]}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def broker(self) -> Broker:
        backend = self.url if self.url.startswith("redis") else "rpc://"
        return Broker(self.url, backend, self.queue, VISIBILITY_TIMEOUT)

    def options(self) -> list[str]:
        return ["--broker", self.url, "--queue", self.queue, "--loglevel", "INFO"]

    def start(self) -> subprocess.Popen[bytes]:
        return self.start_with(child_env())

    def start_with(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.config.parent / f"worker-{len(self.processes)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*ACCORD, "worker", "-c", str(self.config), *self.options()],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {i}:\n{(self.config.parent / f'worker-{i}.log').read_text()[-3000:]}"
            for i in range(len(self.processes))
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until every worker says it is ready: a task sent before the second worker listens
        would all go to the first, and a test of sharing would measure start-up times."""
        deadline = time.monotonic() + timeout
        for i, process in enumerate(self.processes):
            log = self.config.parent / f"worker-{i}.log"
            while " ready." not in (log.read_text(errors="replace") if log.exists() else ""):
                assert process.poll() is None, f"worker {i} exited\n{self.logs()}"
                assert time.monotonic() < deadline, f"worker {i} not ready\n{self.logs()}"
                time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        app = make_app(self.broker)
        try:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(self.queue)
        except Exception:  # the queue is gone already, or the broker is: nothing left to tidy
            pass
        close_app(app)


@contextmanager
def workers(config: Path, url: str, count: int) -> Iterator[Workers]:
    running = Workers(config, url)
    try:
        for _ in range(count):
            running.start()
        running.wait_ready()
        yield running
    finally:
        running.stop()
