"""Counting past Dataverse's 5,000 cap on ``@odata.count``."""

from __future__ import annotations

from pathlib import Path

from accord.filters import parse_filter
from accord.services.dataverse import LocalDataverse
from tests.connectors.dataverse_support import connect

ROWS = 5_003


def test_counts_beyond_the_cap_page_through_the_ids(tmp_path: Path) -> None:
    with LocalDataverse.start(data_dir=tmp_path) as dv:
        dv.load("account", [{"name": f"a{i}", "accountnumber": str(i % 7)} for i in range(ROWS)])
        connector = connect(dv)
        assert connector.count("account") == ROWS
        assert connector.count("account", filter=parse_filter("accountnumber eq '3'")) == len(
            [i for i in range(ROWS) if i % 7 == 3]
        )
        connector.close()
