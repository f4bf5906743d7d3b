"""Convergence over two real SQL systems, through crashes: a hypothesis state machine.

Two SQLite files behind Accord's SQL connector, an ERP (``customer``) and a CRM
(``account``), coupled by one bidirectional mapping CUSTOMER with a match criterion on
``name``. Users insert, edit and delete rows directly with :mod:`sqlite3` (stamping the
modified column themselves); the engine is asked to sync (incremental and full, each first
as a dry run that must plan exactly what the sync then does), to match, and to uncouple; and
a run may *die*: a fault raises :class:`ProcessDied` (a ``BaseException``, so nothing in the
engine catches it) at a chosen connector read or write, possibly after part of a write was
applied, and the machine goes on with a fresh :meth:`accord.Project.load` (a restart).

At teardown, after a quiet full sync and a quiet incremental sync, the world must have
converged: couplings 1:1 and none pending; a further sync (incremental, then full) writes
nothing and leaves both files' rows as they were; every coupled pair whose two records exist
agrees on name and city (and the ERP number in ``accountnumber``) unless its coupling records
a failure (an update conflict only where the policy allows one); every record the engine
created is coupled unless a user uncoupled it (no duplicate from a crash), and every
uncoupled record left after a full sync is one match-first held back as ambiguous. One
TestCase per conflict policy: ``send``, ``get``, ``none``, ``merge``.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

import accord
from accord import RunResult
from accord.connectors.retry import RetryingConnector
from accord.errors import RetriableConnectorError
from accord.model import Coupling, SyncResult
from accord.testing import Fault, FaultKind, FaultPlan, FaultyConnector
from tests.property.world import as_test, assert_one_to_one

CONFIG = """
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "sql"
url = "sqlite:///erp.db"

[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"

[tables."erp.customer"]
key = "no"
modified = "last_modified"
new_keys = {{ series = "C", digits = 5 }}

# A number series on the CRM too (not uuids), so that a replayed example makes the same keys.
[tables."crm.account"]
key = "accountid"
modified = "modifiedon"
new_keys = {{ series = "A", digits = 5 }}

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "bidirectional"
integration_table_filter = "statecode eq 0"
update_conflict = "{policy}"
deletion_conflict = "none"
sync_only_coupled = true
fields = [
  {{ field = "name", integration_field = "name", match = {{ priority = 0 }} }},
  {{ field = "city", integration_field = "address1_city" }},
  {{ field = "no", integration_field = "accountnumber", direction = "to-integration" }},
  {{ constant = 0, integration_field = "statecode", direction = "to-integration" }},
]
"""

# The modified columns are declared TIMESTAMP: SQLite stores them as TEXT
# ('YYYY-MM-DD HH:MM:SS.ffffff', SQLAlchemy's form), and reflection reads them as datetimes.
ERP_SCHEMA = (
    "CREATE TABLE customer (no TEXT PRIMARY KEY, name TEXT, city TEXT, "
    "last_modified TIMESTAMP NOT NULL)"
)
CRM_SCHEMA = (
    "CREATE TABLE account (accountid TEXT PRIMARY KEY, name TEXT, address1_city TEXT, "
    "accountnumber TEXT, statecode INTEGER, modifiedon TIMESTAMP NOT NULL)"
)
TABLE = {"erp": "customer", "crm": "account"}
KEY = {"erp": "no", "crm": "accountid"}
MODIFIED = {"erp": "last_modified", "crm": "modifiedon"}
NAME = {"erp": "name", "crm": "name"}
CITY = {"erp": "city", "crm": "address1_city"}
USER_PREFIX = {"erp": "K", "crm": "acc-"}  # engine keys are C00001 / A00001

# Small alphabets, so that names match (case-insensitively: 'a' ~ 'A'), collide and blank out.
TEXT = st.sampled_from([None, "", "a", "b", "A"])
SIDE = st.sampled_from(["erp", "crm"])

Row = dict[str, Any]


class ProcessDied(BaseException):
    """The sync process died: not an error any engine code handles."""


class DyingConnector(FaultyConnector):
    """A faulty connector whose "lost connection" is the death of the process."""

    def _lost(self, fault: Fault, what: str) -> RetriableConnectorError:
        raise ProcessDied(f"system '{self.name}': {what}: process died (injected)")


def note(text: str) -> None:
    """A hypothesis event (statistics), and nothing when run outside hypothesis."""
    if currently_in_test_context():
        event(text)


def blank(value: Any) -> Any:
    return None if value == "" else value


def fold(value: Any) -> str | None:
    """A name as match-based coupling compares it: blank is no criterion; case-insensitive."""
    return None if value is None or value == "" else str(value).casefold()


class ConvergenceMachine(RuleBasedStateMachine):
    POLICY: ClassVar[str] = "send"

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="accord-convergence-"))
        with closing(sqlite3.connect(self.folder / "erp.db")) as db:
            db.execute(ERP_SCHEMA)
        with closing(sqlite3.connect(self.folder / "crm.db")) as db:
            db.execute(CRM_SCHEMA)
        self.path = self.folder / "accord.toml"
        self.path.write_text(self.config_text())
        self.project: accord.Project = accord.Project.load(self.path)
        self.serial = 0
        self.clock = datetime(2000, 1, 1)
        self.released: dict[str, set[str]] = {"erp": set(), "crm": set()}  # uncoupled by users
        self.deleted: dict[str, set[str]] = {"erp": set(), "crm": set()}  # by users
        self.crashes = 0

    def config_text(self) -> str:
        return CONFIG.format(policy=self.POLICY)

    # -- the two databases ----------------------------------------------------------------
    @contextmanager
    def db(self, side: str) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.folder / f"{side}.db")) as conn, conn:
            yield conn

    def rows(self, side: str) -> dict[str, Row]:
        with self.db(side) as conn:
            conn.row_factory = sqlite3.Row
            found = conn.execute(f"SELECT * FROM {TABLE[side]} ORDER BY {KEY[side]}").fetchall()
        return {r[KEY[side]]: dict(r) for r in found}

    def stamp(self, side: str) -> str:
        """Now (UTC), strictly later than every stamp already in the table."""
        with self.db(side) as conn:
            (latest,) = conn.execute(f"SELECT max({MODIFIED[side]}) FROM {TABLE[side]}").fetchone()
        now = datetime.now(UTC).replace(tzinfo=None)
        floor = self.clock
        if latest is not None:
            floor = max(floor, datetime.fromisoformat(latest))
        self.clock = max(now, floor + timedelta(microseconds=1))
        return self.clock.isoformat(" ", "microseconds")

    def new_key(self, side: str) -> str:
        self.serial += 1
        return f"{USER_PREFIX[side]}{self.serial:03d}"

    def user_made(self, side: str, key: str) -> bool:
        """Whether a user (not the engine) created the record ``key``."""
        return key.startswith(USER_PREFIX[side])

    def insert_row(self, side: str, key: str, name: Any, city: Any, active: bool) -> None:
        """A user's new record, stamped now (an inactive account is outside the filter)."""
        with self.db(side) as conn:
            if side == "erp":
                conn.execute(
                    "INSERT INTO customer VALUES (?, ?, ?, ?)", (key, name, city, self.stamp(side))
                )
            else:
                conn.execute(
                    "INSERT INTO account VALUES (?, ?, ?, NULL, ?, ?)",
                    (key, name, city, 0 if active else 1, self.stamp(side)),
                )

    def update_row(self, side: str, key: str, values: Row) -> None:
        """A user's edit of ``values`` (name and city fields), stamped now."""
        values = {**values, MODIFIED[side]: self.stamp(side)}
        assignments = ", ".join(f"{f} = ?" for f in values)
        with self.db(side) as conn:
            conn.execute(
                f"UPDATE {TABLE[side]} SET {assignments} WHERE {KEY[side]} = ?",
                (*values.values(), key),
            )

    def delete_row(self, side: str, key: str) -> None:
        with self.db(side) as conn:
            conn.execute(f"DELETE FROM {TABLE[side]} WHERE {KEY[side]} = ?", (key,))

    def couplings(self) -> list[Coupling]:
        return self.project.store.list_couplings("CUSTOMER", limit=1_000_000)

    # -- users ----------------------------------------------------------------------------
    @initialize(
        erp=st.lists(st.tuples(TEXT, TEXT), max_size=3),
        crm=st.lists(st.tuples(TEXT, TEXT), max_size=3),
        full=st.booleans(),
    )
    def seed(self, erp: list[tuple[Any, Any]], crm: list[tuple[Any, Any]], full: bool) -> None:
        for name, city in erp:
            self.insert("erp", name, city, True)
        for name, city in crm:
            self.insert("crm", name, city, True)
        if full:
            self.sync(True)

    @rule(side=SIDE, name=TEXT, city=TEXT, active=st.booleans() | st.just(True))
    def insert(self, side: str, name: Any, city: Any, active: bool) -> None:
        self.insert_row(side, self.new_key(side), name, city, active)

    @rule(side=SIDE, data=st.data())
    def edit(self, side: str, data: st.DataObject) -> None:
        keys = list(self.rows(side))
        if not keys:
            return
        key = data.draw(st.sampled_from(keys), label="key")
        fields = data.draw(
            st.lists(st.sampled_from([NAME[side], CITY[side]]), min_size=1, unique=True),
            label="fields",
        )
        self.update_row(side, key, {f: data.draw(TEXT, label=f) for f in fields})

    @rule(data=st.data())
    def edit_both_sides(self, data: st.DataObject) -> None:
        """Edit both records of a coupled pair: the way to an update conflict."""
        erp, crm = self.rows("erp"), self.rows("crm")
        pairs = sorted(
            (c.local_key, c.integration_key)
            for c in self.couplings()
            if c.local_key in erp and c.integration_key in crm
        )
        if not pairs:
            return
        local, integration = data.draw(st.sampled_from(pairs), label="pair")
        for side, key in (("erp", local), ("crm", integration)):
            field = data.draw(st.sampled_from([NAME[side], CITY[side]]), label="field")
            self.update_row(side, key, {field: data.draw(TEXT, label=field)})

    @rule(side=SIDE, data=st.data())
    def delete(self, side: str, data: st.DataObject) -> None:
        keys = list(self.rows(side))
        if not keys:
            return
        self.delete_key(side, data.draw(st.sampled_from(keys), label="key"))

    def delete_key(self, side: str, key: str) -> None:
        self.delete_row(side, key)
        self.deleted[side].add(key)

    # -- engine ---------------------------------------------------------------------------
    def sync(self, full: bool) -> RunResult:
        """A sync, first as a dry run: it must plan exactly the counters the sync produces."""
        with self.project.dry_run():
            planned = self.project.sync(full=full)
        run = self.project.sync(full=full)
        assert not run.not_run, run.not_run
        plan = [(j.mapping, j.type, j.direction, j.counters.as_dict()) for j in planned.jobs]
        done = [(j.mapping, j.type, j.direction, j.counters.as_dict()) for j in run.jobs]
        assert plan == done, f"the dry run planned {plan}, the run did {done}"
        return run

    @rule()
    def sync_modified(self) -> None:
        self.sync(False)

    @rule()
    def sync_full(self) -> None:
        self.sync(True)

    @rule(sync=st.booleans())
    def match(self, sync: bool) -> None:
        result = self.project.match("CUSTOMER", sync=sync)
        note(f"match: {len(result.coupled)} coupled, {len(result.ambiguous)} ambiguous")

    @rule(data=st.data())
    def uncouple(self, data: st.DataObject) -> None:
        couplings = sorted(self.couplings(), key=lambda c: c.local_key)
        if not couplings:
            return
        chosen = data.draw(
            st.lists(st.sampled_from(couplings), min_size=1, max_size=2, unique_by=id),
            label="couplings",
        )
        job = self.project.uncouple("CUSTOMER", [c.local_key for c in chosen])
        assert job.counters.uncoupled == len(chosen)
        for c in chosen:
            self.released["erp"].add(c.local_key)
            self.released["crm"].add(c.integration_key)

    @rule(
        full=st.booleans(),
        system=SIDE,
        operation=st.sampled_from(["read", "write"]),
        at=st.integers(1, 2),
        committed=st.integers(0, 2),
    )
    def crash(self, full: bool, system: str, operation: str, at: int, committed: int) -> None:
        """A sync dies at a connector call (a write may be partly applied); then a restart."""
        retrying = self.project.connector(system)
        assert isinstance(retrying, RetryingConnector)
        fault = Fault(
            FaultKind.DISCONNECT,
            "read" if operation == "read" else "write",
            at=at,
            committed=committed,
        )
        retrying.inner = DyingConnector(retrying.inner, FaultPlan((fault,)))
        try:
            self.project.sync(full=full)
        except ProcessDied:
            self.crashes += 1
            note("crash: died")
        else:
            note("crash: the fault hit no call")
        # The dead process's file handles are gone with it: close them, then start afresh.
        self.project.close()
        self.project = accord.Project.load(self.path)

    # -- the end --------------------------------------------------------------------------
    def teardown(self) -> None:
        try:
            self.converged()
        finally:
            self.project.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def converged(self) -> None:
        self.sync(True)
        self.sync(False)
        erp, crm = self.rows("erp"), self.rows("crm")
        for full in (False, True):
            again = self.sync(full)
            written = [
                (j.type, j.direction, j.counters.as_dict())
                for j in again.jobs
                if j.counters.written
            ]
            assert again.totals().written == 0, f"a further sync (full={full}) wrote: {written}"
            assert (self.rows("erp"), self.rows("crm")) == (erp, crm), (
                f"a further sync (full={full}) changed rows it did not count"
            )
        couplings = self.couplings()
        assert_one_to_one("CUSTOMER", couplings)
        self.check_pairs(couplings, erp, crm)
        self.check_no_duplicates(couplings, erp, crm)
        note(f"crashes: {min(self.crashes, 2)}")

    def check_pairs(
        self, couplings: list[Coupling], erp: dict[str, Row], crm: dict[str, Row]
    ) -> None:
        for c in couplings:
            lrow, crow = erp.get(c.local_key), crm.get(c.integration_key)
            where = f"CUSTOMER {c.local_key!r} ↔ {c.integration_key!r}"
            if lrow is None or crow is None:
                # A deleted counterpart (a failure, with deletion_conflict = none) is one a
                # user deleted: never a record the engine meant to create and did not.
                for side, key, row in (
                    ("erp", c.local_key, lrow),
                    ("crm", c.integration_key, crow),
                ):
                    assert row is not None or key in self.deleted[side], (
                        f"{where}: coupled to {TABLE[side]} {key!r}, which nobody deleted and "
                        f"which does not exist; coupling: {c}"
                    )
                continue
            diff = {
                f: (lrow[f], crow[i])
                for f, i in (("name", "name"), ("city", "address1_city"), ("no", "accountnumber"))
                if blank(lrow[f]) != blank(crow[i])
            }
            if crow["statecode"] != 0:
                diff["statecode"] = (0, crow["statecode"])
            errors = " | ".join(e for e in (c.error_to, c.error_from) if e)
            failed = SyncResult.FAILURE in (c.result_to, c.result_from)
            note(f"pair {'differs' if diff else 'agrees'}{' (failed)' if failed else ''}")
            if failed or c.skipped:
                # README "Quarantine": a coupling failing with the same error skip_after times
                # is skipped — "not processed" — so it keeps its (failed) difference.
                assert "deleted record" not in errors, f"{where}: both records exist: {errors}"
                if self.POLICY in ("send", "get"):
                    assert "update conflict" not in errors, (
                        f"{where}: update_conflict = {self.POLICY} reported: {errors}"
                    )
                continue
            assert not diff, f"{where} differ after a quiet sync on {diff}; coupling: {c}"

    def check_no_duplicates(
        self, couplings: list[Coupling], erp: dict[str, Row], crm: dict[str, Row]
    ) -> None:
        rows = {"erp": erp, "crm": crm}
        coupled = {
            "erp": {c.local_key for c in couplings},
            "crm": {c.integration_key for c in couplings},
        }
        # Every record the engine created is coupled (a crash must not leave an orphan behind a
        # re-created duplicate), unless a user uncoupled it.
        for side in ("erp", "crm"):
            orphans = [
                k
                for k in rows[side]
                if not self.user_made(side, k)
                and k not in coupled[side]
                and k not in self.released[side]
            ]
            assert not orphans, (
                f"{TABLE[side]}: records created by the engine, uncoupled: {orphans}"
            )
        # README "Full synchronization": after a full sync, an uncoupled record that passes the
        # filters is one match-first held back as ambiguous ("a counterpart would be a
        # duplicate"): its name matches uncoupled records on the other side, and not 1:1.
        loose = {
            "erp": [r for k, r in erp.items() if k not in coupled["erp"]],
            "crm": [r for k, r in crm.items() if k not in coupled["crm"] and r["statecode"] == 0],
        }
        names = {side: [fold(r["name"]) for r in loose[side]] for side in loose}
        # README "Full synchronization": a record that looks like a renamed one (a coupling
        # whose record on the same side is gone, its counterpart holding the same name) is held
        # back too: a deletion plus an equal new record cannot be told from a rename.
        renamed: dict[str, set[str | None]] = {"erp": set(), "crm": set()}
        for c in couplings:
            if c.local_key not in erp and c.integration_key in crm:
                renamed["erp"].add(fold(crm[c.integration_key]["name"]))
            if c.integration_key not in crm and c.local_key in erp:
                renamed["crm"].add(fold(erp[c.local_key]["name"]))
        for side, other in (("erp", "crm"), ("crm", "erp")):
            for row in loose[side]:
                name = fold(row["name"])
                if name in renamed[side]:
                    continue
                mine, theirs = names[side].count(name), names[other].count(name)
                assert name is not None and theirs >= 1 and (mine, theirs) != (1, 1), (
                    f"{TABLE[side]} {row[KEY[side]]!r} left uncoupled after a full sync, "
                    f"not held back as ambiguous: {row}; uncoupled: {loose}"
                )


def test_a_pending_coupling_whose_source_was_deleted_is_settled() -> None:
    """The minimal example the machine found (every policy), fixed: the rerun finds the
    source gone and, the record never having been written, drops the pending coupling."""
    machine = LocalWins()
    try:
        machine.insert("erp", "a", None, True)  # ERP customer K001, no account yet
        # A full sync dies at its first CRM write: pending K001 -> A00001, nothing written.
        machine.crash(full=True, system="crm", operation="write", at=1, committed=0)
        machine.delete_key("erp", "K001")  # the user deletes the customer
        machine.project.sync(full=True)
        machine.project.sync()
        pending = [c for c in machine.couplings() if c.pending]
        assert not pending, f"pending coupling never settled: {pending}"
    finally:
        machine.project.close()
        shutil.rmtree(machine.folder, ignore_errors=True)


SETTINGS = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class LocalWins(ConvergenceMachine):
    POLICY = "send"


class IntegrationWins(ConvergenceMachine):
    POLICY = "get"


class ConflictsFail(ConvergenceMachine):
    POLICY = "none"


class FieldsMerge(ConvergenceMachine):
    POLICY = "merge"


TestConvergenceLocalWins = as_test(LocalWins, SETTINGS)
TestConvergenceIntegrationWins = as_test(IntegrationWins, SETTINGS)
TestConvergenceConflictsFail = as_test(ConflictsFail, SETTINGS)
TestConvergenceFieldsMerge = as_test(FieldsMerge, SETTINGS)
