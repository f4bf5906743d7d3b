"""``accord run`` and ``accord status`` on the demo: due times, backoff, order, leases, signals.

No timing assertions: ``--once`` with due times written into the state store, and for the
live loop a 1-second interval, read through its JSON event lines.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.cli.support import Demo, accord, accord_json, executable, explain, plain, utc_now_text

DEPENDENCY_ORDER = [
    "CURRENCY",
    "SALESPEOPLE",
    "UNITOFMEASURE",
    "CUSTOMER",
    "CONTACT",
    "ITEM-PRODUCT",
    "RESOURCE-PRODUCT",
]


def schedule(demo: Demo, lines: str) -> None:
    """Give the demo a [schedule] section (every mapping scheduled)."""
    text = demo.config.read_text(encoding="utf-8")
    demo.config.write_text(text.replace("[state]", f"[schedule]\n{lines}\n[state]", 1))


def state(demo: Demo, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(demo.directory / ".accord" / "state.db")) as conn, conn:
        return conn.execute(sql, params).fetchall()


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def make_due(demo: Demo, *mappings: str, ago: int = 1) -> None:
    """Every mapping not named runs in an hour; the named ones were due ``ago`` seconds ago."""
    later = stamp(datetime.now(UTC) + timedelta(hours=1))
    state(demo, "UPDATE accord_schedule SET next_run_at = ?", later)
    for i, m in enumerate(mappings):
        due = stamp(datetime.now(UTC) - timedelta(seconds=ago + i))
        state(demo, "UPDATE accord_schedule SET next_run_at = ? WHERE mapping = ?", due, m)


def events(*args: str) -> list[dict[str, Any]]:
    result = accord(*args, "--json")
    assert result.exit_code == 0, explain(result)
    return [json.loads(line) for line in result.stdout.splitlines()]


def status(demo: Demo) -> dict[str, dict[str, Any]]:
    return {e["mapping"]: e for e in accord_json("status", "-c", demo.config)["mappings"]}


def touch_customer(demo: Demo, no: str = "C00001", city: str = "Scheduled City") -> None:
    changed = demo.execute(
        "erp",
        "UPDATE customer SET city = ?, last_modified = ? WHERE no = ?",
        city,
        utc_now_text(),
        no,
    )
    assert changed == 1


def test_once_runs_every_mapping_first_and_an_idle_run_holds_for_the_backoff(demo):
    schedule(demo, 'every = "30m"\nidle_backoff = "12h"')
    ran = events("run", "--once", "-c", str(demo.config))
    started = [e for e in ran if e["event"] == "started"]
    assert [e["mappings"] for e in started] == [DEPENDENCY_ORDER]  # one run, in order
    finished = next(e for e in ran if e["event"] == "finished")
    assert {r["result"] for r in finished["results"].values()} == {"idle"}
    rows = status(demo)
    assert {m: r["interval_seconds"] for m, r in rows.items()} == dict.fromkeys(
        DEPENDENCY_ORDER, 43200.0
    )
    # nothing is due any more: a second --once runs nothing
    assert [e["event"] for e in events("run", "--once", "-c", str(demo.config))] == ["stopped"]


def test_activity_resets_the_interval_and_only_due_mappings_run(demo):
    schedule(demo, 'every = "30m"')
    events("run", "--once", "-c", str(demo.config))  # all idle: on hold for 12h
    touch_customer(demo)
    make_due(demo, "CUSTOMER")
    ran = events("run", "--once", "-c", str(demo.config))
    assert [e["mappings"] for e in ran if e["event"] == "started"] == [["CUSTOMER"]]
    result = next(e for e in ran if e["event"] == "finished")["results"]["CUSTOMER"]
    assert (result["result"], result["records"], result["failed"]) == ("ok", 1, 0)
    assert result["interval_seconds"] == 1800.0  # back to every 30 minutes
    rows = status(demo)
    assert rows["CUSTOMER"]["interval_seconds"] == 1800.0
    assert rows["CUSTOMER"]["idle_runs"] == 0
    assert rows["CURRENCY"]["interval_seconds"] == 43200.0
    assert rows["CURRENCY"]["runs"] == 1
    assert demo.scalar(
        "crm", "SELECT address1_city FROM account WHERE accountnumber = 'C00001'"
    ) == ("Scheduled City")
    # then idle again: on hold again
    make_due(demo, "CUSTOMER")
    again = events("run", "--once", "-c", str(demo.config))
    assert (
        next(e for e in again if e["event"] == "finished")["results"]["CUSTOMER"][
            "interval_seconds"
        ]
        == 43200.0
    )


def test_due_mappings_run_in_dependency_order_whatever_was_due_first(demo):
    schedule(demo, 'every = "30m"')
    events("run", "--once", "-c", str(demo.config))
    make_due(demo, "CONTACT", "CUSTOMER", "CURRENCY")  # CONTACT due first, CURRENCY last
    ran = events("run", "--once", "-c", str(demo.config))
    assert [e["mappings"] for e in ran if e["event"] == "started"] == [
        ["CURRENCY", "CUSTOMER", "CONTACT"]
    ]
    run_id = next(e for e in ran if e["event"] == "finished")["run_id"]
    jobs = state(
        demo, "SELECT mapping FROM accord_jobs WHERE run_id = ? ORDER BY started_at", run_id
    )
    assert list(dict.fromkeys(m for (m,) in jobs)) == ["CURRENCY", "CUSTOMER", "CONTACT"]


def test_a_mapping_leased_elsewhere_is_skipped_with_a_message(demo):
    schedule(demo, 'every = "30m"')
    events("run", "--once", "-c", str(demo.config))
    make_due(demo, "CURRENCY", "CUSTOMER")
    since = stamp(datetime.now(UTC))
    until = stamp(datetime.now(UTC) + timedelta(minutes=5))
    # another run (this test's own process, alive) holds CUSTOMER
    state(
        demo,
        "INSERT INTO accord_leases VALUES ('CUSTOMER', 'other-run', ?, ?, ?, ?)",
        socket.gethostname(),
        os.getpid(),
        since,
        until,
    )
    rows = status(demo)
    assert rows["CUSTOMER"]["lease"]["pid"] == os.getpid()
    assert rows["CURRENCY"]["lease"] is None
    result = accord("status", "-c", demo.config)
    assert f"process {os.getpid()} on {socket.gethostname()}" in plain(result.stdout)
    ran = events("run", "--once", "-c", str(demo.config))
    skipped = [e for e in ran if e["event"] == "skipped"]
    assert [e["mapping"] for e in skipped] == ["CUSTOMER"]
    assert f"process {os.getpid()}" in skipped[0]["reason"]
    assert "another run" in skipped[0]["reason"]
    assert [e["mappings"] for e in ran if e["event"] == "started"] == [["CURRENCY"]]
    # the skipped mapping is retried soon (within its interval), not after the backoff
    retry = datetime.fromisoformat(status(demo)["CUSTOMER"]["next_run_at"])
    assert retry <= datetime.now(UTC) + timedelta(seconds=31)
    # in a table too
    make_due(demo, "CUSTOMER")
    shown = accord("run", "--once", "-c", demo.config)
    assert shown.exit_code == 0, explain(shown)
    assert "skipped" in plain(shown.stdout)
    assert "being worked on by another run" in plain(shown.stdout)


def test_run_without_any_schedule_says_so(demo):
    result = accord("run", "--once", "-c", demo.config)
    assert result.exit_code == 2
    assert "no mapping is scheduled" in result.stderr


def test_status_table_lists_unscheduled_mappings(demo):
    text = demo.config.read_text(encoding="utf-8")
    demo.config.write_text(text.replace('name = "CURRENCY"\n', 'name = "CURRENCY"\nevery = "5m"\n'))
    result = accord("status", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    lines = plain(result.stdout)
    assert "every 5m" in lines
    assert "due now" in lines
    assert "not scheduled" in lines
    data = accord_json("status", "-c", demo.config)
    assert [e["mapping"] for e in data["mappings"]] == ["CURRENCY"]
    assert [e["mapping"] for e in data["unscheduled"]] == DEPENDENCY_ORDER[1:]


# -- the live loop, as a real process ---------------------------------------------------------


def start_run(demo: Demo, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [executable(), "run", "--json", "-c", str(demo.config), *args],
        cwd=demo.directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def read_until(process: subprocess.Popen[str], kind: str, count: int = 1) -> list[dict[str, Any]]:
    """Event lines until the ``count``-th of ``kind`` (the process must not end first)."""
    seen: list[dict[str, Any]] = []
    assert process.stdout is not None
    while sum(e["event"] == kind for e in seen) < count:
        line = process.stdout.readline()
        assert line, (
            f"accord run ended early: {seen}\n{process.stderr.read() if process.stderr else ''}"
        )
        seen.append(json.loads(line))
    return seen


def test_the_loop_runs_ticks_and_stops_cleanly_on_sigterm(demo):
    schedule(demo, 'every = "1s"\nidle_backoff = "off"')
    process = start_run(demo)
    try:
        seen = read_until(process, "finished", 2)
        # accord status from another process, while accord run works
        rows = status(demo)
        assert all(rows[m]["runs"] >= 1 for m in DEPENDENCY_ORDER)
        assert {rows[m]["interval_seconds"] for m in DEPENDENCY_ORDER} == {1.0}
        process.send_signal(signal.SIGTERM)
        out, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    last = json.loads(out.splitlines()[-1])
    assert last["event"] == "stopped"
    assert (last["reason"], last["interrupted"]) == ("SIGTERM", False)
    assert len([e for e in seen if e["event"] == "finished"]) == 2
    jobs = accord_json("jobs", "-n", "500", "-c", demo.config)
    assert not [j for j in jobs if j["status"] == "running"]
    assert state(demo, "SELECT count(*) FROM accord_leases") == [(0,)]


def add_customers(demo: Demo, count: int) -> None:
    """New ERP customers, which CUSTOMER creates in the CRM (made to sync uncoupled ones)."""
    demo.replace_in_config("min_priority = 1\n", "min_priority = 1\nsync_only_coupled = false\n")
    now = utc_now_text()
    with closing(sqlite3.connect(demo.directory / "erp.db")) as conn, conn:
        conn.executemany(
            "INSERT INTO customer (no, name, city, last_modified) VALUES (?, ?, 'Added', ?)",
            [(f"K{i:06d}", f"Added customer {i}", now) for i in range(count)],
        )


def test_a_signal_during_a_batch_lets_it_finish(demo):
    schedule(demo, 'every = "1s"\nidle_backoff = "off"')
    add_customers(demo, 1000)
    process = start_run(demo)
    try:
        read_until(process, "started")
        process.send_signal(signal.SIGINT)
        out, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in lines[-2:]] == ["finished", "stopped"]
    assert lines[-1]["interrupted"] is False
    assert demo.scalar("crm", "SELECT count(*) FROM account WHERE address1_city = 'Added'") == 1000
    jobs = accord_json("jobs", "-n", "500", "-c", demo.config)
    assert not [j for j in jobs if j["status"] in ("running", "interrupted")]


@pytest.mark.parametrize(
    ("first", "second"), [(signal.SIGTERM, signal.SIGINT), (signal.SIGINT, signal.SIGTERM)]
)
def test_a_second_signal_interrupts_the_batch_and_its_jobs_say_so(demo, first, second):
    schedule(demo, 'every = "1s"\nidle_backoff = "off"')
    add_customers(demo, 3000)
    process = start_run(demo)
    try:
        read_until(process, "started")
        process.send_signal(first)  # the first: finish the batch, then stop
        while not state(demo, "SELECT id FROM accord_jobs WHERE status = 'running'"):
            assert process.poll() is None, "the batch ended before a job was seen running"
        process.send_signal(second)  # the second: stop now
        out, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, errors
    assert "interrupted" in errors
    last = json.loads(out.splitlines()[-1])
    assert (last["event"], last["interrupted"]) == ("stopped", True)
    jobs = accord_json("jobs", "-n", "500", "-c", demo.config)
    assert not [j for j in jobs if j["status"] == "running"]
    assert [j for j in jobs if j["status"] == "interrupted"]
    assert state(demo, "SELECT count(*) FROM accord_leases") == [(0,)]
    # the next run finishes the work, without a duplicate
    events("run", "--once", "-c", str(demo.config))
    assert demo.scalar("crm", "SELECT count(*) FROM account WHERE address1_city = 'Added'") == 3000


NEW = 3000


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_converges_without_duplicates(demo):
    schedule(demo, 'every = "1s"\nidle_backoff = "off"')
    accounts = demo.scalar("crm", "SELECT count(*) FROM account")
    add_customers(demo, NEW)
    process = start_run(demo)
    try:
        read_until(process, "started")
        # wait until the run has written part of the batch, then kill it without warning
        while demo.scalar("crm", "SELECT count(*) FROM account") == accounts:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
        process.kill()
        process.communicate(timeout=60)  # closes the pipes too
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    # killed mid-run: the records may be written, but the run had not finished
    assert state(demo, "SELECT count(*) FROM accord_jobs WHERE status = 'running'") != [(0,)]
    again = events("run", "--once", "-c", str(demo.config))
    finished = next(e for e in again if e["event"] == "finished")
    assert finished["results"]["CUSTOMER"]["failed"] == 0
    assert demo.scalar("crm", "SELECT count(*) FROM account") == accounts + NEW
    assert (
        demo.scalar(
            "crm",
            "SELECT count(DISTINCT accountnumber) FROM account WHERE accountnumber LIKE 'K0%'",
        )
        == NEW
    )
    couplings = state(
        demo,
        "SELECT count(*) FROM accord_couplings WHERE mapping = 'CUSTOMER' AND local_key LIKE 'K0%'",
    )
    assert couplings == [(NEW,)]
    jobs = accord_json("jobs", "-n", "500", "-c", demo.config)
    assert not [j for j in jobs if j["status"] == "running"]
    assert [j for j in jobs if j["status"] == "interrupted"]  # the killed run's, marked


def test_once_exits_1_when_a_run_fails_records_and_failures_count_as_activity(demo):
    schedule(demo, 'every = "30m"')
    events("run", "--once", "-c", str(demo.config))  # all idle: on hold
    changed = demo.execute(
        "erp",
        "UPDATE customer SET name = ?, last_modified = ? WHERE no = 'C00002'",
        "N" * 300,  # longer than the CRM's account name
        utc_now_text(),
    )
    assert changed == 1
    make_due(demo, "CUSTOMER")
    result = accord("run", "--once", "--json", "-c", demo.config)
    assert result.exit_code == 1, explain(result)
    ran = [json.loads(line) for line in result.stdout.splitlines()]
    customer = next(e for e in ran if e["event"] == "finished")["results"]["CUSTOMER"]
    assert (customer["result"], customer["failed"]) == ("failed", 1)
    assert customer["interval_seconds"] == 1800.0  # not held: the reference counts failures
    row = status(demo)["CUSTOMER"]
    assert (row["last_result"], row["last_failed"], row["idle_runs"]) == ("failed", 1, 0)
