"""``accord dev``: local stand-ins of the systems Accord talks to, for development and tests.

``accord dev dataverse`` serves the Dataverse Web API, ``accord dev businesscentral`` the
Business Central API v2.0, on 127.0.0.1 until Ctrl-C. Each prints what a client needs (URL,
a bearer token, the CA file, app credentials for msal): this is a development tool, and those
values open nothing but the local service.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn, Protocol

import typer
from rich.markup import escape

from accord.cli.common import app, console, err

if TYPE_CHECKING:
    from accord.services.common.stats import RequestStats

dev_app = typer.Typer(
    name="dev",
    help="Local services to develop and test against (no cloud tenant needed).",
    no_args_is_help=True,
)
app.add_typer(dev_app, name="dev")


# Fault injection and token options, the same for every local service.
Latency = Annotated[float, typer.Option(min=0, help="Added latency per request, in ms.")]
FailRate = Annotated[float, typer.Option(min=0, max=1, help="Share of requests answered 503.")]
ThrottleRate = Annotated[
    float, typer.Option(min=0, max=1, help="Share of requests that start a 429 storm.")
]
Storm = Annotated[int, typer.Option(min=1, help="Length of a 429 storm, in requests.")]
DropRate = Annotated[
    float, typer.Option(min=0, max=1, help="Share of connections dropped before handling.")
]
LoseRate = Annotated[
    float, typer.Option(min=0, max=1, help="Share of requests handled whose answer is then lost.")
]
Seed = Annotated[int | None, typer.Option(help="Seed of the fault draws.")]
TokenLifetime = Annotated[
    int, typer.Option(min=1, help="Seconds a token from the token endpoint is accepted.")
]


@dev_app.command("dataverse")
def dataverse(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 0,
    http: Annotated[
        bool, typer.Option("--http", help="Plain HTTP instead of HTTPS (msal needs HTTPS).")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the SQLite database, TLS files and credentials "
            "(default: in memory, gone on exit)."
        ),
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(help="Schema file (TOML or JSON) of the tables (default: the demo CRM)."),
    ] = None,
    budget: Annotated[
        int | None,
        typer.Option(min=1, help="Service protection: requests allowed per --window (429 after)."),
    ] = None,
    window: Annotated[
        float, typer.Option(min=0.001, help="Service protection window in seconds.")
    ] = 300.0,
    latency: Latency = 0,
    fail_rate: FailRate = 0,
    throttle_rate: ThrottleRate = 0,
    storm: Storm = 1,
    drop_rate: DropRate = 0,
    lose_rate: LoseRate = 0,
    seed: Seed = None,
    token_lifetime: TokenLifetime = 3599,
    sample: Annotated[
        int,
        typer.Option(
            min=0,
            help="Fill the tables with the demo's CRM data for this many customers "
            "(as 'accord demo --records N'; 0: none). Into empty tables only.",
        ),
    ] = 0,
) -> None:
    """Serve a local Dataverse Web API (v9.2) backed by SQLite, until Ctrl-C."""
    from accord.services.common import Budget, FaultConfig
    from accord.services.dataverse import LocalDataverse
    from accord.services.dataverse.schema import SchemaError

    faults = FaultConfig(
        latency_ms=latency,
        error_rate=fail_rate,
        throttle_rate=throttle_rate,
        throttle_burst=storm,
        drop_rate=drop_rate,
        drop_after_rate=lose_rate,
        seed=seed,
    )
    limits = Budget(requests=budget, window=window) if budget else None
    try:
        service = LocalDataverse.start(
            data_dir=data,
            schema=schema,
            tls=not http,
            port=port,
            faults=faults,
            budget=limits,
            token_lifetime=token_lifetime,
        )
    except (SchemaError, OSError, sqlite3.Error) as exc:
        _start_failed(exc, port)
    if sample:
        if schema is not None:
            service.stop()
            err.print("[red]error:[/] --sample fills the demo's tables; leave out --schema")
            raise typer.Exit(2)
        if service.count("account") == 0:
            counts = service.load_demo(sample)
            loaded = ", ".join(f"{t} {n:,}" for t, n in counts.items() if n)
            console.print(f"[dim]sample data: {escape(loaded)}[/]", highlight=False)
    lines = [
        ("url", service.url),
        ("web api", service.api_url),
        ("token", service.token),
        ("ca file", str(service.ca_file) if service.ca_file else "(plain HTTP)"),
        ("tenant", service.tenant),
        ("client id", service.client_id),
        ("client secret", service.client_secret),
        ("authority", service.authority),
        ("data", str(data) if data else "(in memory)"),
    ]
    _serve(service, "Local Dataverse", lines)


@dev_app.command("businesscentral")
def businesscentral(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 0,
    http: Annotated[
        bool, typer.Option("--http", help="Plain HTTP instead of HTTPS (msal needs HTTPS).")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the SQLite database, TLS files and credentials "
            "(default: in memory, gone on exit)."
        ),
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(
            help="Schema file (TOML or JSON) adding custom APIs (default: standard entities)."
        ),
    ] = None,
    company: Annotated[
        list[str] | None,
        typer.Option(help="A company to serve (repeat for several; default: CRONUS USA, Inc.)."),
    ] = None,
    environment: Annotated[str, typer.Option(help="The environment name in URLs.")] = (
        "production"
    ),
    budget: Annotated[
        int | None,
        typer.Option(min=1, help="Requests allowed per --window (429 after; BC's is 6000)."),
    ] = None,
    window: Annotated[
        float, typer.Option(min=0.001, help="Request limit window in seconds.")
    ] = 300.0,
    latency: Latency = 0,
    fail_rate: FailRate = 0,
    throttle_rate: ThrottleRate = 0,
    storm: Storm = 1,
    drop_rate: DropRate = 0,
    lose_rate: LoseRate = 0,
    seed: Seed = None,
    token_lifetime: TokenLifetime = 3599,
) -> None:
    """Serve a local Business Central API (v2.0) backed by SQLite, until Ctrl-C."""
    from accord.services.businesscentral import LocalBusinessCentral, SchemaError
    from accord.services.common import Budget, FaultConfig

    faults = FaultConfig(
        latency_ms=latency,
        error_rate=fail_rate,
        throttle_rate=throttle_rate,
        throttle_burst=storm,
        drop_rate=drop_rate,
        drop_after_rate=lose_rate,
        seed=seed,
    )
    limits = Budget(requests=budget, window=window, concurrent=100) if budget else None
    try:
        service = LocalBusinessCentral.start(
            data_dir=data,
            schema=schema,
            tls=not http,
            port=port,
            faults=faults,
            budget=limits,
            companies=tuple(company or ("CRONUS USA, Inc.",)),
            environment=environment,
            token_lifetime=token_lifetime,
        )
    except (SchemaError, OSError, sqlite3.Error) as exc:
        _start_failed(exc, port)
    lines = [
        ("url", service.url),
        ("token", service.token),
        ("ca file", str(service.ca_file) if service.ca_file else "(plain HTTP)"),
        ("tenant", service.tenant),
        ("environment", service.environment),
        ("client id", service.client_id),
        ("client secret", service.client_secret),
        ("authority", service.authority),
        ("scope", service.scope),
        ("on-premises", service.onprem_url),
        ("data", str(data) if data else "(in memory)"),
    ]
    lines += [("company", f"{cid}  {name}") for name, cid in service.company_ids.items()]
    _serve(service, "Local Business Central", lines)


def _start_failed(exc: Exception, port: int) -> NoReturn:
    """A service that cannot start is one clear error (exit 2), never a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"127.0.0.1:{port}" if exc.filename is None else str(exc.filename)
        message = f"cannot use {where}: {exc.strerror}"
    else:
        message = str(exc)
    err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2) from None


class _Service(Protocol):
    @property
    def stats(self) -> RequestStats: ...
    def wait(self) -> None: ...
    def stop(self) -> None: ...


def _serve(service: _Service, title: str, lines: list[tuple[str, str]]) -> None:
    """Print what a client needs, then serve until Ctrl-C or SIGTERM, and stop cleanly."""
    console.print(f"[b]{title}[/] is serving", highlight=False)
    for name, value in lines:
        console.print(f"  {name + ':':<15}{escape(value)}", highlight=False, soft_wrap=True)
    console.print("Press Ctrl-C to stop.", highlight=False)
    console.file.flush()  # a script reading the URL from a pipe must not wait for a buffer

    def stop_on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop_on_term)
    try:
        service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        service.stop()
    console.print(f"stopped ({service.stats.total:,} requests answered)", highlight=False)
