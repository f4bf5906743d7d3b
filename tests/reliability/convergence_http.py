"""The convergence machine with one of its systems behind a local service over HTTPS.

:class:`ServiceConvergence` adds to :class:`~tests.reliability.test_convergence_sql.
ConvergenceMachine` the rule both HTTP machines share: a sync while the service throttles,
fails, drops connections and loses answers after committing. Subclasses name the service
and the system it serves, and override the machine's row methods for that side.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from hypothesis import strategies as st
from hypothesis.stateful import rule

from accord.connectors.retry import RetryingConnector, RetryPolicy
from accord.services.common.faults import FaultConfig
from tests.reliability.test_convergence_sql import ConvergenceMachine, note

QUICK_HTTP = RetryPolicy(attempts=3, backoff=0.02, max_backoff=0.1)
"""The connector's own HTTP retries, quick: the examples wait for no real outage."""
QUICK_ENGINE = "retry = { attempts = 6, backoff = 0.05, max_backoff = 0.2 }\n"
"""The engine's retries of the served system, quick too (a line of its ``[systems.*]``)."""


class FaultyService(Protocol):
    faults: FaultConfig | None


class ServiceConvergence(ConvergenceMachine):
    """The machine with ``SERVED`` (``"erp"`` or ``"crm"``) behind ``service``."""

    SERVED: ClassVar[str]
    service: ClassVar[FaultyService]

    @rule(
        full=st.booleans(),
        throttle=st.sampled_from([0.0, 0.3]),
        errors=st.sampled_from([0.0, 0.1]),
        drops=st.sampled_from([0.0, 0.1]),
        lost=st.sampled_from([0.0, 0.1]),
        seed=st.integers(0, 1000),
    )
    def sync_under_faults(
        self, full: bool, throttle: float, errors: float, drops: float, lost: float, seed: int
    ) -> None:
        """A sync while the service throttles, fails, drops connections and loses answers;
        it may fail (its retries run out): the next steps and the teardown must mend it."""
        self.service.faults = FaultConfig(
            throttle_rate=throttle,
            throttle_burst=3,
            retry_after=0,
            error_rate=errors,
            drop_rate=drops,
            drop_after_rate=lost,
            seed=seed,
        )
        retrying = self.project.connector(self.SERVED)
        assert isinstance(retrying, RetryingConnector)
        http = getattr(retrying.inner, "http", None)  # a crash rule may have wrapped it
        if http is not None:
            http.policy = QUICK_HTTP
        try:
            run = self.project.sync(full=full)
            note(f"faults: sync {'ok' if run.ok else 'not ok'}")
        finally:
            self.service.faults = None

    def teardown(self) -> None:
        self.service.faults = None
        super().teardown()
