"""``accord conflicts`` and ``accord resolve`` on the demo."""

from __future__ import annotations

from tests.cli.support import (
    Demo,
    accord,
    accord_json,
    edit_both_sides,
    explain,
    plain,
)


def test_conflict_listed_then_resolved(demo: Demo) -> None:
    local, remote = edit_both_sides(demo)
    assert accord("sync", "-c", demo.config).exit_code == 1  # the pair failed as a conflict

    result = accord("conflicts", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    text = plain(result.stdout)
    assert local in text and remote in text
    assert "city" in text and "Bergen" in text and "Milan" in text

    (item,) = accord_json("conflicts", "CUSTOMER", "-c", demo.config)
    assert item["local_key"] == local
    assert [(f["field"], f["local"], f["integration"]) for f in item["fields"]] == [
        ("city", "Bergen", "Milan")
    ]

    result = accord("resolve", "CUSTOMER", local, "--get", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert demo.scalar("erp", "SELECT city FROM customer WHERE no = ?", local) == "Milan"
    assert accord_json("conflicts", "-c", demo.config) == []
    assert accord("sync", "-c", demo.config).exit_code == 0


def test_resolve_needs_exactly_one_side_and_a_selection(demo: Demo) -> None:
    local, _ = edit_both_sides(demo)
    for flags in ((local,), (local, "--send", "--get")):
        result = accord("resolve", "CUSTOMER", *flags, "-c", demo.config)
        assert result.exit_code == 2, explain(result)
        assert "--send" in result.stderr and "Traceback" not in result.stderr
    for flags in (("--send",), (local, "--all", "--send")):
        result = accord("resolve", "CUSTOMER", *flags, "-c", demo.config)
        assert result.exit_code == 2, explain(result)
        assert "--all" in result.stderr


def test_resolve_all(demo: Demo) -> None:
    local, _ = edit_both_sides(demo)
    accord("sync", "-c", demo.config)
    result = accord("resolve", "CUSTOMER", "--all", "--send", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert demo.scalar("erp", "SELECT city FROM customer WHERE no = ?", local) == "Bergen"
    assert accord_json("conflicts", "-c", demo.config) == []
    result = accord("resolve", "CUSTOMER", "--all", "--send", "-c", demo.config)
    assert "no open conflicts" in result.stdout


def test_no_conflicts(demo: Demo) -> None:
    result = accord("conflicts", "-c", demo.config)
    assert result.exit_code == 0, explain(result)
    assert "no open conflicts" in result.stdout
