"""Screenshots of the main pages for the README: ``python -m accord.web.screenshots``.

Builds a small demo in a temporary folder, gives it a conflict and a failed coupling, serves
it on loopback and photographs each page with Debian's Chromium driven by Playwright (a
development dependency: ``pip install -e '.[test]'``; ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from accord.demo import build_demo
from accord.engine.project import Project
from accord.services.common.server import BackgroundServer
from accord.web.app import create_app

TOKEN = "screenshots"
PAGES = [
    ("mappings", "/"),
    ("mapping-card", "/mappings/CUSTOMER"),
    ("records", "/mappings/CUSTOMER/records/local"),
    ("jobs", "/jobs"),
    ("errors", "/errors"),
    ("conflicts", "/conflicts"),
    ("review", "/review"),
]


def now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")


def prepare(directory: Path) -> Path:
    """The demo, synchronized, with one conflict and one coupling to a deleted record."""
    world = build_demo(directory, records=60, seed=42)
    config = world.config_path
    with Project.load(config) as project:
        project.sync(full=True)
        pairs = project.couplings("CUSTOMER", limit=2)
    (a, b) = pairs
    with closing(sqlite3.connect(directory / "erp.db")) as erp, erp:
        erp.execute(
            "UPDATE customer SET city = 'Bergen', last_modified = ? WHERE no = ?",
            (now(), a.local_key),
        )
    with closing(sqlite3.connect(directory / "crm.db")) as crm, crm:
        crm.execute(
            "UPDATE account SET address1_city = 'Milan', modifiedon = ? WHERE accountid = ?",
            (now(), a.integration_key),
        )
        crm.execute("DELETE FROM account WHERE accountid = ?", (b.integration_key,))
    with Project.load(config) as project:
        project.sync(["CUSTOMER"])
        project.sync(["CUSTOMER"], full=True)
    return config


def take(out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    taken = []
    with tempfile.TemporaryDirectory() as tmp:
        config = prepare(Path(tmp) / "demo")
        with (
            BackgroundServer(create_app(config, TOKEN)) as server,
            sync_playwright() as p,
        ):
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{server.url}/?token={TOKEN}")
            for name, path in PAGES:
                page.goto(server.url + path)
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=False)
                taken.append(target)
            page.goto(server.url + "/")
            page.locator("#mapping-CUSTOMER").get_by_role(
                "button", name="Match-Based Coupling…"
            ).click()
            page.screenshot(path=str(out / "match-dialog.png"))
            taken.append(out / "match-dialog.png")
            browser.close()
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    for path in take(args.out, args.chromium):
        print(path)


if __name__ == "__main__":
    main()
