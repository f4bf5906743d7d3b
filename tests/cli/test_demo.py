"""``accord demo``: build two SQLite systems, write accord.toml, synchronize, summarize."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import RECORDS, DemoRun
from tests.cli.support import MAPPINGS, Demo, accord, explain, run_accord, table_rows

COUNTERS = ("inserted", "modified", "unchanged", "skipped", "failed", "coupled")


def test_demo_json_reports_a_clean_full_run(demo_run: DemoRun) -> None:
    out = demo_run.output
    assert out["ok"] is True
    assert out["not_run"] == {}
    assert set(out["mappings"]) == set(MAPPINGS)
    assert out["totals"]["failed"] == 0
    assert all(job["status"] == "ok" for job in out["jobs"])
    for name in ("erp.db", "crm.db", "accord.toml"):
        assert (demo_run.directory / name).is_file()


def test_demo_inserted_equals_the_couplings_made(demo_run: DemoRun, demo: Demo) -> None:
    per_mapping = {name: len(demo.couplings(name)) for name in MAPPINGS}
    assert demo_run.output["totals"]["inserted"] == sum(per_mapping.values())
    for name, count in per_mapping.items():
        assert demo_run.output["mappings"][name]["coupled"] == count


def test_demo_rebuilds_its_own_folder_with_the_real_executable(demo: Demo) -> None:
    demo.execute("erp", "DELETE FROM customer")  # a rebuild starts from scratch

    done = run_accord("demo", "--dir", ".", "--records", str(RECORDS), cwd=demo.directory)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "Building the demo ERP and CRM" in done.stdout
    assert "CUSTOMER →" in done.stdout and "CUSTOMER ←" in done.stdout  # progress bars
    header = next(line for line in done.stdout.splitlines() if "mapping" in line)
    assert all(name in header for name in COUNTERS)
    rows = table_rows(done.stdout)
    assert set(MAPPINGS) <= set(rows)
    failed = COUNTERS.index("failed")
    for name in MAPPINGS:
        assert rows[name][failed] == "0", rows[name]
        assert rows[name][-1] == "ok"
    assert int(rows["total"][COUNTERS.index("inserted")].replace(",", "")) > 0
    assert "Try next" in done.stdout and "accord mappings" in done.stdout
    assert demo.scalar("erp", "SELECT count(*) FROM customer") > 0


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")

    result = accord("demo", "--dir", foreign, "--records", "20")

    assert result.exit_code == 2, explain(result)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not made by 'accord demo'" in lines[0]
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_demo_in_a_folder_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")

    result = accord("demo", "--dir", a_file / "demo", "--records", "20")

    assert result.exit_code == 2, explain(result)
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot build the demo in")


def test_demo_needs_at_least_twenty_records(tmp_path: Path) -> None:
    result = accord("demo", "--dir", tmp_path / "d", "--records", "19")
    assert result.exit_code == 2
    assert "--records" in result.stderr
    assert not (tmp_path / "d").exists()
