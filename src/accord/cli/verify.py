"""``accord verify``: list (and with ``--fix`` synchronize) coupled pairs whose values disagree."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from accord.cli import render
from accord.cli.common import ConfigOpt, JsonOpt, app, console, open_project
from accord.engine.verify import Disagreement, VerifyResult

ARROWS = {"to-integration": "→", "from-integration": "←", "bidirectional": "↔"}


@app.command()
def verify(
    mapping: Annotated[list[str] | None, typer.Argument(help="Mappings (default: all).")] = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Synchronize the disagreeing pairs, in the direction that decides (a conflict "
            "is listed, not fixed).",
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Disagreements listed (--json: all).")
    ] = 50,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Compare every coupled pair's mapped values on both sides; exit 1 if any disagree.

    Reads both systems in batches (not the watermarks), so it finds what a sync cannot:
    edits stamped behind the watermark, or made straight in a database.
    """
    with open_project(config) as project:
        if json:
            result = project.verify(mapping, fix=fix)
        else:
            project.ordered(mapping)  # errors before bars
            with render.BarProgress(console) as bars:
                result = project.verify(mapping, fix=fix, progress=bars)
        if json:
            render.print_json(console, verify_json(result))
        else:
            show(result, limit, fix)
    if result.remaining:
        raise typer.Exit(1)


def verify_json(result: VerifyResult) -> dict[str, Any]:
    return {
        "ok": not result.remaining,
        "disagreeing": result.disagreeing,
        "remaining": result.remaining,
        "mappings": [
            {
                "mapping": m.mapping,
                "compared": m.compared,
                "agreeing": m.agreeing,
                "disagreeing": len(m.disagreements),
                "conflicts": m.conflicts,
                "fixed": m.fixed,
                "not_compared": m.not_compared,
                "disagreements": [_disagreement_json(d) for d in m.disagreements],
            }
            for m in result.mappings
        ],
        "fixing": [render.run_json(run) for run in result.fixing],
    }


def _disagreement_json(d: Disagreement) -> dict[str, Any]:
    data: dict[str, Any] = render.to_jsonable(d)
    data["conflict"] = d.conflict
    return data


def show(result: VerifyResult, limit: int, fix: bool) -> None:
    summary = Table(title="Verification", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("mapping", "compared", "agreeing", "disagreeing", "conflicts"):
        summary.add_column(name, justify="left" if name == "mapping" else "right")
    if fix:
        summary.add_column("fixed", justify="right")
    summary.add_column("not compared", justify="right")
    for m in result.mappings:
        row = [
            escape(m.mapping),
            f"{m.compared:,}",
            f"{m.agreeing:,}",
            f"[red]{len(m.disagreements):,}[/]" if m.disagreements else "0",
            f"[yellow]{m.conflicts:,}[/]" if m.conflicts else "0",
        ]
        if fix:
            row.append(f"{m.fixed:,}")
        row.append(f"{m.not_compared:,}")
        summary.add_row(*row)
    summary.caption = "not compared: pending or quarantined couplings, records gone on a side"
    console.print(summary)
    listed = [d for m in result.mappings for d in m.disagreements]
    if not listed:
        console.print("[green]every compared pair agrees[/]")
        return
    table = Table(title="Disagreeing pairs", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("mapping  local key\nintegration key", overflow="fold")
    table.add_column("field (local ↔ integration)", overflow="fold")
    table.add_column("local value", overflow="fold")
    table.add_column("integration value", overflow="fold")
    table.add_column("fix" if not fix else "fixed", overflow="fold")
    for d in listed[:limit]:
        first = True
        for f in d.fields:
            table.add_row(
                f"{escape(d.mapping)}  {escape(d.local_key)}\n{escape(d.integration_key)}"
                if first
                else "",
                f"{escape(f.field or '(constant)')} {ARROWS[f.direction.value]} "
                f"{escape(f.integration_field or '(constant)')}",
                escape(repr(f.local)),
                escape(repr(f.integration)),
                _action(d, fix) if first else "",
            )
            first = False
    console.print(table)
    if len(listed) > limit:
        console.print(f"[dim]… and {len(listed) - limit:,} more (--limit, or --json for all)[/]")
    if any(d.conflict for d in listed):
        console.print(
            "A conflict is for a person: settle it with [b]accord sync MAPPING --records KEY "
            "--direction to-integration|from-integration[/]."
        )
    if not fix and any(not d.conflict for d in listed):
        console.print("Synchronize the others with [b]accord verify --fix[/].")


def _action(d: Disagreement, fix: bool) -> str:
    if d.conflict:
        return f"[yellow]{escape(d.reason)}[/]"
    way = ", then ".join(x.value for x in d.fix)
    if not fix:
        return f"{way} ({escape(d.reason)})"
    return f"[green]yes[/] ({way})" if d.fixed else f"[red]no[/] ({way}: see accord jobs)"
