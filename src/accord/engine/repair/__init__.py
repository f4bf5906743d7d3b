"""Failed, skipped and broken couplings: list them, find them, retry, restore or delete them.

The reference's "Coupled Data Synchronization Errors" page (§2.7, §2.8):

- :func:`list_problems` lists failed and skipped couplings with their last message;
- :func:`find_deleted` scans a mapping's couplings for records deleted on either side and
  marks them failed in the direction that would notice it ("Find for Deleted", both sides);
- :func:`retry` clears the quarantine (``skipped``, ``repeats``) so the next sync processes
  them, and can synchronize them right away;
- :func:`restore` re-creates the missing record of a broken coupling from the survivor and
  couples the two ("Restore Records"), through the pass that creates records in a sync;
- :func:`delete` deletes the survivor of a broken coupling and the coupling ("Delete Records").

Every action logs a job with counters and one job error per record it could not handle, and
tells the project's recorder each record's outcome. Writes go through connectors' ``write``
and the state store's transactions only.

One module per action (``problems``: listing and finding deleted; ``retry``, ``restore``,
``delete``), ``results`` for what they return and ``common`` for what they share.
"""

from __future__ import annotations

from accord.engine.deleted import deleted_message
from accord.engine.repair.common import PASSES, check_selection
from accord.engine.repair.delete import delete
from accord.engine.repair.problems import find_deleted, list_problems
from accord.engine.repair.restore import restore
from accord.engine.repair.results import CouplingProblem, Outcome, RepairOutcome, RepairResult
from accord.engine.repair.retry import retry

__all__ = [
    "PASSES",
    "CouplingProblem",
    "Outcome",
    "RepairOutcome",
    "RepairResult",
    "check_selection",
    "delete",
    "deleted_message",
    "find_deleted",
    "list_problems",
    "restore",
    "retry",
]
