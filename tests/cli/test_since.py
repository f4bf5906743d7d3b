"""``accord sync --since DATE``: a window read by date, for edits stamped behind the watermark
(issue 9 class 4)."""

from __future__ import annotations

from tests.cli.support import Demo, accord, accord_json, plain

OLD = "2026-01-01 00:00:00.000000"


def test_since_catches_a_backdated_edit_a_plain_sync_misses(demo: Demo):
    no = demo.scalar("erp", "SELECT min(no) FROM customer WHERE blocked = ''")
    account = demo.couplings("CUSTOMER")[no]
    demo.execute(
        "erp", "UPDATE customer SET city = 'Imported', last_modified = ? WHERE no = ?", OLD, no
    )
    assert accord_json("sync", "CUSTOMER", "-c", demo.config)["totals"]["modified"] == 0
    run = accord_json("sync", "CUSTOMER", "--since", "2025-12-31T23:00:00Z", "-c", demo.config)
    assert run["ok"] and run["totals"]["modified"] == 1
    assert demo.scalar("crm", "SELECT address1_city FROM account WHERE accountid = ?", account) == (
        "Imported"
    )


def test_a_since_that_is_not_a_date_is_one_sentence_and_exit_2(demo: Demo):
    result = accord("sync", "--since", "last tuesday", "-c", demo.config)
    assert result.exit_code == 2
    text = plain(result.stderr)
    assert "not a date or time" in text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1
    both = accord("sync", "--full", "--since", "2026-12-01", "-c", demo.config)
    assert both.exit_code == 2 and "cannot be combined" in plain(both.stderr)
