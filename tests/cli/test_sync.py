"""``accord sync``: incremental and full runs, selected records, failed records, jobs."""

from __future__ import annotations

import json

from tests.cli.support import (
    MAPPINGS,
    Demo,
    accord,
    accord_json,
    explain,
    run_accord,
    utc_now_text,
)

WRITES = ("inserted", "modified", "deleted")


def test_sync_after_the_demo_writes_nothing(demo: Demo) -> None:
    out = accord_json("sync", "-c", demo.config)
    assert out["ok"] is True
    assert sum(out["totals"][k] for k in WRITES) == 0
    assert out["totals"]["failed"] == 0
    assert set(out["mappings"]) == set(MAPPINGS)

    result = accord("sync", "-c", demo.config)  # the table form agrees
    assert result.exit_code == 0, explain(result)
    assert "Synchronization" in result.stdout


def test_an_erp_change_reaches_the_crm(demo: Demo) -> None:
    local, remote = next(iter(demo.couplings("CUSTOMER").items()))
    before = demo.scalar("crm", "SELECT address1_city FROM account WHERE accountid = ?", remote)
    assert before != "Ulaanbaatar"
    changed = demo.execute(
        "erp",
        "UPDATE customer SET city = ?, last_modified = ? WHERE no = ?",
        "Ulaanbaatar",
        utc_now_text(),
        local,
    )
    assert changed == 1

    out = accord_json("sync", "CUSTOMER", "-c", demo.config)

    to_crm = [j for j in out["jobs"] if j["direction"] == "to-integration"]
    assert len(to_crm) == 1
    assert to_crm[0]["counters"]["modified"] == 1
    assert to_crm[0]["counters"]["failed"] == 0
    assert {j["mapping"] for j in out["jobs"]} == {"CUSTOMER"}
    city = demo.scalar("crm", "SELECT address1_city FROM account WHERE accountid = ?", remote)
    assert city == "Ulaanbaatar"


def test_a_record_the_destination_rejects_fails_alone(demo: Demo) -> None:
    """A CRM account name may have 160 characters, an ERP customer name only 100."""
    pairs = demo.couplings("CUSTOMER")
    by_remote = {remote: local for local, remote in pairs.items()}
    (rejected, r_local), (accepted, a_local) = list(by_remote.items())[:2]
    long_name = "Consolidated " + "Northern " * 15 + "Holdings"
    assert 100 < len(long_name) <= 160
    now = utc_now_text()
    demo.execute(
        "crm",
        "UPDATE account SET name = ?, modifiedon = ? WHERE accountid = ?",
        long_name,
        now,
        rejected,
    )
    demo.execute(
        "crm",
        "UPDATE account SET address1_city = ?, modifiedon = ? WHERE accountid = ?",
        "Tromsø",
        now,
        accepted,
    )
    erp_name = demo.scalar("erp", "SELECT name FROM customer WHERE no = ?", r_local)

    result = accord("sync", "CUSTOMER", "-c", demo.config)

    assert result.exit_code == 1, explain(result)
    assert "1 record(s) failed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    # the rest of that pass went through; the rejected record was left alone
    assert demo.scalar("erp", "SELECT city FROM customer WHERE no = ?", a_local) == "Tromsø"
    assert demo.scalar("erp", "SELECT name FROM customer WHERE no = ?", r_local) == erp_name

    jobs = accord_json("jobs", "-c", demo.config)
    failed = [j for j in jobs if j["status"] == "failed"]
    assert len(failed) == 1
    job = failed[0]
    assert (job["mapping"], job["direction"]) == ("CUSTOMER", "from-integration")
    assert job["counters"]["failed"] == 1 and job["counters"]["modified"] == 1

    listing = accord("jobs", "-c", demo.config)
    assert listing.exit_code == 0, explain(listing)
    line = next(li for li in listing.stdout.splitlines() if job["id"][:8] in li)
    assert "CUSTOMER" in line and "failed" in line

    prefix = job["id"][:6]
    detail = accord_json("jobs", prefix, "-c", demo.config)
    assert detail["id"] == job["id"]
    assert len(detail["errors"]) == 1
    error = detail["errors"][0]
    assert error["source_key"] == rejected
    assert error["destination_key"] == r_local
    assert "'name'" in error["message"] and "too long" in error["message"]

    shown = accord("jobs", prefix, "-c", demo.config)
    assert shown.exit_code == 0, explain(shown)
    assert rejected in shown.stdout and "too long" in shown.stdout

    attention = accord_json("couplings", "CUSTOMER", "--attention", "-c", demo.config)
    assert [c["integration_key"] for c in attention] == [rejected]


def test_exit_code_of_failed_records_from_the_real_executable(demo: Demo) -> None:
    remote = next(iter(demo.couplings("CUSTOMER").values()))
    demo.execute(
        "crm",
        "UPDATE account SET name = ?, modifiedon = ? WHERE accountid = ?",
        "X" * 150,
        utc_now_text(),
        remote,
    )
    done = run_accord("sync", "CUSTOMER", "--json", cwd=demo.directory)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["ok"] is False and out["totals"]["failed"] == 1


def test_markup_like_text_in_records_is_printed_as_is(demo: Demo) -> None:
    remote = next(iter(demo.couplings("CUSTOMER").values()))
    name = "[/b][red]" + "N" * 120
    demo.execute(
        "crm",
        "UPDATE account SET name = ?, modifiedon = ? WHERE accountid = ?",
        name,
        utc_now_text(),
        remote,
    )
    assert accord("sync", "CUSTOMER", "-c", demo.config).exit_code == 1
    job = next(j for j in accord_json("jobs", "-c", demo.config) if j["status"] == "failed")

    for args in (("jobs", job["id"]), ("couplings", "CUSTOMER", "--attention")):
        result = accord(*args, "-c", demo.config)
        assert result.exit_code == 0, explain(result)
        assert "[/b][red]NNN" in result.stdout


def test_selected_records_of_a_bidirectional_mapping_need_a_direction(demo: Demo) -> None:
    local = next(iter(demo.couplings("CUSTOMER")))
    jobs_before = accord_json("jobs", "--limit", "1000", "-c", demo.config)

    result = accord("sync", "CUSTOMER", "--records", local, "-c", demo.config)

    assert result.exit_code == 2, explain(result)
    assert "--direction" in result.stderr
    assert accord_json("jobs", "--limit", "1000", "-c", demo.config) == jobs_before

    out = accord_json(
        "sync",
        "CUSTOMER",
        "--records",
        f"{local}, ",
        "--direction",
        "to-integration",
        "-c",
        demo.config,
    )
    assert out["ok"] is True
    assert [(j["mapping"], j["direction"]) for j in out["jobs"]] == [("CUSTOMER", "to-integration")]
    assert out["totals"]["modified"] + out["totals"]["unchanged"] == 1


def test_bidirectional_is_not_a_direction_for_one_pass(demo: Demo) -> None:
    local, remote = next(iter(demo.couplings("CUSTOMER").items()))
    runs = [
        ("sync", "CUSTOMER", "--records", local, "--direction", "bidirectional"),
        ("sync", "CUSTOMER", "--direction", "bidirectional"),
        ("couple", "CUSTOMER", local, "--to", remote, "--sync", "bidirectional"),
    ]
    for args in runs:
        result = accord(*args, "-c", demo.config)
        assert result.exit_code == 2, explain(result)
        assert isinstance(result.exception, SystemExit)
        assert "bidirectional" in result.stderr


def test_selected_records_rules(demo: Demo) -> None:
    cases = {
        ("sync", "CUSTOMER", "CONTACT", "--records", "C00001", "-d", "to-integration"): "one",
        ("sync", "CUSTOMER", "--records", "C00001", "-d", "to-integration", "--full"): "--full",
        ("sync", "CURRENCY", "--records", "EUR", "-d", "from-integration"): "to-integration",
    }
    for args, words in cases.items():
        result = accord(*args, "-c", demo.config)
        assert result.exit_code == 2, explain(result)
        assert words in result.stderr


def test_named_mappings_run_in_dependency_order(demo: Demo) -> None:
    out = accord_json("sync", "CONTACT", "currency", "-c", demo.config)
    order = [j["mapping"] for j in out["jobs"]]
    assert set(order) == {"CURRENCY", "CONTACT"}
    assert order.index("CURRENCY") < order.index("CONTACT")
    assert order == sorted(order, key=("CURRENCY", "CONTACT").index)


def test_full_sync_of_a_synchronized_demo_changes_nothing(demo: Demo) -> None:
    out = accord_json("sync", "CUSTOMER", "--full", "-c", demo.config)
    assert out["ok"] is True
    assert sum(out["totals"][k] for k in WRITES) == 0
    assert out["totals"]["unchanged"] > 0
    assert all(j["message"] == "full synchronization" for j in out["jobs"])
