"""Benchmark 5: the demo's full sync between the local Business Central and Dataverse.

Requests are counted on each service's side (``stats``), so they are what crossed the wire.

    python bench/http_bc.py [--records 100000]

``build_demo(erp="businesscentral", crm="dataverse")`` loads the demo rows into both services
(no HTTP); then, timed and counted separately:

* **reference mappings** — CURRENCY, SALESPEOPLE, UNITOFMEASURE (small; the lookups need them);
* **CUSTOMER** — the full sync of the customers: the CRM-only accounts are created in BC
  (``$batch`` of 100 per POST), the BC-only customers in Dataverse, every record read once;
* **the rest** — CONTACT and ITEM-PRODUCT.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from tempfile import mkdtemp

# bench/http.py would shadow the standard library's http package (which httpx imports)
_BENCH = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p not in ("", _BENCH)]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from accord.demo import build_demo  # noqa: E402
from accord.demo.bc import BC_COMPANY  # noqa: E402
from accord.demo.config import BC_SECRET_VARIABLE, SECRET_VARIABLE  # noqa: E402
from accord.engine.project import Project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    directory = Path(mkdtemp(prefix="accord-bench-bc-")) / "demo"
    started = time.perf_counter()
    world = build_demo(directory, records=args.records, erp="businesscentral", crm="dataverse")
    build = time.perf_counter() - started
    bc, dv = world.erp_service, world.service
    assert bc is not None and dv is not None
    os.environ[BC_SECRET_VARIABLE] = bc.client_secret
    os.environ[SECRET_VARIABLE] = dv.client_secret
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    print(f"records {args.records:,}; demo built into both services in {build:.1f} s")
    print(f"BC customers before: {bc.count(BC_COMPANY, 'customers'):,}")
    rows = []
    try:
        with Project.load(world.config_path) as project:
            steps = (
                ("reference", ["CURRENCY", "SALESPEOPLE", "UNITOFMEASURE"]),
                ("CUSTOMER", ["CUSTOMER"]),
                ("rest", ["CONTACT", "ITEM-PRODUCT"]),
            )
            total = 0.0
            for label, mappings in steps:
                before = bc.count(BC_COMPANY, "customers")
                bc.stats.reset()
                dv.stats.reset()
                started = time.perf_counter()
                result = project.sync(mappings, full=True)
                elapsed = time.perf_counter() - started
                total += elapsed
                written = bc.count(BC_COMPANY, "customers") - before
                totals = result.totals()
                rows.append(
                    (
                        label,
                        elapsed,
                        dict(bc.stats.by_method),
                        dict(dv.stats.by_method),
                        written,
                        totals,
                    )
                )
                print(
                    f"{label}: {elapsed:.1f} s; BC requests {dict(bc.stats.by_method)}; "
                    f"Dataverse requests {dict(dv.stats.by_method)}; "
                    f"BC customers created {written:,}; inserted {totals.inserted:,}, "
                    f"modified {totals.modified:,}, failed {totals.failed}"
                )
                print(f"  BC requests by route: {dict(sorted(bc.stats.by_route.items()))}")
                print(f"  BC requests in batches: {dict(sorted(bc.stats.batch_parts.items()))}")
                print(f"  BC batches by size: {dict(sorted(bc.stats.batch_sizes.items()))}")
            print(f"full sync in all: {total:.1f} s")
            customers = bc.count(BC_COMPANY, "customers")
            label, _, bc_methods, _, written, _ = rows[1]
            if written:
                posts = bc_methods.get("POST", 0)
                print(
                    f"BC writes: {posts} POST ($batch) for {written:,} customers created = "
                    f"{posts / written * 1000:.1f} per 1,000"
                )
            print(
                f"BC reads: {bc_methods.get('GET', 0)} GET for {customers - written:,} customers "
                f"read (page 5,000)"
            )
    finally:
        world.stop()


if __name__ == "__main__":
    main()
