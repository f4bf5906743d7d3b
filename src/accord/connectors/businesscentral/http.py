"""Requests to Business Central: the Dataverse connector's client (TLS, 429/503 ``Retry-After``,
backoff, concurrency cap, lost answers) pointed at an API base, with BC's words for a 403."""

from __future__ import annotations

import httpx

from accord.connectors.dataverse.auth import TokenSource
from accord.connectors.dataverse.http import DataverseHttp, ServiceError, service_error
from accord.errors import FatalConnectorError


class BusinessCentralHttp(DataverseHttp):
    """The connection to one Business Central environment; paths are relative to ``base``
    (the standard API's), and absolute URLs reach the custom APIs next to it."""

    def __init__(
        self,
        system: str,
        base: str,
        tokens: TokenSource,
        *,
        ca_bundle: str | None,
        timeout: float,
        max_concurrency: int,
        max_wait: float,
    ) -> None:
        super().__init__(
            system,
            base,
            tokens,
            ca_bundle=ca_bundle,
            timeout=timeout,
            max_concurrency=max_concurrency,
            max_wait=max_wait,
            api_path="/",
        )

    def failure(self, response: httpx.Response, doing: str) -> FatalConnectorError:
        return self.failure_of(service_error(response), doing)

    def failure_of(self, error: ServiceError, doing: str) -> FatalConnectorError:
        """One sentence for an error that is not about one record (also inside ``$batch``)."""
        if error.status == 403:
            return FatalConnectorError(
                f"system '{self.system}': permission denied {doing} ({error}); give the "
                "application permission sets for it on Business Central's Microsoft Entra "
                "Applications page"
            )
        return FatalConnectorError(f"system '{self.system}': {doing} failed: {error}")
