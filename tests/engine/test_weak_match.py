"""Weak criteria (issue 9 class 8): reported when they couple, and ``min_priority``."""

from __future__ import annotations

import pytest

from accord import ConfigError
from accord.config import load_config
from accord.engine.results import WeakGroup
from tests.config.test_load import BASE, line_of, write
from tests.engine.conftest import World
from tests.engine.test_match import account, configure, criteria, customer


def test_a_group_coupling_on_repeating_values_is_reported_weak(world: World):
    criteria(world, name="priority = 0", city="priority = 1")
    customer(world, "C00001", "Solo", "Bergen")  # no name matches: city decides alone
    customer(world, "C00002", "Nils", "Oslo")
    customer(world, "C00003", "Per", "Oslo")  # Oslo twice in the ERP
    account(world, "acc-bergen", "Another name", "Bergen")
    account(world, "acc-rome-1", "Rome one", "Rome")
    account(world, "acc-rome-2", "Rome two", "Rome")  # Rome twice in the CRM
    with world.project() as p:
        with p.dry_run():
            planned = p.match("CUSTOMER", sync=False)
        result = p.match("CUSTOMER", sync=False)
        job = p.job(result.job.id)
    for found in (planned, result):
        assert found.coupled == [("C00001", "acc-bergen")]
        assert found.weak == [WeakGroup(1, ("city",), 1)]
    assert "weak: city coupled 1 pair(s) on values that repeat on both sides" in job.message


def test_a_group_with_values_unique_on_a_side_is_not_weak(world: World):
    criteria(world, name="priority = 0", city="priority = 1")
    customer(world, "C00001", "Solo", "Bergen")
    customer(world, "C00002", "Nils", "Oslo")
    account(world, "acc-bergen", "Another name", "Bergen")
    account(world, "acc-rome-1", "Rome one", "Rome")
    account(world, "acc-rome-2", "Rome two", "Rome")
    with world.project() as p:
        result = p.match("CUSTOMER", sync=False)
    assert result.coupled == [("C00001", "acc-bergen")] and result.weak == []


def test_min_priority_groups_below_only_narrow(world: World):
    criteria(world, name="priority = 0", city="priority = 1")
    configure(world, min_priority=0)
    customer(world, "C00001", "Solo", "Bergen")  # only its city matches: no candidate
    account(world, "acc-bergen", "Another name", "Bergen")
    customer(world, "C00002", "Dup", "Rome")  # two named Dup: city narrows them
    account(world, "acc-dup-rome", "Dup", "Rome")
    account(world, "acc-dup-paris", "Dup", "Paris")
    with world.project() as p:
        result = p.match("CUSTOMER", sync=False)
        assert result.coupled == [("C00002", "acc-dup-rome")]
        assert result.unmatched == ["C00001"]
        run = p.sync(["CUSTOMER"], full=True)  # the unmatched one is created, not coupled
        assert run.ok
        assert p.couplings("CUSTOMER")[0].integration_key != "acc-bergen"


def test_min_priority_is_validated_at_its_line(tmp_path):
    text = BASE.replace(
        "table_filter = \"blocked eq ''\"\n",
        'table_filter = "blocked eq \'\'"\nmin_priority = "1"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.line == line_of(text, "min_priority")

    text = BASE.replace(
        "table_filter = \"blocked eq ''\"\n", "table_filter = \"blocked eq ''\"\nmin_priority = 0\n"
    ).replace(
        '{ field = "name", integration_field = "name" }',
        '{ field = "name", integration_field = "name", match = { priority = 1 } }',
    )
    with pytest.raises(ConfigError, match="leaves no match criterion") as info:
        load_config(write(tmp_path, text))
    assert info.value.line == line_of(text, "min_priority")

    ok = text.replace("min_priority = 0", "min_priority = 1")
    assert load_config(write(tmp_path, ok)).mapping("CUSTOMER").min_priority == 1
