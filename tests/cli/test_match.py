"""``accord match``: match-based coupling end to end on the demo (SQLite)."""

from __future__ import annotations

import json

from tests.cli.support import Demo, accord, accord_json, explain, plain


def uncouple_all(demo: Demo, mapping: str = "CUSTOMER") -> None:
    result = accord("uncouple", mapping, "--all", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert demo.couplings(mapping) == {}


def duplicate_account(demo: Demo, accountid: str, new_id: str) -> None:
    """A second CRM account equal to ``accountid`` in every column but its key."""
    columns = [row[1] for row in demo.query("crm", "PRAGMA table_info(account)")]
    rest = [c for c in columns if c != "accountid"]
    demo.execute(
        "crm",
        f"INSERT INTO account (accountid, {', '.join(rest)}) "
        f"SELECT ?, {', '.join(rest)} FROM account WHERE accountid = ?",
        new_id,
        accountid,
    )


def summary(stdout: str) -> dict[str, int]:
    """The counts line under the ``coupled created unmatched ambiguous failed`` header."""
    lines = [line.split() for line in plain(stdout).splitlines()]
    header = ["coupled", "created", "unmatched", "ambiguous", "failed"]
    at = lines.index(header)
    numbers = next(cells for cells in lines[at + 1 :] if cells and cells[0][0].isdigit())
    return dict(zip(header, (int(n.replace(",", "")) for n in numbers), strict=True))


def test_match_couples_the_demo_pairs_again_after_uncoupling(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    uncouple_all(demo)

    result = accord("match", "CUSTOMER", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    out = plain(result.stdout)
    assert "Match-based coupling of CUSTOMER on name; then email; then city" in out
    assert summary(result.stdout) == {
        "coupled": len(pairs),
        "created": 0,
        "unmatched": 0,
        "ambiguous": 0,
        "failed": 0,
    }
    assert "Synchronization of the coupled records" in out  # sync_after_coupling
    assert demo.couplings("CUSTOMER") == pairs  # the same pairs as the full sync made

    jobs = accord_json("jobs", "--mapping", "CUSTOMER", "-c", demo.config)
    couple = next(j for j in jobs if j["type"] == "couple")
    assert couple["message"] == "match-based coupling on name; then email; then city"
    assert couple["counters"]["coupled"] == len(pairs) and couple["status"] == "ok"

    again = accord("match", "CUSTOMER", "-c", demo.config)  # nothing left to couple
    assert again.exit_code == 0, explain(again)
    assert summary(again.stdout)["coupled"] == 0


def test_ambiguous_cases_are_listed_and_left_uncoupled(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    local, remote = sorted(pairs.items())[0]
    duplicate_account(demo, remote, "00000000-dddd-4000-8000-000000000001")
    uncouple_all(demo)

    result = accord("match", "CUSTOMER", "--no-sync", "-c", demo.config)
    assert result.exit_code == 1, explain(result)
    assert summary(result.stdout)["ambiguous"] == 1
    assert summary(result.stdout)["coupled"] == len(pairs) - 1
    rows = [line for line in plain(result.stdout).splitlines() if line.strip().startswith(local)]
    assert len(rows) == 1
    assert remote in rows[0] and "00000000-dddd-4000-8000-000000000001" in rows[0]
    assert "accord couple CUSTOMER LOCAL --to KEY" in plain(result.stdout)
    assert local not in demo.couplings("CUSTOMER")

    hidden = accord("match", "CUSTOMER", "--no-sync", "--show", "0", "-c", demo.config)
    assert hidden.exit_code == 1, explain(hidden)
    assert local not in plain(hidden.stdout)  # listing turned off; the counts remain
    assert summary(hidden.stdout)["ambiguous"] == 1


def test_json_has_the_full_result(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    local, remote = sorted(pairs.items())[-1]
    duplicate_account(demo, remote, "00000000-dddd-4000-8000-000000000002")
    uncouple_all(demo)

    result = accord("match", "CUSTOMER", "--json", "-c", demo.config)
    assert result.exit_code == 1, explain(result)
    data = json.loads(result.stdout)
    assert set(data) == {
        "mapping",
        "criteria",
        "ok",
        "counts",
        "coupled",
        "created",
        "unmatched",
        "ambiguous",
        "weak",
        "job",
        "create",
        "sync",
    }
    assert data["mapping"] == "CUSTOMER" and data["ok"] is False
    assert data["criteria"] == [["name"], ["email"], ["city"]]
    assert data["counts"] == {
        "coupled": len(pairs) - 1,
        "created": 0,
        "unmatched": 0,
        "ambiguous": 1,
        "failed": 0,
    }
    coupled = {c["local_key"]: c["integration_key"] for c in data["coupled"]}
    assert coupled == {k: v for k, v in pairs.items() if k != local}
    (case,) = data["ambiguous"]
    assert case["kind"] == "1:N" and case["local_keys"] == [local] and case["more"] == 0
    assert set(case["candidates"]) == {remote, "00000000-dddd-4000-8000-000000000002"}
    assert data["job"]["type"] == "couple" and data["job"]["counters"]["failed"] == 1
    assert data["create"] is None
    assert data["sync"]["ok"] is True and data["sync"]["totals"]["failed"] == 0

    detail = accord_json("jobs", data["job"]["id"], "-c", demo.config)
    (error,) = detail["errors"]
    assert error["source_key"] == local and "ambiguous" in error["message"]


def test_create_new_creates_the_missing_counterparts(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    local, remote = sorted(pairs.items())[1]
    demo.execute("crm", "DELETE FROM account WHERE accountid = ?", remote)
    uncouple_all(demo)

    result = accord("match", "CUSTOMER", "--no-sync", "-c", demo.config)
    assert result.exit_code == 1, explain(result)
    assert summary(result.stdout)["unmatched"] == 1
    assert f"No candidate for 1 record(s): {local}" in plain(result.stdout)

    data = accord_json("match", "CUSTOMER", "--create-new", "--no-sync", "-c", demo.config)
    assert data["ok"] is True and data["counts"]["created"] == 1 and not data["unmatched"]
    (created,) = data["created"]
    assert created["local_key"] == local
    new = created["integration_key"]
    name = demo.scalar("erp", "SELECT name FROM customer WHERE no = ?", local)
    assert demo.scalar("crm", "SELECT name FROM account WHERE accountid = ?", new) == name
    assert demo.couplings("CUSTOMER")[local] == new


def test_on_and_case_sensitive_override_the_configuration(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    local, remote = sorted(pairs.items())[2]
    demo.execute("crm", "UPDATE account SET name = upper(name) WHERE accountid = ?", remote)
    uncouple_all(demo)

    data = accord_json(
        "match",
        "CUSTOMER",
        "--on",
        "name",
        "--case-sensitive",
        "name",
        "--no-sync",
        "-c",
        demo.config,
        code=1,
    )
    assert data["criteria"] == [["name"]] and data["unmatched"] == [local]

    data = accord_json("match", "CUSTOMER", "--on", "name", "--no-sync", "-c", demo.config)
    assert {c["local_key"]: c["integration_key"] for c in data["coupled"]} == {local: remote}


def test_usage_errors_exit_2_with_one_sentence(demo: Demo) -> None:
    cases = [
        (("match", "NOPE"), "no mapping named 'NOPE'"),
        (("match", "CUSTOMER", "--on", "currency_code"), "is a lookup"),
        (("match", "CUSTOMER", "--on", "customertypecode"), "constant"),
        (("match", "CUSTOMER", "--on", "nope"), "no field row for 'nope'"),
        (("match", "CUSTOMER", "--case-sensitive", "phone_no"), "not one of the match criteria"),
        (("match", "SALESPEOPLE", "--create-new"), "--create-new cannot be used"),
        (("match", "RESOURCE-PRODUCT"), "has no match criteria"),
    ]
    for args, message in cases:
        result = accord(*args, "-c", demo.config)
        assert result.exit_code == 2, explain(result)
        assert message in plain(result.stderr), explain(result)
        assert "Traceback" not in result.stdout + result.stderr


def copy_with(demo: Demo, system: str, table: str, where: str, **values: str) -> None:
    """A new row: a copy of the first row ``where`` selects, with these values."""
    columns = [row[1] for row in demo.query(system, f"PRAGMA table_info({table})")]
    rest = [c for c in columns if c not in values]
    names = ", ".join([*values, *rest])
    marks = ", ".join("?" for _ in values)
    demo.execute(
        system,
        f"INSERT INTO {table} ({names}) SELECT {marks}, {', '.join(rest)} FROM {table} "
        f"WHERE {where} LIMIT 1",
        *values.values(),
    )


def test_two_companies_sharing_a_city_are_not_coupled(demo: Demo) -> None:
    """Issue 9 class 8: the demo's criteria never couple on city alone."""
    copy_with(demo, "erp", "customer", "blocked = ''", no="C77777", name="Alpha Fish AS",
              city="Vardø", email="")  # fmt: skip
    copy_with(demo, "crm", "account", "statecode = 0 AND customertypecode = 3",
              accountid="beta-0000", name="Beta Trading Ltd", address1_city="Vardø",
              emailaddress1="")  # fmt: skip

    data = accord_json("match", "CUSTOMER", "--no-sync", "-c", demo.config, code=1)

    assert data["counts"]["coupled"] == 0 and data["unmatched"] == ["C77777"]
    run = accord_json("sync", "--full", "-c", demo.config)
    assert run["ok"] is True
    couplings = demo.couplings("CUSTOMER")
    assert couplings["C77777"] != "beta-0000"  # each got its own counterpart
    assert "beta-0000" in couplings.values()


def test_match_dry_run_lists_a_weak_group(demo: Demo) -> None:
    uncouple_all(demo)

    result = accord("match", "CUSTOMER", "--on", "city", "--dry-run", "-c", demo.config)

    assert result.exit_code == 1, explain(result)  # most cities are shared: ambiguous
    out = plain(result.stdout)
    assert "weak: " in out and "coupled on city (priority 0), whose values repeat" in out
    data = accord_json("match", "CUSTOMER", "--on", "city", "--dry-run", "-c", demo.config, code=1)
    (weak,) = data["result"]["weak"]
    assert weak["fields"] == ["city"] and weak["coupled"] == data["result"]["counts"]["coupled"]
    assert demo.couplings("CUSTOMER") == {}
