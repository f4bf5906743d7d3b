"""``accord worker``: a Celery worker running this project's passes (see :mod:`accord.worker`)."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Annotated

import typer
from rich.markup import escape

from accord.cli.common import ConfigOpt, app, console, errors

BrokerOpt = Annotated[
    str | None,
    typer.Option(
        "--broker",
        envvar="ACCORD_BROKER_URL",
        help="Broker URL: redis://127.0.0.1:6379/0 (the default) or "
        "amqp://guest:guest@127.0.0.1:5672// (default: \\[workers] broker_url).",
        show_default=False,
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--result-backend",
        envvar="ACCORD_RESULT_BACKEND",
        help="Where task results go (default: the Redis broker itself, rpc:// for RabbitMQ).",
        show_default=False,
    ),
]
QueueOpt = Annotated[
    str | None,
    typer.Option(
        "--queue",
        "-Q",
        envvar="ACCORD_QUEUE",
        help="Queue to take tasks from (default: \\[workers] queue, else 'accord').",
        show_default=False,
    ),
]


@app.command()
def worker(
    config: ConfigOpt = None,
    broker: BrokerOpt = None,
    result_backend: BackendOpt = None,
    queue: QueueOpt = None,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", min=1, help="Worker processes (each runs one task)."),
    ] = 1,
    loglevel: Annotated[
        str, typer.Option("--loglevel", help="Celery log level: DEBUG, INFO, WARNING, ERROR.")
    ] = "WARNING",
) -> None:
    """Run passes sent by `accord run --dispatch celery` (a Celery worker, foreground).

    The state store must be on PostgreSQL (or MariaDB): workers share it. Ctrl-C or SIGTERM
    stops after the task in hand; a task of a worker that dies is run again by another.
    """
    from accord.engine.project import Project
    from accord.worker.app import broker_for, check_shared_state, make_app

    with errors(), Project.load(config) as project:
        check_shared_state(project.config)
        project.check()
        chosen = broker_for(project.config, url=broker, backend=result_backend, queue=queue)
        # every worker process opens this same configuration
        os.environ["ACCORD_CONFIG"] = str(project.config.path)
    celery_app = make_app(chosen)
    console.print(
        f"accord worker: queue [b]{escape(chosen.queue)}[/] on {escape(_shown(chosen.url))}, "
        f"{concurrency} process(es)",
        highlight=False,
    )
    name = f"accord-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    celery_app.worker_main(
        [
            "worker",
            "--queues",
            chosen.queue,
            "--concurrency",
            str(concurrency),
            "--pool",
            "solo" if concurrency == 1 else "prefork",
            "--hostname",
            name,
            "--loglevel",
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )


def _shown(url: str) -> str:
    """A broker URL without its password."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))
