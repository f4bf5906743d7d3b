"""One local Dataverse per test module, over real HTTPS, and an httpx client for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accord.services.businesscentral import LocalBusinessCentral
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
def _no_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts without faults or budget, whatever the previous one set (for the
    services the test uses: a Business Central test does not start a Dataverse)."""
    services = [
        request.getfixturevalue(name) for name in ("dv", "bc") if name in request.fixturenames
    ]
    for service in services:
        service.faults = None
        service.budget = None
    yield
    for service in services:
        service.faults = None
        service.budget = None


@pytest.fixture(scope="module")
def bc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBusinessCentral]:
    """One local Business Central per test module, with two companies."""
    with LocalBusinessCentral.start(
        data_dir=tmp_path_factory.mktemp("businesscentral"),
        companies=("CRONUS USA, Inc.", "CRONUS Canada, Inc."),
    ) as service:
        yield service


@pytest.fixture(scope="module")
def bc_api(bc: LocalBusinessCentral) -> Iterator[httpx.Client]:
    """A client as a BC API client sets one up: the API root, bearer token, our CA."""
    with httpx.Client(
        base_url=bc.url,
        verify=bc.ssl_context(),
        headers={"Authorization": f"Bearer {bc.token}", "Accept": "application/json"},
        timeout=30,
    ) as client:
        yield client


def new_id() -> str:
    return str(uuid.uuid4())


def ca(dv: LocalDataverse) -> str:
    assert isinstance(dv.ca_file, Path)
    return str(dv.ca_file)
