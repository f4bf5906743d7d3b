"""Incremental passes on a source that tracks changes (the in-memory connector's option).

A backdated edit shows which read a pass made: polling by modified-on time cannot see an
edit stamped behind the watermark, a feed of changes does.
"""

from __future__ import annotations

from datetime import datetime

from accord.model import Direction, Side
from tests.engine.conftest import World
from tests.engine.test_sync import coupled_pairs, full, seed

BACKDATED = datetime(2001, 1, 1)


def tracked(world: World) -> World:
    """The world with the CRM's change tracking on."""
    crm = f'url = "{world.urls[1]}"'
    text = world.path.read_text()
    world.path.write_text(text.replace(crm, crm + "\noptions = { change_tracking = true }"))
    return world


def token(world: World) -> str | None:
    with world.project() as p:
        mark = p.store.watermark_state("CUSTOMER", Side.INTEGRATION)
    return mark.delta_token if mark is not None else None


def from_crm_message(run) -> str:  # type: ignore[no-untyped-def]
    [job] = [
        j for j in run.jobs if j.mapping == "CUSTOMER" and j.direction is Direction.FROM_INTEGRATION
    ]
    return str(job.message)


def test_a_feed_sees_backdated_edits_and_deletions(world: World) -> None:
    tracked(world)
    seed(world)
    with world.project() as p:
        full(p)
        pairs = coupled_pairs(p, "CUSTOMER")
    first = token(world)
    assert first is not None
    edited, gone = pairs["C00001"], pairs["C00002"]
    world.crm.put("account", edited, {"name": "Backdated"}, version=BACKDATED)
    world.crm.delete("account", gone)
    with world.project() as p:
        run = p.sync()
        assert from_crm_message(run) == "changes read with change tracking"
        problems = p.errors("CUSTOMER")
    assert world.erp.get("customer", "C00001")["name"] == "Backdated"  # type: ignore[index]
    assert [(e.local_key, e.integration_key, e.direction) for e in problems] == [
        ("C00002", gone, Direction.TO_INTEGRATION)
    ]
    assert "no longer exists" in problems[0].message
    assert world.erp.get("customer", "C00002") is not None  # the ERP record stays
    assert token(world) not in (None, first)

    # the next pass reads nothing new: no repeat of the deletion, nothing written
    writes = world.erp.writes
    with world.project() as p:
        again = p.sync()
        assert len(p.errors("CUSTOMER")) == 1
    assert world.erp.writes == writes
    assert sum(j.counters.modified for j in again.jobs) == 0


def test_an_expired_token_falls_back_to_polling(world: World) -> None:
    tracked(world)
    seed(world)
    with world.project() as p:
        full(p)
        pairs = coupled_pairs(p, "CUSTOMER")
    world.crm.forget_changes()
    world.crm.put("account", pairs["C00003"], {"name": "Polled"})
    world.crm.put("account", pairs["C00004"], {"name": "Backdated"}, version=BACKDATED)
    with world.project() as p:
        run = p.sync()
        assert run.ok
        assert "has expired; a new token was taken" in from_crm_message(run)
    assert world.erp.get("customer", "C00003")["name"] == "Polled"  # type: ignore[index]
    # polling misses what is stamped behind the watermark (accord sync --since is for that)
    assert world.erp.get("customer", "C00004")["name"] == "Local 4"  # type: ignore[index]
    # the new token serves the next pass
    world.crm.put("account", pairs["C00005"], {"name": "Back on the feed"}, version=BACKDATED)
    with world.project() as p:
        run = p.sync()
        assert from_crm_message(run) == "changes read with change tracking"
    assert world.erp.get("customer", "C00005")["name"] == "Back on the feed"  # type: ignore[index]


def test_without_the_option_the_source_is_polled(world: World) -> None:
    seed(world)
    with world.project() as p:
        full(p)
        pairs = coupled_pairs(p, "CUSTOMER")
    assert token(world) is None
    world.crm.put("account", pairs["C00001"], {"name": "Backdated"}, version=BACKDATED)
    with world.project() as p:
        run = p.sync()
        assert from_crm_message(run) == ""
    assert world.erp.get("customer", "C00001")["name"] == "Local 1"  # type: ignore[index]
