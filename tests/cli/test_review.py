"""``accord review`` on the demo."""

from __future__ import annotations

from tests.cli.support import Demo, accord, accord_json, explain, plain, table_rows


def test_review_after_uncoupling_recommends_coupling(demo: Demo) -> None:
    accord("uncouple", "CUSTOMER", "--all", "-c", demo.config)
    result = accord("review", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    rows = table_rows(result.stdout)
    assert rows["CUSTOMER"][3] == "couple"
    assert rows["CURRENCY"][3] == "full"  # "full sync": everything is coupled already
    assert "accord sync --full" in plain(result.stdout)

    lines = {line["mapping"]: line for line in accord_json("review", "-c", demo.config)}
    customer = lines["CUSTOMER"]
    assert customer["recommendation"] == "couple records" and customer["matches_first"]
    assert customer["coupled"] == 0 and customer["local_records"] > 0
    assert customer["match_on"] == ["name", "email", "city"]
