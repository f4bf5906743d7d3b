"""Benchmark 1 — a full synchronization against a raw copy of the same rows.

Target: a full synchronization of 100,000 ERP customers into an empty CRM takes at most 3×
the time of a raw copy of the same rows between the same two SQLite files, with a peak memory
under 300 MB.

* Setup (untimed): the demo world, sized so that the ERP holds ``--records`` customers; the
  CRM's accounts and contacts are deleted (the CRM starts empty of customers); currencies and
  salespeople are synchronized so that the customers' lookups resolve.
* Raw copy, stdlib ``sqlite3``: read the columns the CUSTOMER mapping reads, with its filter,
  map them as the configuration does (blank text to NULL, lookups through the couplings of
  CURRENCY and SALESPEOPLE, constants, a uuid4 key, a modified-on stamp) and ``executemany``
  them into a copy of the ``account`` table in one transaction. The floor.
* Raw copy, SQLAlchemy Core: the same with ``select`` and ``conn.execute(table.insert(), rows)``.
* Engine: ``project.sync(["CUSTOMER"], full=True)`` in a fresh process, which also reports
  its peak RSS; the result is verified (one account and one coupling per customer).

Run alone: ``python bench/full_sync.py --records 100000`` (``--profile`` adds a cProfile of
the engine run, top 25 lines by cumulative time).
"""

from __future__ import annotations

import os
import pstats
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from common import (
    Figure,
    Stopwatch,
    child_result,
    console,
    current_rss_mb,
    engine_bench_main,
    figures_table,
    fresh_dir,
    maxrss_mb,
    median,
    peak_rss_mb,
    problem,
    ratio,
    run_child,
    sa_datetime,
    seconds,
    table,
    utcnow,
)

import accord
from accord.config import load_config
from accord.model import Direction, Job
from accord.model.keys import new_uuids
from accord.state.tables import as_key, couplings

BENCH = "full sync"
MAPPING = "CUSTOMER"
DEFAULT_RECORDS = 100_000
RATIO_TARGET = 3.0
RSS_TARGET_MB = 300.0

# The CUSTOMER mapping's to-integration rules, written out by hand so that the raw copy is
# as tight as Python gets. ``check_plan`` compares them with the configuration.
SOURCE_COLUMNS = (
    "no",
    "name",
    "contact",
    "address",
    "address_2",
    "post_code",
    "city",
    "country_code",
    "county",
    "email",
    "phone_no",
    "fax_no",
    "home_page",
    "credit_limit",
    "currency_code",
    "salesperson_code",
)
FILTER_SQL = "blocked = ''"
FILTER_CONFIG = "blocked eq ''"
ACCOUNT_COLUMNS = (
    "accountid",
    "name",
    "accountnumber",
    "address1_primarycontactname",
    "address1_line1",
    "address1_line2",
    "address1_postalcode",
    "address1_city",
    "address1_country",
    "address1_stateorprovince",
    "emailaddress1",
    "telephone1",
    "fax",
    "websiteurl",
    "creditlimit",
    "transactioncurrencyid",
    "ownerid",
    "statecode",
    "customertypecode",
    "modifiedon",
)
PAIRS = {
    ("name", "name"),
    ("no", "accountnumber"),
    ("contact", "address1_primarycontactname"),
    ("address", "address1_line1"),
    ("address_2", "address1_line2"),
    ("post_code", "address1_postalcode"),
    ("city", "address1_city"),
    ("country_code", "address1_country"),
    ("county", "address1_stateorprovince"),
    ("email", "emailaddress1"),
    ("phone_no", "telephone1"),
    ("fax_no", "fax"),
    ("home_page", "websiteurl"),
    ("credit_limit", "creditlimit"),
}
LOOKUPS = {
    ("currency_code", "transactioncurrencyid"): "CURRENCY",
    ("salesperson_code", "ownerid"): "SALESPEOPLE",
}
CONSTANTS = {"statecode": 0, "customertypecode": 3}


# -- setup ---------------------------------------------------------------------------------
def demo_records(erp_customers: int) -> int:
    """The demo's ``records`` (customers across both systems) that gives this many ERP ones."""
    from accord.demo import DemoSizes  # not in the engine's child process

    guess = round(erp_customers / 0.75)
    for records in range(max(guess - 3, 20), guess + 4):
        if DemoSizes.for_records(records).erp_customers == erp_customers:
            return records
    return guess


@dataclass
class World:
    directory: Path
    config_path: Path
    erp_url: str
    crm_url: str
    state_url: str
    erp_path: Path
    crm_path: Path
    state_path: Path
    expected: int  # ERP customers the mapping picks up (not blocked)
    erp_customers: int


def setup(erp_customers: int) -> World:
    from accord.demo import build_demo

    directory = fresh_dir("full_sync")
    demo = build_demo(directory / "demo", records=demo_records(erp_customers))
    erp_path = Path(sa.engine.make_url(demo.erp_url).database or "")
    crm_path = Path(sa.engine.make_url(demo.crm_url).database or "")
    with sqlite3.connect(crm_path) as crm:
        crm.execute("DELETE FROM contact")
        crm.execute("DELETE FROM account")
    crm.close()
    with sqlite3.connect(erp_path) as erp:
        total = erp.execute("SELECT count(*) FROM customer").fetchone()[0]
        expected = erp.execute(f"SELECT count(*) FROM customer WHERE {FILTER_SQL}").fetchone()[0]
    erp.close()
    with accord.Project.load(demo.config_path) as project:
        run = project.sync(["CURRENCY", "SALESPEOPLE"], full=True)
        if not run.ok:
            problem(f"reference data did not synchronize: {run.by_mapping()} {run.not_run}")
        state_url = project.config.state_url
    state_path = Path(sa.engine.make_url(state_url).database or "")
    return World(
        directory,
        demo.config_path,
        demo.erp_url,
        demo.crm_url,
        state_url,
        erp_path,
        crm_path,
        state_path,
        expected,
        total,
    )


def check_plan(config_path: Path) -> None:
    """Warn loudly if the configuration's CUSTOMER mapping no longer matches the raw copy."""
    mapping = load_config(config_path).mapping(MAPPING)
    rules = mapping.rules_for(Direction.TO_INTEGRATION)
    pairs = {(r.source, r.dest) for r in rules if not r.has_constant and not r.lookup}
    lookups = {(r.source, r.dest): r.lookup for r in rules if r.lookup and not r.has_constant}
    constants = {r.dest: r.constant for r in rules if r.has_constant}
    if (
        pairs != PAIRS
        or lookups != LOOKUPS
        or constants != CONSTANTS
        or any(r.transform is not None for r in rules)
        or mapping.table_filter != FILTER_CONFIG
    ):
        problem(
            "the CUSTOMER mapping changed: the raw copy no longer does the same work "
            "(update PAIRS/LOOKUPS/CONSTANTS/FILTER in bench/full_sync.py)"
        )


def create_copy(crm_path: Path, name: str) -> None:
    """A fresh, empty copy of the CRM ``account`` table (same DDL, same index), untimed."""
    with sqlite3.connect(crm_path) as crm:
        crm.execute(f"DROP TABLE IF EXISTS {name}")
        ddl = crm.execute(
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE tbl_name = 'account' AND sql IS NOT NULL"
        ).fetchall()
        for kind, obj, sql in sorted(ddl, key=lambda row: row[0] != "table"):
            if kind == "table":
                crm.execute(sql.replace("TABLE account", f"TABLE {name}", 1))
            else:
                crm.execute(
                    sql.replace(obj, obj.replace("account", name), 1).replace(
                        " ON account ", f" ON {name} ", 1
                    )
                )
    crm.close()


# -- raw copies ----------------------------------------------------------------------------
def _lookup_sqlite3(state: sqlite3.Connection, mapping: str) -> dict[str, str]:
    rows = state.execute(
        "SELECT local_key, integration_key FROM accord_couplings WHERE mapping = ? AND NOT pending",
        (mapping,),
    )
    return {as_key(local): as_key(integration) for local, integration in rows}


def raw_sqlite3(world: World, target: str) -> tuple[float, int]:
    """Read + map + executemany with the stdlib module; returns (seconds, rows)."""
    insert = (
        f"INSERT INTO {target} ({', '.join(ACCOUNT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(ACCOUNT_COLUMNS))})"
    )
    select = f"SELECT {', '.join(SOURCE_COLUMNS)} FROM customer WHERE {FILTER_SQL}"
    with Stopwatch() as sw:
        erp = sqlite3.connect(world.erp_path)
        crm = _engine_like(sqlite3.connect(world.crm_path, isolation_level=None))
        state = sqlite3.connect(world.state_path)
        currencies = _lookup_sqlite3(state, "CURRENCY")
        salespeople = _lookup_sqlite3(state, "SALESPEOPLE")
        state.close()
        stamp = sa_datetime(utcnow())
        source = erp.execute(select).fetchall()
        keys = iter(new_uuids(len(source)))  # the engine's keys: time-ordered, ascending
        rows = [
            (
                next(keys),
                name,
                no or None,
                contact or None,
                address or None,
                address_2 or None,
                post_code or None,
                city or None,
                country or None,
                county or None,
                email or None,
                phone or None,
                fax or None,
                home or None,
                credit,
                currencies.get(currency) if currency else None,
                salespeople.get(salesperson) if salesperson else None,
                0,
                3,
                stamp,
            )
            for (
                no,
                name,
                contact,
                address,
                address_2,
                post_code,
                city,
                country,
                county,
                email,
                phone,
                fax,
                home,
                credit,
                currency,
                salesperson,
            ) in source
        ]
        erp.close()
        crm.execute("BEGIN")
        crm.executemany(insert, rows)
        crm.execute("COMMIT")
        crm.close()
    return sw.seconds, len(rows)


def _engine_like(conn: sqlite3.Connection) -> sqlite3.Connection:
    """The durability the engine's SQL connector sets on a WAL file: synchronous=NORMAL."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def plain_copy(world: World, target: str) -> tuple[float, int]:
    """A plain streaming copy: the same columns read and written as they are (no blank to
    NULL, no lookups, no constants), the engine's keys and durability; the least any tool
    can do to move these rows."""
    columns = [c for c in ACCOUNT_COLUMNS if c not in ("transactioncurrencyid", "ownerid")]
    sources = [c for c in SOURCE_COLUMNS if c not in ("currency_code", "salesperson_code")]
    insert = f"INSERT INTO {target} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    select = f"SELECT {', '.join(sources)} FROM customer WHERE {FILTER_SQL}"
    with Stopwatch() as sw:
        erp = sqlite3.connect(world.erp_path)
        crm = _engine_like(sqlite3.connect(world.crm_path, isolation_level=None))
        stamp = sa_datetime(utcnow())
        crm.execute("BEGIN")
        count = 0
        cursor = erp.execute(select)
        while chunk := cursor.fetchmany(5000):
            keys = new_uuids(len(chunk))
            # (key, name, no, ..., credit, statecode, customertypecode, modifiedon)
            crm.executemany(
                insert,
                [(k, r[1], r[0], *r[2:], 0, 3, stamp) for k, r in zip(keys, chunk, strict=True)],
            )
            count += len(chunk)
        crm.execute("COMMIT")
        crm.close()
        erp.close()
    return sw.seconds, count


def raw_sqlalchemy(world: World, target: str) -> tuple[float, int]:
    """The same copy with SQLAlchemy Core: select, then ``conn.execute(insert, rows)``."""
    from accord.demo import ERP_METADATA

    customer = ERP_METADATA.tables["customer"]
    crm_engine = sa.create_engine(world.crm_url)
    account = sa.Table(target, sa.MetaData(), autoload_with=crm_engine)  # untimed
    crm_engine.dispose()
    with Stopwatch() as sw:
        erp_engine = sa.create_engine(world.erp_url)
        crm_engine = sa.create_engine(world.crm_url)
        sa.event.listen(crm_engine, "connect", lambda conn, _: _engine_like(conn))
        state_engine = sa.create_engine(world.state_url)
        lookups: dict[str, dict[str, str]] = {}
        with state_engine.connect() as conn:
            for mapping in ("CURRENCY", "SALESPEOPLE"):
                query = sa.select(couplings.c.local_key, couplings.c.integration_key).where(
                    couplings.c.mapping == mapping, couplings.c.pending.is_(False)
                )
                lookups[mapping] = {r.local_key: r.integration_key for r in conn.execute(query)}
        currency, salesperson = lookups["CURRENCY"].get, lookups["SALESPEOPLE"].get
        query = sa.select(*(customer.c[n] for n in SOURCE_COLUMNS)).where(customer.c.blocked == "")
        with erp_engine.connect() as conn:
            source = conn.execute(query).all()
        stamp = utcnow()
        keys = iter(new_uuids(len(source)))
        rows = [
            {
                "accountid": next(keys),
                "name": r.name,
                "accountnumber": r.no or None,
                "address1_primarycontactname": r.contact or None,
                "address1_line1": r.address or None,
                "address1_line2": r.address_2 or None,
                "address1_postalcode": r.post_code or None,
                "address1_city": r.city or None,
                "address1_country": r.country_code or None,
                "address1_stateorprovince": r.county or None,
                "emailaddress1": r.email or None,
                "telephone1": r.phone_no or None,
                "fax": r.fax_no or None,
                "websiteurl": r.home_page or None,
                "creditlimit": r.credit_limit,
                "transactioncurrencyid": currency(r.currency_code) if r.currency_code else None,
                "ownerid": salesperson(r.salesperson_code) if r.salesperson_code else None,
                "statecode": 0,
                "customertypecode": 3,
                "modifiedon": stamp,
            }
            for r in source
        ]
        with crm_engine.begin() as conn:
            conn.execute(account.insert(), rows)
        for engine in (erp_engine, crm_engine, state_engine):
            engine.dispose()
    return sw.seconds, len(rows)


# -- the engine (in a child process) -------------------------------------------------------
class RssProgress:
    """A progress listener that samples the process's RSS at every batch of every pass."""

    def __init__(self) -> None:
        self.by_job: dict[str, dict[str, float]] = {}

    def pass_started(self, job: Job, total: int | None) -> None:
        rss = current_rss_mb()
        self.by_job[job.id] = {"rss_start_mb": rss, "rss_max_mb": rss, "rss_end_mb": rss}

    def advanced(self, job: Job, records: int) -> None:
        entry = self.by_job[job.id]
        entry["rss_max_mb"] = max(entry["rss_max_mb"], current_rss_mb())

    def pass_finished(self, job: Job) -> None:
        entry = self.by_job[job.id]
        entry["rss_end_mb"] = current_rss_mb()
        entry["rss_max_mb"] = max(entry["rss_max_mb"], entry["rss_end_mb"])


def engine_child(config_path: str, profile_path: str | None) -> None:
    """Runs in a fresh process: one full sync of CUSTOMER; reports timing and peak RSS."""
    rss_before = current_rss_mb()
    progress = RssProgress()
    with Stopwatch() as total:
        project = accord.Project.load(config_path)
        profiler = None
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        with Stopwatch() as sync:
            run = project.sync([MAPPING], full=True, progress=progress)
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)
        project.close()
    peak = peak_rss_mb()
    # The first ordinary sync after the full one: it re-reads what the full sync wrote.
    with Stopwatch() as again, accord.Project.load(config_path) as project:
        rerun = project.sync([MAPPING])
    child_result(
        {
            "sync_s": sync.seconds,
            "total_s": total.seconds,
            "resync_s": again.seconds,
            "resync_read": sum(
                j.counters.unchanged + j.counters.modified + j.counters.inserted for j in rerun.jobs
            ),
            "resync_written": sum(j.counters.modified + j.counters.inserted for j in rerun.jobs),
            "rss_before_mb": rss_before,
            "peak_rss_mb": peak,
            "ru_maxrss_mb": maxrss_mb(),
            "ok": run.ok,
            "not_run": run.not_run,
            "jobs": [
                {
                    "direction": job.direction.value if job.direction else "",
                    "message": job.message,
                    "status": job.status.value,
                    "seconds": job.duration,
                    "started_at": job.started_at.isoformat(),
                    **job.counters.as_dict(),
                    **progress.by_job.get(job.id, {}),
                }
                for job in run.jobs
            ],
        }
    )


STATE_BYTES_TARGET = 150  # issue 14


def state_size(state_path: Path) -> tuple[int, int]:
    """The SQLite state store's size in bytes (its pages, the WAL checkpointed into them)
    and how many couplings it holds."""
    with sqlite3.connect(state_path) as state:
        state.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = state.execute("PRAGMA page_count").fetchone()[0]
        page_size = state.execute("PRAGMA page_size").fetchone()[0]
        count = state.execute("SELECT count(*) FROM accord_couplings").fetchone()[0]
    state.close()
    return pages * page_size, count


def verify(world: World, result: dict[str, Any]) -> list[str]:
    """What is wrong with the engine's result (empty when it is right)."""
    wrong = []
    with sqlite3.connect(world.crm_path) as crm:
        accounts = crm.execute("SELECT count(*) FROM account").fetchone()[0]
    crm.close()
    with sqlite3.connect(world.state_path) as state:
        coupled, pending = state.execute(
            "SELECT count(*), coalesce(sum(pending), 0) FROM accord_couplings WHERE mapping = ?",
            (MAPPING,),
        ).fetchone()
    state.close()
    if accounts != world.expected:
        wrong.append(f"{accounts} CRM accounts, expected {world.expected}")
    if coupled != world.expected or pending:
        wrong.append(f"{coupled} couplings ({pending} pending), expected {world.expected}")
    if not result["ok"]:
        wrong.append(f"run not ok: {result['not_run']} {result['jobs']}")
    inserted = sum(j["inserted"] for j in result["jobs"])
    failed = sum(j["failed"] for j in result["jobs"])
    if inserted != world.expected or failed:
        wrong.append(f"jobs inserted {inserted} and failed {failed}, expected {world.expected}/0")
    return wrong


# -- driver --------------------------------------------------------------------------------
def cli_full_sync(world: World) -> float:
    """``accord sync CUSTOMER --full``: what a user waits for, the process start included."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "accord", "sync", MAPPING, "--full", "-c", str(world.config_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    took = time.perf_counter() - started
    if proc.returncode != 0:
        problem(f"accord sync --full failed ({proc.returncode}): {proc.stderr[-400:]}")
    return took


def spread(values: list[float]) -> tuple[str, str, str]:
    """min, median, max."""
    ordered = sorted(values)
    return f"{ordered[0]:.3f}", f"{median(ordered):.3f}", f"{ordered[-1]:.3f}"


def run(
    records: int = DEFAULT_RECORDS, *, repeat: int = 5, profile: bool = False, cli: bool = True
) -> list[Figure]:
    console.rule(f"[bold]Benchmark 1 — full sync vs raw copy ({records:,} ERP customers)")
    with Stopwatch() as sw_setup:
        world = setup(records)
    check_plan(world.config_path)
    console.print(
        f"setup {seconds(sw_setup.seconds)}: {world.erp_customers:,} ERP customers, "
        f"{world.expected:,} not blocked; CRM accounts and contacts emptied; "
        f"CURRENCY and SALESPEOPLE synchronized"
    )

    # Rounds interleave the floors, the engine in process and the command line, each engine
    # run on a fresh copy of the untouched world: on a shared machine the load drifts, and a
    # ratio taken within one round compares like with like.
    snapshot = {p: p.read_bytes() for p in (world.erp_path, world.crm_path, world.state_path)}

    def restore() -> None:
        for path, data in snapshot.items():
            path.write_bytes(data)
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    raw: dict[str, list[float]] = {"mapped": [], "plain": [], "SQLAlchemy Core": []}
    engine_runs: list[dict[str, Any]] = []
    cli_s: list[float] = []
    wrong: list[str] = []
    state_sizes: list[tuple[int, int]] = []  # (bytes, couplings) of the state after each run
    profile_path = world.directory / "engine.pstats"
    for i in range(repeat):
        for label, copy, name in (
            ("mapped", raw_sqlite3, "account_raw"),
            ("plain", plain_copy, "account_plain"),
            ("SQLAlchemy Core", raw_sqlalchemy, "account_sa"),
        ):
            create_copy(world.crm_path, name)
            took, rows = copy(world, name)
            if rows != world.expected:
                problem(f"raw copy ({label}) copied {rows} rows, expected {world.expected}")
            raw[label].append(took)
        restore()
        last = i == repeat - 1
        args = [
            str(world.config_path),
            *(["--profile-to", str(profile_path)] if profile and last else []),
        ]
        engine_runs.append(run_child(Path(__file__), ["--child", *args]))
        wrong += verify(world, engine_runs[-1])
        state_sizes.append(state_size(world.state_path))
        line = (
            f"round {i + 1}/{repeat}: mapped floor {seconds(raw['mapped'][-1])}, "
            f"plain copy {seconds(raw['plain'][-1])}, "
            f"engine {seconds(engine_runs[-1]['sync_s'])} "
            f"({engine_runs[-1]['sync_s'] / raw['mapped'][-1]:.2f}×), "
            f"re-read {seconds(engine_runs[-1]['resync_s'])}"
        )
        if cli:
            restore()
            cli_s.append(cli_full_sync(world))
            line += f", CLI {seconds(cli_s[-1])}"
        console.print(line)
    for message in wrong:
        problem(message)
    ratios = [run["sync_s"] / r for run, r in zip(engine_runs, raw["mapped"], strict=True)]
    plain_ratios = [run["sync_s"] / r for run, r in zip(engine_runs, raw["plain"], strict=True)]
    result = sorted(engine_runs, key=lambda run: run["sync_s"])[len(engine_runs) // 2]
    engine_s = result["sync_s"]
    engine_ratio = median(ratios)
    peak = max(run["peak_rss_mb"] for run in engine_runs)
    rows = world.expected
    verdict = "" if not wrong else " (WRONG RESULT)"

    floor = median(raw["mapped"])
    table(
        f"Full sync of {rows:,} customers into an empty CRM ({repeat} interleaved rounds; "
        "× floor: median of the rounds' ratios to the mapped floor)",
        ("variant", "min s", "median s", "max s", "rows/s", "× mapped floor"),
        [
            (
                "floor: read + map + executemany (sqlite3, engine's pragmas and keys)",
                *spread(raw["mapped"]),
                f"{rows / floor:,.0f}",
                "1.00",
            ),
            (
                "plain streaming copy (sqlite3, no mapping)",
                *spread(raw["plain"]),
                f"{rows / median(raw['plain']):,.0f}",
                f"{median(raw['plain']) / floor:.2f}",
            ),
            (
                "floor through SQLAlchemy Core",
                *spread(raw["SQLAlchemy Core"]),
                f"{rows / median(raw['SQLAlchemy Core']):,.0f}",
                f"{median(raw['SQLAlchemy Core']) / floor:.2f}",
            ),
            (
                f"engine: sync {MAPPING} --full, in process{verdict}",
                *spread([r["sync_s"] for r in engine_runs]),
                f"{rows / engine_s:,.0f}",
                f"{engine_ratio:.2f}",
            ),
            (
                "engine incl. Project.load and close",
                *spread([r["total_s"] for r in engine_runs]),
                "",
                f"{median([r['total_s'] for r in engine_runs]) / floor:.2f}",
            ),
            *(
                [
                    (
                        "accord sync CUSTOMER --full (CLI wall time, process start included)",
                        *spread(cli_s),
                        "",
                        f"{median(cli_s) / floor:.2f}",
                    )
                ]
                if cli_s
                else []
            ),
            (
                f"first sync after the full sync (re-read {result['resync_read']:,} records, "
                f"wrote {result['resync_written']})",
                *spread([r["resync_s"] for r in engine_runs]),
                "",
                "",
            ),
        ],
    )
    job_rows = []
    jobs_total = 0.0
    for job in result["jobs"]:
        took = job["seconds"] or 0.0
        jobs_total += took
        job_rows.append(
            (
                f"{job['direction']} ({job['message'] or 'pass'})",
                f"{took:.3f}",
                f"{100 * took / engine_s:.0f}%",
                f"{job['inserted'] + job['modified'] + job['unchanged']:,}",
                job["inserted"],
                job["modified"],
                job["unchanged"],
                job["failed"],
                f"{job.get('rss_start_mb', 0):.0f} → {job.get('rss_end_mb', 0):.0f}",
                f"{job.get('rss_max_mb', 0):.0f}",
            )
        )
    other = engine_s - jobs_total
    outside = ("outside jobs (schemas, state, job log)", f"{other:.3f}")
    job_rows.append((*outside, f"{100 * other / engine_s:.0f}%", *[""] * 7))
    table(
        "Engine time and memory by job (the median round)",
        (
            "job",
            "seconds",
            "share",
            "records",
            "inserted",
            "modified",
            "unchanged",
            "failed",
            "RSS MB start → end",
            "RSS MB max",
        ),
        job_rows,
    )
    table(
        "Engine process memory",
        ("figure", "MB"),
        [
            ("RSS after imports, before Project.load", f"{result['rss_before_mb']:.0f}"),
            ("peak RSS (VmHWM) of the full sync: the figure", f"{peak:.0f}"),
            (
                "ru_maxrss (includes the parent's RSS at fork: not the engine's)",
                f"{result['ru_maxrss_mb']:.0f}",
            ),
        ],
    )
    if profile:
        console.print(f"[bold]cProfile of the engine run[/] ({profile_path}), top 25 by cumtime:")
        stats = pstats.Stats(str(profile_path), stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(25)

    state_bytes, state_couplings = state_sizes[-1]
    per_coupling = state_bytes / max(state_couplings, 1)
    table(
        "State store after the full sync (SQLite: page_count × page_size, WAL checkpointed)",
        ("figure", "value"),
        [
            ("state store bytes", f"{state_bytes:,}"),
            ("couplings (all mappings)", f"{state_couplings:,}"),
            ("bytes per coupling", f"{per_coupling:.0f}"),
        ],
    )

    return [
        Figure(BENCH, "rows", f"{rows:,}"),
        Figure(
            BENCH,
            "state store bytes per coupling",
            f"{per_coupling:.0f}",
            f"≤ {STATE_BYTES_TARGET}",
            per_coupling <= STATE_BYTES_TARGET,
        ),
        Figure(BENCH, "floor (mapped, engine's pragmas and keys)", seconds(floor)),
        Figure(BENCH, "plain streaming copy", seconds(median(raw["plain"]))),
        Figure(
            BENCH, "engine full sync" + verdict, seconds(engine_s), met=None if not wrong else False
        ),
        Figure(
            BENCH,
            "engine / mapped floor",
            ratio(engine_ratio),
            f"≤ {RATIO_TARGET:g}×",
            engine_ratio <= RATIO_TARGET and not wrong,
        ),
        Figure(BENCH, "engine / plain copy", ratio(median(plain_ratios))),
        *([Figure(BENCH, "CLI wall time", seconds(median(cli_s)))] if cli_s else []),
        Figure(BENCH, "first sync after it (re-read)", seconds(result["resync_s"])),
        Figure(
            BENCH,
            "engine peak RSS",
            f"{peak:.0f} MB",
            f"< {RSS_TARGET_MB:g} MB",
            peak < RSS_TARGET_MB,
        ),
        Figure(BENCH, "engine throughput", f"{rows / engine_s:,.0f} rows/s"),
    ]


def scaling(sizes: list[int]) -> list[Figure]:
    """One engine full sync per size (after one round of the floor): time and peak memory."""
    rows = []
    figures = []
    for size in sizes:
        world = setup(size)
        create_copy(world.crm_path, "account_raw")
        floor, _ = raw_sqlite3(world, "account_raw")
        result = run_child(Path(__file__), ["--child", str(world.config_path)])
        wrong = verify(world, result)
        for message in wrong:
            problem(message)
        rows.append(
            (
                f"{world.expected:,}",
                f"{floor:.3f}",
                f"{result['sync_s']:.3f}",
                f"{result['sync_s'] / floor:.2f}",
                f"{result['resync_s']:.3f}",
                f"{result['peak_rss_mb']:.0f}",
            )
        )
        figures.append(
            Figure(
                BENCH,
                f"peak RSS at {world.expected:,}",
                f"{result['peak_rss_mb']:.0f} MB",
                "≤ 200 MB",
                result["peak_rss_mb"] <= 200,
            )
        )
    table(
        "Full sync by size (one round each)",
        ("records", "floor s", "engine s", "× floor", "re-read s", "peak RSS MB"),
        rows,
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    if "--sizes" in argv:  # the scaling rows: python bench/full_sync.py --sizes 10000 100000
        at = argv.index("--sizes")
        sizes = [int(a) for a in argv[at + 1 :] if a.isdigit()]
        if "--million" in argv:
            sizes.append(1_000_000)
        figures_table("Full sync by size — figures", scaling(sizes))
        return
    engine_bench_main(
        argv,
        doc=__doc__ or "",
        title="Full sync — figures",
        default_records=DEFAULT_RECORDS,
        records_help="ERP customers (default 100,000)",
        run=run,
        engine_child=engine_child,
    )


if __name__ == "__main__":
    main()
