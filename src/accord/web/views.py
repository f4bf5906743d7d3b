"""How pages show the engine's values: dates, durations, throughput, a chart of runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from accord.errors import UsageError
from accord.model import Direction, Job, TableMapping


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def seconds(job: Job) -> str:
    return "" if job.duration is None else f"{job.duration:.2f} s"


def throughput(job: Job) -> str:
    """Records processed per second (blank for a job too short to tell)."""
    if not job.duration or job.duration < 0.001:
        return ""
    return f"{job.counters.processed / job.duration:,.0f}/s"


def arrow(direction: Direction | str | None) -> str:
    value = direction.value if isinstance(direction, Direction) else direction
    return {"to-integration": "→", "from-integration": "←", "bidirectional": "↔"}.get(
        value or "", "·"
    )


def kind(value: Any) -> str:
    """The result object's class name, so a template knows how to show it."""
    return type(value).__name__


def chart(jobs: list[Job], width: int = 120, height: int = 28) -> Markup:
    """Recent runs as inline SVG bars, oldest left: height by records processed, red where
    records failed, grey for a run that wrote nothing."""
    runs = list(reversed(jobs))
    if not runs:
        return Markup('<span class="muted">no runs yet</span>')
    top = max((j.counters.processed for j in runs), default=0) or 1
    bar = width / max(len(runs), 1)
    parts = []
    for i, j in enumerate(runs):
        h = max(2.0, height * j.counters.processed / top)
        cls = (
            "bad"
            if j.counters.failed or j.status.value == "error"
            else ("ok" if j.counters.written or j.counters.coupled else "idle")
        )
        label = escape(
            f"{when(j.started_at)} {j.type.value} {arrow(j.direction)}: "
            f"{j.counters.processed} processed, {j.counters.failed} failed"
        )
        parts.append(
            f'<rect class="{cls}" x="{i * bar + 1:.1f}" y="{height - h:.1f}" '
            f'width="{max(bar - 2, 1):.1f}" height="{h:.1f}"><title>{label}</title></rect>'
        )
    return Markup(
        f'<svg class="chart" role="img" aria-label="recent runs" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{"".join(parts)}</svg>'
    )


def match_fields(mapping: TableMapping) -> list[dict[str, Any]]:
    """The mapping's field pairs for the match dialog, configured criteria checked."""
    out = []
    for f in mapping.fields:
        if f.has_constant or not f.field or not f.integration_field or f.lookup:
            continue
        out.append(
            {
                "field": f.field,
                "integration_field": f.integration_field,
                "priority": f.match.priority if f.match else None,
                "case_sensitive": bool(f.match and f.match.case_sensitive),
            }
        )
    return out


def direction(text: str) -> Direction:
    try:
        return Direction(text)
    except ValueError:
        raise UsageError(f"direction {text!r} is not to-integration or from-integration") from None


def int_param(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{name} {text!r} is not a number") from None


GLOBALS: dict[str, Any] = {
    "when": when,
    "seconds": seconds,
    "throughput": throughput,
    "arrow": arrow,
    "kind": kind,
    "chart": chart,
}
