"""``accord errors``, ``retry``, ``restore``, ``delete`` and ``uncouple --failed/--skipped``.

End to end on the demo (SQLite): records are deleted behind Accord's back with sqlite3, as a
user of that system would, and the commands find, list and repair the broken couplings.
"""

from __future__ import annotations

import pytest
from rich.console import Console

from accord.cli import problems
from tests.cli.support import Demo, accord, accord_json, explain, plain

COUNT_ACCOUNTS = "SELECT count(*) FROM account WHERE accountid = ?"


@pytest.fixture(autouse=True)
def _wide_problem_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(problems, "console", Console(width=200))
    monkeypatch.setattr(problems, "err", Console(stderr=True, width=200))


def delete_accounts(demo: Demo, n: int) -> dict[str, str]:
    """Delete the CRM accounts of the first ``n`` coupled customers: local key → account."""
    pairs = dict(list(demo.couplings("CUSTOMER").items())[:n])
    for remote in pairs.values():
        assert demo.execute("crm", "DELETE FROM account WHERE accountid = ?", remote) == 1
    return pairs


def test_deleted_accounts_fail_are_listed_restored_then_sync_is_clean(demo: Demo) -> None:
    gone = delete_accounts(demo, 2)
    run = accord_json("sync", "--full", "-c", demo.config, code=1)
    assert run["mappings"]["CUSTOMER"]["failed"] == 2

    listed = accord_json("errors", "-c", demo.config)
    assert {e["local_key"]: e["integration_key"] for e in listed} == gone
    for entry in listed:
        assert entry["mapping"] == "CUSTOMER"
        assert entry["direction"] == "to-integration"
        assert entry["state"] == "failed" and entry["repeats"] == 1
        assert entry["message"].startswith("coupled to a deleted record: crm.account")
        assert entry["job_id"] and entry["at"]
    text = accord("errors", "-c", demo.config)
    assert text.exit_code == 0, explain(text)
    assert "Synchronization errors (2)" in plain(text.stdout)
    for local, remote in gone.items():
        assert local in text.stdout and remote in text.stdout

    out = accord_json("restore", "CUSTOMER", *gone, "-c", demo.config)

    assert out["ok"] and out["counts"] == {"restored": 2}
    couplings = demo.couplings("CUSTOMER")
    for outcome in out["outcomes"]:
        local, new = outcome["local_key"], outcome["created_key"]
        assert couplings[local] == new != gone[local]
        name = demo.scalar("erp", "SELECT name FROM customer WHERE no = ?", local)
        sql = "SELECT name, accountnumber FROM account WHERE accountid = ?"
        assert demo.query("crm", sql, new) == [(name, local)]
    assert accord_json("errors", "-c", demo.config) == []
    again = accord_json("sync", "-c", demo.config)
    assert again["ok"]
    assert again["totals"]["inserted"] + again["totals"]["modified"] == 0


def test_find_deleted_lists_a_deleted_erp_customer(demo: Demo) -> None:
    local, remote = next(iter(demo.couplings("CUSTOMER").items()))
    assert demo.execute("erp", "DELETE FROM customer WHERE no = ?", local) == 1
    assert accord_json("errors", "-c", demo.config) == []  # no sync has met it yet

    out = accord_json("errors", "CUSTOMER", "--find-deleted", "-c", demo.config)

    [check] = out["checked"]
    assert check["type"] == "check" and check["counters"]["failed"] == 1
    [entry] = out["errors"]
    assert (entry["local_key"], entry["integration_key"]) == (local, remote)
    assert entry["direction"] == "from-integration"
    assert f"erp.customer '{local}' no longer exists" in entry["message"]
    text = accord("errors", "--find-deleted", "-c", demo.config)  # every mapping
    assert text.exit_code == 0, explain(text)
    assert "CUSTOMER: checked" in text.stdout
    assert "found 1 coupled to a deleted record" in text.stdout


def test_delete_with_yes_removes_the_survivor_and_spares_healthy_pairs(demo: Demo) -> None:
    gone = delete_accounts(demo, 1)
    [local] = gone
    healthy, healthy_remote = list(demo.couplings("CUSTOMER").items())[1]

    out = accord_json("delete", "CUSTOMER", local, healthy, "--yes", "-c", demo.config)

    assert out["ok"]
    assert {o["local_key"]: o["outcome"] for o in out["outcomes"]} == {
        local: "deleted",
        healthy: "not broken",
    }
    assert demo.scalar("erp", "SELECT count(*) FROM customer WHERE no = ?", local) == 0
    assert demo.scalar("erp", "SELECT count(*) FROM customer WHERE no = ?", healthy) == 1
    assert demo.scalar("crm", COUNT_ACCOUNTS, healthy_remote) == 1
    couplings = demo.couplings("CUSTOMER")
    assert local not in couplings and couplings[healthy] == healthy_remote
    [job] = out["jobs"]
    assert job["type"] == "delete" and job["status"] == "ok"
    assert (job["counters"]["deleted"], job["counters"]["uncoupled"]) == (1, 1)


def test_delete_refuses_without_yes_and_without_a_terminal(demo: Demo) -> None:
    [local] = delete_accounts(demo, 1)

    result = accord("delete", "CUSTOMER", local, "-c", demo.config)

    assert result.exit_code == 2, explain(result)
    assert "--yes" in result.stderr and "Traceback" not in result.stderr
    assert demo.scalar("erp", "SELECT count(*) FROM customer WHERE no = ?", local) == 1
    assert local in demo.couplings("CUSTOMER")


def test_quarantine_retry_and_uncouple_skipped(demo: Demo) -> None:
    gone = delete_accounts(demo, 2)
    for _ in range(2):  # the same error twice in a row: skipped
        accord_json("sync", "--full", "-c", demo.config, code=1)
    listed = accord_json("errors", "-c", demo.config)
    assert [e["state"] for e in listed] == ["skipped", "skipped"]
    first, second = gone

    refused = accord("retry", "CUSTOMER", first, "nope", "-c", demo.config)
    assert refused.exit_code == 2, explain(refused)  # a key naming no coupling: nothing done
    assert "no coupling for 'nope': nothing was retried" in refused.stderr
    out = accord_json("retry", "CUSTOMER", first, "-c", demo.config)
    assert {o["local_key"]: o["outcome"] for o in out["outcomes"]} == {first: "retried"}
    assert {e["local_key"]: e["state"] for e in accord_json("errors", "-c", demo.config)} == {
        first: "failed",
        second: "skipped",
    }

    result = accord("uncouple", "CUSTOMER", "--skipped", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert "uncoupled 1 coupling(s) of CUSTOMER" in result.stdout
    result = accord("uncouple", "CUSTOMER", "--failed", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert accord_json("errors", "-c", demo.config) == []
    couplings = demo.couplings("CUSTOMER")
    assert first not in couplings and second not in couplings


def test_retry_all_with_sync_runs_the_failed_records(demo: Demo) -> None:
    gone = delete_accounts(demo, 1)
    for _ in range(2):
        accord_json("sync", "--full", "-c", demo.config, code=1)
    customer = 'integration_table_filter = "statecode eq 0 and customertypecode eq 3"\n'
    demo.replace_in_config(
        f'{customer}update_conflict = "none"\ndeletion_conflict = "none"',
        f'{customer}update_conflict = "none"\ndeletion_conflict = "restore"',
    )

    out = accord_json("retry", "--all", "--sync", "-c", demo.config)

    assert out["ok"] and out["counts"] == {"retried": 1}
    assert out["sync"]["totals"]["inserted"] == 1  # restored by the mapping's policy
    [local] = gone
    assert demo.couplings("CUSTOMER")[local] != gone[local]
    assert accord_json("errors", "-c", demo.config) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("restore", "CUSTOMER"), ("--all",)),
        (("restore", "NOPE", "--all"), ("NOPE",)),
        (("retry", "CUSTOMER", "C00001", "--all"), ("not both",)),
        (("retry", "C00001"), ("--all",)),
        (("delete", "CUSTOMER", "--yes"), ("--all",)),
        (("errors", "NOPE"), ("NOPE",)),
        (("uncouple", "CUSTOMER", "C00001", "--failed"), ("--failed",)),
    ],
)
def test_usage_errors_exit_2(demo: Demo, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    result = accord(*args, "-c", demo.config)
    assert result.exit_code == 2, explain(result)
    assert result.stderr.startswith("error: ")
    for word in words:
        assert word in result.stderr


def test_restore_text_output_and_nothing_broken(demo: Demo) -> None:
    local = next(iter(demo.couplings("CUSTOMER")))
    result = accord("restore", "CUSTOMER", local, "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    text = plain(result.stdout)
    assert "not broken" in text and "both records exist" in text
    assert "restored 0 record(s)" in text
    result = accord("errors", "-c", demo.config)
    assert result.exit_code == 0 and "No failed or skipped couplings." in result.stdout


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("errors", ("--limit", "--find-deleted", "--config", "--json")),
        ("retry", ("--all", "--sync", "--config", "--json")),
        ("restore", ("--all", "--config", "--json")),
        ("delete", ("--all", "--yes", "--config", "--json")),
        ("uncouple", ("--all", "--failed", "--skipped")),
    ],
)
def test_help(command: str, options: tuple[str, ...]) -> None:
    result = accord(command, "--help")
    assert result.exit_code == 0, explain(result)
    text = plain(result.stdout)
    for option in options:
        assert option in text, option
