"""Helpers for the browser UI's tests: a served copy of the demo, and actions run to the end."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from accord.services.common.server import BackgroundServer
from accord.web.app import create_app
from accord.web.security import COOKIE, csrf_token
from accord.web.tasks import Tasks
from tests.cli.support import Demo

TOKEN = "test-token-8f3a"
TASK_ID = re.compile(r'id="task-([0-9a-f-]{36})"')
STATE = re.compile(r'data-state="(\w+)"')
WAIT = 120.0
"""Seconds a test waits at most for a background task to end (a hung task fails the test)."""


@dataclass
class Served:
    demo: Demo
    url: str
    client: httpx.Client
    """Sends the access token's cookie and the CSRF header, like a page's htmx."""
    tasks: Tasks
    """The server's background tasks."""

    def act(self, action: str, data: dict[str, str | list[str]]) -> str:
        """POST an action, wait for its task to end, return the task's final HTML."""
        response = self.client.post(f"/actions/{action}", data=data)
        assert response.status_code == 202, response.text
        (task_id,) = set(TASK_ID.findall(response.text))
        return self.finished(task_id)

    def finished(self, task_id: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            page = self.client.get(f"/tasks/{task_id}", headers={"HX-Request": "true"})
            assert page.status_code == 200, page.text
            if STATE.search(page.text).group(1) != "running":  # type: ignore[union-attr]
                return page.text
            assert time.monotonic() < deadline, f"task {task_id} did not end in {WAIT} s"
            time.sleep(0.05)


@contextmanager
def serve(demo: Demo) -> Iterator[Served]:
    token = TOKEN
    app = create_app(demo.config, token)
    with (
        BackgroundServer(app) as server,
        httpx.Client(
            base_url=server.url,
            cookies={COOKIE: token},
            headers={"X-CSRF-Token": csrf_token(token)},
            timeout=60,
        ) as client,
    ):
        yield Served(demo, server.url, client, app.state.tasks)
