"""``accord review``: what a first full synchronization would do, mapping by mapping."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from accord.cli import render
from accord.cli.common import ConfigOpt, JsonOpt, app, console, open_project
from accord.engine.review import Recommendation, ReviewLine

SHOWN = {
    Recommendation.COUPLE: "[cyan]couple[/]",
    Recommendation.FULL_SYNC: "[green]full sync[/]",
    Recommendation.NOTHING: "[dim]nothing[/]",
}


@app.command()
def review(
    mapping: Annotated[list[str] | None, typer.Argument(help="Mappings (default: all).")] = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Recommend, per mapping, full synchronization or coupling records first."""
    with open_project(config) as project:
        lines = project.review(mapping)
        if json:
            render.print_json(
                console,
                [
                    {**render.to_jsonable(line), "matches_first": line.matches_first}
                    for line in lines
                ],
            )
            return
        console.print(review_table(lines))
        for line in lines:
            if line.note:
                console.print(f"[yellow]{escape(line.mapping)}[/]: {escape(line.note)}")
        console.print(
            "[b]accord sync --full[/] follows this review: it couples matching records where "
            "both sides hold some, then creates and couples the rest, in dependency order. "
            "Preview it with [b]--dry-run[/]."
        )


def review_table(lines: Iterable[ReviewLine]) -> Table:
    table = Table(title="Full synchronization review", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("mapping", no_wrap=True)
    table.add_column("local", justify="right")
    table.add_column("integration", justify="right")
    table.add_column("coupled", justify="right")
    table.add_column("do", no_wrap=True)
    table.add_column("match on", overflow="fold")
    for line in lines:
        table.add_row(
            escape(line.mapping),
            f"{line.local_records:,}",
            f"{line.integration_records:,}",
            f"{line.coupled:,}",
            SHOWN[line.recommendation],
            escape(", ".join(line.match_on)) if line.matches_first else "",
        )
    table.caption = "records counted with each mapping's filters"
    return table
