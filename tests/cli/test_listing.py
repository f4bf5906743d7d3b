"""``accord mappings``, ``accord couplings`` and ``accord jobs``: what is set up, what ran."""

from __future__ import annotations

from tests.cli.support import MAPPINGS, Demo, accord, accord_json, explain, plain

DEPENDENCY_ORDER = ("CURRENCY", "CUSTOMER", "CONTACT")


def test_mappings_table_lists_every_mapping_in_dependency_order(demo: Demo) -> None:
    result = accord("mappings", "-c", demo.config)

    assert result.exit_code == 0, explain(result)
    text = plain(result.stdout)
    assert "Mappings (in dependency order)" in text
    starts = {name: text.find(f"  {name} ") for name in MAPPINGS}
    assert all(position >= 0 for position in starts.values()), starts
    assert starts["CURRENCY"] < starts["CUSTOMER"] < starts["CONTACT"]
    assert starts["UNITOFMEASURE"] < starts["ITEM-PRODUCT"]
    for words in ("erp.customer", "crm.account", "where blocked eq ''", "after CUSTOMER"):
        assert words in text
    for column in ("coupled", "failed", "skipped"):
        assert column in text
    assert "↔" in text and "→" in text and "←" in text


def test_mappings_json_counts_match_the_couplings(demo: Demo) -> None:
    rows = accord_json("mappings", "-c", demo.config)

    names = [row["name"] for row in rows]
    assert sorted(names) == sorted(MAPPINGS)
    assert [n for n in names if n in DEPENDENCY_ORDER] == list(DEPENDENCY_ORDER)
    by_name = {row["name"]: row for row in rows}
    assert by_name["CUSTOMER"]["direction"] == "bidirectional"
    assert by_name["SALESPEOPLE"]["direction"] == "from-integration"
    assert by_name["CONTACT"]["depends_on"] == ["CURRENCY", "CUSTOMER"]
    for name in MAPPINGS:
        row = by_name[name]
        assert row["coupled"] == len(demo.couplings(name)) > 0, name
        assert (row["failed"], row["skipped"]) == (0, 0), name


def test_couplings_are_paged_and_named_case_insensitively(demo: Demo) -> None:
    everything = accord_json("couplings", "customer", "--limit", "100000", "-c", demo.config)
    first = accord_json("couplings", "CUSTOMER", "-n", "3", "-c", demo.config)
    second = accord_json("couplings", "CUSTOMER", "-n", "3", "--offset", "3", "-c", demo.config)

    assert len(everything) > 6
    assert first + second == everything[:6]
    assert {c["mapping"] for c in everything} == {"CUSTOMER"}
    assert accord_json("couplings", "CUSTOMER", "--attention", "-c", demo.config) == []

    table = accord("couplings", "CUSTOMER", "-n", "2", "-c", demo.config)
    assert table.exit_code == 0, explain(table)
    assert "Couplings of CUSTOMER" in table.stdout
    for c in first[:2]:
        assert c["local_key"] in table.stdout and c["integration_key"] in table.stdout


def test_jobs_lists_the_demo_run_newest_first(demo: Demo) -> None:
    jobs = accord_json("jobs", "--limit", "1000", "-c", demo.config)

    assert {j["mapping"] for j in jobs} == set(MAPPINGS)
    assert all(j["status"] == "ok" for j in jobs)
    # a full sync couples matching records first where both sides hold some (the review)
    assert {j["type"] for j in jobs} == {"sync", "couple"}
    assert {j["mapping"] for j in jobs if j["type"] == "couple"} == {
        "CUSTOMER",
        "CONTACT",
        "ITEM-PRODUCT",
    }
    started = [j["started_at"] for j in jobs]
    assert started == sorted(started, reverse=True)
    assert len(accord_json("jobs", "-n", "2", "-c", demo.config)) == 2
    customer = accord_json("jobs", "--mapping", "customer", "-c", demo.config)
    assert customer and {j["mapping"] for j in customer} == {"CUSTOMER"}

    one = accord_json("jobs", jobs[0]["id"][:8], "-c", demo.config)
    assert one["id"] == jobs[0]["id"]
    assert one["errors"] == []

    table = accord("jobs", "-c", demo.config)
    assert table.exit_code == 0, explain(table)
    assert jobs[0]["id"][:8] in table.stdout


def test_unknown_job_is_a_usage_error(demo: Demo) -> None:
    result = accord("jobs", "no-such-job", "-c", demo.config)
    assert result.exit_code == 2, explain(result)
    assert result.stderr.strip() == "error: no job with id 'no-such-job'"
