"""The pages in a real browser: Debian's Chromium driven by Playwright, against a served copy
of the demo. Each test clicks as a person would, then checks what the page shows and what
the databases hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.support import edit_both_sides, utc_now_text
from tests.web.browser import launch
from tests.web.support import TOKEN, Served
from tests.web.test_http import couplings, state

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

TIMEOUT = 60_000
"""Milliseconds a step waits at most for what it expects (a hung page fails the test)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()  # type: ignore[misc]


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT)
    tab.goto(f"{served.url}/?token={TOKEN}")  # the cookie from here on
    yield tab
    context.close()


def done(page: Page) -> Any:
    """The result of the action just started: its task panel once it ended."""
    task = page.locator("#result .task[data-state=done], #result .task[data-state=failed]")
    task.wait_for()
    return task


def test_couple_one_record_by_search(page: Page, served: Served) -> None:
    demo = served.demo
    local, remote = next(iter(couplings(demo).items()))
    served.act("uncouple", {"mapping": "CUSTOMER", "key": local})
    name = demo.scalar("crm", "SELECT name FROM account WHERE accountid = ?", remote)

    page.goto(f"{served.url}/mappings/CUSTOMER/records/local")
    page.get_by_label(f"select {local}", exact=True).check()
    page.get_by_role("button", name="Set Up Coupling…").click()
    page.get_by_label("Find the counterpart in crm.account").fill(name)
    page.locator(f"#counterparts input[value='{remote}']").check()
    page.get_by_label("Then synchronize").select_option("to-integration")
    page.get_by_role("button", name="Couple", exact=True).click()

    result = done(page)
    assert f"Coupled {local} to {remote}" in result.inner_text()
    assert couplings(demo)[local] == remote


def test_sync_now_with_a_direction_choice(page: Page, served: Served) -> None:
    demo = served.demo
    local, remote = next(iter(couplings(demo).items()))
    demo.execute(
        "crm",
        "UPDATE account SET name = 'Chosen Direction AG', modifiedon = ? WHERE accountid = ?",
        utc_now_text(),
        remote,
    )
    page.goto(f"{served.url}/mappings/CUSTOMER/records/local?q={local}")
    page.get_by_label(f"select {local}", exact=True).check()
    page.get_by_label("Direction").select_option("from-integration")
    page.get_by_role("button", name="Synchronize Now").click()

    result = done(page)
    assert "1 record(s) written" in result.inner_text()
    assert "CUSTOMER ←" in result.inner_text()
    assert demo.scalar("erp", "SELECT name FROM customer WHERE no = ?", local) == (
        "Chosen Direction AG"
    )


def test_match_based_coupling_from_the_dialog(page: Page, served: Served) -> None:
    demo = served.demo
    before = couplings(demo)
    served.act("delete-couplings", {"mapping": "CUSTOMER"})
    assert couplings(demo) == {}

    page.goto(served.url)
    row = page.locator("#mapping-CUSTOMER")
    row.get_by_role("button", name="Match-Based Coupling…").click()
    dialog = page.locator("#match-CUSTOMER")
    dialog.get_by_role("button", name="Couple", exact=True).click()

    result = done(page)
    assert f"{len(before)} coupled" in result.inner_text()
    assert couplings(demo) == before
    page.reload()
    assert page.locator("#mapping-CUSTOMER td.coupled").inner_text() == str(len(before))


def test_resolve_a_conflict(page: Page, served: Served) -> None:
    demo = served.demo
    local, remote = edit_both_sides(demo, next(iter(couplings(demo).items())))
    served.act("sync", {"mapping": "CUSTOMER"})

    page.goto(f"{served.url}/conflicts")
    conflict = page.locator(f".conflict[data-key='{local}']")
    assert conflict.locator("td.local").inner_text() == "Bergen"
    assert conflict.locator("td.integration").inner_text() == "Milan"
    conflict.get_by_role("button", name="Send (local wins)").click()

    done(page)
    assert demo.scalar("crm", "SELECT address1_city FROM account WHERE accountid = ?", remote) == (
        "Bergen"
    )
    page.reload()
    assert page.get_by_text("no open conflicts").is_visible()


def test_retry_a_skipped_record(page: Page, served: Served) -> None:
    demo = served.demo
    local, remote = next(iter(couplings(demo).items()))
    demo.execute("crm", "DELETE FROM account WHERE accountid = ?", remote)
    for _ in range(2):
        served.act("full-sync", {"mapping": "CUSTOMER"})
    skipped = "SELECT skipped FROM accord_couplings WHERE mapping = 'CUSTOMER' AND local_key = ?"
    assert state(demo, skipped, local) == [(1,)]

    page.goto(f"{served.url}/errors")
    row = page.locator(f"tr[data-key='{local}']")
    assert "skipped" in row.inner_text()
    row.get_by_role("button", name=f"Retry {local}").click()

    result = done(page)
    assert "retried" in result.inner_text()
    assert state(demo, skipped, local) == [(0,)]


def test_watch_a_full_sync_progress(page: Page, served: Served) -> None:
    demo = served.demo
    for n in range(300):
        demo.execute(
            "erp",
            "INSERT INTO customer (no, name, city, last_modified) VALUES (?, ?, 'Oslo', ?)",
            f"W{n:04}",
            f"Watched {n}",
            utc_now_text(),
        )
    page.goto(f"{served.url}/review")
    page.get_by_role("button", name="Run Full Synchronization").click()
    # the task panel shows its passes as they start, then the result
    page.locator("#result .task table.progress").wait_for()
    result = done(page)
    text = result.inner_text()
    assert "CUSTOMER →" in text and "done" in text
    assert result.locator("progress").count() >= 1
    created = demo.scalar("crm", "SELECT count(*) FROM account WHERE name LIKE 'Watched %'")
    assert created == 300
    assert all(k in couplings(demo) for k in ("W0000", "W0299"))
    # the task's own page survives a reload (and a new tab)
    task_id = result.get_attribute("id").removeprefix("task-")  # type: ignore[union-attr]
    page.goto(f"{served.url}/tasks/{task_id}")
    assert page.inner_text("h1") == "Run Full Synchronization"
    assert "CUSTOMER →" in page.inner_text(".task")
