"""Property: a three-way merge never loses a field that changed on only one side."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.testing import drop_database
from tests.engine.conftest import make_world
from tests.engine.test_sync import coupled_pairs, full, seed

# bidirectional pairs of the engine test world's CUSTOMER mapping: local → CRM field
FIELDS = {"name": "name", "city": "address1_city"}
VALUE = st.sampled_from(["Oslo", "Milan", "Bergen", "", None, "oslo"])
EDIT = st.dictionaries(st.sampled_from(sorted(FIELDS)), VALUE, max_size=2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_edit=EDIT, crm_edit=EDIT)
def test_merge_keeps_every_one_sided_change(
    tmp_path_factory: Any, local_edit: dict[str, Any], crm_edit: dict[str, Any]
) -> None:
    tmp: Path = tmp_path_factory.mktemp(f"merge-{uuid.uuid4().hex[:6]}")
    world = make_world(tmp, f"sqlite:///{tmp / 'state.db'}", update_conflict="merge")
    try:
        seed(world)
        with world.project() as p:
            full(p)
            remote = coupled_pairs(p, "CUSTOMER")["C00001"]
            before = dict(world.erp.get("customer", "C00001"))
            crm_edit_values = {FIELDS[f]: v for f, v in crm_edit.items()}
            world.erp.put("customer", "C00001", local_edit)
            world.crm.put("account", remote, crm_edit_values)
            p.sync(["CUSTOMER"])
            local, account = world.erp.get("customer", "C00001"), world.crm.get("account", remote)

            def changed(edit: dict[str, Any], field: str) -> bool:
                return field in edit and (edit[field] or None) != (before[field] or None)

            clash = [
                f
                for f in FIELDS
                if changed(local_edit, f)
                and changed(crm_edit, f)
                and (local_edit[f] or None) != (crm_edit[f] or None)
            ]
            for f, crm_field in FIELDS.items():
                if clash:
                    # the record failed as a conflict: neither side was overwritten
                    expected_local = local_edit.get(f, before[f])
                    expected_crm = crm_edit.get(f, before[f])
                    assert (local[f] or None) == (expected_local or None), (f, local, account)
                    assert (account[crm_field] or None) == (expected_crm or None)
                    continue
                if changed(local_edit, f):
                    expected = local_edit[f]
                elif changed(crm_edit, f):
                    expected = crm_edit[f]
                else:
                    expected = before[f]
                assert (local[f] or None) == (expected or None), (f, local_edit, crm_edit, local)
                assert (account[crm_field] or None) == (expected or None), (f, account)
            if clash:
                conflicts = p.couplings("CUSTOMER", attention_only=True)
                assert any("update conflict" in c.error_to for c in conflicts)
            else:
                assert p.sync().totals().written == 0  # settled: nothing left to write
    finally:
        for url in world.urls:
            drop_database(url)
