"""What every command module shares: the app, consoles, common options and error handling.

Exit codes: 0 success, 1 the run had failed records (or a pass could not finish),
2 usage or configuration error (bad config, unknown mapping, unreachable system, a state
store that looks lost), 3 another run is working on the same mappings (wait for it with
``sync --wait SECONDS``) or took over this run's lease while it was stalled, 130 interrupted
(Ctrl-C).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

import accord
from accord.cli import render
from accord.cli.plan import plan_json, print_plan
from accord.engine.project import Project
from accord.engine.results import RunResult
from accord.errors import AccordError, BusyError, LeaseLostError
from accord.model import Direction
from accord.secrets import redact

app = typer.Typer(
    name="accord",
    help="Couple records in two business systems and keep them synchronized.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals can hold connection URLs with passwords
)

UNWRAPPED = 100_000
"""Console width when the output is not a terminal and COLUMNS does not say: CI logs and
pipes get whole names and ids, never rich's default of 80 columns (``insert…``)."""


def _width(stream: TextIO) -> int | None:
    """None (rich decides: the terminal's width, or COLUMNS) unless output is not a terminal."""
    if os.environ.get("COLUMNS", "").strip().isdigit():
        return None
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        terminal = False
    return None if terminal else UNWRAPPED


console = Console(width=_width(sys.stdout))
err = Console(stderr=True, width=_width(sys.stderr))


def _flag_type(original: Any) -> Any:
    """typer shows ``<bool>`` after flags as if they took a value; a flag takes none."""

    def display_type_rich(self: TyperOption, ctx: click.Context) -> str | None:
        return None if self.is_flag else original(self, ctx)

    return display_type_rich


TyperOption.display_type_rich = _flag_type(TyperOption.display_type_rich)  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"accord {accord.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version of Accord and exit.",
        ),
    ] = False,
) -> None:
    """Couple records in two business systems and keep them synchronized."""


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="ACCORD_CONFIG",
        help="Configuration file (default: ./accord.toml).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]


class PassDirection(StrEnum):
    """The directions one pass can run: a bidirectional run is two passes, not one."""

    TO_INTEGRATION = Direction.TO_INTEGRATION.value
    FROM_INTEGRATION = Direction.FROM_INTEGRATION.value


def to_direction(value: PassDirection | None) -> Direction | None:
    return None if value is None else Direction(value.value)


DirectionOpt = Annotated[
    PassDirection | None,
    typer.Option("--direction", "-d", help="Direction for selected records.", case_sensitive=False),
]


@contextmanager
def errors() -> Iterator[None]:
    """Errors a user can cause end in one sentence and exit code 2, never a traceback.

    Exit code 3: another run holds a mapping this command needs (try again, or ``--wait``),
    or took it over while this run was stalled. Ctrl-C: ``interrupted``, exit code 130 (the
    run's jobs are marked interrupted and its leases released on the way out).
    """
    try:
        yield
    except LeaseLostError as exc:  # fenced: another run finishes the work
        err.print(f"[yellow]stopped:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(3) from None
    except BusyError as exc:  # not the user's mistake: another run is at work
        err.print(f"[yellow]busy:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(3) from None
    except AccordError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, click.ClickException):
        raise  # the command's own way out
    except Exception:  # a defect: shown with its traceback, but never with a secret in it
        err.print(
            f"[red]internal error[/] (please report it):\n{escape(redact(traceback.format_exc()))}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


@contextmanager
def open_project(config: Path | None) -> Iterator[Project]:
    with errors(), Project.load(config) as project:
        yield project


def exit_for(run: RunResult) -> None:
    if not run.ok:
        raise typer.Exit(1)


def sync_and_show(
    project: Project,
    json: bool,
    title: str,
    *,
    dry_run: bool = False,
    show: int = 0,
    **kwargs: object,
) -> RunResult:
    """Run a sync with progress bars and a summary (or JSON); a dry run adds its plan."""
    if not dry_run:
        run = _sync(project, json, title, **kwargs)
        if json:
            render.print_json(console, render.run_json(run))
        return run
    with project.dry_run() as plan:
        run = _sync(project, json, f"{title} (dry run)", **kwargs)
    if json:
        render.print_json(console, plan_json(plan, render.run_json(run)))
    else:
        print_plan(console, plan, show)
    return run


def _sync(project: Project, json: bool, title: str, **kwargs: object) -> RunResult:
    if json:
        return project.sync(**kwargs)  # type: ignore[arg-type]
    mappings = kwargs.get("mappings")
    project.ordered(mappings if isinstance(mappings, list) else None)  # errors before bars
    with render.BarProgress(console) as bars:
        run = project.sync(progress=bars, **kwargs)  # type: ignore[arg-type]
    console.print(render.summary_table(run, title))
    if run.failed_records and not project.dry:
        console.print(
            f"[yellow]{run.failed_records:,} record(s) failed[/]; see them with "
            f"[b]accord jobs ID[/] (ids in [b]accord jobs[/])."
        )
    return run
