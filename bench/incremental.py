"""Benchmark 2 — the cost of a synchronization follows the changes, not the coupled total.

Target: synchronizing 100 modified customers when 1,000,000 are coupled takes no more than 2×
the time of the same 100 changes with 10,000 coupled, and about a second in absolute terms.

* Setup (untimed), per size N: a coupled steady state built directly, without the engine:
  the demo schemas on fresh SQLite files (WAL), N ERP customers and N CRM accounts with equal
  mapped values and past timestamps (2026-01-01 plus i seconds), the demo's ``accord.toml``,
  N CUSTOMER couplings in the state store whose versions are the records' timestamps, and
  the watermarks a first sync would record (the newest timestamp on each side). Then one
  untimed ``project.sync(["CUSTOMER"])`` must write nothing, and a sample of 100 coupled
  records synchronized by key both ways must compare equal (the built state is in sync).
  ``--settle-full`` leaves the watermarks to that sync instead: it then reads all N records
  on both sides (minutes at 1M).
* Timed, ``--rounds`` times (2.5 s apart, past the 2 s overlap window): 100 random ERP
  customers get a new city and ``last_modified = now``; then ``Project.load`` +
  ``project.sync(["CUSTOMER"])`` + ``close`` in a fresh ``Project`` (what a user waits for),
  and the ``sync`` call alone. Verified: 100 modified by the to-integration job, nothing
  written by the from-integration job, and the CRM rows carry the new cities. Figures are
  medians over the rounds.

Also, as a row of its own: idle runs right after a full sync (issue 9). The demo world of
``--idle-records`` customers (50,000; ``accord demo --records 50000``) is built and fully
synchronized (untimed); then ``Project.load`` + ``sync()`` + ``close`` three times in a row,
nothing changed in between. Printed per run: records read (every pass's unchanged count: an
idle pass counts each record it read as unchanged) and wall time. Verified: nothing written,
nothing failed. The first idle run reads what the full sync wrote after each side's pass read
it (echoes); later ones only the records on each watermark's own stamp.

Run alone: ``python bench/incremental.py --sizes 10000 1000000`` (or ``--quick``).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from common import (
    Figure,
    Stopwatch,
    console,
    figures_table,
    fresh_dir,
    median,
    problem,
    ratio,
    sa_datetime,
    seconds,
    table,
    utcnow,
)

import accord
from accord.config import load_config
from accord.demo import CRM_METADATA, ERP_METADATA, DemoSizes, build_demo, write_config
from accord.model import Direction, Side
from accord.state import StateStore
from accord.state.tables import couplings, watermarks

BENCH = "incremental"
MAPPING = "CUSTOMER"
SIZES = (10_000, 1_000_000)
CHANGES = 100
RATIO_TARGET = 2.0
ABSOLUTE_TARGET_S = 1.0
ABSOLUTE_TOLERANCE = 1.5  # "about a second": met up to 1.5 s
OVERLAP_S = 2.0  # the tables' default overlap_seconds
CHUNK = 50_000
BASE_TIME = datetime(2026, 1, 1)
SEED = 20260101
IDLE_RECORDS = 50_000
IDLE_RUNS = 3


# -- the steady state ----------------------------------------------------------------------
def erp_key(i: int) -> str:
    return f"C{i:07d}"


def crm_key(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def _erp_row(i: int, stamp: str) -> tuple[object, ...]:
    return (
        erp_key(i),
        f"Customer {i}",
        f"Contact Person {i}",
        f"{i % 997 + 1} Main Street",
        "",  # address_2: blank, NULL in the CRM
        f"{10000 + i % 89999}",
        f"City {i % 5000}",
        "DE",
        "",  # county
        f"info{i}@example.com",
        f"+49 30 {i:08d}",
        "",  # fax
        f"www.customer{i}.example",
        "",  # currency_code: local currency, no lookup
        "",  # salesperson_code
        (i % 10) * 5000,
        "",  # blocked
        stamp,
    )


ERP_COLUMNS = (
    "no, name, contact, address, address_2, post_code, city, country_code, county, email, "
    "phone_no, fax_no, home_page, currency_code, salesperson_code, credit_limit, blocked, "
    "last_modified"
)


def _crm_row(i: int, stamp: str) -> tuple[object, ...]:
    return (
        crm_key(i),
        f"Customer {i}",
        erp_key(i),
        f"Contact Person {i}",
        f"{i % 997 + 1} Main Street",
        None,
        f"{10000 + i % 89999}",
        f"City {i % 5000}",
        "DE",
        None,
        f"info{i}@example.com",
        f"+49 30 {i:08d}",
        None,
        f"www.customer{i}.example",
        (i % 10) * 5000,
        None,
        None,
        None,
        0,
        3,
        stamp,
    )


CRM_COLUMNS = (
    "accountid, name, accountnumber, address1_primarycontactname, address1_line1, "
    "address1_line2, address1_postalcode, address1_city, address1_country, "
    "address1_stateorprovince, emailaddress1, telephone1, fax, websiteurl, creditlimit, "
    "transactioncurrencyid, ownerid, primarycontactid, statecode, customertypecode, modifiedon"
)

COUPLING_COLUMNS = (
    "mapping, local_key, integration_key, pending, local_version, integration_version, "
    "result_to, job_to, error_to, result_from, job_from, error_from, repeats, skipped, "
    "last_values, coupled_at, synced_at"
)


Rows = Callable[[range], Iterable[tuple[object, ...]]]


def _insert(path: Path, table_name: str, columns: str, rows_for: Rows, n: int) -> None:
    """executemany in chunks of 50k through the stdlib module, one transaction."""
    count = columns.count(",") + 1
    sql = f"INSERT INTO {table_name} ({columns}) VALUES ({', '.join('?' * count)})"
    conn = sqlite3.connect(path, isolation_level=None)
    # Setup only: no journal, no syncs and a large cache while loading, then back to WAL
    # (as the demo leaves its files) for the timed runs, which use the engine's own settings.
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("BEGIN")
    for start in range(1, n + 1, CHUNK):
        conn.executemany(sql, rows_for(range(start, min(n, start + CHUNK - 1) + 1)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def _create(url: str, metadata: sa.MetaData) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        metadata.create_all(conn)
        conn.commit()
    engine.dispose()


@dataclass
class SteadyState:
    n: int
    directory: Path
    config_path: Path
    erp_path: Path
    crm_path: Path
    timings: dict[str, float] = field(default_factory=dict)


def build(n: int, *, seed_watermarks: bool = True) -> SteadyState:
    directory = fresh_dir(f"incremental_{n}")
    erp_path, crm_path = directory / "erp.db", directory / "crm.db"
    state = SteadyState(n, directory, directory / "accord.toml", erp_path, crm_path)
    stamps = [sa_datetime(BASE_TIME + timedelta(seconds=i)) for i in range(n + 1)]
    with Stopwatch() as sw:
        _create(f"sqlite:///{erp_path}", ERP_METADATA)
        _create(f"sqlite:///{crm_path}", CRM_METADATA)
        _insert(erp_path, "customer", ERP_COLUMNS, lambda r: (_erp_row(i, stamps[i]) for i in r), n)
        _insert(crm_path, "account", CRM_COLUMNS, lambda r: (_crm_row(i, stamps[i]) for i in r), n)
    state.timings["systems"] = sw.seconds
    with Stopwatch() as sw:
        write_config(directory, DemoSizes.for_records(max(n, 20)).key_digits())
        state_url = load_config(state.config_path).state_url
        StateStore(state_url).close()  # creates the schema
        state_path = Path(sa.engine.make_url(state_url).database or "")
        coupled_at = sa_datetime(BASE_TIME + timedelta(seconds=n + 1))

        def coupling_rows(r: range) -> Iterator[tuple[object, ...]]:
            for i in r:
                yield (MAPPING, erp_key(i), crm_key(i), 0, stamps[i], stamps[i], "success", None,
                       "", "success", None, "", 0, 0, None, coupled_at, coupled_at)  # fmt: skip

        _insert(state_path, couplings.name, COUPLING_COLUMNS, coupling_rows, n)
        if seed_watermarks:
            # What the engine's first sync would record: the newest version seen on each side
            # (it is in the past, so min(newest seen, run start) is the newest seen).
            conn = sqlite3.connect(state_path, isolation_level=None)
            conn.executemany(
                f"INSERT INTO {watermarks.name} (mapping, side, value) VALUES (?, ?, ?)",
                [(MAPPING, side.value, stamps[n]) for side in Side],
            )
            conn.close()
    state.timings["couplings"] = sw.seconds
    return state


def settle(state: SteadyState, rng: random.Random) -> list[str]:
    """One untimed sync (settles; sets the watermarks unless seeded) and a sample compared both
    ways; returns what is wrong."""
    wrong = []
    with Stopwatch() as sw, accord.Project.load(state.config_path) as project:
        run = project.sync([MAPPING])
    state.timings["settle sync"] = sw.seconds
    totals = run.totals()
    console.print(
        f"  settle sync of {state.n:,} coupled: {seconds(sw.seconds)}, "
        f"unchanged {totals.unchanged:,}, written {totals.written}, failed {totals.failed}"
    )
    if totals.written or totals.failed or not run.ok:
        wrong.append(f"the settle sync wrote {totals.written} and failed {totals.failed}")
    sample = [erp_key(i) for i in rng.sample(range(1, state.n + 1), min(CHANGES, state.n))]
    with Stopwatch() as sw, accord.Project.load(state.config_path) as project:
        for direction in (Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION):
            run = project.sync([MAPPING], records=sample, direction=direction)
            totals = run.totals()
            if totals.unchanged != len(sample) or totals.written or totals.failed:
                wrong.append(
                    f"sample of {len(sample)} compared {direction.value}: unchanged "
                    f"{totals.unchanged}, written {totals.written}, failed {totals.failed} "
                    "(the built steady state is not in sync)"
                )
    state.timings["sample check"] = sw.seconds
    return wrong


# -- the timed rounds ----------------------------------------------------------------------
@dataclass
class Round:
    total_s: float
    sync_s: float
    load_s: float
    jobs: list[tuple[str, float, int, int]]  # direction, seconds, modified, unchanged


def modify(state: SteadyState, chosen: list[int], tag: str) -> dict[str, str]:
    """New city and last_modified = now for the chosen ERP customers; returns key → city."""
    now = sa_datetime(utcnow())
    cities = {erp_key(i): f"Moved {tag}-{i}" for i in chosen}
    conn = sqlite3.connect(state.erp_path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "UPDATE customer SET city = ?, last_modified = ? WHERE no = ?",
        [(city, now, key) for key, city in cities.items()],
    )
    conn.execute("COMMIT")
    conn.close()
    return cities


def timed_round(state: SteadyState, chosen: list[int], tag: str) -> tuple[Round, list[str]]:
    cities = modify(state, chosen, tag)
    t0 = time.perf_counter()
    project = accord.Project.load(state.config_path)
    t1 = time.perf_counter()
    run = project.sync([MAPPING])
    t2 = time.perf_counter()
    project.close()
    t3 = time.perf_counter()
    wrong = []
    jobs = []
    for job in run.jobs:
        c = job.counters
        direction = job.direction.value if job.direction else ""
        jobs.append((direction, job.duration or 0.0, c.modified, c.unchanged))
        if c.failed:
            wrong.append(f"{direction} job failed {c.failed} record(s)")
        if job.direction is Direction.TO_INTEGRATION and c.modified != len(chosen):
            wrong.append(f"to-integration job modified {c.modified}, expected {len(chosen)}")
        if job.direction is Direction.FROM_INTEGRATION and c.written:
            wrong.append(f"from-integration job wrote {c.written}, expected 0")
    conn = sqlite3.connect(state.crm_path)
    found = dict(
        conn.execute(
            f"SELECT accountnumber, address1_city FROM account WHERE accountid IN "
            f"({', '.join('?' * len(chosen))})",
            [crm_key(i) for i in chosen],
        )
    )
    conn.close()
    if found != cities:
        stale = sum(1 for key, city in cities.items() if found.get(key) != city)
        wrong.append(f"{stale} of {len(cities)} CRM accounts do not carry the new city")
    return Round(t3 - t0, t2 - t1, t1 - t0, jobs), wrong


@dataclass
class SizeResult:
    n: int
    rounds: list[Round]
    setup: dict[str, float]
    wrong: list[str]

    @property
    def total_s(self) -> float:
        return median([r.total_s for r in self.rounds])

    @property
    def sync_s(self) -> float:
        return median([r.sync_s for r in self.rounds])


def measure(n: int, rounds: int, *, settle_full: bool = False, seed: int = SEED) -> SizeResult:
    console.print(f"[bold]N = {n:,} coupled customers[/]")
    rng = random.Random(seed)
    state = build(n, seed_watermarks=not settle_full)
    console.print(
        f"  built: systems {seconds(state.timings['systems'])}, "
        f"state store and couplings {seconds(state.timings['couplings'])}"
    )
    wrong = settle(state, rng)
    chosen = rng.sample(range(1, n + 1), CHANGES * rounds)
    results = []
    for k in range(rounds):
        # Past the previous round's overlap window, so that every round reads the same: its
        # own 100 changes plus the previous batch, which sits exactly at the watermark.
        time.sleep(OVERLAP_S + 0.5)
        result, problems = timed_round(state, chosen[k * CHANGES : (k + 1) * CHANGES], str(k))
        wrong.extend(problems)
        results.append(result)
        console.print(
            f"  round {k + 1}/{rounds}: {seconds(result.total_s)} "
            f"(load {seconds(result.load_s)}, sync {seconds(result.sync_s)}; "
            + ", ".join(f"{d} {s:.3f} s: {m} modified, {u} unchanged" for d, s, m, u in result.jobs)
            + ")"
        )
    for message in wrong:
        problem(f"N={n:,}: {message}")
    return SizeResult(n, results, state.timings, wrong)


# -- idle runs after a full sync ------------------------------------------------------------
def idle_after_full_sync(records: int = IDLE_RECORDS) -> list[Figure]:
    """Idle syncs right after a full one: records read and wall time of each."""
    console.rule(f"[bold]Idle syncs after a full sync of the demo ({records:,} customers)")
    directory = fresh_dir(f"idle_{records}")
    with Stopwatch() as sw:
        world = build_demo(directory, records=records)
        with accord.Project.load(world.config_path) as project:
            full = project.sync(full=True)
    wrong = [] if full.ok else ["the full sync failed"]
    console.print(f"  demo built and fully synchronized: {seconds(sw.seconds)}")
    rows, figures = [], []
    for k in range(1, IDLE_RUNS + 1):
        t0 = time.perf_counter()
        with accord.Project.load(world.config_path) as project:
            run = project.sync()
        wall = time.perf_counter() - t0
        totals = run.totals()
        read = totals.unchanged + totals.written + totals.failed + totals.skipped
        if totals.written or totals.failed or not run.ok:
            wrong.append(f"idle run {k} wrote {totals.written} and failed {totals.failed}")
        rows.append((str(k), f"{read:,}", f"{wall:.3f}"))
        figures.append(
            Figure(
                BENCH, f"idle sync {k} after a full sync ({records:,}): records read", f"{read:,}"
            )
        )
        figures.append(
            Figure(BENCH, f"idle sync {k} after a full sync ({records:,}): wall", seconds(wall))
        )
    table(
        f"Idle syncs after a full sync ({records:,} demo customers)",
        ("idle run", "records read", "load + sync + close s"),
        rows,
    )
    for message in wrong:
        problem(message)
    return figures


def run(
    sizes: tuple[int, int] = SIZES,
    *,
    rounds: int = 5,
    settle_full: bool = False,
    idle_records: int = IDLE_RECORDS,
) -> list[Figure]:
    small, large = sizes
    console.rule(
        f"[bold]Benchmark 2 — {CHANGES} changes with {small:,} vs {large:,} coupled customers"
    )
    results = [measure(n, rounds, settle_full=settle_full) for n in sizes]
    rows = []
    for r in results:

        def job_s(rnd: Round, direction: str) -> float:
            return sum(s for d, s, _, _ in rnd.jobs if d == direction)

        to_s = median([job_s(x, "to-integration") for x in r.rounds])
        from_s = median([job_s(x, "from-integration") for x in r.rounds])
        other = median([x.sync_s - sum(s for _, s, _, _ in x.jobs) for x in r.rounds])
        close = median([x.total_s - x.load_s - x.sync_s for x in r.rounds])
        rows.append(
            (
                f"{r.n:,}" + (" (WRONG RESULT)" if r.wrong else ""),
                f"{r.total_s:.3f}",
                f"{median([x.load_s for x in r.rounds]):.3f}",
                f"{r.sync_s:.3f}",
                f"{to_s:.3f}",
                f"{from_s:.3f}",
                f"{other:.3f}",
                f"{close:.3f}",
                " / ".join(f"{x.total_s:.2f}" for x in r.rounds),
                f"{r.setup['systems'] + r.setup['couplings']:.1f}",
                f"{r.setup['settle sync']:.1f}",
            )
        )
    table(
        f"{CHANGES} modified customers: Project.load + sync + close (median of {rounds} rounds)",
        (
            "coupled",
            "total s",
            "load s",
            "sync() s",
            "to-int job s",
            "from-int job s",
            "sync outside jobs s",
            "close s",
            "each round s",
            "build s",
            "settle s",
        ),
        rows,
    )
    a, b = results
    total_ratio = b.total_s / a.total_s
    sync_ratio = b.sync_s / a.sync_s
    ok = not a.wrong and not b.wrong
    table(
        "Large / small",
        ("figure", "value", "target"),
        [
            ("total (load + sync + close)", ratio(total_ratio), f"≤ {RATIO_TARGET:g}×"),
            ("sync() call alone", ratio(sync_ratio), ""),
            (f"absolute at {b.n:,}", seconds(b.total_s), f"≈ {ABSOLUTE_TARGET_S:g} s"),
        ],
    )
    label = f"{CHANGES} changes"
    return [
        Figure(BENCH, f"{label}, {a.n:,} coupled", seconds(a.total_s)),
        Figure(
            BENCH,
            f"{label}, {b.n:,} coupled",
            seconds(b.total_s),
            f"≈ {ABSOLUTE_TARGET_S:g} s",
            b.total_s <= ABSOLUTE_TOLERANCE and ok,
        ),
        Figure(
            BENCH,
            f"{b.n:,} / {a.n:,} coupled",
            ratio(total_ratio),
            f"≤ {RATIO_TARGET:g}×",
            total_ratio <= RATIO_TARGET and ok,
        ),
        Figure(BENCH, f"{b.n:,} / {a.n:,}, sync() alone", ratio(sync_ratio)),
        *(idle_after_full_sync(idle_records) if idle_records else []),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, metavar=("SMALL", "LARGE"), default=None)
    parser.add_argument("--quick", action="store_true", help="1,000 and 100,000")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per size (median)")
    parser.add_argument(
        "--settle-full",
        action="store_true",
        help="let the settle sync read everything and set the watermarks (slow at 1M: minutes) "
        "instead of seeding them",
    )
    parser.add_argument(
        "--idle-records",
        type=int,
        default=None,
        help=f"demo customers for the idle-after-full-sync row (default {IDLE_RECORDS:,}; "
        "0: skip it)",
    )
    parser.add_argument("--only-idle", action="store_true", help="only the idle row")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    idle = IDLE_RECORDS // scale if args.idle_records is None else args.idle_records
    if args.only_idle:
        figures_table("Incremental — idle runs", idle_after_full_sync(idle))
        return
    small, large = args.sizes or (SIZES[0] // scale, SIZES[1] // scale)
    figures = run(
        (small, large), rounds=args.rounds, settle_full=args.settle_full, idle_records=idle
    )
    figures_table("Incremental — figures", figures)


if __name__ == "__main__":
    main()
