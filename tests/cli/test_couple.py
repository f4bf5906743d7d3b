"""``accord couple`` and ``accord uncouple``: one record by hand, 1:1, stale couplings."""

from __future__ import annotations

from tests.cli.support import Demo, accord, accord_json, explain, utc_now_text


def test_uncouple_then_couple_back(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    local, remote = next(iter(pairs.items()))

    result = accord("uncouple", "CUSTOMER", local, "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert "uncoupled 1 coupling(s) of CUSTOMER" in result.stdout
    assert local not in demo.couplings("CUSTOMER")
    assert demo.scalar("crm", "SELECT count(*) FROM account WHERE accountid = ?", remote) == 1

    result = accord("couple", "CUSTOMER", local, "--to", remote, "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert f"coupled {local} ↔ {remote} (CUSTOMER)" in result.stdout
    assert demo.couplings("CUSTOMER") == pairs


def test_a_record_is_coupled_to_one_record_only(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    (local, remote), (other_local, other_remote) = list(pairs.items())[:2]

    for args in ((local, "--to", other_remote), (other_local, "--to", remote)):
        result = accord("couple", "CUSTOMER", *args, "-c", demo.config)
        assert result.exit_code == 2, explain(result)
        assert "already coupled" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    assert demo.couplings("CUSTOMER") == pairs


def test_couple_names_missing_records(demo: Demo) -> None:
    remote = next(iter(demo.couplings("CUSTOMER").values()))
    result = accord("couple", "CUSTOMER", "C99999", "--to", remote, "-c", demo.config)
    assert result.exit_code == 2, explain(result)
    assert "C99999" in result.stderr
    result = accord("couple", "CUSTOMER", "C00001", "-c", demo.config)
    assert result.exit_code == 2, explain(result)
    assert "--to" in result.stderr and "--create-new" in result.stderr


def test_a_stale_coupling_to_a_deleted_record_is_replaced(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    (local, deleted), (freed_local, free) = list(pairs.items())[:2]
    assert demo.execute("crm", "DELETE FROM account WHERE accountid = ?", deleted) == 1
    assert accord("uncouple", "CUSTOMER", freed_local, "-c", demo.config).exit_code == 0

    out = accord_json("couple", "CUSTOMER", local, "--to", free, "-c", demo.config)

    assert out["coupling"]["integration_key"] == free
    assert out["replaced"]["integration_key"] == deleted
    assert demo.couplings("CUSTOMER")[local] == free


def _uncoupled_customers(demo: Demo, blocked: bool) -> list[str]:
    coupled = demo.couplings("CUSTOMER")
    rows = demo.query("erp", "SELECT no, blocked FROM customer ORDER BY no")
    return [no for no, b in rows if no not in coupled and bool(b) == blocked]


def test_create_new_makes_the_crm_account(demo: Demo) -> None:
    accord("uncouple", "CUSTOMER", "C00001", "-c", demo.config)
    local = _uncoupled_customers(demo, blocked=False)[0]
    accounts = demo.scalar("crm", "SELECT count(*) FROM account")

    result = accord("couple", "CUSTOMER", local, "--create-new", "-c", demo.config)

    assert result.exit_code == 0, explain(result)
    assert f"created and coupled {local} ↔ " in result.stdout
    assert demo.scalar("crm", "SELECT count(*) FROM account") == accounts + 1
    remote = demo.couplings("CUSTOMER")[local]
    name, number = demo.query(
        "crm", "SELECT name, accountnumber FROM account WHERE accountid = ?", remote
    )[0]
    assert number == local
    assert name == demo.scalar("erp", "SELECT name FROM customer WHERE no = ?", local)

    again = accord("couple", "CUSTOMER", local, "--create-new", "-c", demo.config)
    assert again.exit_code == 2 and "already coupled" in again.stderr
    assert demo.scalar("crm", "SELECT count(*) FROM account") == accounts + 1


def test_create_new_refuses_a_blocked_customer_unless_forced(demo: Demo) -> None:
    """Issue 9 class 14: the demo leaves blocked customers out (table_filter)."""
    blocked = _uncoupled_customers(demo, blocked=True)
    assert blocked, "the demo has blocked customers, left uncoupled"
    local = blocked[0]
    accounts = demo.scalar("crm", "SELECT count(*) FROM account")

    refused = accord("couple", "CUSTOMER", local, "--create-new", "-c", demo.config)

    assert refused.exit_code == 2, explain(refused)
    assert "outside the table_filter of mapping CUSTOMER (blocked eq '')" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert demo.scalar("crm", "SELECT count(*) FROM account") == accounts

    forced = accord("couple", "CUSTOMER", local, "--create-new", "--force", "-c", demo.config)
    assert forced.exit_code == 0, explain(forced)
    assert demo.scalar("crm", "SELECT count(*) FROM account") == accounts + 1
    plan = accord_json("sync", "--full", "--dry-run", "-c", demo.config)
    assert plan["counts"] == {}  # nothing to create: no duplicate of the forced one


def test_couple_then_sync_the_record(demo: Demo) -> None:
    local, remote = next(iter(demo.couplings("CUSTOMER").items()))
    assert accord("uncouple", "CUSTOMER", local, "-c", demo.config).exit_code == 0
    demo.execute(
        "erp",
        "UPDATE customer SET city = 'Kirkenes', last_modified = ? WHERE no = ?",
        utc_now_text(),
        local,
    )

    out = accord_json(
        "couple", "CUSTOMER", local, "--to", remote, "--sync", "to-integration", "-c", demo.config
    )

    assert out["sync"]["ok"] is True
    assert [(j["mapping"], j["direction"]) for j in out["sync"]["jobs"]] == [
        ("CUSTOMER", "to-integration")
    ]
    assert out["sync"]["totals"]["modified"] == 1
    city = demo.scalar("crm", "SELECT address1_city FROM account WHERE accountid = ?", remote)
    assert city == "Kirkenes"

    # coupled again from scratch, the table form reports the record as unchanged
    assert accord("uncouple", "CUSTOMER", local, "-c", demo.config).exit_code == 0
    result = accord(
        "couple", "CUSTOMER", local, "--to", remote, "--sync", "TO-INTEGRATION", "-c", demo.config
    )
    assert result.exit_code == 0, explain(result)
    row = next(
        line.split() for line in result.stdout.splitlines() if line.split()[:1] == ["CUSTOMER"]
    )
    assert row[1:4] == ["0", "0", "1"]  # inserted, modified, unchanged


def test_uncouple_counts_couplings_not_keys(demo: Demo) -> None:
    """Issue 9 class 15: both keys of one pair are one coupling, uncoupled once."""
    pairs = demo.couplings("CUSTOMER")
    local, remote = next(iter(pairs.items()))

    result = accord("uncouple", "CUSTOMER", local, remote, "-c", demo.config)

    assert result.exit_code == 0, explain(result)
    assert "uncoupled 1 coupling(s) of CUSTOMER" in result.stdout
    assert local not in demo.couplings("CUSTOMER")
    (job,) = [j for j in accord_json("jobs", "-n", "1", "-c", demo.config)]
    assert job["type"] == "uncouple" and job["counters"]["uncoupled"] == 1
    assert len(demo.couplings("CUSTOMER")) == len(pairs) - 1


def test_unknown_keys_are_refused_alike_by_couple_and_uncouple(demo: Demo) -> None:
    """Issue 9 class 16: a key naming nothing is exit code 2 and one sentence, nothing done."""
    pairs = demo.couplings("CUSTOMER")
    remote = next(iter(pairs.values()))
    jobs = len(accord_json("jobs", "-n", "1000", "-c", demo.config))

    refused = {
        "uncouple": accord("uncouple", "CUSTOMER", remote, "NOPE", "-c", demo.config),
        "couple": accord("couple", "CUSTOMER", "NOPE", "--to", remote, "-c", demo.config),
        "retry": accord("retry", "CUSTOMER", "NOPE", "-c", demo.config),
        "restore": accord("restore", "CUSTOMER", "NOPE", "-c", demo.config),
        "delete": accord("delete", "CUSTOMER", "NOPE", "--yes", "-c", demo.config),
    }

    for verb, result in refused.items():
        assert result.exit_code == 2, (verb, explain(result))
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (verb, result.stderr)
        assert "'NOPE'" in lines[0] and "Traceback" not in result.stdout + result.stderr
    assert "no coupling for 'NOPE': nothing was uncoupled" in refused["uncouple"].stderr
    assert demo.couplings("CUSTOMER") == pairs  # the valid key named with it stays coupled
    assert len(accord_json("jobs", "-n", "1000", "-c", demo.config)) == jobs  # no job logged


def test_uncouple_all(demo: Demo) -> None:
    count = len(demo.couplings("CONTACT"))

    job = accord_json("uncouple", "CONTACT", "--all", "-c", demo.config)

    assert (job["type"], job["mapping"], job["status"]) == ("uncouple", "CONTACT", "ok")
    assert job["counters"]["uncoupled"] == count > 0
    assert demo.couplings("CONTACT") == {}
    rows = {r["name"]: r for r in accord_json("mappings", "-c", demo.config)}
    assert rows["CONTACT"]["coupled"] == 0 and rows["CUSTOMER"]["coupled"] > 0

    result = accord("uncouple", "CONTACT", "-c", demo.config)
    assert result.exit_code == 2 and "--all" in result.stderr
