"""Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("ACCORD_TEST_CHROMIUM", "/usr/bin/chromium"))


def require_chromium() -> Path:
    """The Chromium executable; a skip that says why elsewhere, a failure in CI."""
    reason = None
    if not CHROMIUM.is_file():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[test]')"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        print(f"skipping the browser tests: {reason}")
        pytest.skip(reason)
    return CHROMIUM


def launch() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(executable), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()
