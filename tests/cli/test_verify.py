"""``accord verify``: coupled pairs whose values disagree, found by reading both sides.

Issue 9 class 4: edits stamped behind the watermark (a backdated import, another writer's
clock, a change made straight in the database) are never seen by an incremental sync; verify
finds them by values, and ``--fix`` synchronizes them in the direction that decides.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import accord
from tests.cli.support import Demo, accord_json, run_accord

OLD = "2026-01-01 00:00:00.000000"  # far behind every watermark and stored version


def coupled_customer(demo: Demo, index: int) -> tuple[str, str]:
    """The ``index``-th coupled, not blocked customer: (ERP no, CRM account id)."""
    pairs = demo.couplings("CUSTOMER")
    keys = [
        k
        for k in sorted(pairs)
        if demo.scalar("erp", "SELECT blocked FROM customer WHERE no = ?", k) == ""
    ]
    return keys[index], pairs[keys[index]]


def by_mapping(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mapping"]: m for m in result["mappings"]}


def test_a_fully_synced_demo_has_no_disagreements_and_verify_writes_nothing(demo: Demo):
    """Lookups (currencies, salespeople, customers of contacts) and constants compare as a
    pass would apply them: no false disagreement."""
    jobs = len(accord_json("jobs", "--limit", "1000", "-c", demo.config))
    stamps = (
        demo.scalar("erp", "SELECT max(last_modified) FROM customer"),
        demo.scalar("crm", "SELECT max(modifiedon) FROM account"),
    )
    result = accord_json("verify", "-c", demo.config)
    assert result["ok"] and result["disagreeing"] == 0
    found = by_mapping(result)
    assert found["CUSTOMER"]["compared"] == len(demo.couplings("CUSTOMER"))
    assert all(m["compared"] > 0 for m in found.values())
    assert len(accord_json("jobs", "--limit", "1000", "-c", demo.config)) == jobs
    assert stamps == (
        demo.scalar("erp", "SELECT max(last_modified) FROM customer"),
        demo.scalar("crm", "SELECT max(modifiedon) FROM account"),
    )


def test_transforms_cause_no_false_disagreement(demo: Demo):
    """A bidirectional field with a one-way transform (``lower`` lowers the ERP's 'DE' for
    the CRM; back, 'de' stays 'de'): it agrees, since the pass that sends it writes nothing."""
    demo.replace_in_config(
        '{ field = "country_code", integration_field = "address1_country" }',
        '{ field = "country_code", integration_field = "address1_country", transform = "lower" }',
    )
    assert run_accord("sync", "--full", cwd=demo.directory).returncode == 0
    assert demo.scalar("crm", "SELECT count(*) FROM account WHERE address1_country = 'de'") > 0
    result = accord_json("verify", "-c", demo.config)
    assert result["disagreeing"] == 0, result


def test_edits_behind_the_watermark_are_listed_fixed_and_then_gone(demo: Demo):
    erp_no, _ = coupled_customer(demo, 0)
    other_no, other_account = coupled_customer(demo, 1)
    demo.execute(
        "erp", "UPDATE customer SET city = 'Backdated', last_modified = ? WHERE no = ?", OLD, erp_no
    )
    demo.execute(
        "crm",
        "UPDATE account SET telephone1 = '+1 555 0100', modifiedon = ? WHERE accountid = ?",
        OLD,
        other_account,
    )
    demo.execute(  # a one-way mapping's destination edited by hand
        "crm",
        "UPDATE transactioncurrency SET currencyname = 'Hand-made' WHERE isocurrencycode = 'EUR'",
    )
    sync = accord_json("sync", "-c", demo.config)
    assert sync["totals"]["modified"] == 0  # the watermarks hide all three

    result = run_accord("verify", "--json", cwd=demo.directory)
    assert result.returncode == 1

    listed = by_mapping(json.loads(result.stdout))
    assert listed["CUSTOMER"]["disagreeing"] == 2
    assert listed["CURRENCY"]["disagreeing"] == 1
    customer = {d["local_key"]: d for d in listed["CUSTOMER"]["disagreements"]}
    city = customer[erp_no]
    assert [(f["field"], f["integration_field"], f["local"]) for f in city["fields"]] == [
        ("city", "address1_city", "Backdated")
    ]
    assert city["fix"] == ["to-integration"]
    phone = customer[other_no]
    assert phone["integration_key"] == other_account
    assert [(f["field"], f["integration"]) for f in phone["fields"]] == [
        ("phone_no", "+1 555 0100")
    ]
    assert phone["fix"] == ["from-integration"]  # the CRM record's version changed
    (currency,) = listed["CURRENCY"]["disagreements"]
    assert currency["fix"] == ["to-integration"]
    assert [f["integration"] for f in currency["fields"]] == ["Hand-made"]

    fixed = run_accord("verify", "--fix", "--json", cwd=demo.directory)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert json.loads(fixed.stdout)["remaining"] == 0
    account = demo.couplings("CUSTOMER")[erp_no]
    assert demo.scalar("crm", "SELECT address1_city FROM account WHERE accountid = ?", account) == (
        "Backdated"
    )
    assert demo.scalar("erp", "SELECT phone_no FROM customer WHERE no = ?", other_no) == (
        "+1 555 0100"
    )
    assert demo.scalar(
        "crm", "SELECT currencyname FROM transactioncurrency WHERE isocurrencycode = 'EUR'"
    ) == demo.scalar("erp", "SELECT description FROM currency WHERE code = 'EUR'")
    again = accord_json("verify", "-c", demo.config)
    assert again["disagreeing"] == 0


def test_a_pair_no_version_tells_about_is_a_conflict_unless_the_policy_decides(demo: Demo):
    """Values changed without a new version on either side: with update_conflict = none,
    --fix lists the pair as a conflict and leaves both records; with send, the ERP wins."""
    erp_no, account = coupled_customer(demo, 2)
    before = demo.scalar("erp", "SELECT name FROM customer WHERE no = ?", erp_no)
    demo.execute("crm", "UPDATE account SET name = 'Renamed quietly' WHERE accountid = ?", account)

    result = run_accord("verify", "CUSTOMER", "--fix", "--json", cwd=demo.directory)
    assert result.returncode == 1

    (pair,) = by_mapping(json.loads(result.stdout))["CUSTOMER"]["disagreements"]
    assert pair["conflict"] and not pair["fixed"] and pair["fix"] == []
    assert "update_conflict = none" in pair["reason"]
    assert demo.scalar("crm", "SELECT name FROM account WHERE accountid = ?", account) == (
        "Renamed quietly"
    )
    people = run_accord("verify", "CUSTOMER", cwd=demo.directory)
    assert people.returncode == 1
    assert "conflict" in people.stdout and "Renamed quietly" in people.stdout

    demo.replace_in_config('update_conflict = "none"', 'update_conflict = "send"')
    assert run_accord("verify", "CUSTOMER", "--fix", cwd=demo.directory).returncode == 0
    assert demo.scalar("crm", "SELECT name FROM account WHERE accountid = ?", account) == before


def test_fix_respects_the_leases_and_a_plain_verify_needs_none(demo: Demo):
    with accord.Project.load(demo.config) as project:
        project.store.acquire_leases(["CUSTOMER"], "another run", timedelta(minutes=5))
        busy = run_accord("verify", "CUSTOMER", "--fix", cwd=demo.directory)
        assert busy.returncode == 3, busy.stdout + busy.stderr
        assert "busy" in busy.stderr
        assert run_accord("verify", "CUSTOMER", cwd=demo.directory).returncode == 0
        project.store.release_leases("another run")
