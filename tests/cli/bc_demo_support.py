"""A demo built by ``accord demo --erp businesscentral --crm dataverse``, served again.

The demo stops its services when it ends; the tests bring both back in this process on the
same data folders and ports, so that the written ``accord.toml`` reaches them unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from accord.services.businesscentral import LocalBusinessCentral
from accord.services.dataverse import LocalDataverse
from tests.cli.support import accord, explain

COMPANY = "CRONUS USA, Inc."


@dataclass
class ServedBcDemo:
    """The demo's folder, its ``--json`` summary and both services, running."""

    directory: Path
    output: dict[str, Any]
    bc: LocalBusinessCentral
    dataverse: LocalDataverse

    @property
    def config(self) -> Path:
        return self.directory / "accord.toml"

    def env(self) -> dict[str, str]:
        return {
            "BC_SECRET": self.bc.client_secret,
            "DATAVERSE_SECRET": self.dataverse.client_secret,
        }

    def run(self, *args: str, code: int = 0) -> str:
        """One ``accord`` command on the demo's config; its output, exit code checked."""
        result = accord(*args, "-c", self.config, env=self.env())
        assert result.exit_code == code, explain(result)
        return result.stdout

    def run_json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self.run(*args, "--json", code=code))

    def dataverse_get(self, path: str) -> dict[str, Any]:
        """A GET on the Dataverse Web API, as a client would send it."""
        response = httpx.get(
            f"{self.dataverse.api_url}{path}",
            headers={"Authorization": f"Bearer {self.dataverse.token}"},
            verify=self.dataverse.ssl_context(),
        )
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def bc_patch(self, entity_set: str, entity_id: str, values: dict[str, Any]) -> None:
        """A PATCH on the BC API, as a BC user's change would arrive."""
        company = self.bc.company_ids[COMPANY]
        response = httpx.patch(
            f"{self.bc.url}/companies({company})/{entity_set}({entity_id})",
            json=values,
            headers={"Authorization": f"Bearer {self.bc.token}", "If-Match": "*"},
            verify=self.bc.ssl_context(),
        )
        response.raise_for_status()


def _port(text: str) -> int:
    """The port of the URL ``text`` starts with."""
    found = re.match(r"https://127\.0\.0\.1:(\d+)", text)
    assert found is not None, text[:80]
    return int(found.group(1))


@contextmanager
def served_bc_demo(directory: Path, records: int) -> Iterator[ServedBcDemo]:
    """Run the demo in ``directory``, then serve its BC and Dataverse again until exit."""
    result = accord(
        "demo",
        "--dir",
        directory,
        "--records",
        str(records),
        "--erp",
        "businesscentral",
        "--crm",
        "dataverse",
        "--json",
    )
    assert result.exit_code == 0, explain(result)
    text = (directory / "accord.toml").read_text(encoding="utf-8")
    bc_url = text.split('[systems.erp]\nconnector = "businesscentral"\nurl = "', 1)[1]
    dv_url = text.split('[systems.crm]\nconnector = "dataverse"\nurl = "', 1)[1]
    bc = LocalBusinessCentral.start(data_dir=directory / "businesscentral", port=_port(bc_url))
    try:
        dataverse = LocalDataverse.start(data_dir=directory / "dataverse", port=_port(dv_url))
        try:
            yield ServedBcDemo(directory, json.loads(result.stdout), bc, dataverse)
        finally:
            dataverse.stop()
    finally:
        bc.stop()
