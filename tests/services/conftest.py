"""One local Dataverse per test module, over real HTTPS, and an httpx client for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accord.services.dataverse import LocalDataverse


@pytest.fixture(scope="module")
def dv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(data_dir=tmp_path_factory.mktemp("dataverse")) as service:
        yield service


@pytest.fixture(scope="module")
def api(dv: LocalDataverse) -> Iterator[httpx.Client]:
    """A client as a Dataverse client sets one up: OData headers, bearer token, our CA."""
    with httpx.Client(
        base_url=dv.api_url,
        verify=dv.ssl_context(),
        headers={
            "Authorization": f"Bearer {dv.token}",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Accept": "application/json",
        },
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(autouse=True)
def _no_faults(dv: LocalDataverse) -> Iterator[None]:
    """Each test starts without faults or budget, whatever the previous one set."""
    dv.faults = None
    dv.budget = None
    yield
    dv.faults = None
    dv.budget = None


def new_id() -> str:
    return str(uuid.uuid4())


def ca(dv: LocalDataverse) -> str:
    assert isinstance(dv.ca_file, Path)
    return str(dv.ca_file)
