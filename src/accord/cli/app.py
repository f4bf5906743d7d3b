"""The ``accord`` command line: parse, make one engine call, render the result.

Commands live in modules by theme; this one holds the core verbs and imports the others so
that they register on the shared app. Exit codes are described in :mod:`accord.cli.common`.
"""

from __future__ import annotations

import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from accord.cli import render
from accord.cli.common import (
    ConfigOpt,
    DirectionOpt,
    JsonOpt,
    PassDirection,
    app,
    console,
    err,
    errors,
    exit_for,
    open_project,
    sync_and_show,
    to_direction,
)
from accord.cli.plan import DryRunOpt, ShowOpt, plan_json, planned, print_plan
from accord.engine.project import Project
from accord.engine.results import CoupleResult
from accord.model import Direction, Job

_NEXT_STEPS = """\
  accord mappings                       # mappings, couplings, failures
  accord jobs                           # the jobs this run logged
  accord couplings CUSTOMER --limit 5   # which record is coupled to which
  accord sync                           # only what changed since: nothing to write
  accord sync CUSTOMER --records C00001 --direction to-integration
  accord uncouple CUSTOMER --all        # the records stay, the links go
  accord review                         # what a first full sync would do
  accord match CUSTOMER --dry-run       # couple them back by name, city, e-mail
  accord conflicts / accord errors      # what needs a person's decision
  accord serve                          # the same in the browser (prints its URL)
"""


def _try_next(directory: Path, config: Path, served_steps: str) -> str:
    """The demo's closing 'Try next' lines (markup), the local service's first if any."""
    return (
        f"\n[b]Try next[/]\n  cd {escape(str(directory))}\n{served_steps}{_NEXT_STEPS}"
        f"[dim](or pass --config {escape(str(config))} from anywhere)[/]"
    )


class CrmChoice(StrEnum):
    """Where ``accord demo`` keeps its CRM."""

    sql = "sql"
    dataverse = "dataverse"


class ErpChoice(StrEnum):
    """Where ``accord demo`` keeps its ERP."""

    sql = "sql"
    businesscentral = "businesscentral"


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo systems and config.")
    ] = Path("accord-demo"),
    # min is accord.demo.MIN_RECORDS, not imported here so that other commands start faster
    records: Annotated[int, typer.Option(min=20, help="Number of customers (both sides).")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 42,
    crm: Annotated[
        CrmChoice,
        typer.Option(
            "--crm",
            help="The CRM: a SQLite file (sql) or the local Dataverse service over HTTPS "
            "(dataverse), started for the run.",
        ),
    ] = CrmChoice.sql,
    erp: Annotated[
        ErpChoice,
        typer.Option(
            "--erp",
            help="The ERP: a SQLite file (sql) or the local Business Central API v2.0 over "
            "HTTPS (businesscentral), started for the run.",
        ),
    ] = ErpChoice.sql,
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="With --crm dataverse: the service's port (0: free)."),
    ] = 0,
    erp_port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="With --erp businesscentral: the service's port (0: free)."
        ),
    ] = 0,
    keep_serving: Annotated[
        bool,
        typer.Option(
            "--keep-serving",
            help="With --crm dataverse or --erp businesscentral: keep the services up until "
            "Ctrl-C.",
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Build a demo ERP and CRM and run a full synchronization between them."""
    from accord.cli.demo_crm import DemoServer, secret_for, served_next_steps

    served = crm is CrmChoice.dataverse
    served_erp = erp is ErpChoice.businesscentral
    problem = None
    if not served and port:
        problem = "--port needs --crm dataverse"
    elif not served_erp and erp_port:
        problem = "--erp-port needs --erp businesscentral"
    elif keep_serving and not (served or served_erp):
        problem = "--keep-serving needs --crm dataverse or --erp businesscentral"
    if problem:
        err.print(f"[red]error:[/] {problem}", highlight=False)
        raise typer.Exit(2)
    with errors(), DemoServer() as server:
        if not json:
            erp_where = "the local Business Central service" if served_erp else "SQLite"
            crm_where = "the local Dataverse service" if served else "SQLite"
            where = erp_where if erp_where == crm_where else f"{erp_where}, {crm_where}"
            console.print(
                f"Building the demo ERP and CRM ({where}) in [b]{escape(str(directory))}[/] …"
            )
        try:
            world = server.build(
                directory,
                records=records,
                seed=seed,
                crm=crm.value,
                port=port,
                erp=erp.value,
                erp_port=erp_port,
            )
        except OSError as exc:  # e.g. a --dir that cannot be created or written, a taken port
            err.print(
                f"[red]error:[/] cannot build the demo in {escape(str(directory))}: "
                f"{escape(str(exc))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None
        if not json:
            sizes = ", ".join(f"{t} {n:,}" for t, n in world.counts.items() if n)
            console.print(f"[dim]{sizes}[/]")
            if world.erp_service is not None:
                console.print(
                    f"[dim]ERP: local Business Central at {escape(world.erp_service.url)}[/]"
                )
            if world.service is not None:
                console.print(f"[dim]CRM: local Dataverse at {escape(world.service.url)}[/]")
        with secret_for(world), Project.load(world.config_path) as project:
            run = sync_and_show(project, json, "Full synchronization of the demo", full=True)
        if not json:
            any_served = world.service is not None or world.erp_service is not None
            served_steps = served_next_steps(world, keep_serving) if any_served else ""
            console.print(_try_next(directory, world.config_path, served_steps))
        if keep_serving:
            server.serve_until_stopped(quiet=json)
    exit_for(run)


@app.command()
def mappings(config: ConfigOpt = None, json: JsonOpt = False) -> None:
    """List mappings in dependency order with direction, filters and coupling counts."""
    with open_project(config) as project:
        project.check()
        rows = project.overview()
        if json:
            render.print_json(console, rows)
        else:
            console.print(render.mappings_table(rows))


@app.command()
def sync(
    mapping: Annotated[list[str] | None, typer.Argument(help="Mappings (default: all).")] = None,
    records: Annotated[
        str | None, typer.Option("--records", "-r", help="Comma-separated keys (one mapping).")
    ] = None,
    direction: DirectionOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Create and couple uncoupled records too.")
    ] = False,
    match: Annotated[
        bool,
        typer.Option(
            "--match/--no-match",
            help="With --full: first couple matching records where both sides hold some "
            "(as accord review recommends).",
        ),
    ] = True,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="Also read every record modified at or after this instant, whatever the "
            "watermark (ISO 8601: 2026-12-01 or 2026-12-01T08:30+01:00; UTC unless given): "
            "catches edits stamped behind the watermark, e.g. a backdated import.",
        ),
    ] = None,
    i_know: Annotated[
        bool,
        typer.Option(
            "--i-know",
            help="Create records even where the state store looks new or lost (it knows "
            "nothing of a mapping whose systems hold copies of each other's records).",
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    show: ShowOpt = 0,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            metavar="SECONDS",
            help="If another run is at work on these mappings, wait for it this long.",
        ),
    ] = 0.0,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Synchronize modified records, in dependency order (or everything with --full)."""
    keys = [k.strip() for k in records.split(",") if k.strip()] if records else None
    way = to_direction(direction)
    with open_project(config) as project:
        if keys is not None and way is None and mapping and len(mapping) == 1:
            m = project.config.mapping(mapping[0])
            if m.direction is Direction.BIDIRECTIONAL and sys.stdin.isatty() and not json:
                choice = ""
                while choice not in ("to", "from"):
                    choice = (
                        str(
                            typer.prompt(
                                f"{m.name} is bidirectional. Send local changes (to) or get "
                                "integration changes (from)?"
                            )
                        )
                        .strip()
                        .lower()
                    )
                way = Direction(f"{choice}-integration")
        title = "Full synchronization" if full else "Synchronization"
        if since:
            title += f" (since {escape(since)})"
        run = sync_and_show(
            project,
            json,
            title,
            dry_run=dry_run,
            show=show,
            mappings=mapping,
            full=full,
            records=keys,
            direction=way,
            wait=wait,
            match_first=match,
            since=since,
            i_know=i_know,
        )
    exit_for(run)


@app.command()
def couple(
    mapping: Annotated[str, typer.Argument(help="Mapping name, e.g. CUSTOMER.")],
    local_key: Annotated[str, typer.Argument(help="Key of the local (ERP) record.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Key of the integration (CRM) record.")
    ] = None,
    create_new: Annotated[
        bool, typer.Option("--create-new", help="Create the counterpart and couple it.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="With --create-new: create it even outside the mapping's filters, or when it "
            "looks like a renamed coupled record.",
        ),
    ] = False,
    sync_direction: Annotated[
        PassDirection | None,
        typer.Option("--sync", help="Synchronize right after coupling.", case_sensitive=False),
    ] = None,
    dry_run: DryRunOpt = False,
    show: ShowOpt = 20,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Couple one local record to an integration record (1:1)."""
    with open_project(config) as project:

        def act() -> CoupleResult:
            return project.couple(
                mapping,
                local_key,
                to,
                create_new=create_new,
                sync=to_direction(sync_direction),
                force=force,
            )

        if dry_run:
            result, plan = planned(project, act)
            if json:
                render.print_json(console, plan_json(plan, _couple_json(result)))
            else:
                print_plan(console, plan, show)
            if result.sync is not None:
                exit_for(result.sync)
            return
        result = act()
        if json:
            render.print_json(console, _couple_json(result))
        else:
            c = result.coupling
            verb = "created and coupled" if result.created else "coupled"
            console.print(
                f"{verb} {escape(c.local_key)} ↔ {escape(c.integration_key)} ({escape(mapping)})"
            )
            if result.replaced:
                console.print(
                    f"[dim]replaced a stale coupling {escape(result.replaced.local_key)} ↔ "
                    f"{escape(result.replaced.integration_key)} (its record no longer exists)[/]"
                )
            if result.sync:
                console.print(render.summary_table(result.sync, "Synchronization"))
    if result.sync is not None:
        exit_for(result.sync)


def _couple_json(result: CoupleResult) -> dict[str, Any]:
    return {
        "coupling": render.to_jsonable(result.coupling),
        "created": result.created,
        "replaced": render.to_jsonable(result.replaced),
        "sync": render.run_json(result.sync) if result.sync else None,
    }


@app.command()
def uncouple(
    mapping: Annotated[str, typer.Argument(help="Mapping name.")],
    keys: Annotated[
        list[str] | None, typer.Argument(help="Local or integration keys to uncouple.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Remove every coupling of the mapping.")
    ] = False,
    failed: Annotated[
        bool, typer.Option("--failed", help="Remove the failed couplings (see accord errors).")
    ] = False,
    skipped: Annotated[
        bool, typer.Option("--skipped", help="Remove the skipped (quarantined) couplings.")
    ] = False,
    dry_run: DryRunOpt = False,
    show: ShowOpt = 0,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Remove couplings; the records stay in both systems."""
    with open_project(config) as project:

        def act() -> Job:
            return project.uncouple(mapping, keys, all=all_, failed=failed, skipped=skipped)

        if dry_run:
            job, plan = planned(project, act)
            if json:
                render.print_json(console, plan_json(plan, render.job_json(job)))
            else:
                print_plan(console, plan, show)
            return
        job = act()
        if json:
            render.print_json(console, render.job_json(project.job(job.id)))
        else:
            console.print(
                f"uncoupled {job.counters.uncoupled:,} coupling(s) of {escape(job.mapping)}; "
                "the records stay"
            )


@app.command()
def jobs(
    job_id: Annotated[
        str | None, typer.Argument(help="Show one job (an id prefix is enough).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Jobs listed.")] = 20,
    mapping: Annotated[
        str | None, typer.Option("--mapping", "-m", help="Only the jobs of this mapping.")
    ] = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """List jobs (newest first), or show one job with its errors."""
    with open_project(config) as project:
        if job_id:
            job = project.job(job_id)
            if json:
                data = render.job_json(job)
                data.setdefault("errors", [])
                render.print_json(console, data)
            else:
                render.job_detail(console, job)
            return
        found = project.jobs(limit=limit, mapping=mapping)
        if json:
            render.print_json(console, [render.job_json(j) for j in found])
        else:
            console.print(render.jobs_table(found))


@app.command()
def couplings(
    mapping: Annotated[str, typer.Argument(help="Mapping name.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Couplings listed.")] = 50,
    offset: Annotated[
        int, typer.Option(min=0, help="Skip this many couplings first (by local key).")
    ] = 0,
    attention: Annotated[
        bool, typer.Option("--attention", help="Only failed, skipped, pending or deferred.")
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show couplings of a mapping with their last result."""
    with open_project(config) as project:
        name = project.config.mapping(mapping).name
        found = project.couplings(name, limit=limit, offset=offset, attention_only=attention)
        if json:
            render.print_json(console, found)
        else:
            console.print(render.couplings_table(name, found))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        # Ctrl-C before a command's own handling began (while the CLI starts): nothing ran.
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        # The command is over: a Ctrl-C now would only turn a finished run's exit into
        # Python's own KeyboardInterrupt exit.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


from accord.cli import conflicts as _conflicts  # noqa: E402,F401  (registers the commands)
from accord.cli import dev as _dev  # noqa: E402,F401  (registers the dev sub-commands)
from accord.cli import match as _match  # noqa: E402,F401  (registers the command)
from accord.cli import problems as _problems  # noqa: E402,F401  (registers the commands)
from accord.cli import review as _review  # noqa: E402,F401  (registers the command)
from accord.cli import schedule as _schedule  # noqa: E402,F401  (registers run and status)
from accord.cli import serve as _serve  # noqa: E402,F401  (registers the command)
from accord.cli import verify as _verify  # noqa: E402,F401  (registers the command)
from accord.cli import worker as _worker  # noqa: E402,F401  (registers the command)
