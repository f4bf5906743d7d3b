"""Counts and ids that tell the truth (issue 9 class 15): a dry run points to no job."""

from __future__ import annotations

import json

from tests.cli.support import Demo, accord, accord_json, explain, plain
from tests.cli.test_match import uncouple_all


def _job_ids(demo: Demo) -> set[str]:
    return {j["id"] for j in accord_json("jobs", "-n", "100000", "-c", demo.config)}


def test_match_dry_run_shows_no_job_id(demo: Demo) -> None:
    uncouple_all(demo)
    demo.execute(
        "erp",
        "UPDATE customer SET name = 'Nobody', city = 'Nowhere', email = '' WHERE no = 'C00002'",
    )
    stored = _job_ids(demo)

    result = accord("match", "CUSTOMER", "--dry-run", "--no-sync", "-c", demo.config)

    assert result.exit_code == 1, explain(result)  # one record would stay unmatched
    out = plain(result.stdout)
    assert "accord jobs" not in out
    assert "dry run: no job stored" in out
    assert _job_ids(demo) == stored


def test_dry_run_json_carries_no_id_of_an_unstored_job(demo: Demo) -> None:
    uncouple_all(demo)
    stored = _job_ids(demo)
    local = sorted(demo.couplings("CONTACT"))[0]
    runs = {
        "match": accord("match", "CUSTOMER", "--dry-run", "--json", "-c", demo.config),
        "sync": accord("sync", "--full", "--dry-run", "--json", "-c", demo.config),
        "uncouple": accord("uncouple", "CONTACT", local, "--dry-run", "--json", "-c", demo.config),
    }
    for verb, result in runs.items():
        assert result.exit_code in (0, 1), (verb, explain(result))
        data = json.loads(result.stdout)
        assert data["dry_run"] is True and data["note"] == "dry run: no job stored"
        text = json.dumps(data["result"])
        for job_id in _ids_in(data["result"]):
            assert job_id is None, (verb, text[:300])
    assert _job_ids(demo) == stored


def _ids_in(value: object) -> list[object]:
    """Every ``id``/``run_id``/``job_id`` of a job or run in a JSON result."""
    found: list[object] = []
    if isinstance(value, list):
        for v in value:
            found += _ids_in(v)
    elif isinstance(value, dict):
        for key, v in value.items():
            if key in ("run_id", "job_id") or (key == "id" and "counters" in value):
                found.append(v)
            else:
                found += _ids_in(v)
    return found
