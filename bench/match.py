"""Benchmark 3 — match-based coupling against a raw copy of the same rows.

Target: match-based coupling of 100,000 uncoupled ERP customers with 100,000 CRM accounts on
two criteria (name + city) takes at most 3× the time of a raw copy of the same rows between
the same two SQLite files.

* Setup (untimed): the demo schemas on fresh SQLite files, N ERP customers and N CRM accounts
  with the same names and cities (``Customer i``, ``City i % 5000``: one account per customer,
  5,000 cities shared by 20 customers each), built with ``sqlite3.executemany`` as
  ``bench/incremental.py`` does; the demo's ``accord.toml``; an empty state store (nothing is
  coupled).
* Raw copy, stdlib ``sqlite3`` (the floor, as in ``bench/full_sync.py``, whose code it reuses):
  read the columns the CUSTOMER mapping sends, map them and ``executemany`` them into a copy of
  ``account`` in one transaction.
* Raw hash join, stdlib ``sqlite3`` (for context: the same work as the engine, with nothing
  else): read (key, name, city) of both sides, join them in a dict on casefolded (name, city)
  and ``executemany`` the pairs into a table of the state database.
* Engine: ``project.match("CUSTOMER", on=["name", "city"], sync=False)`` in a fresh process;
  verified: N couplings, each customer ``C…i`` with account ``…i``, nothing unmatched or
  ambiguous.

Run alone: ``python bench/match.py --records 100000`` (``--profile`` adds a cProfile).
"""

from __future__ import annotations

import pstats
import sqlite3
import sys
from pathlib import Path
from typing import Any

import full_sync
import sqlalchemy as sa
from common import (
    Figure,
    Stopwatch,
    child_result,
    console,
    current_rss_mb,
    engine_bench_main,
    fresh_dir,
    median,
    peak_rss_mb,
    problem,
    ratio,
    run_child,
    sa_datetime,
    seconds,
    table,
)
from incremental import (
    BASE_TIME,
    CRM_COLUMNS,
    ERP_COLUMNS,
    _create,
    _crm_row,
    _erp_row,
    _insert,
    crm_key,
    erp_key,
)

import accord
from accord.config import load_config
from accord.demo import CRM_METADATA, ERP_METADATA, DemoSizes, write_config
from accord.state import StateStore
from accord.state.tables import couplings

BENCH = "match"
MAPPING = "CUSTOMER"
ON = ("name", "city")
DEFAULT_RECORDS = 100_000
RATIO_TARGET = 3.0


def setup(n: int) -> full_sync.World:
    directory = fresh_dir("match")
    erp_path, crm_path = directory / "erp.db", directory / "crm.db"
    stamp = sa_datetime(BASE_TIME)
    _create(f"sqlite:///{erp_path}", ERP_METADATA)
    _create(f"sqlite:///{crm_path}", CRM_METADATA)
    _insert(erp_path, "customer", ERP_COLUMNS, lambda r: (_erp_row(i, stamp) for i in r), n)
    _insert(crm_path, "account", CRM_COLUMNS, lambda r: (_crm_row(i, stamp) for i in r), n)
    config_path = write_config(directory, DemoSizes.for_records(max(n, 20)).key_digits())
    state_url = load_config(config_path).state_url
    StateStore(state_url).close()  # creates the schema
    state_path = Path(sa.engine.make_url(state_url).database or "")
    return full_sync.World(
        directory,
        config_path,
        f"sqlite:///{erp_path}",
        f"sqlite:///{crm_path}",
        state_url,
        erp_path,
        crm_path,
        state_path,
        expected=n,
        erp_customers=n,
    )


def raw_hash_join(world: full_sync.World) -> tuple[float, int]:
    """Both sides read, joined in a dict on casefolded (name, city), pairs written."""
    with Stopwatch() as sw:
        erp = sqlite3.connect(world.erp_path)
        crm = sqlite3.connect(world.crm_path)
        state = sqlite3.connect(world.state_path, isolation_level=None)
        index: dict[tuple[str, str], list[str]] = {}
        for key, name, city in crm.execute(
            "SELECT accountid, name, address1_city FROM account "
            "WHERE statecode = 0 AND customertypecode = 3"
        ):
            index.setdefault(((name or "").casefold(), (city or "").casefold()), []).append(key)
        pairs = []
        for key, name, city in erp.execute(
            "SELECT no, name, city FROM customer WHERE blocked = ''"
        ):
            found = index.get((name.casefold(), city.casefold()))
            if found is not None and len(found) == 1:
                pairs.append((key, found[0]))
        state.execute("DROP TABLE IF EXISTS pairs_raw")
        state.execute("CREATE TABLE pairs_raw (local_key TEXT UNIQUE, integration_key TEXT UNIQUE)")
        state.execute("BEGIN")
        state.executemany("INSERT INTO pairs_raw VALUES (?, ?)", pairs)
        state.execute("COMMIT")
        for conn in (erp, crm, state):
            conn.close()
    return sw.seconds, len(pairs)


def engine_child(config_path: str, profile_path: str | None) -> None:
    """Runs in a fresh process: one match of CUSTOMER; reports timing, result and peak RSS."""
    rss_before = current_rss_mb()
    with Stopwatch() as total:
        project = accord.Project.load(config_path)
        profiler = None
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        with Stopwatch() as match:
            result = project.match(MAPPING, on=list(ON), sync=False)
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)
        project.close()
    child_result(
        {
            "match_s": match.seconds,
            "total_s": total.seconds,
            "rss_before_mb": rss_before,
            "peak_rss_mb": peak_rss_mb(),
            "coupled": len(result.coupled),
            "unmatched": len(result.unmatched),
            "ambiguous": result.ambiguous_records,
            "failed": result.failed,
            "job_status": result.job.status.value,
            "job_coupled": result.job.counters.coupled,
        }
    )


def verify(world: full_sync.World, result: dict[str, Any]) -> list[str]:
    wrong = []
    n = world.expected
    if (result["coupled"], result["unmatched"], result["ambiguous"], result["failed"]) != (
        n,
        0,
        0,
        0,
    ):
        wrong.append(
            f"coupled {result['coupled']}, unmatched {result['unmatched']}, ambiguous "
            f"{result['ambiguous']}, failed {result['failed']}; expected {n}/0/0/0"
        )
    if result["job_status"] != "ok" or result["job_coupled"] != n:
        wrong.append(f"job {result['job_status']} coupled {result['job_coupled']}, expected {n}")
    with sqlite3.connect(world.state_path) as state:
        rows = state.execute(
            f"SELECT local_key, integration_key FROM {couplings.name} WHERE mapping = ?",
            (MAPPING,),
        ).fetchall()
    state.close()
    expected = {(erp_key(i), crm_key(i)) for i in range(1, n + 1)}
    if set(rows) != expected:
        wrong.append(f"{len(set(rows) ^ expected)} couplings differ from the expected pairs")
    return wrong


def run(records: int = DEFAULT_RECORDS, *, repeat: int = 3, profile: bool = False) -> list[Figure]:
    console.rule(
        f"[bold]Benchmark 3 — match-based coupling vs raw copy ({records:,} × {records:,})"
    )
    with Stopwatch() as sw_setup:
        world = setup(records)
    console.print(
        f"setup {seconds(sw_setup.seconds)}: {records:,} ERP customers and {records:,} CRM "
        "accounts with the same names and cities, nothing coupled"
    )
    raw: dict[str, list[float]] = {"copy": [], "join": []}
    for i in range(repeat):
        full_sync.create_copy(world.crm_path, "account_raw")
        took, rows = full_sync.raw_sqlite3(world, "account_raw")
        if rows != records:
            problem(f"raw copy copied {rows} rows, expected {records}")
        raw["copy"].append(took)
        took, rows = raw_hash_join(world)
        if rows != records:
            problem(f"raw hash join paired {rows} rows, expected {records}")
        raw["join"].append(took)
        console.print(
            f"raw {i + 1}/{repeat}: copy {seconds(raw['copy'][-1])}, "
            f"hash join {seconds(raw['join'][-1])}"
        )

    profile_path = world.directory / "engine.pstats"
    args = [str(world.config_path), *(["--profile-to", str(profile_path)] if profile else [])]
    result = run_child(Path(__file__), ["--child", *args])
    wrong = verify(world, result)
    for message in wrong:
        problem(message)

    copy_s, join_s, engine_s = median(raw["copy"]), median(raw["join"]), result["match_s"]
    engine_ratio = engine_s / copy_s
    verdict = "" if not wrong else " (WRONG RESULT)"

    def row(label: str, took: float) -> tuple[str, str, str, str]:
        return (label, f"{took:.3f}", f"{records / took:,.0f}", f"{took / copy_s:.2f}")

    table(
        f"Match-based coupling of {records:,} × {records:,} on name + city "
        f"(raw: median of {repeat})",
        ("variant", "seconds", "records/s", "× raw copy"),
        [
            row("raw copy, sqlite3 (bench/full_sync.py)", copy_s),
            row("raw hash join, sqlite3", join_s),
            row(f"engine: match {MAPPING} --on name,city --no-sync{verdict}", engine_s),
            row("engine incl. Project.load and close", result["total_s"]),
        ],
    )
    console.print(
        f"engine peak RSS {result['peak_rss_mb']:.0f} MB "
        f"(after imports {result['rss_before_mb']:.0f} MB)"
    )
    if profile:
        console.print(f"[bold]cProfile of the engine run[/] ({profile_path}), top 25 by cumtime:")
        stats = pstats.Stats(str(profile_path), stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(25)
    return [
        Figure(BENCH, "records per side", f"{records:,}"),
        Figure(BENCH, "raw copy sqlite3", seconds(copy_s)),
        Figure(BENCH, "raw hash join sqlite3", seconds(join_s)),
        Figure(
            BENCH, "engine match" + verdict, seconds(engine_s), met=None if not wrong else False
        ),
        Figure(
            BENCH,
            "engine / raw copy",
            ratio(engine_ratio),
            f"≤ {RATIO_TARGET:g}×",
            engine_ratio <= RATIO_TARGET and not wrong,
        ),
        Figure(BENCH, "engine peak RSS", f"{result['peak_rss_mb']:.0f} MB"),
    ]


def main(argv: list[str] | None = None) -> None:
    engine_bench_main(
        argv,
        doc=__doc__ or "",
        title="Match — figures",
        default_records=DEFAULT_RECORDS,
        records_help="records per side (100,000)",
        run=run,
        engine_child=engine_child,
    )


if __name__ == "__main__":
    main()
