"""The confirm step of creations on the PostgreSQL state store, alone.

A full sync records each new record's coupling as *pending* before writing the record, and
confirms it after (``StateTransaction.confirm_created``: clear ``pending``, set the new
record's version). This times that confirmation for ``--records`` couplings in batches of
``--batch``, and reads from ``pg_stat_user_tables`` how many of the updates were HOT (no new
index entries). Run with the code of two branches to compare them:

    PYTHONPATH=src python bench/confirm.py --records 100000
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import datetime
from urllib.parse import quote

import sqlalchemy as sa

from accord.model import Coupling, Side, SyncResult
from accord.state import StateStore

BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--url", default=BASE_URL)
    parser.add_argument(
        "--fillfactor", type=int, default=None, help="set on accord_couplings first (an experiment)"
    )
    args = parser.parse_args()
    schema = f"bench_confirm_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    store = StateStore(f"{args.url}?options={quote(f'-csearch_path={schema}')}")
    try:
        if args.fillfactor:
            with store.engine.begin() as conn:
                conn.execute(
                    sa.text(f"ALTER TABLE accord_couplings SET (fillfactor = {args.fillfactor})")
                )
        now = datetime(2026, 12, 3, 12, 0, 0)
        job = str(uuid.uuid4())
        batches = []
        inserted_s = confirmed_s = 0.0
        for start in range(0, args.records, args.batch):
            keys = [f"C{n:07d}" for n in range(start, min(start + args.batch, args.records))]
            batch = [
                Coupling(
                    "CUSTOMER",
                    k,
                    str(uuid.uuid4()),
                    pending=True,
                    local_version=now,
                    result_to=SyncResult.SUCCESS,
                    job_to=job,
                    coupled_at=now,
                    synced_at=now,
                    local_hash=1,
                    integration_hash=2,
                )
                for k in keys
            ]
            batches.append(keys)
            began = time.perf_counter()
            with store.transaction() as tx:
                tx.insert_couplings(batch)
            inserted_s += time.perf_counter() - began
            began = time.perf_counter()
            with store.transaction() as tx:
                tx.confirm_created("CUSTOMER", Side.INTEGRATION, keys, now)
            confirmed_s += time.perf_counter() - began
        with store.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_stat_force_next_flush()"))
            stats = conn.execute(
                sa.text(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                    "WHERE schemaname = :s AND relname = 'accord_couplings'"
                ),
                {"s": schema},
            ).one()
            size = conn.execute(
                sa.text("SELECT pg_total_relation_size('accord_couplings')")
            ).scalar_one()
            left = conn.execute(
                sa.text("SELECT count(*) FROM accord_couplings WHERE pending")
            ).scalar_one()
        print(
            f"{args.records:,} couplings in batches of {args.batch:,}: insert pending "
            f"{inserted_s:.3f} s, confirm {confirmed_s:.3f} s; updates {stats[0]:,}, HOT "
            f"{stats[1]:,}; couplings table with indexes {size / args.records:.0f} bytes per "
            f"coupling; still pending {left}"
        )
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
