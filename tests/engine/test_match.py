"""Match-based coupling (reference §2.12) on the in-memory connector."""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord import ConfigError, Direction, JobStatus, JobType, UsageError
from accord.engine import match as match_module
from accord.engine.plan import Plan
from accord.model import Action
from accord.testing import drop_database
from tests.engine.conftest import World, make_world
from tests.engine.test_sync import coupled_pairs


def criteria(world: World, **rows: str) -> None:
    """Give field rows match criteria: ``criteria(w, name="priority = 0")``."""
    text = world.path.read_text()
    for field, spec in rows.items():
        line = next(x for x in text.splitlines() if f'{{ field = "{field}", integration_field' in x)
        text = text.replace(line, re.sub(r" },$", f", match = {{ {spec} }} }},", line))
    world.path.write_text(text)


def one_way_from_integration(world: World) -> None:
    """Make CUSTOMER from-integration (its to-integration-only rows dropped)."""
    lines = world.path.read_text().splitlines(keepends=True)
    text = "".join(x for x in lines if 'direction = "to-integration" }' not in x)
    world.path.write_text(
        text.replace('direction = "bidirectional"', 'direction = "from-integration"')
    )


def configure(world: World, **settings: object) -> None:
    """Set keys of the CUSTOMER mapping (after its ``name = "CUSTOMER"`` line)."""
    extra = "".join(
        f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in settings.items()
    )
    text = world.path.read_text()
    world.path.write_text(text.replace('name = "CUSTOMER"\n', f'name = "CUSTOMER"\n{extra}'))


def customer(world: World, key: str, name: str | None, city: str | None = "", **more: object):
    world.erp.put("customer", key, {"name": name, "city": city, **more})


def account(world: World, key: str, name: str | None, city: str | None = None, **more: object):
    world.crm.put("account", key, {"name": name, "address1_city": city, "statecode": 0, **more})


def test_unique_matches_are_coupled(world: World):
    criteria(world, name="priority = 0")
    for i in range(1, 4):
        customer(world, f"C0000{i}", f"Company {i}")
        account(world, f"acc-{i}", f"Company {i}")
    account(world, "acc-spare", "Someone else")
    with world.project() as p:
        result = p.match("CUSTOMER", sync=False)
        assert sorted(result.coupled) == [
            ("C00001", "acc-1"),
            ("C00002", "acc-2"),
            ("C00003", "acc-3"),
        ]
        assert coupled_pairs(p, "CUSTOMER") == {
            "C00001": "acc-1",
            "C00002": "acc-2",
            "C00003": "acc-3",
        }
        assert result.ok and not result.unmatched and not result.ambiguous
        assert result.criteria == [["name"]]
        job = p.job(result.job.id)
    assert job.type is JobType.COUPLE and job.status is JobStatus.OK
    assert job.message == "match-based coupling on name"
    assert job.counters.coupled == 3 and job.counters.failed == 0 and not job.errors


def test_text_is_compared_case_insensitively_unless_marked(world_factory):
    w = world_factory()
    criteria(w, name="priority = 0")
    customer(w, "C00001", "ACME Straße")
    account(w, "acc-1", "acme STRASSE")  # casefold: ß is ss
    with w.project() as p:
        assert p.match("CUSTOMER", sync=False, case_sensitive=["name"]).unmatched == ["C00001"]
        assert p.match("CUSTOMER", sync=False).coupled == [("C00001", "acc-1")]


def test_case_sensitive_criteria_from_the_configuration(world_factory):
    w = world_factory()
    criteria(w, name="priority = 0, case_sensitive = true")
    customer(w, "C00001", "Acme")
    account(w, "acc-1", "ACME")
    account(w, "acc-2", "Acme")
    with w.project() as p:
        assert p.match("CUSTOMER", sync=False).coupled == [("C00001", "acc-2")]


def test_empty_values_are_not_criteria(world: World):
    criteria(world, name="priority = 0", city="priority = 0")
    customer(world, "C00001", "", "Oslo")  # name empty: matched on city alone
    account(world, "acc-1", None, "Oslo")
    account(world, "acc-2", "Other", "Rome")
    customer(world, "C00002", "", None)  # nothing to match on
    account(world, "acc-3", None, None)  # an account with no values either: no match
    with world.project() as p:
        result = p.match("CUSTOMER", sync=False)
        assert result.coupled == [("C00001", "acc-1")]
        assert result.unmatched == ["C00002"]
        (error,) = p.job(result.job.id).errors
    assert error.source_key == "C00002" and "criteria fields are all empty" in error.message


def test_priority_groups_fall_back_and_narrow(world: World):
    criteria(world, name="priority = 0", city="priority = 1")
    # fallback: no account named "Solo" (group 0 finds none, skipped); one in Bergen
    customer(world, "C00001", "Solo", "Bergen")
    account(world, "acc-bergen", "Another name", "Bergen")
    # narrowing: two accounts named "Dup"; name AND city picks the one in Rome. City alone
    # would find two (acc-dup-rome and acc-other-rome): the groups are ANDed, not replaced.
    customer(world, "C00002", "Dup", "Rome")
    account(world, "acc-dup-rome", "Dup", "Rome")
    account(world, "acc-dup-paris", "Dup", "Paris")
    account(world, "acc-other-rome", "Other", "Rome")
    # several by name, none by name and city: the narrowing group is skipped: still ambiguous
    customer(world, "C00003", "Twin", "Lima")
    account(world, "acc-twin-1", "Twin", "Quito")
    account(world, "acc-twin-2", "Twin", "Cusco")
    with world.project() as p:
        result = p.match("CUSTOMER", sync=False)
    assert sorted(result.coupled) == [("C00001", "acc-bergen"), ("C00002", "acc-dup-rome")]
    (case,) = result.ambiguous
    assert case.kind == "1:N" and case.local_keys == ("C00003",)
    assert set(case.candidates) == {"acc-twin-1", "acc-twin-2"}


def test_one_local_record_with_several_candidates_is_reported(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Twin")
    account(world, "acc-a", "Twin")
    account(world, "acc-b", "TWIN")
    with world.project() as p:
        result = p.match("CUSTOMER", sync=False)
        assert not result.coupled and not coupled_pairs(p, "CUSTOMER")
        (case,) = result.ambiguous
        assert (case.kind, case.local_keys, set(case.candidates)) == (
            "1:N",
            ("C00001",),
            {"acc-a", "acc-b"},
        )
        assert result.ambiguous_records == 1 and not result.ok
        (error,) = p.job(result.job.id).errors
    assert error.source_key == "C00001"
    assert "2 uncoupled records of crm.account on name match" in error.message
    assert "acc-a" in error.message and "acc-b" in error.message


def test_several_local_records_claiming_one_candidate_are_reported(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Same")
    customer(world, "C00002", "same")
    account(world, "acc-1", "Same")
    with world.project() as p:
        result = p.match("CUSTOMER", sync=False)
        assert not result.coupled and not coupled_pairs(p, "CUSTOMER")
        (case,) = result.ambiguous
        assert case.kind == "N:1" and case.candidates == ("acc-1",)
        assert set(case.local_keys) == {"C00001", "C00002"} and result.ambiguous_records == 2
        errors = p.job(result.job.id).errors
    assert {e.source_key for e in errors} == {"C00001", "C00002"}
    assert all(e.destination_key == "acc-1" and "also the only match" in e.message for e in errors)


def test_already_coupled_records_are_left_alone(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Alpha")
    customer(world, "C00002", "Beta")
    customer(world, "C00003", "Gamma")
    account(world, "acc-x", "Something else")
    account(world, "acc-beta", "Beta")
    account(world, "acc-gamma", "Gamma")
    with world.project() as p:
        p.couple("CUSTOMER", "C00001", "acc-x")  # coupled by hand, names differ
        p.couple("CUSTOMER", "C00003", "acc-beta")  # takes C00002's only candidate
        result = p.match("CUSTOMER", sync=False)
        assert result.coupled == []
        assert result.unmatched == ["C00002"]  # its match is coupled to another record
        assert coupled_pairs(p, "CUSTOMER") == {"C00001": "acc-x", "C00003": "acc-beta"}


def test_only_records_passing_the_filters_are_considered(world_factory):
    w = world_factory(table_filter="blocked ne 'yes'")
    criteria(w, name="priority = 0")
    customer(w, "C00001", "Open", blocked="no")
    customer(w, "C00002", "Blocked", blocked="yes")
    account(w, "acc-blocked", "Blocked")
    account(w, "acc-open", "Open")
    account(w, "acc-inactive", "Open", statecode=1)  # not a second candidate: filtered out
    with w.project() as p:
        result = p.match("CUSTOMER", sync=False)
    assert result.coupled == [("C00001", "acc-open")]
    assert result.unmatched == [] and result.ambiguous == []  # C00002 is not considered


def test_numbers_compare_by_value_whatever_their_type(world: World):
    customer(world, "C00001", "a", credit_limit=Decimal("1500.00"))
    customer(world, "C00002", "b", credit_limit=Decimal("0.1"))
    customer(world, "C00003", "c", credit_limit=Decimal("7"))
    account(world, "acc-1", "x", creditlimit=1500)
    account(world, "acc-2", "y", creditlimit=0.1)
    account(world, "acc-3", "z", creditlimit=Decimal("7.000"))
    with world.project() as p:
        result = p.match("CUSTOMER", on=["creditlimit"], sync=False)  # an integration name
    assert sorted(result.coupled) == [("C00001", "acc-1"), ("C00002", "acc-2"), ("C00003", "acc-3")]


def test_on_replaces_the_configured_criteria(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Different", "Oslo")
    account(world, "acc-1", "Names", "oslo")
    with world.project() as p:
        assert p.match("CUSTOMER", sync=False).unmatched == ["C00001"]
        result = p.match("CUSTOMER", on=["city"], sync=False)
    assert result.coupled == [("C00001", "acc-1")] and result.criteria == [["city"]]


def test_lookups_constants_and_unknown_fields_are_refused(world: World):
    with world.project() as p:
        with pytest.raises(UsageError, match="no match criteria"):
            p.match("CUSTOMER")
        with pytest.raises(UsageError, match=r"'currency_code'.*lookup"):
            p.match("CUSTOMER", on=["currency_code"])
        with pytest.raises(UsageError, match=r"'statecode'.*constant"):
            p.match("CUSTOMER", on=["statecode"])
        with pytest.raises(UsageError, match="no field row for 'nope'"):
            p.match("CUSTOMER", on=["name", "nope"])
        with pytest.raises(UsageError, match="--case-sensitive city: not one of the match"):
            p.match("CUSTOMER", on=["name"], case_sensitive=["city"])
    criteria(world, currency_code="priority = 0")
    with world.project() as p, pytest.raises(ConfigError) as caught:
        p.match("CUSTOMER")
    assert "'currency_code' is a lookup" in caught.value.message
    assert caught.value.line == next(
        n
        for n, line in enumerate(world.path.read_text().splitlines(), 1)
        if "currency_code" in line
    )


def test_create_new_creates_only_records_without_candidates(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Matched")
    customer(world, "C00002", "Ambiguous")
    customer(world, "C00003", "Nowhere")
    account(world, "acc-m", "Matched")
    account(world, "acc-a1", "Ambiguous")
    account(world, "acc-a2", "Ambiguous")
    with world.project() as p:
        result = p.match("CUSTOMER", create_new=True, sync=False)
        assert result.coupled == [("C00001", "acc-m")]
        ((local, created),) = result.created
        assert local == "C00003" and result.unmatched == [] and result.ambiguous_records == 1
        assert result.create is not None and result.create.totals().inserted == 1
        pairs = coupled_pairs(p, "CUSTOMER")
        assert pairs == {"C00001": "acc-m", "C00003": created}
        job = p.job(result.job.id)
    assert world.crm.get("account", created)["name"] == "Nowhere"
    assert len(world.crm.rows("account")) == 4  # the ambiguous record got no third account
    assert job.counters.failed == 1 and [e.source_key for e in job.errors] == ["C00002"]


def test_create_new_defaults_to_the_mapping(world_factory):
    w = world_factory()
    criteria(w, name="priority = 0")
    configure(w, create_new_if_no_match=True)
    customer(w, "C00001", "Nowhere")
    with w.project() as p:
        result = p.match("CUSTOMER", sync=False)
        assert [k for k, _ in result.created] == ["C00001"]


def test_create_new_needs_a_mapping_that_sends(world_factory):
    w = world_factory()
    one_way_from_integration(w)
    criteria(w, name="priority = 0")
    configure(w, create_new_if_no_match=True)
    customer(w, "C00001", "Nowhere")
    with w.project() as p:
        with pytest.raises(UsageError, match=r"never creates records in crm\.account"):
            p.match("CUSTOMER", create_new=True)
        result = p.match("CUSTOMER", sync=False)  # the configured default is not applicable
    assert result.created == [] and result.unmatched == ["C00001"]


@pytest.mark.parametrize(
    ("policy", "passes", "name"),
    [
        ("send", [Direction.TO_INTEGRATION], "Acme"),
        ("get", [Direction.FROM_INTEGRATION], "ACME"),
        ("none", [Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION], "Acme"),
    ],
)
def test_newly_coupled_records_are_synchronized_per_policy(world_factory, policy, passes, name):
    w = world_factory(update_conflict=policy)
    criteria(w, name="priority = 0")
    customer(w, "C00001", "Acme", "Oslo")
    account(w, "acc-1", "ACME", "Bergen")
    with w.project() as p:
        result = p.match("CUSTOMER")
        assert result.sync is not None and result.sync.ok
        assert [j.direction for j in result.sync.jobs] == passes
        assert [j.message for j in result.sync.jobs] == ["1 selected record(s)"] * len(passes)
        local, remote = w.erp.get("customer", "C00001"), w.crm.get("account", "acc-1")
        assert local["name"] == remote["name"] == name
        assert local["city"] == remote["address1_city"]
        # The other direction's one-way fields (accountnumber after "get") follow with the
        # next sync, which the coupling marks as due; then the pair is settled.
        p.sync()
        assert w.crm.get("account", "acc-1")["accountnumber"] == "C00001"
        assert p.sync().totals().written == 0


def test_sync_follows_a_one_way_mapping_and_can_be_turned_off(world_factory):
    w = world_factory(direction="to-integration")
    criteria(w, name="priority = 0")
    configure(w, sync_after_coupling=False)
    customer(w, "C00001", "Acme", "Oslo")
    account(w, "acc-1", "ACME", "Bergen")
    with w.project() as p:
        assert p.match("CUSTOMER").sync is None  # the mapping's default
        p.uncouple("CUSTOMER", all=True)
        result = p.match("CUSTOMER", sync=True)
        assert result.sync is not None
        assert [j.direction for j in result.sync.jobs] == [Direction.TO_INTEGRATION]
    assert w.crm.get("account", "acc-1")["address1_city"] == "Oslo"


def test_the_recorder_is_told_every_outcome(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "One")
    customer(world, "C00002", "Two")
    customer(world, "C00003", "Three")
    account(world, "acc-1", "One")
    account(world, "acc-2a", "Two")
    account(world, "acc-2b", "Two")
    with world.project() as p:
        p.recorder = plan = Plan()
        p.match("CUSTOMER", sync=False)
    by_key = {c.key: c for c in plan.changes}
    assert set(by_key) == {"C00001", "C00002", "C00003"}
    assert (by_key["C00001"].action, by_key["C00001"].target) == (Action.COUPLE, "acc-1")
    assert by_key["C00002"].action is Action.FAIL and "ambiguous" in by_key["C00002"].reason
    assert by_key["C00003"].action is Action.FAIL and "no uncoupled" in by_key["C00003"].reason
    assert plan.counts() == {"CUSTOMER": {"coupled": 1, "failed": 2}}


def test_taken_candidates_settle_ambiguity_and_a_rerun_couples_nothing_more(world: World):
    criteria(world, name="priority = 0", city="priority = 1")
    account(world, "acc-a", "N", "Oslo")
    account(world, "acc-b", "N", "Rome")
    customer(world, "C00001", "N", "Paris")  # by name: acc-a or acc-b
    customer(world, "C00002", "", "Oslo")  # by city: acc-a only
    with world.project() as p:
        result = p.match("CUSTOMER", sync=False)
        # acc-a goes to C00002; then C00001 has one candidate left, as a rerun would find
        assert sorted(result.coupled) == [("C00001", "acc-b"), ("C00002", "acc-a")]
        again = p.match("CUSTOMER", sync=False)
        assert again.coupled == [] and again.ok
        assert again.job.counters.coupled == 0


# -- property ------------------------------------------------------------------------------
NAMES = ["", "a", "A", "b", "c"]
CITIES = ["", "x", "X", "y"]
local_rows = st.lists(
    st.tuples(st.sampled_from(NAMES), st.sampled_from(CITIES), st.booleans()), max_size=7
)
integration_rows = st.lists(
    st.tuples(
        st.sampled_from([None, *NAMES[1:]]), st.sampled_from([None, *CITIES[1:]]), st.booleans()
    ),
    max_size=7,
)


def _norm(value: str | None, sensitive: bool) -> str | None:
    return (value if sensitive else value.casefold()) if value else None


def test_property_couplings_are_one_to_one_agree_and_are_never_guessed(tmp_path):
    """For random small worlds: every coupling made is 1:1 and leaves existing couplings and
    filtered-out records alone; each pair agrees on every usable criterion of some group;
    no record is coupled to a candidate that has an indistinguishable twin; every considered
    record ends coupled, unmatched or ambiguous; and a rerun couples nothing more."""
    world = make_world(tmp_path, "sqlite:///state.db", table_filter="blocked ne 'yes'")
    text = world.path.read_text()
    try:

        @settings(max_examples=60, deadline=None)
        @given(
            locals_=local_rows,
            remotes=integration_rows,
            precoupled=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=2),
            city_priority=st.sampled_from([0, 1]),
            sensitive=st.booleans(),
        )
        def check(locals_, remotes, precoupled, city_priority, sensitive):
            world.path.write_text(text)
            criteria(
                world,
                name=f"priority = 0, case_sensitive = {str(sensitive).lower()}",
                city=f"priority = {city_priority}",
            )
            for db, table in ((world.erp, "customer"), (world.crm, "account")):
                db.tables[table].rows.clear()
            for n, (name, city, blocked) in enumerate(locals_):
                customer(world, f"L{n}", name, city, blocked="yes" if blocked else "no")
            for n, (name, city, inactive) in enumerate(remotes):
                account(world, f"R{n}", name, city, statecode=1 if inactive else 0)
            with world.project() as p:
                p.uncouple("CUSTOMER", all=True)
                for li, ri in precoupled:
                    if li < len(locals_) and ri < len(remotes):
                        with contextlib.suppress(UsageError):  # already coupled (1:1)
                            p.couple("CUSTOMER", f"L{li}", f"R{ri}")
                before = coupled_pairs(p, "CUSTOMER")
                result = p.match("CUSTOMER", sync=False)
                after = coupled_pairs(p, "CUSTOMER")
                again = p.match("CUSTOMER", sync=False)

            made = dict(result.coupled)
            assert after == {**before, **made} and len(made) == len(result.coupled)
            assert len(set(after.values())) == len(after)  # 1:1 overall
            assert not set(made) & set(before) and not set(made.values()) & set(before.values())
            assert again.coupled == []

            local = {f"L{n}": row for n, row in enumerate(locals_)}
            remote = {f"R{n}": row for n, row in enumerate(remotes)}
            groups = [["name", "city"]] if city_priority == 0 else [["name"], ["city"]]
            flags = {"name": sensitive, "city": False}

            def values(row, fields):
                return {f: _norm(row[0 if f == "name" else 1], flags[f]) for f in fields}

            for lk, rk in made.items():
                assert not local[lk][2] and not remote[rk][2]  # both pass their filters
                lv, rv = values(local[lk], flags), values(remote[rk], flags)
                assert any(
                    any(lv[f] is not None for f in g)
                    and all(lv[f] == rv[f] for f in g if lv[f] is not None)
                    for g in groups
                ), (lk, rk, groups)
                twins = [
                    k
                    for k, row in remote.items()
                    if k != rk
                    and not row[2]
                    and k not in before.values()
                    and values(row, flags) == rv
                ]
                assert not twins, (lk, rk, twins)

            considered = {k for k, row in local.items() if not row[2] and k not in before}
            ambiguous = [k for a in result.ambiguous for k in a.local_keys]
            outcomes = [*made, *result.unmatched, *ambiguous]
            assert sorted(outcomes) == sorted(considered)
            for a in result.ambiguous:
                assert len(a.candidates) >= 2 if a.kind == "1:N" else len(a.local_keys) >= 2
                assert not set(a.candidates) & set(after.values())

        check()
    finally:
        for url in world.urls:
            drop_database(url)


def test_a_record_coupled_meanwhile_by_another_run_is_not_coupled_twice(world: World, monkeypatch):
    criteria(world, name="priority = 0")
    for i in range(1, 4):
        customer(world, f"C0000{i}", f"Company {i}")
        account(world, f"acc-{i}", f"Company {i}")
    account(world, "acc-other", "Other")
    settle = match_module._Matcher.settle
    with world.project() as p:

        def settle_then_couple_by_hand(self):
            pairs = settle(self)
            p.couple("CUSTOMER", "C00002", "acc-other")  # another run, between read and write
            return pairs

        monkeypatch.setattr(match_module._Matcher, "settle", settle_then_couple_by_hand)
        result = p.match("CUSTOMER", sync=False)
        assert sorted(result.coupled) == [("C00001", "acc-1"), ("C00003", "acc-3")]
        assert result.failed == 1 and not result.ok
        (error,) = p.job(result.job.id).errors
        assert (error.source_key, error.destination_key) == ("C00002", "acc-2")
        assert error.message == "coupled meanwhile by another run"
        assert coupled_pairs(p, "CUSTOMER")["C00002"] == "acc-other"


def test_a_dry_run_plans_the_match_and_keeps_nothing(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "One")
    customer(world, "C00002", "Nowhere")
    account(world, "acc-1", "One")
    with world.project() as p:
        with p.dry_run() as plan:
            dry = p.match("CUSTOMER", create_new=True, sync=False)
        assert coupled_pairs(p, "CUSTOMER") == {} and len(world.crm.rows("account")) == 1
        first = plan.changes[0]
        assert (first.action, first.key, first.target) == (Action.COUPLE, "C00001", "acc-1")
        assert [c.action for c in plan.changes if c.key == "C00002"] == [Action.INSERT]
        real = p.match("CUSTOMER", create_new=True, sync=False)
        assert real.coupled == dry.coupled and len(real.created) == len(dry.created) == 1


def test_a_match_that_dies_before_its_sync_leaves_the_sync_due(world_factory, monkeypatch):
    """The new couplings record the synchronization as due before it runs."""
    world = world_factory(update_conflict="send")
    criteria(world, name="priority = 0")
    text = world.path.read_text().replace(  # no re-read window: only what is due is read
        '[tables."erp.customer"]\n',
        '[tables."crm.account"]\noverlap_seconds = 0\n\n[tables."erp.customer"]\n'
        "overlap_seconds = 0\n",
    )
    world.path.write_text(text)
    customer(world, "C00001", "Shared", "Oslo")
    account(world, "acc-1", "Shared", "Rome")

    def dies(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process is stopped between coupling and syncing

    with world.project() as p:
        assert p.sync().ok  # uncoupled records are ignored, but the watermarks move past them
        monkeypatch.setattr(match_module, "run_sync", dies)
        with pytest.raises(KeyboardInterrupt):
            p.match("CUSTOMER", sync=True)
        assert coupled_pairs(p, "CUSTOMER") == {"C00001": "acc-1"}
        monkeypatch.undo()
        assert p.sync().ok  # an ordinary incremental sync, nothing changed since
        assert world.crm.get("account", "acc-1")["address1_city"] == "Oslo"
        assert p.sync().totals().written == 0
