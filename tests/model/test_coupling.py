"""Which pass a pending coupling belongs to."""

from __future__ import annotations

from datetime import datetime

import pytest

from accord.model import Coupling, Direction, Side, SyncResult
from accord.model.coupling import LOOKUP_DEFERRED

SEEN = datetime(2026, 1, 1)
TO, FROM = Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION


@pytest.mark.parametrize("creator", [TO, FROM])
def test_the_creating_pass_is_the_one_that_holds_the_job(creator: Direction):
    c = Coupling("CUSTOMER", "C1", "A1", pending=True)
    c.set_result(creator, SyncResult.DEFERRED, "job-1")  # lookup deferred: no help there
    c.set_result(creator.opposite, SyncResult.DEFERRED, None)  # due, not run yet
    c.set_version(Side.LOCAL if creator is FROM else Side.INTEGRATION, SEEN)  # misleading
    assert c.creator() is creator


@pytest.mark.parametrize(
    ("local_version", "integration_version", "creator"),
    [(SEEN, None, TO), (None, SEEN, FROM), (None, None, None), (SEEN, SEEN, None)],
)
def test_older_couplings_with_both_jobs_are_told_by_their_versions(
    local_version: datetime | None, integration_version: datetime | None, creator: Direction | None
):
    """Recorded before the rule: the creator knew its source's version, not the new record's."""
    c = Coupling("CUSTOMER", "C1", "A1", pending=True, job_to="j", job_from="j")
    c.local_version, c.integration_version = local_version, integration_version
    assert c.creator() is creator


def test_a_pass_owns_its_own_pending_creations_and_those_of_unknown_creator():
    mine = Coupling("CUSTOMER", "C1", "A1", pending=True, job_from="j")
    unknown = Coupling("CUSTOMER", "C2", "A2", pending=True)
    done = Coupling("CUSTOMER", "C3", "A3", job_from="j")
    assert mine.pending_for(FROM) and not mine.pending_for(TO)
    assert unknown.pending_for(FROM) and unknown.pending_for(TO)
    assert not done.pending_for(FROM) and not done.pending_for(TO)


def test_a_deferred_direction_is_either_due_or_a_cleared_lookup():
    c = Coupling("CUSTOMER", "C1", "A1")
    c.set_result(TO, SyncResult.DEFERRED, "j")  # due: one-way fields still to send
    c.set_result(FROM, SyncResult.DEFERRED, "j", f"{LOOKUP_DEFERRED}: currency_code left blank")
    assert c.due(TO) and not c.cleared_lookup(TO)
    assert c.cleared_lookup(FROM) and not c.due(FROM)
    c.set_result(TO, SyncResult.SUCCESS, "j")
    assert not c.due(TO) and not c.cleared_lookup(TO)
