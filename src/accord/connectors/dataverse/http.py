"""Requests to the Web API: one httpx client, TLS verified, retries and service protection.

* **Service protection.** Dataverse answers 429 (and sometimes 503) with ``Retry-After`` when
  a client sends too much; sending again at once only extends the penalty. The request is
  sent again after the time asked, however many times, until the waits of one request add up
  to ``max_wait`` seconds; then it fails as retriable. The seconds waited are counted in
  :attr:`DataverseHttp.waited` for the run's report.
* **Passing failures.** A connection that could not be opened is tried again (nothing was
  sent). A 5xx answer, a timeout or a connection lost mid-request is tried again only for an
  idempotent request; a create whose answer was lost raises :class:`ResponseLost`, because
  it may have been applied: the caller finds out by reading (its ids are known).
* **Concurrency** is capped by ``max_concurrency`` (Dataverse refuses 52 and more at once).
* **HTTP/2** is offered in the TLS handshake and used where the server takes it (requests of
  one connection are then multiplexed); otherwise connections are HTTP/1.1, kept alive.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from accord.connectors.dataverse.auth import TokenSource
from accord.connectors.dataverse.values import dumps, loads
from accord.connectors.retry import RetryPolicy
from accord.errors import ConnectorError, FatalConnectorError, RetriableConnectorError

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2/"
HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}
RETRIED_STATUSES = frozenset({500, 502, 503, 504})


class ResponseLost(RetriableConnectorError):
    """A request that is not safe to repeat was sent, and its answer never came."""


@dataclass(frozen=True, slots=True)
class ServiceError:
    """An error answer of the Web API: status, Dataverse's code (``0x80040237``), message."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        code = f" ({self.code})" if self.code else ""
        return f"{self.message}{code}"


class DataverseHttp:
    """The connection to one Dataverse environment (thread-safe)."""

    def __init__(
        self,
        system: str,
        url: str,
        tokens: TokenSource,
        *,
        ca_bundle: str | None = None,
        timeout: float = 120.0,
        max_concurrency: int = 16,
        max_wait: float = 300.0,
        policy: RetryPolicy | None = None,
        api_path: str = API_PATH,
    ) -> None:
        self.system = system
        self.url = url.rstrip("/")
        self.api = self.url + api_path
        """The base relative paths are sent to (``api_path`` after ``url``; other OData services
        such as Business Central have their own)."""
        self.tokens = tokens
        self.max_wait = max_wait
        self.policy = policy or RetryPolicy(attempts=3, backoff=0.5, max_backoff=10.0)
        self.waited = 0.0
        """Seconds spent waiting as the service asked (429/503 ``Retry-After``)."""
        self.requests = 0
        verify: Any = True
        if ca_bundle:
            try:
                verify = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise FatalConnectorError(
                    f"system '{system}': options.ca_bundle: cannot read {ca_bundle!r} ({exc})"
                ) from None
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self.client = httpx.Client(
            http2=True,  # offered by ALPN: Dataverse speaks HTTP/2, the local service 1.1
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
            headers=HEADERS,
        )

    def close(self) -> None:
        self.client.close()
        self.tokens.close()

    # -- requests -------------------------------------------------------------------------
    def get(self, path: str, doing: str, *, headers: Mapping[str, str] | None = None) -> Any:
        """GET a JSON document (``path`` relative to the API, or an absolute next link)."""
        response = self.send("GET", path, headers=headers)
        if response.status_code >= 400:
            raise self.failure(response, doing)
        return loads(response.content)

    def failure(self, response: httpx.Response, doing: str) -> ConnectorError:
        """One sentence for an error answer that is not about one record (a server failing
        still after the retries, 5xx, is retriable: a later run may get through)."""
        error = service_error(response)
        if error.status in RETRIED_STATUSES:
            return RetriableConnectorError(f"system '{self.system}': {doing} failed: {error}")
        if error.status == 403:
            return FatalConnectorError(
                f"system '{self.system}': permission denied {doing} ({error}); the application "
                "user needs a security role with that privilege"
            )
        return FatalConnectorError(f"system '{self.system}': {doing} failed: {error}")

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request, retried as the module docstring says; the final answer, any status.

        Raises:
            ResponseLost: a non-idempotent request's answer was lost.
            RetriableConnectorError: unreachable, or still failing after the retries/waits.
            FatalConnectorError: TLS not trusted, or the credentials were refused.
        """
        url = path if path.startswith(("http://", "https://")) else self.api + path
        if idempotent is None:
            idempotent = method != "POST"
        data = dumps(body) if body is not None else content
        extra = dict(headers or {})
        if body is not None:
            extra.setdefault("Content-Type", "application/json; charset=utf-8")
        failures = 0
        waited = 0.0
        refreshed = False
        while True:
            extra["Authorization"] = "Bearer " + self.tokens.token()
            try:
                with self._slots:
                    with self._lock:
                        self.requests += 1
                    response = self.client.request(method, url, content=data, headers=extra)
            except httpx.ConnectError as exc:
                if _tls_failure(exc):
                    raise FatalConnectorError(
                        f"system '{self.system}': the TLS certificate of {self.url} is not "
                        f"trusted ({_reason(exc)}); set options.ca_bundle to the CA file that "
                        "signed it"
                    ) from None
                failures += 1
                problem = f"cannot reach {self.url} ({_reason(exc)})"
                self._backoff(problem, failures)
                continue
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = f"{method} {_short(url)} failed: {_reason(exc)}"
                if not idempotent:
                    raise ResponseLost(f"system '{self.system}': {problem}") from None
                failures += 1
                self._backoff(problem, failures)
                continue
            status = response.status_code
            if status == 401 and not refreshed:
                refreshed = True
                self.tokens.invalidate()
                continue
            if status == 401:
                raise FatalConnectorError(
                    f"system '{self.system}': {self.url} refused the credentials "
                    f"({service_error(response)})"
                )
            after = _retry_after(response)
            if status == 429 or (status == 503 and after is not None):
                delay = after if after is not None else self.policy.delay(failures + 1, 0.5)
                if waited + delay > self.max_wait:
                    raise RetriableConnectorError(
                        f"system '{self.system}': the service kept asking to wait "
                        f"(service protection, {service_error(response)}); gave up after "
                        f"waiting {waited:.0f} s (options.max_wait is {self.max_wait:g} s)"
                    )
                waited += delay
                with self._lock:
                    self.waited += delay
                log.info("system %s: %s asks to wait %.1f s", self.system, status, delay)
                time.sleep(delay)
                continue
            if status in RETRIED_STATUSES and idempotent and failures + 1 < self.policy.attempts:
                failures += 1
                self._backoff(f"{method} {_short(url)}: {service_error(response)}", failures)
                continue
            return response

    def _backoff(self, problem: str, failures: int) -> None:
        if failures >= self.policy.attempts:
            raise RetriableConnectorError(
                f"system '{self.system}': {problem}; gave up after {failures} attempts"
            )
        delay = self.policy.delay(failures, random.random())
        log.info("system %s: %s; attempt %d in %.2f s", self.system, problem, failures + 1, delay)
        time.sleep(delay)


def service_error(response: httpx.Response) -> ServiceError:
    """Dataverse's ``{"error": {"code", "message"}}``, or the status line when it is not."""
    code, message = "", ""
    try:
        error = loads(response.content).get("error") or {}
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
    except (ValueError, AttributeError):
        pass
    if not message:
        message = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return ServiceError(response.status_code, code, " ".join(message.split())[:500])


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _tls_failure(exc: Exception) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _short(url: str) -> str:
    return url.split("?", 1)[0]
