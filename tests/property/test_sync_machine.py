"""The sync engine as a state machine: random user edits on both systems and engine calls.

Two memory systems, two mappings (see :mod:`tests.property.world`): CURRENCY, one-way to the
CRM, and CUSTOMER, bidirectional with a lookup through CURRENCY and one field in each single
direction. Users insert, edit and (less often) delete records on both sides, sometimes both
records of a pair at once; the engine is asked to sync (modified records, full, one mapping,
one record in one direction), to couple by hand and to uncouple.

After every step: couplings are one-to-one and never left pending, and every record the
engine created is counted by its jobs and still coupled (unless a user uncoupled it).
After every sync: no coupling was dropped or re-pointed (deletion_conflict = none); a second
sync writes nothing; an edit made on one side only survives (and is no conflict); coupled
pairs agree on every mapped field, through the engine's own conversions, unless their
coupling says why not (failed or skipped; deferred for a lookup); after a full sync every
coupling whose counterpart was deleted is reported as failed. Four variants: local wins
(send), integration wins (get), conflicts fail (none), fields merge (merge).

Real timing too (issue 9): a user may save a record *while* a pass writes it, between the
engine's read and its write (``save_during_next_sync``); such an edit is never lost — after
the sync (and one more to carry it over) it is on both records of the pair, or the coupling
reports a conflict, or the policy let the other side win (``send``: the ERP, ``get``: the
CRM). Users also edit with a clock that did not tick (the version stays) or a clock behind
(an older version than stored), and two variants keep the CRM's clock coarse (whole seconds,
so that an edit right after Accord's write carries the version Accord stored): edits are
seen all the same, by the checksum of the values last synchronized.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from accord import Coupling, Direction, RunResult
from accord.engine.renamed import is_renamed
from accord.model import Change, ChangeKind, SyncResult
from accord.model.values import same
from tests.property.world import (
    BIDIRECTIONAL,
    CRM_ACCOUNT_EDITABLE,
    CRM_CURRENCY_EDITABLE,
    CUSTOMER_FIELDS,
    LOCAL_CURRENCY_EDITABLE,
    LOCAL_CUSTOMER_EDITABLE,
    TABLES,
    World,
    as_test,
    assert_one_to_one,
    deferred,
    errors_of,
    failed,
    mismatches,
)

MAPPINGS = ("CURRENCY", "CUSTOMER")
LOCAL_TABLE = {"CURRENCY": "currency", "CUSTOMER": "customer"}
CRM_TABLE = {"CURRENCY": "transactioncurrency", "CUSTOMER": "account"}
SIDE_OF = {t: side for side, tables in TABLES.items() for t in tables}
DESTINATION = {
    ("CURRENCY", Direction.TO_INTEGRATION): "transactioncurrency",
    ("CUSTOMER", Direction.TO_INTEGRATION): "account",
    ("CUSTOMER", Direction.FROM_INTEGRATION): "customer",
}
FLOWS = {  # local fields written by a pass in each direction
    Direction.TO_INTEGRATION: {f for f, _, how in CUSTOMER_FIELDS if how != "from"},
    Direction.FROM_INTEGRATION: {f for f, _, how in CUSTOMER_FIELDS if how != "to"},
}
CODES = ("EUR", "USD", "NOK", "GBP", "SEK")
CRM_TEXT = ("name", "address1_city", "telephone1")  # the CRM's bidirectional text fields
COUNTERPART = {  # a bidirectional text field of one side → its field on the other
    **{f: ("account", i) for f, i, how in CUSTOMER_FIELDS if i in CRM_TEXT},
    **{i: ("customer", f) for f, i, how in CUSTOMER_FIELDS if i in CRM_TEXT},
}

# Small alphabets, so that edits collide and compare equal or blank ('' and None).
TEXT = st.sampled_from([None, "", "a", "b", "A"])
LOCAL_NAME = st.sampled_from([None, "", "a", "b", "A", "toolong"])  # CRM names hold 5
CREDIT = st.sampled_from([None, 0, Decimal("12.50"), 7, "n/a"])  # "n/a" is no decimal
CRM_CREDIT = st.sampled_from([None, 0, Decimal("12.50")])
ISO = st.sampled_from([None, *CODES])
LOCAL_CUSTOMER = st.fixed_dictionaries(
    {"name": LOCAL_NAME, "city": TEXT, "phone": TEXT, "credit_limit": CREDIT, "website": TEXT}
)
CRM_ACCOUNT = st.fixed_dictionaries(
    {
        "name": TEXT,
        "address1_city": TEXT,
        "telephone1": TEXT,
        "websiteurl": TEXT,
        "creditlimit": CRM_CREDIT,
        "accountnumber": TEXT,
    }
)


class SyncMachine(RuleBasedStateMachine):
    UPDATE_CONFLICT: ClassVar[str] = "send"
    CLEAR_ON_MISSING: ClassVar[bool] = True
    COARSE_CRM_CLOCK: ClassVar[bool] = False
    ONE_WAY_FIELDS: ClassVar[bool] = True
    """Besides the bidirectional fields, the one-way fields of CUSTOMER pairs must agree too
    (no user edits the destination of a one-way field, so nothing excuses a difference)."""

    def __init__(self) -> None:
        super().__init__()
        self.world = World.create(
            update_conflict=self.UPDATE_CONFLICT,
            clear_on_missing=self.CLEAR_ON_MISSING,
            coarse_crm_clock=self.COARSE_CRM_CLOCK,
        )
        tables = [t for ts in TABLES.values() for t in ts]
        self.user: dict[str, set[str]] = {t: set() for t in tables}  # keys users created
        self.deleted: dict[str, set[str]] = {t: set() for t in tables}  # keys users deleted
        self.inserted: dict[str, int] = dict.fromkeys(tables, 0)  # engine inserts (counters)
        self.released: dict[str, set[str]] = {t: set() for t in tables}  # uncoupled by a user
        # CRM currencies a user edited since the last full CURRENCY sync: a one-way mapping
        # only overwrites them when their source changes (or in a full sync).
        self.dirty_currencies: set[str] = set()
        # Currency keys (either side) whose coupling a user removed since the last full
        # CUSTOMER sync: pairs translated through the old coupling are revisited only by a
        # full sync or an edit of the pair.
        self.stale_lookups: set[str] = set()
        # Records a user edited since the last sync of their mapping.
        self.touched: dict[str, set[str]] = {}
        self.cache: dict[str, list[Coupling]] = {}  # emptied by every engine call
        self.serial = 0
        self.snapshot: dict[str, dict[str, str]] = {m: {} for m in MAPPINGS}
        # A save armed for the next sync, by customer table: the values a user saves in the
        # first record of that table a pass updates, between its read and its write.
        self.armed: dict[str, dict[str, Any]] = {}

    def teardown(self) -> None:
        self.world.close()

    # -- helpers --------------------------------------------------------------------------
    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        return self.world.db(SIDE_OF[table]).rows(table)

    def new_key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:03d}"

    def local_codes(self) -> list[Any]:
        """Currency codes a local customer may name: users' codes, blanks and an unknown one."""
        return [None, "", *sorted(self.user["currency"]), "ZZZ"]

    def crm_currency_ids(self) -> list[Any]:
        return [None, *self.rows("transactioncurrency")]

    def couplings(self, mapping: str) -> list[Coupling]:
        """The mapping's couplings, read once between two engine calls."""
        if mapping not in self.cache:
            self.cache[mapping] = self.world.couplings(mapping)
        return self.cache[mapping]

    def current(self, mapping: str) -> dict[str, str]:
        return {c.local_key: c.integration_key for c in self.couplings(mapping)}

    def absorb(self, run: RunResult | None) -> None:
        """Count the records the engine created, per destination table."""
        if run is None:
            return
        assert not run.not_run, run.not_run
        for job in run.jobs:
            if job.counters.inserted:
                assert job.direction is not None
                self.inserted[DESTINATION[(job.mapping, job.direction)]] += job.counters.inserted

    def check_couplings_kept(self, what: str) -> None:
        """With deletion_conflict = none the engine never drops nor re-points a coupling."""
        for m in MAPPINGS:
            now = self.current(m)
            for local, integration in self.snapshot[m].items():
                assert now.get(local) == integration, (
                    f"{what} changed coupling {m} {local!r} → {integration!r} "
                    f"into {now.get(local)!r}"
                )
            self.snapshot[m] = now

    def edit(self, table: str, key: str, values: dict[str, Any]) -> None:
        """A user's edit of an existing record."""
        self.world.db(SIDE_OF[table]).put(table, key, values)
        if table == "transactioncurrency":
            self.dirty_currencies.add(key)
        self.touched.setdefault(table, set()).add(key)

    def value(self, table: str, field: str, data: st.DataObject) -> Any:
        if field == "name" and table == "customer":
            strategy = LOCAL_NAME
        elif field == "credit_limit":
            strategy = CREDIT
        elif field == "currency_code":
            strategy = st.sampled_from(self.local_codes())
        elif field == "transactioncurrencyid":
            strategy = st.sampled_from(self.crm_currency_ids())
        elif field == "isocurrencycode":
            strategy = ISO
        else:
            strategy = TEXT
        return data.draw(strategy, label=field)

    # -- users ----------------------------------------------------------------------------
    @initialize(
        currencies=st.integers(0, 3),
        customers=st.lists(LOCAL_CUSTOMER, max_size=4),
        accounts=st.lists(CRM_ACCOUNT, max_size=3),
        data=st.data(),
    )
    def seed(
        self,
        currencies: int,
        customers: list[dict[str, Any]],
        accounts: list[dict[str, Any]],
        data: st.DataObject,
    ) -> None:
        """Start from a coupled world: a few records on both sides and a full sync."""
        for _ in range(currencies):
            self.insert_local_currency(data.draw(TEXT, label="description"))
        for values in customers:
            self.insert_local_customer(values, data)
        for values in accounts:
            self.insert_crm_account(values, data)
        self.sync(None, full=True)

    @rule(values=LOCAL_CUSTOMER, data=st.data())
    def insert_local_customer(self, values: dict[str, Any], data: st.DataObject) -> None:
        values["currency_code"] = self.value("customer", "currency_code", data)
        key = self.new_key("L")
        self.world.erp.put("customer", key, values)
        self.user["customer"].add(key)

    @rule(values=CRM_ACCOUNT, data=st.data())
    def insert_crm_account(self, values: dict[str, Any], data: st.DataObject) -> None:
        values["transactioncurrencyid"] = self.value("account", "transactioncurrencyid", data)
        values["statecode"] = 0  # selected by the mapping's integration filter
        key = self.new_key("acc-")
        self.world.crm.put("account", key, values)
        self.user["account"].add(key)

    @rule(description=TEXT)
    def insert_local_currency(self, description: Any) -> None:
        code = next((c for c in CODES if c not in self.user["currency"]), None)
        if code is None:
            return
        self.world.erp.put("currency", code, {"description": description})
        self.user["currency"].add(code)

    @rule(iso=ISO, name=TEXT)
    def insert_crm_currency(self, iso: Any, name: Any) -> None:
        key = self.new_key("cur-")
        self.world.crm.put(
            "transactioncurrency", key, {"isocurrencycode": iso, "currencyname": name}
        )
        self.user["transactioncurrency"].add(key)

    @rule(side=st.sampled_from(["local", "integration"]), data=st.data())
    def update(self, side: str, data: st.DataObject) -> None:
        tables = [t for t in TABLES[side] if self.rows(t)]
        if not tables:
            return
        table = data.draw(st.sampled_from(tables), label="table")
        key = data.draw(st.sampled_from(list(self.rows(table))), label="key")
        editable = {
            "customer": LOCAL_CUSTOMER_EDITABLE,
            "account": CRM_ACCOUNT_EDITABLE,
            "currency": LOCAL_CURRENCY_EDITABLE,
            "transactioncurrency": CRM_CURRENCY_EDITABLE,
        }[table]
        fields = data.draw(
            st.lists(st.sampled_from(editable), min_size=1, unique=True), label="fields"
        )
        values = {f: self.value(table, f, data) for f in fields}
        self.edit(table, key, values)

    @rule(data=st.data())
    def edit_both_sides(self, data: st.DataObject) -> None:
        """Edit both records of a coupled CUSTOMER pair: the way to an update conflict."""
        local_rows, crm_rows = self.rows("customer"), self.rows("account")
        pairs = [
            c
            for c in self.couplings("CUSTOMER")
            if c.local_key in local_rows and c.integration_key in crm_rows
        ]
        if not pairs:
            return
        key = data.draw(st.sampled_from([c.local_key for c in pairs]), label="pair")
        c = next(c for c in pairs if c.local_key == key)
        for _side, table, key, editable in (
            ("local", "customer", c.local_key, LOCAL_CUSTOMER_EDITABLE),
            ("integration", "account", c.integration_key, CRM_ACCOUNT_EDITABLE),
        ):
            fields = data.draw(
                st.lists(st.sampled_from(editable), min_size=1, unique=True), label="fields"
            )
            values = {f: self.value(table, f, data) for f in fields}
            self.edit(table, key, values)

    @rule(
        table=st.sampled_from(["customer", "account"]),
        how=st.sampled_from(["same version", "clock behind"]),
        data=st.data(),
    )
    def edit_with_an_odd_clock(self, table: str, how: str, data: st.DataObject) -> None:
        """An edit whose version says nothing changed: the writer's clock did not tick (the
        version stays), or is behind (a version just before the one the record has)."""
        rows = self.rows(table)
        if not rows:
            return
        key = data.draw(st.sampled_from(sorted(rows)), label="key")
        editable = LOCAL_CUSTOMER_EDITABLE if table == "customer" else CRM_ACCOUNT_EDITABLE
        fields = data.draw(
            st.lists(st.sampled_from(editable), min_size=1, unique=True), label="fields"
        )
        values = {f: self.value(table, f, data) for f in fields}
        db = self.world.db(SIDE_OF[table])
        version = rows[key][db.tables[table].schema.modified or ""]
        if how == "clock behind":
            version -= timedelta(milliseconds=1)
        db.put(table, key, values, version=version)
        self.touched.setdefault(table, set()).add(key)

    @rule(table=st.sampled_from(["customer", "account"]), data=st.data())
    def save_during_next_sync(self, table: str, data: st.DataObject) -> None:
        """Arm a user's save for the next sync: it lands in the first record of ``table`` a
        pass updates, after the engine read it and before its write."""
        editable = LOCAL_CUSTOMER_EDITABLE if table == "customer" else CRM_ACCOUNT_EDITABLE
        text_fields = [f for f in editable if f in ("name", "city", "phone") or f in CRM_TEXT]
        fields = data.draw(
            st.lists(st.sampled_from(text_fields), min_size=1, unique=True), label="fields"
        )
        self.armed[table] = {f: self.value(table, f, data) for f in fields}

    @rule(side=st.sampled_from(["local", "integration"]), data=st.data())
    def delete(self, side: str, data: st.DataObject) -> None:
        tables = [t for t in TABLES[side] if self.rows(t)]
        if not tables:
            return
        table = data.draw(st.sampled_from(tables), label="table")
        key = data.draw(st.sampled_from(list(self.rows(table))), label="key")
        self.world.db(side).delete(table, key)
        self.deleted[table].add(key)

    # -- engine: synchronization ----------------------------------------------------------
    @rule()
    def sync_modified(self) -> None:
        self.sync(None, full=False)

    @rule()
    def sync_full(self) -> None:
        self.sync(None, full=True)

    @rule(mapping=st.sampled_from(MAPPINGS), full=st.booleans())
    def sync_one(self, mapping: str, full: bool) -> None:
        self.sync([mapping], full=full)

    def dry_run(self, mappings: list[str] | None, *, full: bool) -> list[Any]:
        """The same sync as a dry run: it changes nothing anywhere; returns its counters."""
        project = self.world.project
        writes = self.world.writes()
        couplings = {m: self.world.couplings(m) for m in MAPPINGS}
        jobs = len(project.jobs(limit=1_000_000))
        with project.dry_run():
            run = project.sync(mappings, full=full)
        assert self.world.writes() == writes, "a dry run wrote to a system"
        assert {m: self.world.couplings(m) for m in MAPPINGS} == couplings, "a dry run coupled"
        assert len(project.jobs(limit=1_000_000)) == jobs, "a dry run logged jobs"
        return [(j.mapping, j.direction, j.counters.as_dict()) for j in run.jobs]

    def sync(self, mappings: list[str] | None, *, full: bool) -> None:
        project = self.world.project
        included = set(mappings or MAPPINGS)
        one_sided = self.one_sided_edits() if "CUSTOMER" in included else []
        planned = self.dry_run(mappings, full=full)
        saves = self.arm_saves()
        try:
            run = project.sync(mappings, full=full)
        finally:
            self.world.erp.before_write = self.world.crm.before_write = None
        done = [(j.mapping, j.direction, j.counters.as_dict()) for j in run.jobs]
        if not saves:  # a save during the run changes what the run does, by design
            assert planned == done, f"the dry run planned {planned}, the run did {done}"
        self.cache.clear()
        self.absorb(run)
        if saves:
            # the save landed after the passes read: one more sync carries it over
            self.absorb(project.sync(mappings))
            self.cache.clear()
            self.check_saves_kept(saves)
            # a pair saved during the sync was edited on both sides (or twice): no longer a
            # one-sided edit, whatever the policy makes of it
            saved = {key for _, key, _ in saves}
            one_sided = [e for e in one_sided if not {e[0].local_key, e[0].integration_key} & saved]
        self.check_couplings_kept("a sync")
        self.check_one_sided_edits_kept(one_sided)
        for m in included:
            self.touched.pop(LOCAL_TABLE[m], None)
            self.touched.pop(CRM_TABLE[m], None)
        if full:
            self.check_deletions_reported(included)
            if "CURRENCY" in included:
                self.dirty_currencies.clear()
            if "CUSTOMER" in included:
                self.stale_lookups.clear()

        writes = self.world.writes()
        again = project.sync(mappings)
        self.cache.clear()
        self.absorb(again)
        written = [
            (j.mapping, j.direction and j.direction.value, j.counters.as_dict())
            for j in again.jobs
            if j.counters.written
        ]
        assert not written, f"a second sync wrote again: {written}"
        assert self.world.writes() == writes, "a second sync wrote to a system"
        self.check_couplings_kept("a second sync")
        for m in MAPPINGS:
            if m in included:
                self.check_pairs(m)

    def arm_saves(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Install the armed saves as ``before_write`` hooks; returns the saves made (filled
        in while the sync runs): (table, key, values)."""
        saves: list[tuple[str, str, dict[str, Any]]] = []
        for table, values in self.armed.items():
            db = self.world.db(SIDE_OF[table])

            def save(
                written: str,
                changes: Sequence[Change],
                table: str = table,
                values: dict[str, Any] = values,
                db: Any = db,
            ) -> None:
                if written != table or any(t == table for t, _, _ in saves):
                    return
                for change in changes:
                    row = db.rows(table).get(change.key)
                    if change.kind is ChangeKind.UPDATE and row is not None:
                        db.put(table, change.key, values)
                        # a value saved as it was is no edit, only a new version
                        edited = {f: v for f, v in values.items() if not same(row[f], v)}
                        saves.append((table, change.key, edited))
                        event(f"a save during the write of {table}")
                        return

            db.before_write = save
        self.armed.clear()
        return saves

    def check_saves_kept(self, saves: list[tuple[str, str, dict[str, Any]]]) -> None:
        """A save made between the engine's read and its write is not lost: it is on both
        records of the pair, or the coupling reports why not, or the policy let the other
        side win (send: the ERP's values, get: the CRM's)."""
        winner = {"send": "customer", "get": "account"}.get(self.UPDATE_CONFLICT)
        for table, key, values in saves:
            side = "local" if table == "customer" else "integration"
            c = self.world.project.store.get_coupling(
                "CUSTOMER", **{"local_key" if side == "local" else "integration_key": key}
            )
            row = self.rows(table).get(key)
            if c is None or row is None or c.skipped or failed(c):
                continue  # uncoupled, deleted, or the coupling says why (a conflict…)
            other_table = "account" if table == "customer" else "customer"
            other = self.rows(other_table).get(c.key("integration" if side == "local" else "local"))
            if other is None:
                continue
            lost = {}
            for f, v in values.items():
                _, g = COUNTERPART[f]
                if not (same(row[f], v) and same(other[g], v)):
                    lost[f] = (v, row[f], other[g])
            if lost and winner is not None and winner != table:
                continue  # both changed: the policy's side won, as it would have before the read
            assert not lost, (
                f"CUSTOMER {c.local_key!r} ↔ {c.integration_key!r}: a save in the {table} "
                f"during the write was lost (saved, now there, now on the other side): {lost}"
            )

    @rule(
        direction=st.sampled_from([Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION]),
        data=st.data(),
    )
    def sync_one_record(self, direction: Direction, data: st.DataObject) -> None:
        """Resolve a pair by synchronizing it in one direction (what a user does on conflict)."""
        couplings = self.couplings("CUSTOMER")
        if not couplings:
            return
        key = data.draw(st.sampled_from([c.local_key for c in couplings]), label="coupling")
        c = next(c for c in couplings if c.local_key == key)
        run = self.world.project.sync(["CUSTOMER"], records=[c.local_key], direction=direction)
        self.cache.clear()
        self.absorb(run)
        self.touched.get("customer", set()).discard(c.local_key)
        self.touched.get("account", set()).discard(c.integration_key)
        self.check_couplings_kept("a one-record sync")
        after = self.world.project.store.get_coupling("CUSTOMER", local_key=c.local_key)
        local_row = self.rows("customer").get(c.local_key)
        crm_row = self.rows("account").get(c.integration_key)
        if after is None or local_row is None or crm_row is None:
            return
        if after.skipped or after.result(direction) is not SyncResult.SUCCESS:
            return
        diff = self.pair_mismatches("CUSTOMER", local_row, crm_row, self.currency_pairs())
        wrong = {f: v for f, v in diff.items() if f in FLOWS[direction]}
        assert not wrong, (
            f"after synchronizing CUSTOMER {c.local_key!r} {direction.value} (success), "
            f"the pair still differs: {wrong}"
        )

    # -- engine: coupling -----------------------------------------------------------------
    @rule(mapping=st.sampled_from(MAPPINGS), data=st.data())
    def uncouple(self, mapping: str, data: st.DataObject) -> None:
        couplings = self.couplings(mapping)
        if not couplings:
            return
        key = data.draw(st.sampled_from([c.local_key for c in couplings]), label="coupling")
        c = next(c for c in couplings if c.local_key == key)
        job = self.world.project.uncouple(mapping, [c.local_key])
        self.cache.clear()
        assert job.counters.uncoupled == 1
        self.released[LOCAL_TABLE[mapping]].add(c.local_key)
        self.released[CRM_TABLE[mapping]].add(c.integration_key)
        if mapping == "CURRENCY":
            self.stale_lookups |= {c.local_key, c.integration_key}
        self.snapshot[mapping] = self.current(mapping)

    @rule(mapping=st.sampled_from(MAPPINGS), data=st.data())
    def couple_by_hand(self, mapping: str, data: st.DataObject) -> None:
        now = self.current(mapping)
        coupled_integration = set(now.values())
        locals_ = [k for k in self.rows(LOCAL_TABLE[mapping]) if k not in now]
        integration = [k for k in self.rows(CRM_TABLE[mapping]) if k not in coupled_integration]
        if not locals_ or not integration:
            return
        local = data.draw(st.sampled_from(locals_), label="local")
        remote = data.draw(st.sampled_from(integration), label="integration")
        directions = [None, Direction.TO_INTEGRATION]
        if mapping == "CUSTOMER":
            directions.append(Direction.FROM_INTEGRATION)
        sync = data.draw(st.sampled_from(directions), label="sync")
        result = self.world.project.couple(mapping, local, remote, sync=sync)
        self.cache.clear()
        assert result.coupling.integration_key == remote
        self.absorb(result.sync)
        self.snapshot[mapping][local] = remote
        self.check_couplings_kept("coupling by hand")

    # -- checks ---------------------------------------------------------------------------
    @invariant()
    def couplings_one_to_one_and_created_records_accounted_for(self) -> None:
        for m in MAPPINGS:
            couplings = self.couplings(m)
            assert_one_to_one(m, couplings)
            for table in (LOCAL_TABLE[m], CRM_TABLE[m]):
                side = SIDE_OF[table]
                live = self.rows(table)
                engine_live = [k for k in live if k not in self.user[table]]
                engine_gone = [k for k in self.deleted[table] if k not in self.user[table]]
                assert len(engine_live) + len(engine_gone) == self.inserted[table], (
                    f"{table}: {len(engine_live)} live + {len(engine_gone)} deleted records "
                    f"made by the engine, but its jobs counted {self.inserted[table]} inserts"
                )
                coupled = {c.local_key if side == "local" else c.integration_key for c in couplings}
                loose = [
                    k for k in engine_live if k not in coupled and k not in self.released[table]
                ]
                assert not loose, f"{table}: records created by the engine but not coupled: {loose}"

    def one_sided_edits(self) -> list[tuple[Coupling, str, str, dict[str, Any]]]:
        """CUSTOMER pairs in sync whose records a user edited on one side only since the last
        sync: (coupling, table, key, bidirectional values of the edited record)."""
        local_rows, crm_rows = self.rows("customer"), self.rows("account")
        out = []
        for c in self.couplings("CUSTOMER"):
            clean = (
                not c.skipped
                and c.local_version is not None
                and c.integration_version is not None
                and c.result_to is SyncResult.SUCCESS
                and c.result_from is SyncResult.SUCCESS
            )
            if not clean or c.local_key not in local_rows or c.integration_key not in crm_rows:
                continue
            local = c.local_key in self.touched.get("customer", ())
            remote = c.integration_key in self.touched.get("account", ())
            if local == remote:
                continue
            table, key, row = (
                ("customer", c.local_key, local_rows[c.local_key])
                if local
                else ("account", c.integration_key, crm_rows[c.integration_key])
            )
            fields = [f if local else i for f, i, how in CUSTOMER_FIELDS if f in BIDIRECTIONAL]
            out.append((c, table, key, {f: row[f] for f in fields}))
        return out

    def check_one_sided_edits_kept(
        self, one_sided: list[tuple[Coupling, str, str, dict[str, Any]]]
    ) -> None:
        """Only one side changed since the last sync: no conflict, and its edit survives."""
        for before, table, key, values in one_sided:
            where = f"CUSTOMER {before.local_key!r} ↔ {before.integration_key!r}"
            c = self.world.project.store.get_coupling("CUSTOMER", local_key=before.local_key)
            assert c is not None
            assert "update conflict" not in errors_of(c), (
                f"{where}: only the {table} was edited since the last sync, yet: {errors_of(c)}"
            )
            row = self.rows(table).get(key)
            if row is None:
                continue
            lost = {f: (v, row[f]) for f, v in values.items() if not same(v, row[f])}
            assert not lost, (
                f"{where}: only the {table} was edited since the last sync, but the sync "
                f"overwrote the edit (before, after): {lost}"
            )

    def check_deletions_reported(self, included: set[str]) -> None:
        """After a full sync, a coupling whose counterpart is gone is failed (or skipped)."""
        for m in MAPPINGS:
            if m not in included:
                continue
            local_rows, crm_rows = self.rows(LOCAL_TABLE[m]), self.rows(CRM_TABLE[m])
            for c in self.couplings(m):
                has_local, has_crm = c.local_key in local_rows, c.integration_key in crm_rows
                if has_local == has_crm or c.skipped:
                    continue
                if has_crm and m == "CURRENCY":
                    continue  # a one-way mapping never reads its destination's records
                direction = Direction.TO_INTEGRATION if has_local else Direction.FROM_INTEGRATION
                if is_renamed(c, direction.opposite):
                    continue  # reported by the pass that held its new record back as renamed
                assert c.result(direction) is SyncResult.FAILURE and "deleted record" in c.error(
                    direction
                ), f"{m}: coupling to a deleted record not reported after a full sync: {c}"

    def currency_pairs(self) -> dict[str, str]:
        """How CUSTOMER's lookup translates: local code → CRM id of coupled currencies."""
        return {c.local_key: c.integration_key for c in self.couplings("CURRENCY") if not c.pending}

    def pair_mismatches(
        self,
        mapping: str,
        local_row: dict[str, Any],
        crm_row: dict[str, Any],
        currency: dict[str, str],
    ) -> dict[str, tuple[Any, Any]]:
        diff = mismatches(self.world, mapping, local_row, crm_row, currency)
        if "currency_code" in diff:
            lv, cv = diff["currency_code"]
            if lv in self.stale_lookups or cv in self.stale_lookups:
                del diff["currency_code"]
        return diff

    def check_pairs(self, mapping: str) -> None:
        local_rows, crm_rows = self.rows(LOCAL_TABLE[mapping]), self.rows(CRM_TABLE[mapping])
        currency = self.currency_pairs()
        for c in self.couplings(mapping):
            local_row, crm_row = local_rows.get(c.local_key), crm_rows.get(c.integration_key)
            if local_row is None or crm_row is None:
                continue  # a deleted counterpart: check_deletions_reported
            if mapping == "CURRENCY" and c.integration_key in self.dirty_currencies:
                continue
            diff = self.pair_mismatches(mapping, local_row, crm_row, currency)
            self.explain(mapping, c, diff)

    def explain(self, mapping: str, c: Coupling, diff: dict[str, tuple[Any, Any]]) -> None:
        """A coupled pair that differs after a sync must have a reason on its coupling."""
        if mapping == "CUSTOMER" and not self.ONE_WAY_FIELDS:
            diff = {f: v for f, v in diff.items() if f in BIDIRECTIONAL}
        if diff:
            event(f"{mapping} differs: {c.last_result} {errors_of(c)[:30]}")
        else:
            event(f"{mapping} agrees: {c.last_result}")
        if not diff:
            return
        where = f"{mapping} {c.local_key!r} ↔ {c.integration_key!r}"
        if failed(c):
            message = errors_of(c)
            assert "deleted record" not in message, f"{where}: both records exist: {message}"
            if self.UPDATE_CONFLICT in ("send", "get"):
                assert "update conflict" not in message, (
                    f"{where}: update_conflict = {self.UPDATE_CONFLICT} reported a conflict"
                )
            return
        if deferred(c) and set(diff) <= {"currency_code"}:
            return  # the lookup's target is not coupled yet; retried until it settles
        raise AssertionError(f"{where} differ after a sync on {diff}; coupling: {c}")


SETTINGS = settings(max_examples=40, stateful_step_count=25, deadline=None)


class LocalWins(SyncMachine):
    UPDATE_CONFLICT = "send"
    CLEAR_ON_MISSING = True


class IntegrationWins(SyncMachine):
    UPDATE_CONFLICT = "get"
    CLEAR_ON_MISSING = False
    COARSE_CRM_CLOCK = True


class ConflictsFail(SyncMachine):
    UPDATE_CONFLICT = "none"
    CLEAR_ON_MISSING = True


class FieldsMerge(SyncMachine):
    UPDATE_CONFLICT = "merge"
    CLEAR_ON_MISSING = True
    COARSE_CRM_CLOCK = True


TestSyncLocalWins = as_test(LocalWins, SETTINGS)
TestSyncIntegrationWins = as_test(IntegrationWins, SETTINGS)
TestSyncConflictsFail = as_test(ConflictsFail, SETTINGS)
TestSyncFieldsMerge = as_test(FieldsMerge, SETTINGS)
