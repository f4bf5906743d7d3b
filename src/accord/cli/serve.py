"""``accord serve``: the browser UI on this machine, behind an access token."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from accord.cli.common import ConfigOpt, app, console, errors
from accord.errors import UsageError

TOKEN_ENV = "ACCORD_WEB_TOKEN"


def serve_url(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (default: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar=TOKEN_ENV,
            help=f"The access token (default: a new random one; or ${TOKEN_ENV}).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Open the integration's pages in a browser: mappings, records, jobs, errors, conflicts."""
    from accord.config.load import find_config
    from accord.engine.project import Project
    from accord.services.common.server import BackgroundServer
    from accord.web.app import create_app

    with errors():
        path = find_config(config)
        with Project.load(path) as project:
            project.check()  # a broken configuration ends here, in one sentence
        chosen = token or secrets.token_urlsafe(24)
        web = create_app(Path(os.path.abspath(path)), chosen)
        try:
            server = BackgroundServer(web, host=host, port=port).start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        console.print(f"Accord is serving {path} at [b]{serve_url(host, server.port, chosen)}[/]")
        console.print("[dim]Open that URL (the token is required); Ctrl-C stops.[/]")
        if host not in ("127.0.0.1", "localhost", "::1"):
            console.print(
                f"[yellow]note:[/] listening on {host}: anyone who can reach it and has the URL "
                "can act on both systems (plain HTTP: put TLS in front of it)"
            )
        console.file.flush()  # a script reading the URL from a pipe must not wait for a buffer
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
