"""The Celery application: broker, result backend, queue, and the delivery guarantees.

Every task is acknowledged late and rejected (so redelivered) when its worker dies: a worker
SIGKILLed mid-task leaves the task on the broker, and another worker (or the same one,
restarted) runs it again. That rerun is safe because the engine chose every new record's key
and committed its pending coupling before writing it (see :mod:`accord.engine.pass_`).

Where the broker is: an explicit URL (``--broker``), else ``ACCORD_BROKER_URL``, else
``[workers] broker_url``, else ``redis://127.0.0.1:6379/0``. The result backend follows the
broker unless given (``--result-backend``, ``ACCORD_RESULT_BACKEND``, ``[workers]
result_backend``): Redis for a Redis broker, ``rpc://`` (replies over the broker) for RabbitMQ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from celery import Celery

from accord.config import Config
from accord.config.locate import locate
from accord.errors import ConfigError

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Broker:
    """Where workers and the dispatching process meet."""

    url: str
    backend: str
    queue: str
    visibility_timeout: float = 3600.0


def broker_for(
    config: Config | None,
    *,
    url: str | None = None,
    backend: str | None = None,
    queue: str | None = None,
) -> Broker:
    workers = config.workers if config is not None else None
    chosen = (
        url
        or os.environ.get("ACCORD_BROKER_URL")
        or (workers.broker_url if workers else None)
        or DEFAULT_BROKER
    )
    results = (
        backend
        or os.environ.get("ACCORD_RESULT_BACKEND")
        or (workers.result_backend if workers else None)
        or (chosen if chosen.startswith(("redis://", "rediss://")) else "rpc://")
    )
    return Broker(
        chosen,
        results,
        queue or os.environ.get("ACCORD_QUEUE") or (workers.queue if workers else "accord"),
        workers.visibility_timeout if workers else 3600.0,
    )


def check_shared_state(config: Config) -> None:
    """Workers share the state store: a SQLite file cannot be (ConfigError at [state] url)."""
    if config.state_url.startswith("sqlite"):
        where = locate(config.text, ("state", "url"))
        raise config.error(
            "workers need a state store they can share: a SQLite state store with several "
            "worker processes is not supported; set [state] url to PostgreSQL "
            '(e.g. "postgresql+psycopg://accord@db/accord")',
            where,
        )


def make_app(broker: Broker) -> Celery:
    """A Celery app with Accord's tasks registered on it."""
    from accord.worker.tasks import register

    app = Celery("accord", broker=broker.url, backend=broker.backend, set_as_current=False)
    app.conf.update(
        task_default_queue=broker.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a long pass does not sit on tasks others could run
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        result_expires=7 * 86400,
        result_extended=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": broker.visibility_timeout},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    register(app)
    return app


def close_app(app: Celery) -> None:
    """Close the app's broker connections (the result consumer's too, with ``rpc://``)."""
    backend = app._backend  # this thread's, only if it was ever used
    consumer = getattr(backend, "result_consumer", None)
    if consumer is not None and getattr(consumer, "_connection", None) is not None:
        consumer.stop()
    # The producer connections stay: kombu shares them, per broker, with every app of the
    # process (closing them would close them under the next dispatcher too).
    app.close()


def _from_environment() -> Celery:
    """For ``celery -A accord.worker.app worker``: the configuration in ``ACCORD_CONFIG``."""
    from accord.config import load_config

    path = os.environ.get("ACCORD_CONFIG")
    config = None
    if path:
        try:
            config = load_config(path)
        except ConfigError:
            config = None  # the first task reports it
    return make_app(broker_for(config))


_APP: list[Celery] = []


def __getattr__(name: str) -> Celery:
    if name in ("app", "celery"):
        if not _APP:
            _APP.append(_from_environment())
        return _APP[0]
    raise AttributeError(name)
