"""A renamed key (issue 9 class 7): the ERP renumbers a customer; no second CRM account."""

from __future__ import annotations

from tests.cli.support import Demo, accord, accord_json, explain, plain, utc_now_text


def renumber_a_customer(demo: Demo) -> tuple[str, str, str]:
    """Renumber an unblocked customer no contact refers to: (old key, new key, its account)."""
    old = demo.scalar(
        "erp",
        "SELECT no FROM customer c WHERE blocked = '' AND NOT EXISTS "
        "(SELECT 1 FROM contact WHERE customer_no = c.no) ORDER BY no LIMIT 1",
    )
    new = "C9" + old[2:]
    account = demo.couplings("CUSTOMER")[old]
    demo.execute(
        "erp",
        "UPDATE customer SET no = ?, last_modified = ? WHERE no = ?",
        new,
        utc_now_text(),
        old,
    )
    return old, new, account


def test_a_renumbered_customer_is_held_back_and_re_coupled(demo: Demo) -> None:
    old, new, account = renumber_a_customer(demo)
    accounts = demo.scalar("crm", "SELECT count(*) FROM account")

    result = accord("sync", "--full", "-c", demo.config)

    # exit code 1: a record is not where it should be, and a person must say so
    assert result.exit_code == 1, explain(result)
    assert demo.scalar("crm", "SELECT count(*) FROM account") == accounts  # no second account
    assert new not in demo.couplings("CUSTOMER")
    (problem,) = accord_json("errors", "-c", demo.config)
    assert (problem["local_key"], problem["integration_key"]) == (old, account)
    assert problem["message"].startswith(f"not created: it looks like {old} renamed to {new}")
    assert f"accord couple CUSTOMER {new} --to {account}" in problem["message"]
    (job,) = [
        j
        for j in accord_json("jobs", "-n", "30", "-c", demo.config)
        if j["mapping"] == "CUSTOMER" and j["direction"] == "to-integration"
    ][:1]
    assert job["counters"]["skipped"] == 1 and job["counters"]["inserted"] == 0
    review = plain(accord("review", "CUSTOMER", "-c", demo.config).stdout)
    assert "1 record(s) held back as renamed keys" in review

    again = accord_json("sync", "--full", "-c", demo.config, code=1)  # held again, not created
    assert again["totals"]["inserted"] == 0
    assert demo.scalar("crm", "SELECT count(*) FROM account") == accounts

    fixed = accord("couple", "CUSTOMER", new, "--to", account, "-c", demo.config)
    assert fixed.exit_code == 0, explain(fixed)
    assert accord_json("sync", "-c", demo.config)["ok"] is True
    number = demo.scalar("crm", "SELECT accountnumber FROM account WHERE accountid = ?", account)
    assert number == new
    assert accord_json("sync", "--full", "-c", demo.config)["totals"]["inserted"] == 0
    assert accord_json("errors", "-c", demo.config) == []
    assert demo.scalar("crm", "SELECT count(*) FROM account") == accounts
