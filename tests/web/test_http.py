"""Every route of the browser UI over real HTTP (uvicorn on loopback, httpx), with what the
databases hold after each action; the token and CSRF refusals."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import timedelta

import httpx

from accord.state import StateStore
from accord.state.tables import as_key
from accord.web.security import COOKIE, csrf_token
from tests.cli.support import Demo, edit_both_sides, utc_now_text
from tests.web.support import TOKEN, Served

PAGES = {
    "/": "Integration Table Mappings",
    "/mappings/CUSTOMER": "Field mappings",
    "/mappings/CUSTOMER/records/local": "erp.customer",
    "/mappings/CUSTOMER/records/integration": "crm.account",
    "/mappings/CUSTOMER/counterparts?side=integration&q=": "Not yet coupled",
    "/mappings/CUSTOMER/records/local/C00001/history": "History of C00001",
    "/jobs": "Synchronization Jobs",
    "/errors": "Coupled Data Synchronization Errors",
    "/conflicts": "no open conflicts",
    "/review": "Full Sync Review",
    "/tasks": "",
}


def state(demo: Demo, sql: str, *params: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(demo.directory / ".accord" / "state.db")) as conn:
        return conn.execute(sql, params).fetchall()


def couplings(demo: Demo, mapping: str = "CUSTOMER") -> dict[str, str]:
    rows = state(
        demo, "SELECT local_key, integration_key FROM accord_couplings WHERE mapping = ?", mapping
    )
    return {as_key(a): as_key(b) for a, b in rows}


def test_every_page_answers(served: Served) -> None:
    for path, text in PAGES.items():
        response = served.client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert text in response.text, path
    job_id = state(served.demo, "SELECT id FROM accord_jobs LIMIT 1")[0][0]
    page = served.client.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and "Errors" in page.text
    assert served.client.get("/static/htmx.min.js").text.startswith("/*! htmx 2.0.11")
    assert "font" in served.client.get("/static/accord.css").text


def test_mappings_page_shows_the_counts_and_recent_runs(served: Served) -> None:
    page = served.client.get("/").text
    coupled = len(couplings(served.demo))
    row = page[page.index('id="mapping-CUSTOMER"') :]
    row = row[: row.index("</tr>")]
    assert f'<td class="num coupled">{coupled}</td>' in row
    assert '<svg class="chart"' in row and "<rect" in row
    # dependency order: CURRENCY before CUSTOMER, which its lookups need
    assert page.index('id="mapping-CURRENCY"') < page.index('id="mapping-CUSTOMER"')


def test_unknown_things_are_one_sentence(served: Served) -> None:
    assert served.client.get("/mappings/NOPE").status_code == 400
    assert "NOPE" in served.client.get("/mappings/NOPE").text
    assert served.client.get("/mappings/CUSTOMER/records/sideways").status_code == 400
    assert served.client.get("/jobs/ffffffff").status_code == 400
    assert served.client.get("/tasks/nope").status_code == 404
    response = served.client.post("/actions/fly", data={})
    assert response.status_code == 400 and "no action" in response.text


def test_records_search_paging_and_coupled_filter(served: Served) -> None:
    demo = served.demo
    name = demo.scalar("erp", "SELECT name FROM customer WHERE no = 'C00002'")
    found = served.client.get(
        "/mappings/CUSTOMER/records/local", params={"q": name.lower()[:12]}
    ).text
    assert 'data-key="C00002"' in found
    first = served.client.get("/mappings/CUSTOMER/records/local").text
    assert "next →" in first
    second = served.client.get("/mappings/CUSTOMER/records/local", params={"offset": "25"}).text
    keys = {k.split('"')[1] for k in first.split("data-key=")[1:]}
    later = {k.split('"')[1] for k in second.split("data-key=")[1:]}
    assert keys and later and not keys & later
    demo.execute(
        "erp",
        "INSERT INTO customer (no, name, last_modified) VALUES ('Z9', 'Lonely', ?)",
        utc_now_text(),
    )
    uncoupled = served.client.get("/mappings/CUSTOMER/records/local", params={"coupled": "no"}).text
    assert 'data-key="Z9"' in uncoupled and 'data-key="C00001"' not in uncoupled


def test_no_token_no_page(served: Served) -> None:
    with httpx.Client(base_url=served.url) as bare:
        no_token(bare)


def no_token(bare: httpx.Client) -> None:
    for path in ("/", "/jobs", "/static/accord.css"):
        response = bare.get(path)
        assert response.status_code == 401 and "token" in response.text
    assert bare.get("/", params={"token": "wrong"}).status_code == 401
    assert bare.post("/actions/sync", data={"mapping": "CUSTOMER"}).status_code == 401
    first = bare.get("/errors", params={"token": TOKEN}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/errors"
    assert "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    assert bare.get("/errors").status_code == 200  # the cookie from now on
    assert TOKEN not in bare.get("/").text  # the token is never shown


def test_posts_need_the_csrf_token_and_this_origin(served: Served) -> None:
    demo = served.demo
    with httpx.Client(base_url=served.url, cookies={COOKIE: TOKEN}) as no_csrf:
        refused_posts(demo, no_csrf)


def refused_posts(demo: Demo, no_csrf: httpx.Client) -> None:
    before = state(demo, "SELECT count(*) FROM accord_jobs")
    refused = no_csrf.post("/actions/delete-couplings", data={"mapping": "CUSTOMER"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = no_csrf.post(
        "/actions/delete-couplings", data={"mapping": "CUSTOMER", "csrf": "0" * 64}
    )
    assert wrong.status_code == 403
    other_site = no_csrf.post(
        "/actions/delete-couplings",
        data={"mapping": "CUSTOMER", "csrf": csrf_token(TOKEN)},
        headers={"Origin": "http://evil.example"},
    )
    assert other_site.status_code == 403 and "another site" in other_site.text
    assert state(demo, "SELECT count(*) FROM accord_jobs") == before
    assert couplings(demo)  # nothing was uncoupled
    # the form field is accepted as well as the header
    ok = no_csrf.post("/actions/sync", data={"mapping": "CURRENCY", "csrf": csrf_token(TOKEN)})
    assert ok.status_code == 202


def test_sync_preview_writes_nothing_then_sync_writes(served: Served) -> None:
    demo = served.demo
    local = next(iter(couplings(demo)))
    remote = couplings(demo)[local]
    demo.execute(
        "erp",
        "UPDATE customer SET city = 'Tromsø', last_modified = ? WHERE no = ?",
        utc_now_text(),
        local,
    )
    preview = served.act("sync", {"mapping": "CUSTOMER", "preview": "1"})
    assert "Preview" in preview and "1 modified" in preview
    assert (
        demo.scalar("crm", "SELECT address1_city FROM account WHERE accountid = ?", remote)
        != "Tromsø"
    )
    done = served.act("sync", {"mapping": "CUSTOMER"})
    assert 'data-kind="RunResult"' in done and "Done." in done
    assert (
        demo.scalar("crm", "SELECT address1_city FROM account WHERE accountid = ?", remote)
        == "Tromsø"
    )


def test_couple_and_uncouple_and_sync_records(served: Served) -> None:
    demo = served.demo
    local, remote = next(iter(couplings(demo).items()))
    out = served.act("uncouple", {"mapping": "CUSTOMER", "key": local})
    assert 'data-kind="Job"' in out and local not in couplings(demo)
    out = served.act(
        "couple",
        {"mapping": "CUSTOMER", "local": local, "integration": remote, "sync": "to-integration"},
    )
    assert 'data-kind="CoupleResult"' in out and couplings(demo)[local] == remote
    demo.execute(
        "crm",
        "UPDATE account SET name = 'From the CRM', modifiedon = ? WHERE accountid = ?",
        utc_now_text(),
        remote,
    )
    out = served.act(
        "sync-records", {"mapping": "CUSTOMER", "key": local, "direction": "from-integration"}
    )
    assert "Done." in out
    assert demo.scalar("erp", "SELECT name FROM customer WHERE no = ?", local) == "From the CRM"
    refused = served.client.post("/actions/sync-records", data={"mapping": "CUSTOMER"})
    assert refused.status_code == 400 and "select the records" in refused.text


def test_couple_create_new(served: Served) -> None:
    demo = served.demo
    demo.execute(
        "erp",
        "INSERT INTO customer (no, name, last_modified) VALUES ('Z1', 'New Co', ?)",
        utc_now_text(),
    )
    out = served.act("couple", {"mapping": "CUSTOMER", "local": "Z1", "create_new": "1"})
    assert "(created)" in out
    remote = couplings(demo)["Z1"]
    assert demo.scalar("crm", "SELECT name FROM account WHERE accountid = ?", remote) == "New Co"


def test_delete_couplings_and_match_them_back(served: Served) -> None:
    demo = served.demo
    before = couplings(demo)
    preview = served.act("delete-couplings", {"mapping": "CUSTOMER", "preview": "1"})
    assert "Preview" in preview and couplings(demo) == before
    served.act("delete-couplings", {"mapping": "CUSTOMER"})
    assert couplings(demo) == {}
    out = served.act("match", {"mapping": "CUSTOMER", "sync_after": "1"})
    assert 'data-kind="MatchResult"' in out
    assert couplings(demo) == before


def test_errors_retry_restore_delete(served: Served) -> None:
    demo = served.demo
    pairs = list(couplings(demo).items())[:3]
    for _, remote in pairs:
        demo.execute("crm", "DELETE FROM account WHERE accountid = ?", remote)
    for _ in range(2):  # the same error twice: quarantined (skipped)
        served.act("full-sync", {"mapping": "CUSTOMER"})
    page = served.client.get("/errors").text
    for local, _ in pairs:
        assert f'data-key="{local}"' in page
    skipped = state(demo, "SELECT local_key FROM accord_couplings WHERE skipped = 1")
    assert {str(r[0]) for r in skipped} == {p[0] for p in pairs}

    (a, _), (b, _), (c, _) = pairs
    served.act("retry", {"mapping": "CUSTOMER", "key": a})
    assert state(demo, "SELECT skipped FROM accord_couplings WHERE local_key = ?", a) == [(0,)]
    out = served.act("restore", {"mapping": "CUSTOMER", "key": b})
    assert "restored" in out
    new = couplings(demo)[b]
    assert demo.scalar("crm", "SELECT count(*) FROM account WHERE accountid = ?", new) == 1
    out = served.act("delete", {"mapping": "CUSTOMER", "key": c})
    assert "deleted" in out
    assert demo.scalar("erp", "SELECT count(*) FROM customer WHERE no = ?", c) == 0
    out = served.act("retry", {"all": "1"})
    assert 'data-kind="RepairResult"' in out


def test_conflict_listed_and_resolved(served: Served) -> None:
    demo = served.demo
    local, _ = edit_both_sides(demo, next(iter(couplings(demo).items())))
    served.act("sync", {"mapping": "CUSTOMER"})
    page = served.client.get("/conflicts").text
    assert f'data-key="{local}"' in page and "Bergen" in page and "Milan" in page
    served.act("resolve", {"mapping": "CUSTOMER", "key": local, "winner": "get"})
    assert demo.scalar("erp", "SELECT city FROM customer WHERE no = ?", local) == "Milan"
    assert "no open conflicts" in served.client.get("/conflicts").text


def test_a_mapping_another_run_holds_cannot_be_started(served: Served) -> None:
    store = StateStore(f"sqlite:///{served.demo.directory / '.accord' / 'state.db'}")
    try:
        store.acquire_leases(["CUSTOMER"], "someone-else", timedelta(minutes=5))
        refused = served.client.post("/actions/sync", data={"mapping": "CUSTOMER"})
        assert refused.status_code == 409 and "another run" in refused.text
        store.release_leases("someone-else")
        assert served.client.post("/actions/sync", data={"mapping": "CUSTOMER"}).status_code == 202
    finally:
        store.close()


def test_history_of_a_failed_record(served: Served) -> None:
    demo = served.demo
    local, remote = next(iter(couplings(demo).items()))
    demo.execute("crm", "DELETE FROM account WHERE accountid = ?", remote)
    served.act("full-sync", {"mapping": "CUSTOMER"})
    page = served.client.get(f"/mappings/CUSTOMER/records/local/{local}/history").text
    assert "coupled to a deleted record" in page and remote in page


def test_an_action_cannot_start_twice_and_a_reload_finds_it(served: Served) -> None:
    release = threading.Event()

    def held(project: object, task: object) -> str:
        release.wait(60)
        return "released"

    running = served.tasks.start("Held Action", ["CUSTOMER"], held)
    try:
        again = served.client.post("/actions/sync", data={"mapping": "CUSTOMER"})
        assert again.status_code == 409 and "Held Action is still running" in again.text
        # another mapping is free
        assert served.client.post("/actions/sync", data={"mapping": "CURRENCY"}).status_code == 202
        # every page lists the running action; its own page shows it
        assert "Held Action" in served.client.get("/").text
        assert served.client.get(f"/tasks/{running.id}").status_code == 200
    finally:
        release.set()
    served.finished(running.id)
    assert served.client.post("/actions/sync", data={"mapping": "CUSTOMER"}).status_code == 202
