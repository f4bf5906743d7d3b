"""Benchmark 4: a full sync into the local Dataverse over HTTPS, and 100 changes after it.

Requests are counted on the service's side (``LocalDataverse.stats.by_kind``), so they are what
really crossed the wire, whatever the connector thinks it sent.

    python bench/http.py [--records 100000] [--changes 100] [--profile]

* **Floor client** — plain ``httpx`` (one client, keep-alive) reads the ERP rows with
  ``sqlite3`` and posts them to ``accounts/Microsoft.Dynamics.CRM.CreateMultiple`` by 1,000,
  mapped by hand, into a fresh service.
* **Engine** — ``project.sync(["CUSTOMER"], full=True)`` of the same rows into another fresh
  service: the to-integration pass creates the accounts, the from-integration pass reads them
  all back (the read figure).
* **100 changes** — after one settling run, 100 ERP customers get a new city; a fresh
  ``Project`` synchronizes ``CUSTOMER`` (load + sync + close timed) with 100,000 coupled.

Each service runs in a process of its own (``service_process.ServiceProcess``: the same
``LocalDataverse`` that ``accord dev dataverse`` serves), as real Dataverse is a remote service:
the floor client and the engine run in this process and do not share their interpreter (GIL)
with the service's request handling. The requests are counted by the service and read over a
control channel between timed phases.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sqlite3
import sys
import time
import uuid
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# This file is named like the standard library's http package: importing common moves the
# benchmarks' folder after the standard library, and only then may httpx (which imports the
# stdlib's http) be imported, hence its import inside floor_client.
sys.path.append(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from common import (
    Figure,
    Stopwatch,
    console,
    figures_table,
    fresh_dir,
    load_average,
    machine_line,
    markdown_table,
    problem,
    ratio,
    seconds,
    table,
)
from service_process import ServiceProcess

from accord.connectors.dataverse.writes import Writer
from accord.engine.project import Project

DEFAULT_RECORDS = 100_000
CHANGES = 100
BATCH = 1000
BENCH = "http"
BASE = datetime(2026, 1, 1)

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "sql"
url = "sqlite:///erp.db"

[systems.crm]
connector = "dataverse"
url = "{url}"
options = {{ token = "{token}", ca_bundle = "{ca}" }}

[tables."erp.customer"]
key = "no"
modified = "last_modified"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "bidirectional"
fields = [
  {{ field = "no", integration_field = "accountnumber" }},
  {{ field = "name", integration_field = "name" }},
  {{ field = "city", integration_field = "address1_city" }},
  {{ field = "credit_limit", integration_field = "creditlimit" }},
]
"""


def build_erp(path: Path, records: int) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE customer (no TEXT PRIMARY KEY, name TEXT, city TEXT, "
            "credit_limit NUMERIC, last_modified DATETIME)"
        )
        conn.executemany(
            "INSERT INTO customer VALUES (?, ?, ?, ?, ?)",
            (
                (
                    f"C{i:07d}",
                    f"Customer {i}",
                    f"City {i % 5000}",
                    f"{i}.50",
                    (BASE + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                )
                for i in range(records)
            ),
        )


def floor_client(erp: Path, dv: ServiceProcess) -> tuple[float, int]:
    """Read the ERP rows, post them by 1,000 with CreateMultiple; returns (seconds, posts)."""
    import httpx

    headers = {
        "Authorization": f"Bearer {dv.token}",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "Accept": "application/json",
    }
    posts = 0
    with Stopwatch() as watch:
        with closing(sqlite3.connect(erp)) as conn:
            rows = conn.execute("SELECT no, name, city, credit_limit FROM customer").fetchall()
        with httpx.Client(
            base_url=dv.api_url, headers=headers, verify=dv.ssl_context(), timeout=120
        ) as client:
            for start in range(0, len(rows), BATCH):
                targets = [
                    {
                        "@odata.type": "Microsoft.Dynamics.CRM.account",
                        "accountid": str(uuid.uuid4()),
                        "accountnumber": no,
                        "name": name,
                        "address1_city": city,
                        "creditlimit": float(credit),
                    }
                    for no, name, city, credit in rows[start : start + BATCH]
                ]
                answer = client.post(
                    "accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets}
                )
                answer.raise_for_status()
                posts += 1
    return watch.seconds, posts


def split(requests: Counter[str]) -> tuple[int, int]:
    """(reads, writes) among counted requests: GETs read, everything else writes."""
    reads = sum(n for kind, n in requests.items() if kind.startswith("GET "))
    return reads, sum(requests.values()) - reads


def kinds(requests: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(requests.items()))


class VersionReads:
    """Time the connector spends reading back the versions of the records it created (a
    read by keys after each ``CreateMultiple``): shown because it is the engine's largest cost
    here. ``seconds`` is every read's time, whichever thread made it (those of a write call
    of several requests run beside the next request); ``waited`` is the time the writing
    thread spent waiting for them (the part not hidden behind the next request)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.waited = 0.0
        self.calls = 0
        versions, collect, read_versions = Writer._versions, Writer._collect, Writer._read_versions
        bench = self

        def timed_versions(writer: Writer, keys: list[str]) -> Any:
            started = time.perf_counter()
            try:
                return versions(writer, keys)
            finally:
                bench.seconds += time.perf_counter() - started
                bench.calls += 1

        def timed_wait(method: Any) -> Any:
            def wait(writer: Writer, changes: Any, **options: Any) -> None:
                started = time.perf_counter()
                try:
                    method(writer, changes, **options)
                finally:
                    bench.waited += time.perf_counter() - started

            return wait

        Writer._versions = timed_versions  # type: ignore[method-assign]
        Writer._collect = timed_wait(collect)  # type: ignore[method-assign]
        Writer._read_versions = timed_wait(read_versions)  # type: ignore[method-assign]


def run(records: int, changes: int = CHANGES, profile: bool = False) -> list[Figure]:
    console.rule(f"[bold]Benchmark 4 — HTTP: {records:,} customers into the local Dataverse")
    console.print(f"Machine: {machine_line()}; load average {load_average()}")
    work = fresh_dir("http")
    erp = work / "erp.db"
    build_erp(erp, records)
    figures: list[Figure] = []

    with ServiceProcess.start(work / "floor") as floor_dv:
        floor_seconds, posts = floor_client(erp, floor_dv)
        if floor_dv.count("account") != records:
            problem(f"floor client: {floor_dv.count('account')} accounts, not {records}")
    console.print(f"floor client: {seconds(floor_seconds)}, {posts} requests")

    with ServiceProcess.start(work / "engine") as dv:
        (work / "accord.toml").write_text(
            CONFIG.format(url=dv.url, token=dv.token, ca=dv.ca_file), encoding="utf-8"
        )
        dv.reset()
        version_reads = VersionReads()
        profiler = cProfile.Profile() if profile else None
        with Stopwatch() as watch:
            if profiler:
                profiler.enable()
            with Project.load(work / "accord.toml") as project:
                result = project.sync(["CUSTOMER"], full=True)
            if profiler:
                profiler.disable()
        full = dv.kinds()
        reads, writes = split(full)
        inserted = sum(job.counters.inserted for job in result.jobs)
        failed = sum(job.counters.failed for job in result.jobs)
        read_back = sum(
            job.counters.unchanged for job in result.jobs if job.direction.value != "to-integration"
        )
        if dv.count("account") != records or inserted != records or failed:
            problem(
                f"full sync: {dv.count('account')} accounts, {inserted} inserted, "
                f"{failed} failed (expected {records}, {records}, 0)"
            )
        console.print(f"engine full sync: {seconds(watch.seconds)}; requests: {kinds(full)}")
        console.print(
            f"  reading back versions after creates: {seconds(version_reads.seconds)} "
            f"({version_reads.calls} reads), of which waited for: "
            f"{seconds(version_reads.waited)}"
        )
        for job in result.jobs:
            took = job.duration
            console.print(
                f"  job {job.direction.value if job.direction else job.type.value}: "
                f"{seconds(took or 0.0)}, {job.counters.inserted:,} inserted, "
                f"{job.counters.unchanged:,} unchanged"
            )
        if profiler:
            profiler.dump_stats(work / "engine.pstats")
            console.print(f"  profile (main thread): {work / 'engine.pstats'}")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

        # settle once (the echoes of the full sync), then 100 changes
        with Project.load(work / "accord.toml") as project:
            project.sync(["CUSTOMER"])
        time.sleep(2.5)  # past the watermark's overlap window
        chosen = random.Random(7).sample(range(records), changes)
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        with closing(sqlite3.connect(erp)) as conn, conn:
            conn.executemany(
                "UPDATE customer SET city = 'Changed', last_modified = ? WHERE no = ?",
                [(now, f"C{i:07d}") for i in chosen],
            )
        dv.reset()
        with Stopwatch() as small, Project.load(work / "accord.toml") as project:
            again = project.sync(["CUSTOMER"])
        few = dv.kinds()
        modified = sum(job.counters.modified for job in again.jobs)
        changed = int(
            dv.scalar("SELECT COUNT(*) FROM account WHERE address1_city = ?", ["Changed"])
        )
        if modified != changes or changed != changes:
            problem(f"100 changes: {modified} modified, {changed} accounts changed")
        console.print(f"{changes} changes: {seconds(small.seconds)}; requests: {kinds(few)}")

    per_write = writes / (records / 1000)
    per_read = reads / (max(read_back, 1) / 1000)
    speed = watch.seconds / floor_seconds
    table(
        "HTTP: engine against the floor client",
        ("run", "records", "s", "requests", "written /1k", "read /1k"),
        [
            (
                "floor: CreateMultiple by 1,000",
                records,
                f"{floor_seconds:.1f}",
                posts,
                f"{posts / (records / 1000):.2f}",
                "—",
            ),
            (
                "engine: full sync",
                records,
                f"{watch.seconds:.1f}",
                sum(full.values()),
                f"{per_write:.2f}",
                f"{per_read:.3f}",
            ),
            (
                f"engine: {changes} changes",
                changes,
                f"{small.seconds:.2f}",
                sum(few.values()),
                "—",
                "—",
            ),
        ],
    )
    figures += [
        Figure(BENCH, "customers", f"{records:,}"),
        Figure(BENCH, "floor client (httpx, CreateMultiple by 1,000)", seconds(floor_seconds)),
        Figure(BENCH, "engine full sync", seconds(watch.seconds)),
        Figure(BENCH, "engine / floor", ratio(speed), "≤ 1.5×", speed <= 1.5),
        Figure(BENCH, "requests per 1,000 written", f"{per_write:.2f}", "≤ 2", per_write <= 2),
        Figure(
            BENCH,
            f"requests per 1,000 read ({read_back:,} read)",
            f"{per_read:.3f}",
            "≤ 0.25",
            per_read <= 0.25,
        ),
        Figure(
            BENCH,
            f"{changes} changes, {records:,} coupled: requests",
            str(sum(few.values())),
            "≤ 5",
            sum(few.values()) <= 5,
        ),
        Figure(BENCH, f"{changes} changes, {records:,} coupled: time", seconds(small.seconds)),
    ]
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS)
    parser.add_argument("--changes", type=int, default=CHANGES)
    parser.add_argument("--profile", action="store_true", help="cProfile the full sync")
    args = parser.parse_args(argv)
    figures = run(args.records, args.changes, args.profile)
    figures_table("Figures and targets", figures)
    console.print(markdown_table(figures), markup=False)


if __name__ == "__main__":
    main()
