"""Full sync with the CRM and the state store on a database server (PostgreSQL or MariaDB).

Where production runs: the time of a full sync there is server round trips, not Python. The
engine is compared with the fastest ways to load the same mapped rows into the same server:

* Setup (untimed): the demo world (``build_demo``) sized so that the ERP holds ``--records``
  customers, its ERP kept in SQLite; the CRM's tables created on the server in a schema (or
  database) of their own and filled from the demo's ``crm.db`` but for ``account`` and
  ``contact`` (the CRM starts empty of customers); the state store in a second schema; the
  reference mappings CURRENCY and SALESPEOPLE synchronized so that the lookups resolve.
* Floor, ``COPY`` (PostgreSQL): read the columns the CUSTOMER mapping sends from the ERP, map
  them exactly as ``bench/full_sync.py``'s floor does (lookups through the couplings in the
  state store, constants, uuid4 keys, a stamp) and ``COPY`` them into a fresh copy of
  ``account`` (same columns, same indexes), one transaction.
* Floor, pipelined ``executemany`` (PostgreSQL, psycopg 3: pipeline mode) / PyMySQL's
  ``executemany`` (MariaDB: one multi-row ``INSERT`` per chunk).
* Engine: ``project.sync(["CUSTOMER"], full=True)`` in a fresh process (``bench/full_sync.py``'s
  child), and the command line ``accord sync CUSTOMER --full`` (wall time with the process start:
  what a user waits for) in alternate rounds... both in every round, interleaved with the floors.
  Every engine run starts from the same state: the accounts and the CUSTOMER couplings, jobs
  and watermarks are deleted and the ERP file restored.

Run alone: ``python bench/server_sync.py --server postgresql --records 100000 --rounds 5``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import full_sync
import sqlalchemy as sa
from common import (
    REPO_DIR,
    Figure,
    Stopwatch,
    console,
    fresh_dir,
    load_average,
    machine_line,
    problem,
    ratio,
    run_child,
    seconds,
    table,
    utcnow,
)

import accord
from accord.demo import CRM_METADATA, build_demo

BENCH = "server full sync"
DEFAULT_URLS = {
    "postgresql": os.environ.get(
        "ACCORD_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "ACCORD_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
RATIO_TARGET = 3.0


@dataclass
class ServerWorld:
    server: str
    directory: Path
    config_path: Path
    erp_path: Path
    crm_url: str
    state_url: str
    names: tuple[str, str]  # schemas (PostgreSQL) or databases (MariaDB) made for the run
    expected: int


def _scoped_url(server: str, base: str, name: str) -> str:
    if server == "postgresql":
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options={quote(f'-csearch_path={name}')}"
    url = sa.make_url(base).set(database=name)
    return url.render_as_string(hide_password=False)


def _create_scope(server: str, base: str, name: str) -> None:
    engine = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        kind = "SCHEMA" if server == "postgresql" else "DATABASE"
        conn.exec_driver_sql(f"CREATE {kind} {name}")
    engine.dispose()


def drop_scopes(world: ServerWorld) -> None:
    base = DEFAULT_URLS[world.server]
    engine = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for name in world.names:
            if world.server == "postgresql":
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    engine.dispose()


def setup(server: str, erp_customers: int) -> ServerWorld:
    directory = fresh_dir(f"server_sync_{server}")
    demo = build_demo(directory / "demo", records=full_sync.demo_records(erp_customers))
    base = DEFAULT_URLS[server]
    suffix = uuid.uuid4().hex[:8]
    names = (f"bench_crm_{suffix}", f"bench_state_{suffix}")
    for name in names:
        _create_scope(server, base, name)
    crm_url, state_url = (_scoped_url(server, base, n) for n in names)
    # The CRM's tables on the server, filled from crm.db but for the customers' tables.
    engine = sa.create_engine(crm_url)
    CRM_METADATA.create_all(engine)
    crm_path = Path(sa.make_url(demo.crm_url).database or "")
    source = sqlite3.connect(crm_path)
    with engine.begin() as conn:
        for t in CRM_METADATA.sorted_tables:
            if t.name in ("account", "contact"):
                continue
            names_ = [c.name for c in t.columns]
            rows = source.execute(f"SELECT {', '.join(names_)} FROM {t.name}").fetchall()
            if rows:
                conn.execute(t.insert(), [dict(zip(names_, r, strict=True)) for r in rows])
    source.close()
    engine.dispose()
    config = demo.config_path.read_text(encoding="utf-8")
    config = config.replace('url = "sqlite:///.accord/state.db"', f'url = "{state_url}"', 1)
    config = config.replace('url = "sqlite:///crm.db"', f'url = "{crm_url}"', 1)
    demo.config_path.write_text(config, encoding="utf-8")
    erp_path = Path(sa.make_url(demo.erp_url).database or "")
    with sqlite3.connect(erp_path) as erp:
        expected = erp.execute(
            f"SELECT count(*) FROM customer WHERE {full_sync.FILTER_SQL}"
        ).fetchone()[0]
    erp.close()
    with accord.Project.load(demo.config_path) as project:
        run = project.sync(["CURRENCY", "SALESPEOPLE"], full=True)
        if not run.ok:
            problem(f"reference data did not synchronize: {run.by_mapping()} {run.not_run}")
    full_sync.check_plan(demo.config_path)
    return ServerWorld(
        server, directory, demo.config_path, erp_path, crm_url, state_url, names, expected
    )


# -- floors --------------------------------------------------------------------------------
def mapped_rows(world: ServerWorld) -> list[tuple[Any, ...]]:
    """The CUSTOMER rows as the engine writes them (see full_sync.raw_sqlite3)."""
    engine = sa.create_engine(world.state_url, poolclass=sa.pool.NullPool)
    lookups: dict[str, dict[str, str]] = {}
    with engine.connect() as conn:
        for mapping in ("CURRENCY", "SALESPEOPLE"):
            rows = conn.exec_driver_sql(
                "SELECT local_key, integration_key FROM accord_couplings "
                f"WHERE mapping = '{mapping}' AND NOT pending"
            )
            lookups[mapping] = {r[0]: r[1] for r in rows}
    engine.dispose()
    currencies, salespeople = lookups["CURRENCY"], lookups["SALESPEOPLE"]
    erp = sqlite3.connect(world.erp_path)
    stamp = utcnow().replace(microsecond=0)
    uuid4 = uuid.uuid4
    select = (
        f"SELECT {', '.join(full_sync.SOURCE_COLUMNS)} FROM customer WHERE {full_sync.FILTER_SQL}"
    )
    out = [
        (
            str(uuid4()), name, no or None, contact or None, address or None,
            address_2 or None, post_code or None, city or None, country or None,
            county or None, email or None, phone or None, fax or None, home or None, credit,
            currencies.get(currency) if currency else None,
            salespeople.get(salesperson) if salesperson else None, 0, 3, stamp,
        )
        for (
            no, name, contact, address, address_2, post_code, city, country, county, email,
            phone, fax, home, credit, currency, salesperson,
        ) in erp.execute(select)
    ]  # fmt: skip
    erp.close()
    return out


def _fresh_copy(world: ServerWorld, name: str) -> None:
    engine = sa.create_engine(world.crm_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        if world.server == "postgresql":
            conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE account INCLUDING ALL)")
        else:
            conn.exec_driver_sql(f"CREATE TABLE {name} LIKE account")
    engine.dispose()


def _dbapi(world: ServerWorld) -> Any:
    engine = sa.create_engine(world.crm_url, poolclass=sa.pool.NullPool)
    return engine, engine.raw_connection()


def floor_copy(world: ServerWorld) -> tuple[float, int]:
    """Read + map + ``COPY`` (PostgreSQL)."""
    _fresh_copy(world, "account_copy")
    engine, raw = _dbapi(world)
    columns = ", ".join(full_sync.ACCOUNT_COLUMNS)
    with Stopwatch() as sw:
        rows = mapped_rows(world)
        cur = raw.cursor()
        with cur.copy(f"COPY account_copy ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    raw.close()
    engine.dispose()
    return sw.seconds, len(rows)


def floor_executemany(world: ServerWorld) -> tuple[float, int]:
    """Read + map + ``executemany``: pipelined on psycopg 3, multi-row on PyMySQL."""
    _fresh_copy(world, "account_many")
    engine, raw = _dbapi(world)
    columns = ", ".join(full_sync.ACCOUNT_COLUMNS)
    marks = ", ".join(["%s"] * len(full_sync.ACCOUNT_COLUMNS))
    with Stopwatch() as sw:
        rows = mapped_rows(world)
        cur = raw.cursor()
        sql = f"INSERT INTO account_many ({columns}) VALUES ({marks})"
        for start in range(0, len(rows), 5000):
            cur.executemany(sql, rows[start : start + 5000])
        raw.commit()
    raw.close()
    engine.dispose()
    return sw.seconds, len(rows)


# -- the engine ----------------------------------------------------------------------------
def reset(world: ServerWorld, erp_snapshot: bytes) -> None:
    """Back to the state before the full sync: no accounts, no CUSTOMER state."""
    for engine_url, statements in (
        (world.crm_url, ["DELETE FROM account"]),
        (
            world.state_url,
            [
                "DELETE FROM accord_couplings WHERE mapping = 'CUSTOMER'",
                "DELETE FROM accord_watermarks WHERE mapping = 'CUSTOMER'",
                "DELETE FROM accord_job_errors",
            ],
        ),
    ):
        engine = sa.create_engine(engine_url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)
        if world.server == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        engine.dispose()
    world.erp_path.write_bytes(erp_snapshot)
    for suffix in ("-wal", "-shm"):
        Path(f"{world.erp_path}{suffix}").unlink(missing_ok=True)


def verify(world: ServerWorld, result: dict[str, Any] | None) -> list[str]:
    wrong = []
    engine = sa.create_engine(world.crm_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        accounts = conn.exec_driver_sql("SELECT count(*) FROM account").scalar_one()
    engine.dispose()
    engine = sa.create_engine(world.state_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        coupled, pending = conn.exec_driver_sql(
            "SELECT count(*), count(CASE WHEN pending THEN 1 END) FROM accord_couplings "
            "WHERE mapping = 'CUSTOMER'"
        ).one()
    engine.dispose()
    if accounts != world.expected:
        wrong.append(f"{accounts} CRM accounts, expected {world.expected}")
    if coupled != world.expected or pending:
        wrong.append(f"{coupled} couplings ({pending} pending), expected {world.expected}")
    if result is not None and not result["ok"]:
        wrong.append(f"run not ok: {result['not_run']} {result['jobs']}")
    return wrong


def cli_sync(world: ServerWorld) -> float:
    """``accord sync CUSTOMER --full``: wall time with the process start."""
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR / "src")}
    accord_cmd = [sys.executable, "-m", "accord"]
    started = time.perf_counter()
    proc = subprocess.run(
        [*accord_cmd, "sync", "CUSTOMER", "--full", "-c", str(world.config_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    took = time.perf_counter() - started
    if proc.returncode != 0:
        problem(f"accord sync failed ({proc.returncode}): {proc.stderr[-500:]}")
    return took


def run(
    server: str, records: int, *, rounds: int = 5, profile: bool = False, cli: bool = True
) -> list[Figure]:
    console.rule(f"[bold]{BENCH} on {server} ({records:,} ERP customers, {rounds} rounds)")
    console.print(f"machine: {machine_line()}; load average {load_average()}")
    with Stopwatch() as sw_setup:
        world = setup(server, records)
    console.print(f"setup {seconds(sw_setup.seconds)}: {world.expected:,} customers to create")
    erp_snapshot = world.erp_path.read_bytes()
    floors: dict[str, list[float]] = {"copy": [], "executemany": []}
    engine_s: list[float] = []
    total_s: list[float] = []
    cli_s: list[float] = []
    wrong: list[str] = []
    profile_path = world.directory / "engine.pstats"
    try:
        for i in range(rounds):
            if server == "postgresql":
                took, n = floor_copy(world)
                floors["copy"].append(took)
            took, n = floor_executemany(world)
            floors["executemany"].append(took)
            if n != world.expected:
                problem(f"floor copied {n} rows, expected {world.expected}")
            reset(world, erp_snapshot)
            args = ["--child", str(world.config_path)]
            if profile and i == rounds - 1:
                args += ["--profile-to", str(profile_path)]
            result = run_child(Path(full_sync.__file__), args)
            engine_s.append(result["sync_s"])
            total_s.append(result["total_s"])
            wrong += verify(world, result)
            line = f"round {i + 1}/{rounds}: engine {seconds(engine_s[-1])}"
            if cli:
                reset(world, erp_snapshot)
                cli_s.append(cli_sync(world))
                wrong += verify(world, None)
                line += f", CLI {seconds(cli_s[-1])}"
            for name, values in floors.items():
                if values:
                    line += f", {name} {seconds(values[-1])} ({engine_s[-1] / values[-1]:.2f}×)"
            console.print(line)
            jobs = ", ".join(
                f"{j['direction']} {j['seconds']:.3f} s" for j in result["jobs"] if j["seconds"]
            )
            console.print(f"  engine jobs: {jobs}; peak RSS {result['peak_rss_mb']:.0f} MB")
    finally:
        drop_scopes(world)
    for message in wrong:
        problem(message)
    base = "copy" if server == "postgresql" else "executemany"
    per_round = [e / f for e, f in zip(engine_s, floors[base], strict=True)]

    def mmm(values: list[float]) -> tuple[str, str, str]:
        s = sorted(values)
        return f"{s[0]:.3f}", f"{s[len(s) // 2]:.3f}", f"{s[-1]:.3f}"

    rows = []
    for name, values in floors.items():
        if values:
            rows.append((f"floor: read + map + {name}", *mmm(values), ""))
    rows.append(("engine: sync CUSTOMER --full (in process)", *mmm(engine_s), ""))
    rows.append(("engine incl. Project.load and close", *mmm(total_s), ""))
    if cli_s:
        rows.append(("accord sync CUSTOMER --full (CLI wall time)", *mmm(cli_s), ""))
    rows.append((f"engine / {base} (per round)", *mmm(per_round), ""))
    table(
        f"{server}: full sync of {world.expected:,} customers, {rounds} interleaved rounds",
        ("variant", "min s", "median s", "max s", ""),
        rows,
    )
    if profile:
        import pstats

        pstats.Stats(str(profile_path), stream=sys.stdout).sort_stats("cumulative").print_stats(30)
    median_ratio = sorted(per_round)[len(per_round) // 2]
    return [
        Figure(BENCH, f"{server} rows", f"{world.expected:,}"),
        Figure(
            BENCH,
            f"{server} engine / {base}",
            ratio(median_ratio),
            f"≤ {RATIO_TARGET:g}×",
            median_ratio <= RATIO_TARGET and not wrong,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--server", choices=("postgresql", "mariadb"), action="append")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-cli", action="store_true", help="leave out the CLI wall time")
    args = parser.parse_args(argv)
    from common import figures_table

    figures: list[Figure] = []
    for server in args.server or ["postgresql", "mariadb"]:
        figures += run(
            server, args.records, rounds=args.rounds, profile=args.profile, cli=not args.no_cli
        )
    figures_table("Server full sync — figures", figures)
    shutil.rmtree(fresh_dir("server_sync_tmp"), ignore_errors=True)


if __name__ == "__main__":
    main()
