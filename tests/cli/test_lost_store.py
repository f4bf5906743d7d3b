"""A lost state store: the next full synchronization refuses to copy every record again.

The demo world, synchronized, then its state store deleted: both systems now hold exact
copies of each other's records that the new store knows nothing of. ``sync --full`` must
refuse (exit code 2, one sentence saying the store looks new or lost), create nothing, until
``--i-know`` or match-based coupling; a fresh demo's first full sync must still just work.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import accord
from accord.demo import build_demo
from accord.errors import NewStoreError
from tests.cli.support import run_accord
from tests.reliability.kill_support import system_rows

RECORDS = 200


def lost(tmp_path: Path) -> Path:
    """A demo synchronized once, whose state store was then lost."""
    config = build_demo(tmp_path / "demo", records=RECORDS).config_path
    first = run_accord("sync", "--full", "-c", config, cwd=config.parent)
    assert first.returncode == 0, first.stderr  # a fresh demo: the first full sync works
    shutil.rmtree(config.parent / ".accord")
    return config


def test_a_full_sync_on_a_lost_store_is_refused_until_confirmed(tmp_path: Path):
    config = lost(tmp_path)
    rows = system_rows(config)
    refused = run_accord("sync", "--full", "-c", config, cwd=config.parent)
    assert refused.returncode == 2, refused.stderr
    message = refused.stderr.strip()
    assert message.startswith("error: the state store looks new or lost")
    assert "RESOURCE-PRODUCT" in message and "--i-know" in message and "accord match" in message
    assert "Traceback" not in refused.stderr and message.count("\n") == 0
    assert system_rows(config) == rows  # nothing was created
    for args in (("--dry-run",), ("--no-match",)):  # the preview, and without matching
        again = run_accord("sync", "--full", *args, "-c", config, cwd=config.parent)
        assert again.returncode == 2 and "looks new or lost" in again.stderr, again.stderr
    review = run_accord("review", "-c", config, cwd=config.parent)
    assert review.returncode == 0 and "looks new or lost" in review.stdout, review.stdout
    assert system_rows(config) == rows

    confirmed = run_accord("sync", "--full", "--i-know", "-c", config, cwd=config.parent)
    assert confirmed.returncode == 0, confirmed.stderr  # what the user asked for: copies
    assert system_rows(config) != rows


def test_coupling_the_records_first_lifts_the_refusal(tmp_path: Path):
    config = lost(tmp_path)
    rows = system_rows(config)
    matched = run_accord(
        "match", "RESOURCE-PRODUCT", "--on", "no,name", "--no-sync", "-c", config, cwd=config.parent
    )
    assert matched.returncode == 0, matched.stderr
    done = run_accord("sync", "--full", "--json", "-c", config, cwd=config.parent)
    assert done.returncode == 0, done.stderr
    resources = {
        k: v for k, v in system_rows(config).items() if k in ("erp.resource", "crm.product")
    }
    assert {k: len(v) for k, v in resources.items()} == {
        k: len(rows[k]) for k in resources
    }  # every pair coupled back: no second copy


def test_the_python_api_raises_new_store_error(tmp_path: Path):
    config = lost(tmp_path)
    rows = system_rows(config)
    with accord.Project.load(config) as project:
        with pytest.raises(NewStoreError, match="RESOURCE-PRODUCT"):
            project.sync(full=True)
        assert system_rows(config) == rows and project.jobs() == []
        assert project.sync(full=True, i_know=True).ok
