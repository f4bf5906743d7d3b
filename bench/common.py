"""Shared helpers of the benchmarks: work directories, machine line, timing, child runs, tables.

Benchmarks are scripts, not tests: they measure, print and compare with a target, and never
assert on a timing. A wrong *result* (rows missing after a sync, say) is reported loudly,
because a timing of a wrong result is worthless.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
# bench/http.py must not shadow the standard library's http package (httpx imports it): the
# benchmarks' folder goes to the end of the import path, after the standard library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR] + [str(BENCH_DIR)]
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"

console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
"""Rich console; wide when piped to a file, so that tables stay on one line per row."""


# -- work files ----------------------------------------------------------------------------
def fresh_dir(name: str) -> Path:
    """``bench/.work/<name>``, emptied: every run starts from nothing."""
    path = WORK_DIR / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# -- machine -------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    """CPU model, cores, RAM, Python and SQLAlchemy versions of this machine."""
    import sqlalchemy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "ram": ram,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def load_average() -> str:
    """The 1-minute load average, and a warning when other work shares the CPU."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "?"
    busy = load > 0.5 * (os.cpu_count() or 1)
    return f"{load:.2f}" + (
        " (busy: other processes share the CPU, timings are noisy)" if busy else ""
    )


def code_state() -> str:
    """The engine code measured: git HEAD, and whether ``src/`` has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    if dirty:
        return f"git {head} + uncommitted changes in {len(dirty)} path(s) under src/"
    return f"git {head}"


def machine_line() -> str:
    m = machine()
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['ram']} RAM; Python {m['python']}, "
        f"SQLAlchemy {m['sqlalchemy']}, SQLite {m['sqlite']}"
    )


# -- timing and memory ---------------------------------------------------------------------
class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far: ``VmHWM`` on Linux.

    ``ru_maxrss`` is not used as the figure: on Linux a process started with fork + exec
    inherits its parent's peak in ``ru_maxrss`` (the kernel keeps the old address space's
    high-water mark across exec), so a child of a benchmark that has just held 300 MB would
    report 300 MB whatever it does. ``VmHWM`` belongs to the new address space alone.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return maxrss_mb()


def maxrss_mb() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MB (KB on Linux); see :func:`peak_rss_mb`."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size now (Linux ``/proc/self/statm``), for context beside the peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


# -- values --------------------------------------------------------------------------------
def utcnow() -> datetime:
    """Now as naive UTC, the form the engine stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def sa_datetime(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite ``DATETIME`` stores it (text, microseconds always).

    Rows written with the stdlib ``sqlite3`` module must use exactly this form: the engine
    compares timestamps in SQL as text against parameters SQLAlchemy renders the same way.
    """
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


# -- child processes -----------------------------------------------------------------------
CHILD_MARK = "BENCH-RESULT "


def child_result(data: dict[str, Any]) -> None:
    """Print a child's result on one marked line for :func:`run_child` to parse."""
    sys.stdout.flush()
    print(CHILD_MARK + json.dumps(data, default=str), flush=True)


def run_child(script: Path, args: Sequence[str]) -> dict[str, Any]:
    """Run ``python script args`` in a fresh process; return the JSON it reported.

    The child's other output (warnings, tracebacks) is passed through.
    """
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, Any] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith(CHILD_MARK):
            result = json.loads(line[len(CHILD_MARK) :])
        elif line.strip():
            console.print(f"  [dim]child:[/] {line}", markup=False)
    if proc.stderr.strip():
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(
            f"benchmark child {script.name} {' '.join(args)} failed ({proc.returncode})"
        )
    return result


# -- figures and tables --------------------------------------------------------------------
@dataclass
class Figure:
    """One measured figure, its target and whether it is met (None: no target)."""

    benchmark: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: "—"}[self.met]


def problem(message: str) -> None:
    """A wrong result: say so loudly (the timing next to it is not worth reading)."""
    console.print(f"[bold white on red] WRONG RESULT [/] [bold red]{message}[/]")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    t = Table(title=title, title_justify="left", title_style="bold")
    for i, name in enumerate(columns):
        t.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*(str(v) for v in row))
    console.print(t)


def figures_table(title: str, figures: Sequence[Figure]) -> None:
    t = Table(title=title, title_justify="left", title_style="bold")
    for name in ("benchmark", "figure", "value", "target", "met"):
        t.add_column(name, justify="right" if name == "value" else "left")
    for f in figures:
        style = {True: "green", False: "bold red", None: ""}[f.met]
        t.add_row(f.benchmark, f.name, f.value, f.target, f.verdict, style=style)
    console.print(t)


def markdown_table(figures: Sequence[Figure]) -> str:
    lines = ["| benchmark | figure | target | met |", "|---|---|---|---|"]
    for f in figures:
        lines.append(f"| {f.benchmark} | {f.name}: {f.value} | {f.target or '—'} | {f.verdict} |")
    return "\n".join(lines)


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def ratio(value: float) -> str:
    return f"{value:.2f}×"


def engine_bench_main(
    argv: list[str] | None,
    *,
    doc: str,
    title: str,
    default_records: int,
    records_help: str,
    run: Callable[..., list[Figure]],
    engine_child: Callable[[str, str | None], None],
) -> None:
    """The command line every engine-vs-raw benchmark shares (and its child-process mode)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--records", type=int, default=None, help=records_help)
    parser.add_argument("--quick", action="store_true", help="10× smaller")
    parser.add_argument(
        "--repeat", type=int, default=5, help="interleaved rounds (min, median, max)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the engine run")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", metavar="PSTATS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        engine_child(args.child, args.profile_to)
        return
    records = args.records or (default_records // 10 if args.quick else default_records)
    figures_table(title, run(records, repeat=args.repeat, profile=args.profile))
