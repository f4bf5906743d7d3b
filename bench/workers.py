"""Benchmark 6 — a full sync on 1, 2 and 4 ``accord worker`` processes, and the speed-up.

* **PostgreSQL**: ``--records`` ERP customers (default 1,000,000, made with
  ``generate_series``) in one PostgreSQL schema, an empty CRM account table in another, the
  state store in a third; one to-integration mapping CUSTOMER. Each row: a fresh CRM and
  state store, then the full sync — in this process (``Project.sync(full=True)``, no
  Celery), then dispatched (``CeleryDispatcher(full=True)``) to 1, 2 and 4 workers, the pass
  split into ranges of ``--part`` records. Verified: one account and one coupling per customer.
* **Dataverse** (``--dataverse N``, default 20,000; 0 skips it): the demo world with its CRM in
  the local Dataverse service (as ``accord dev dataverse`` serves it) under a service
  protection budget of ``--budget`` requests per ``--window`` seconds (Dataverse's own is
  6,000 per 300 s per user); every mapping's full sync, on 1, 2 and 4 workers. All workers
  share one application user and so one budget: it is the ceiling.

The broker is ``ACCORD_BROKER_URL`` (default Redis); every worker is one process
(``accord worker --concurrency 1``) of this machine.

    python bench/workers.py [--records 1000000] [--part 50000] [--workers 1,2,4]
                            [--dataverse 20000] [--budget 1200] [--window 60]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from common import console, fresh_dir, load_average, machine_line, table

import accord
from accord.worker.app import Broker, broker_for, close_app, make_app
from accord.worker.dispatch import CeleryDispatcher

PG = os.environ.get(
    "ACCORD_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ACCORD = (sys.executable, "-m", "accord")
SRC = Path(__file__).resolve().parent.parent / "src"

CONFIG = """\
[state]
url = "{state}"
lease_seconds = 600.0

[systems.erp]
connector = "sql"
url = "{erp}"

[systems.crm]
connector = "sql"
url = "{crm}"

[tables."erp.customer"]
key = "no"
modified = "last_modified"

[tables."crm.account"]
key = "accountid"
modified = "modifiedon"
new_keys = "uuid"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "to-integration"
fields = [
  {{ field = "name", integration_field = "name" }},
  {{ field = "city", integration_field = "address1_city" }},
  {{ field = "email", integration_field = "emailaddress1" }},
  {{ field = "credit_limit", integration_field = "creditlimit" }},
]

[workers]
part_records = {part}
"""


def schema_url(schema: str) -> str:
    sep = "&" if "?" in PG else "?"
    return f"{PG}{sep}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def schemas(*names: str) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    made = {n: f"bench_{n}_{suffix}" for n in names}
    engine = sa.create_engine(PG, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for s in made.values():
            conn.execute(sa.text(f'CREATE SCHEMA "{s}"'))
    try:
        yield made
    finally:
        with engine.begin() as conn:
            for s in made.values():
                conn.execute(sa.text(f'DROP SCHEMA "{s}" CASCADE'))
        engine.dispose()


def fill_erp(schema: str, records: int) -> None:
    engine = sa.create_engine(PG, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f'CREATE TABLE "{schema}".customer (no varchar(20) PRIMARY KEY, '
                "name varchar(100) NOT NULL, city varchar(50), email varchar(100), "
                "credit_limit numeric(18,2), last_modified timestamp NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                f'INSERT INTO "{schema}".customer '
                "SELECT 'C' || lpad(i::text, 7, '0'), 'Customer ' || i, 'City ' || (i % 997), "
                "'c' || i || '@example.com', (i % 50) * 1000, "
                "timestamp '2026-01-01' + i * interval '1 second' "
                "FROM generate_series(1, :n) AS i"
            ),
            {"n": records},
        )
    engine.dispose()


def reset_crm_and_state(crm: str, state: str) -> None:
    engine = sa.create_engine(PG, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{crm}".account'))
        conn.execute(
            sa.text(
                f'CREATE TABLE "{crm}".account (accountid varchar(36) PRIMARY KEY, '
                "name varchar(160) NOT NULL, address1_city varchar(80), "
                "emailaddress1 varchar(100), creditlimit numeric(18,2), "
                "modifiedon timestamp NOT NULL)"
            )
        )
        conn.execute(sa.text(f'DROP SCHEMA "{state}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{state}"'))
    engine.dispose()


def count(schema: str, table_name: str) -> int:
    engine = sa.create_engine(PG, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        n = conn.execute(sa.text(f'SELECT count(*) FROM "{schema}".{table_name}')).scalar_one()
    engine.dispose()
    return int(n)


@contextmanager
def workers(config: Path, broker: Broker, n: int) -> Iterator[None]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    env.pop("ACCORD_CONFIG", None)
    procs = [
        subprocess.Popen(
            [*ACCORD, "worker", "-c", str(config), "--broker", broker.url, "-Q", broker.queue],
            env=env,
            cwd=config.parent,  # not bench/, whose http.py would shadow the standard library's
            stdout=subprocess.DEVNULL,
            stderr=(config.parent / f"worker-{i}.log").open("wb"),
        )
        for i in range(n)
    ]
    app = make_app(broker)
    try:
        deadline = time.monotonic() + 120
        while len(app.control.ping(timeout=1.0) or []) < n:  # every worker up before timing
            if time.monotonic() > deadline:
                raise SystemExit(f"the {n} worker(s) did not start: see {config.parent}")
        yield
    finally:
        close_app(app)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        app = make_app(broker)
        try:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(broker.queue)
        except Exception:  # nothing left to tidy
            pass
        close_app(app)


def dispatched(config: Path, n: int, *, i_know: bool = False) -> tuple[float, accord.RunResult]:
    with accord.Project.load(config) as project:
        broker = broker_for(project.config, queue=f"bench-{uuid.uuid4().hex[:8]}")
        with workers(config, broker, n):
            dispatcher = CeleryDispatcher(project, broker, full=True, i_know=i_know)
            try:
                started = time.perf_counter()
                run = dispatcher.dispatch([])
                took = time.perf_counter() - started
            finally:
                dispatcher.close()
    return took, run


def in_process(config: Path, *, i_know: bool = False) -> tuple[float, accord.RunResult]:
    with accord.Project.load(config) as project:
        started = time.perf_counter()
        run = project.sync(full=True, i_know=i_know)
        return time.perf_counter() - started, run


def postgresql(records: int, part: int, counts: list[int]) -> None:
    directory = fresh_dir("workers-pg")
    with schemas("erp", "crm", "state") as s:
        console.print(f"filling {records:,} ERP customers …")
        fill_erp(s["erp"], records)
        config = directory / "accord.toml"
        config.write_text(
            CONFIG.format(
                state=schema_url(s["state"]),
                erp=schema_url(s["erp"]),
                crm=schema_url(s["crm"]),
                part=part,
            )
        )
        rows: list[tuple[str, float, accord.RunResult]] = []
        reset_crm_and_state(s["crm"], s["state"])
        took, run = in_process(config)
        rows.append(("in this process (no Celery)", took, run))
        check(s, records, run)
        for n in counts:
            reset_crm_and_state(s["crm"], s["state"])
            took, run = dispatched(config, n)
            check(s, records, run)
            rows.append((f"{n} worker(s)", took, run))
            console.print(f"  {n} worker(s): {took:.1f} s")
        show(f"PostgreSQL full sync, {records:,} customers, ranges of {part:,}", rows)


def check(s: dict[str, str], records: int, run: accord.RunResult) -> None:
    made = count(s["crm"], "account")
    coupled = count(s["state"], "accord_couplings")
    if not run.ok or made != records or coupled != records:
        raise SystemExit(f"wrong result: {made:,} accounts, {coupled:,} couplings, ok={run.ok}")


def waited(run: accord.RunResult) -> float:
    """Seconds the jobs waited because the service said so (429, Retry-After), summed."""
    return sum(
        float(found.group(1))
        for job in run.jobs
        if (found := re.search(r"waited ([0-9.]+) s", job.message or ""))
    )


def show(title: str, rows: list[tuple[str, float, accord.RunResult]]) -> None:
    base = next((t for name, t, _ in rows if name.startswith("1 worker")), rows[0][1])
    table(
        title,
        ["run", "seconds", "records/s", "speed-up vs 1 worker", "jobs", "waited (429)"],
        [
            (
                name,
                f"{took:.1f}",
                f"{run.totals().inserted / took:,.0f}",
                f"{base / took:.2f}x",
                len(run.jobs),
                f"{waited(run):.0f} s",
            )
            for name, took, run in rows
        ],
    )


def dataverse(records: int, counts: list[int], budget: int, window: float) -> None:
    from accord.demo import build_demo
    from accord.demo.config import SECRET_VARIABLE
    from accord.services.common import Budget

    rows: list[tuple[str, float, accord.RunResult]] = []
    for n in counts:
        directory = fresh_dir(f"workers-dv-{n}")
        with schemas("state") as s:
            world = build_demo(directory, records=records, seed=42, crm="dataverse")
            try:
                assert world.service is not None
                os.environ[SECRET_VARIABLE] = world.service.client_secret  # workers inherit it
                world.service.budget = Budget(requests=budget, window=window, concurrent=52)
                text = world.config_path.read_text()
                default = 'url = "sqlite:///.accord/state.db"'
                text = text.replace(default, f'url = "{schema_url(s["state"])}"', 1)
                world.config_path.write_text(text + "\n[workers]\npart_records = 5000\n")
                took, run = dispatched(world.config_path, n, i_know=True)
                if not run.ok:
                    raise SystemExit(f"the Dataverse run failed: {run.not_run}")
                rows.append((f"{n} worker(s)", took, run))
                console.print(f"  {n} worker(s): {took:.1f} s")
            finally:
                world.stop()
    show(
        f"local Dataverse full sync (demo world, {records:,} customers), budget {budget:,} "
        f"requests per {window:g} s",
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--part", type=int, default=50_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--dataverse", type=int, default=20_000, metavar="RECORDS")
    parser.add_argument("--budget", type=int, default=1200)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    console.print(f"machine: {machine_line()}; load {load_average()}")
    console.print(f"broker: {broker_for(None).url}")
    if not args.no_postgresql:
        postgresql(args.records, args.part, counts)
    if args.dataverse:
        dataverse(args.dataverse, counts, args.budget, args.window)


if __name__ == "__main__":
    main()
