"""The whole command line with its state store (couplings, jobs, watermarks) on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.demo import build_demo
from tests.cli.conftest import RECORDS, DemoRun
from tests.cli.support import MAPPINGS, Demo, accord, accord_json, explain, utc_now_text
from tests.services import postgresql_schema

pytestmark = pytest.mark.postgresql


def test_cli_with_the_state_store_on_postgresql(demo_run: DemoRun, tmp_path: Path) -> None:
    world = build_demo(tmp_path / "demo", records=RECORDS)  # same seed: the same rows
    demo = Demo(world.directory)
    with postgresql_schema() as url:
        demo.replace_in_config('url = "sqlite:///.accord/state.db"', f'url = "{url}"')

        full = accord_json("sync", "--full", "-c", demo.config)
        assert full["ok"] is True and full["totals"]["failed"] == 0
        for name in MAPPINGS:
            expected = demo_run.output["mappings"][name]
            got = full["mappings"][name]
            assert (got["inserted"], got["coupled"]) == (expected["inserted"], expected["coupled"])

        quiet = accord_json("sync", "-c", demo.config)
        assert quiet["ok"] is True
        assert quiet["totals"]["inserted"] + quiet["totals"]["modified"] == 0
        assert quiet["totals"]["deleted"] == 0

        jobs = accord_json("jobs", "--limit", "1000", "-c", demo.config)
        assert len(jobs) == len(full["jobs"]) + len(quiet["jobs"])
        assert all(j["status"] == "ok" for j in jobs)
        assert accord_json("jobs", jobs[-1]["id"][:8], "-c", demo.config)["id"] == jobs[-1]["id"]

        rows = {r["name"]: r for r in accord_json("mappings", "-c", demo.config)}
        for name in MAPPINGS:
            assert rows[name]["coupled"] == len(demo.couplings(name))
            assert rows[name]["coupled"] == full["mappings"][name]["coupled"]

        # one change, then coupling by hand, all kept in PostgreSQL
        local, remote = next(iter(demo.couplings("CUSTOMER").items()))
        demo.execute(
            "erp",
            "UPDATE customer SET city = 'Hammerfest', last_modified = ? WHERE no = ?",
            utc_now_text(),
            local,
        )
        out = accord_json("sync", "CUSTOMER", "-c", demo.config)
        assert out["totals"]["modified"] == 1
        assert accord("uncouple", "CUSTOMER", local, "-c", demo.config).exit_code == 0
        result = accord("couple", "CUSTOMER", local, "--to", remote, "-c", demo.config)
        assert result.exit_code == 0, explain(result)
        assert demo.couplings("CUSTOMER")[local] == remote
        assert not (demo.directory / ".accord" / "state.db").exists()
