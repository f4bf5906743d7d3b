"""The browser UI's overhead: the same engine calls through ``accord serve`` and directly.

A demo (``--records`` customers) is served on loopback; each figure times one thing done
both ways, side by side in this process, and prints the ratio (web / direct):

- the mappings page vs ``Project.overview()`` plus the recent jobs it shows;
- a records page (25 rows, first page and a deep one) vs ``Project.records()``;
- an incremental sync of one mapping with one change, as an action (POST, then polling its
  task to the end) vs ``Project.sync()``.

    python bench/web.py [--records 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing

import common
import httpx

from accord.demo import build_demo
from accord.engine.project import Project
from accord.model import Side
from accord.services.common.server import BackgroundServer
from accord.web.app import create_app
from accord.web.security import COOKIE, csrf_token

TOKEN = "bench"


def timed(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return common.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = common.fresh_dir("web")
    world = build_demo(work / "demo", records=args.records)
    config = world.config_path
    with Project.load(config) as project:
        project.sync(full=True)
        local = project.couplings("CUSTOMER", limit=1)[0].local_key
    deep = (args.records // 2 // 25) * 25

    def touch() -> None:
        with closing(sqlite3.connect(work / "demo" / "erp.db")) as erp, erp:
            erp.execute(
                "UPDATE customer SET city = ?, last_modified = ? WHERE no = ?",
                (f"City {time.perf_counter()}", common.sa_datetime(common.utcnow()), local),
            )

    rows = []
    with (
        BackgroundServer(create_app(config, TOKEN)) as server,
        httpx.Client(
            base_url=server.url,
            cookies={COOKIE: TOKEN},
            headers={"X-CSRF-Token": csrf_token(TOKEN)},
            timeout=120,
        ) as client,
    ):

        def direct_overview() -> None:
            with Project.load(config) as p:
                for m in p.overview():
                    p.jobs(limit=12, mapping=m.name)

        def web_get(path: str) -> Callable[[], None]:
            def get() -> None:
                response = client.get(path)
                if response.status_code != 200:
                    common.problem(f"WRONG RESULT: {path} answered {response.status_code}")

            return get

        def direct_records(offset: int) -> Callable[[], None]:
            def read() -> None:
                with Project.load(config) as p:
                    p.records("CUSTOMER", Side.LOCAL, offset=offset, limit=25)

            return read

        def direct_sync() -> None:
            touch()
            with Project.load(config) as p:
                run = p.sync(["CUSTOMER"])
            if run.totals().modified != 1:
                common.problem(f"WRONG RESULT: direct sync modified {run.totals().modified}")

        def web_sync() -> None:
            touch()
            response = client.post("/actions/sync", data={"mapping": "CUSTOMER"})
            task = response.text.split('id="task-', 1)[1][:36]
            while True:
                page = client.get(f"/tasks/{task}", headers={"HX-Request": "true"}).text
                if 'data-state="running"' not in page:
                    break
                time.sleep(0.01)
            if "1 record(s) written" not in page:
                common.problem("WRONG RESULT: the web sync did not write the one change")

        figures = [
            ("mappings page", direct_overview, web_get("/")),
            ("records page 1", direct_records(0), web_get("/mappings/CUSTOMER/records/local")),
            (
                f"records page at {deep}",
                direct_records(deep),
                web_get(f"/mappings/CUSTOMER/records/local?offset={deep}"),
            ),
            ("sync one change", direct_sync, web_sync),
        ]
        for name, direct, web in figures:
            d, w = timed(direct, args.rounds), timed(web, args.rounds)
            rows.append((name, common.seconds(d), common.seconds(w), common.ratio(w / d)))
    common.console.print(common.machine_line())
    common.table(
        f"The browser UI vs the engine calls ({args.records:,} customers, median of {args.rounds})",
        ["what", "direct", "web", "web / direct"],
        rows,
    )


if __name__ == "__main__":
    main()
