"""``accord serve`` as a user starts it: a real process, the URL with the token it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx

from accord.cli.serve import serve_url
from tests.cli.support import Demo

URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)")


def test_serve_prints_a_token_url_on_loopback_and_needs_it(demo: Demo) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ACCORD_CONFIG", "ACCORD_WEB_TOKEN")}
    env.update({"NO_COLOR": "1", "COLUMNS": "300"})
    with subprocess.Popen(
        [sys.executable, "-m", "accord", "serve", "--port", "0", "-c", str(demo.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            check_served(process)
        finally:
            process.terminate()
            process.wait(timeout=30)


def check_served(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    found = URL.search(line)
    assert found, f"no URL in {line!r}"
    port, token = found.groups()
    assert len(token) >= 24
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.get("/").status_code == 401
        first = client.get("/", params={"token": token}, follow_redirects=True)
        assert first.status_code == 200 and first.url.query == b""  # redirected, cookie set
        page = client.get("/")
        assert page.status_code == 200 and "CUSTOMER" in page.text
        assert token not in page.text


def test_a_broken_configuration_is_one_sentence(demo: Demo) -> None:
    demo.replace_in_config('table = "erp.customer"', 'table = "erp.nosuchtable"')
    result = subprocess.run(
        [sys.executable, "-m", "accord", "serve", "--port", "0", "-c", str(demo.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "nosuchtable" in result.stderr and "Traceback" not in result.stderr


def test_the_url_brackets_an_ipv6_host() -> None:
    assert serve_url("::1", 8765, "t") == "http://[::1]:8765/?token=t"
    assert serve_url("127.0.0.1", 8765, "t") == "http://127.0.0.1:8765/?token=t"
