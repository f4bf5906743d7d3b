"""``--dry-run`` on sync, couple and uncouple: a plan is printed, nothing is written."""

from __future__ import annotations

import hashlib

from tests.cli.support import Demo, accord, accord_json, explain, plain, utc_now_text


def fingerprint(demo: Demo) -> dict[str, str]:
    """Every database file of the demo (the systems and the state store), by content."""
    return {
        str(p.relative_to(demo.directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(demo.directory.rglob("*.db"))
    }


def test_sync_dry_run_shows_the_changes_and_writes_nothing(demo: Demo) -> None:
    local = next(iter(demo.couplings("CUSTOMER")))
    demo.execute(
        "erp",
        "UPDATE customer SET city = 'Bergen', last_modified = ? WHERE no = ?",
        utc_now_text(),
        local,
    )
    before = fingerprint(demo)
    result = accord("sync", "--dry-run", "--show", "5", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    text = plain(result.stdout)
    assert "Dry run" in text and "nothing was written" in text
    assert local in text and "address1_city" in text and "Bergen" in text
    assert fingerprint(demo) == before

    planned = accord_json("sync", "--dry-run", "-c", demo.config)
    assert planned["dry_run"] is True
    assert planned["counts"] == {"CUSTOMER": {"modified": 1}}
    (change,) = planned["plan"]
    assert change["key"] == local and change["fields"]["address1_city"][1] == "Bergen"
    assert fingerprint(demo) == before

    done = accord_json("sync", "-c", demo.config)
    assert done["totals"] == planned["result"]["totals"]  # the same counts as planned


def test_full_sync_dry_run_of_a_fresh_demo_matches_the_real_run(demo: Demo) -> None:
    demo.execute("crm", "DELETE FROM contact")
    accord("uncouple", "CONTACT", "--all", "-c", demo.config)
    before = fingerprint(demo)
    planned = accord_json("sync", "CONTACT", "--full", "--dry-run", "-c", demo.config)
    assert fingerprint(demo) == before
    done = accord_json("sync", "CONTACT", "--full", "-c", demo.config)
    assert planned["result"]["mappings"] == done["mappings"]
    assert planned["counts"]["CONTACT"]["inserted"] == done["totals"]["inserted"] > 0


def test_couple_and_uncouple_dry_runs(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    local, remote = next(iter(pairs.items()))
    before = fingerprint(demo)

    result = accord("uncouple", "CUSTOMER", local, "--dry-run", "--show", "3", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert "1 uncoupled" in plain(result.stdout) and local in plain(result.stdout)

    planned = accord_json("uncouple", "CUSTOMER", "--all", "--dry-run", "-c", demo.config)
    assert planned["counts"] == {"CUSTOMER": {"uncoupled": len(pairs)}}
    assert fingerprint(demo) == before and demo.couplings("CUSTOMER") == pairs

    accord("uncouple", "CUSTOMER", local, "-c", demo.config)
    before = fingerprint(demo)
    planned = accord_json(
        "couple", "CUSTOMER", local, "--to", remote, "--dry-run", "-c", demo.config
    )
    assert [(c["action"], c["key"], c["target"]) for c in planned["plan"]] == [
        ("coupled", local, remote)
    ]
    assert fingerprint(demo) == before
    assert local not in demo.couplings("CUSTOMER")


def test_match_dry_run_plans_the_couplings_the_real_match_makes(demo: Demo) -> None:
    pairs = demo.couplings("CUSTOMER")
    accord("uncouple", "CUSTOMER", "--all", "-c", demo.config)
    before = fingerprint(demo)
    planned = accord_json("match", "CUSTOMER", "--no-sync", "--dry-run", "-c", demo.config)
    assert fingerprint(demo) == before and demo.couplings("CUSTOMER") == {}
    assert planned["counts"] == {"CUSTOMER": {"coupled": len(pairs)}}
    done = accord_json("match", "CUSTOMER", "--no-sync", "-c", demo.config)
    assert planned["result"]["job"]["counters"] == done["job"]["counters"]
    assert {(c["key"], c["target"]) for c in planned["plan"]} == set(pairs.items())
    assert demo.couplings("CUSTOMER") == pairs
