"""Browsing a mapping's records (search, paging, coupled or not) and a record's history."""

from __future__ import annotations

import pytest

from accord.errors import UsageError
from accord.model import Side
from tests.engine.conftest import World


def fill(world: World, n: int) -> None:
    for i in range(n):
        world.erp.put("customer", f"C{i:05}", {"name": f"Firm {i}", "city": "Oslo"})


def test_pages_follow_key_order_without_overlap(world: World) -> None:
    fill(world, 12)
    with world.project() as project:
        first = project.records("CUSTOMER", Side.LOCAL, limit=5)
        second = project.records("CUSTOMER", Side.LOCAL, limit=5, offset=5)
        last = project.records("CUSTOMER", Side.LOCAL, limit=5, offset=10)
    assert [r.key for r in first.rows] == [f"C{i:05}" for i in range(5)]
    assert [r.key for r in second.rows] == [f"C{i:05}" for i in range(5, 10)]
    assert [r.key for r in last.rows] == ["C00010", "C00011"]
    assert first.more and second.more and not last.more
    assert first.fields[:2] == ["name", "city"]  # mapped fields, key aside
    assert first.rows[0].values["name"] == "Firm 0"


def test_search_and_coupled_filter(world: World) -> None:
    fill(world, 6)
    world.erp.put("customer", "Z1", {"name": "Needle Works", "city": "Bergen"})
    with world.project() as project:
        project.couple("CUSTOMER", "C00001", create_new=True)
        found = project.records("CUSTOMER", Side.LOCAL, search="nEEdle")
        assert [r.key for r in found.rows] == ["Z1"]
        assert [r.key for r in project.records("CUSTOMER", Side.LOCAL, search="bergen").rows] == [
            "Z1"
        ]
        coupled = project.records("CUSTOMER", Side.LOCAL, coupled=True)
        assert [r.key for r in coupled.rows] == ["C00001"]
        assert coupled.rows[0].coupling is not None
        uncoupled = project.records("CUSTOMER", Side.LOCAL, coupled=False)
        assert "C00001" not in [r.key for r in uncoupled.rows] and len(uncoupled.rows) == 6
        remote = coupled.rows[0].coupling.integration_key  # type: ignore[union-attr]
        other = project.records("CUSTOMER", Side.INTEGRATION)
        assert [(r.key, r.coupled) for r in other.rows] == [(remote, True)]


def test_a_bad_page_is_a_usage_error(world: World) -> None:
    with world.project() as project, pytest.raises(UsageError):
        project.records("CUSTOMER", Side.LOCAL, limit=0)


def test_history_names_the_jobs_that_failed_and_synced_a_record(world: World) -> None:
    fill(world, 2)
    with world.project() as project:
        project.sync(full=True)
        (c, _) = project.couplings("CUSTOMER")
        world.crm.delete("account", c.integration_key)
        project.sync(full=True)
        history = project.history("CUSTOMER", Side.LOCAL, c.local_key)
        assert history.coupling is not None
        errors = [e for e in history.entries if e.error]
        assert errors and "deleted record" in errors[0].error.message  # type: ignore[union-attr]
        assert all(e.job is not None and e.job.mapping == "CUSTOMER" for e in history.entries)
        other = project.history(
            "CUSTOMER", Side.LOCAL, "C00001" if c.local_key != "C00001" else "C00000"
        )
        assert not [e for e in other.entries if e.error]
