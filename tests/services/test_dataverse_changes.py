"""Change tracking: delta links return what changed since, deletions included."""

from __future__ import annotations

import httpx

from accord.services.dataverse import LocalDataverse

TRACK = {"Prefer": "odata.track-changes, odata.maxpagesize=500"}


def _follow(api: httpx.Client, url: str) -> tuple[list[dict], str]:
    """Every entry of a tracked read (all pages) and the delta link it ends with."""
    entries: list[dict] = []
    next_url: str | None = url
    while True:
        response = api.get(next_url, headers=TRACK)
        assert response.status_code == 200, response.text
        body = response.json()
        entries.extend(body["value"])
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        next_url = body["@odata.nextLink"]


def test_initial_read_then_deltas_with_updates_creates_and_deletions(
    dv: LocalDataverse, api: httpx.Client
):
    ids = dv.load("contact", [{"lastname": f"L{i}"} for i in range(1200)])
    first = api.get("contacts?$select=lastname", headers=TRACK)
    assert "odata.track-changes" in first.headers["Preference-Applied"]
    initial, delta = _follow(api, "contacts?$select=lastname")
    assert len(initial) == 1200
    assert "$deltatoken=" in delta and delta.startswith(dv.api_url)

    nothing, delta = _follow(api, delta)
    assert nothing == []

    api.patch(f"contacts({ids[5]})", json={"lastname": "changed"})
    api.delete(f"contacts({ids[7]})")
    created = dv.load("contact", [{"lastname": "new"}])[0]
    changes, delta = _follow(api, delta)
    changed = {e["contactid"]: e["lastname"] for e in changes if "contactid" in e}
    assert changed == {ids[5]: "changed", created: "new"}
    deleted = [e for e in changes if "reason" in e]
    assert deleted == [
        {
            "@odata.context": f"{dv.api_url}$metadata#contacts/$deletedEntity",
            "id": ids[7],
            "reason": "deleted",
        }
    ]
    again, _ = _follow(api, delta)
    assert again == []


def test_many_changes_page_with_next_links(dv: LocalDataverse, api: httpx.Client):
    _, delta = _follow(api, "accounts?$select=name")
    ids = dv.load("account", [{"name": f"A{i}"} for i in range(700)])
    for record_id in ids[:300]:
        api.delete(f"accounts({record_id})")
    entries, _ = _follow(api, delta)
    rows = [e for e in entries if "accountid" in e]
    gone = [e["id"] for e in entries if e.get("reason") == "deleted"]
    assert {r["accountid"] for r in rows} == set(ids[300:])
    assert sorted(gone) == sorted(ids[:300])


def test_change_tracking_rejects_filter_and_bad_tokens(api: httpx.Client):
    response = api.get("accounts?$filter=name eq 'x'", headers=TRACK)
    assert response.status_code == 400
    bad = api.get("accounts?$select=name&$deltatoken=garbage")
    assert bad.status_code == 400


def test_cascaded_deletions_show_in_the_delta(dv: LocalDataverse, api: httpx.Client):
    account = dv.load("account", [{"name": "Going"}])[0]
    child = dv.load(
        "contact",
        [{"lastname": "With it", "parentcustomerid_account@odata.bind": f"accounts({account})"}],
    )[0]
    _, delta = _follow(api, "contacts?$select=lastname")
    api.delete(f"accounts({account})")
    changes, _ = _follow(api, delta)
    assert {"id": child, "reason": "deleted"}.items() <= changes[-1].items()
