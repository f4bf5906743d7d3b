"""Run every benchmark of Accord and summarize the figures against their targets.

    python bench/run.py            # the real sizes (a few minutes)
    python bench/run.py --quick    # 10× smaller: a smoke run of about a minute

Each benchmark is a module of its own (``bench/full_sync.py``, ``bench/incremental.py``,
``bench/match.py``, ``bench/http.py``) that
can also run alone. Work files go to ``bench/.work/`` (git-ignored), recreated on every run.
The summary ends with a markdown table to paste into ``bench/README.md``; it is also written
to ``bench/.work/results.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import full_sync
import incremental
import match
from common import (
    WORK_DIR,
    Figure,
    code_state,
    console,
    figures_table,
    load_average,
    machine,
    machine_line,
    markdown_table,
)

_spec = importlib.util.spec_from_file_location("http_bench", Path(__file__).with_name("http.py"))
assert _spec is not None and _spec.loader is not None
http_bench = importlib.util.module_from_spec(_spec)  # "import http" is the standard library's
_spec.loader.exec_module(http_bench)

BENCHMARKS = ("full_sync", "incremental", "match", "http")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run Accord's benchmarks.")
    parser.add_argument("--quick", action="store_true", help="sizes 10× smaller (smoke run)")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these")
    args = parser.parse_args(argv)
    chosen = args.only or list(BENCHMARKS)
    scale = 10 if args.quick else 1

    started = time.perf_counter()
    m = machine()
    load_before = load_average()
    code = code_state()
    console.print(f"[bold]Machine:[/] {machine_line()}; load average {load_before}")
    console.print(f"[bold]Engine code:[/] {code}")
    figures: list[Figure] = []
    if "full_sync" in chosen:
        figures += full_sync.run(full_sync.DEFAULT_RECORDS // scale)
    if "incremental" in chosen:
        sizes = (incremental.SIZES[0] // scale, incremental.SIZES[1] // scale)
        figures += incremental.run(
            sizes,
            rounds=3 if args.quick else 5,
            idle_records=incremental.IDLE_RECORDS // scale,
        )
    if "match" in chosen:
        figures += match.run(match.DEFAULT_RECORDS // scale)
    if "http" in chosen:
        figures += http_bench.run(http_bench.DEFAULT_RECORDS // scale)
    elapsed = time.perf_counter() - started
    load_after = load_average()

    console.rule("[bold]Summary")
    console.print(f"CPU: {m['cpu']}; cores: {m['cores']}; RAM: {m['ram']}")
    console.print(f"Python {m['python']}; SQLAlchemy {m['sqlalchemy']}; SQLite {m['sqlite']}")
    console.print(f"Mode: {'quick (10× smaller)' if args.quick else 'full'}; total {elapsed:.0f} s")
    console.print(f"Load average (1 min): {load_before} before, {load_after} after")
    console.print(f"Engine code: {code}")
    figures_table("Figures and targets", figures)
    markdown = "\n".join(
        [
            f"Machine: {machine_line()}. Mode: {'quick' if args.quick else 'full'}; "
            f"bench runtime {elapsed:.0f} s; load average {load_before.split()[0]} before, "
            f"{load_after.split()[0]} after; engine code {code}.",
            "",
            markdown_table(figures),
        ]
    )
    WORK_DIR.mkdir(exist_ok=True)
    (WORK_DIR / "results.md").write_text(markdown + "\n", encoding="utf-8")
    console.print("\nMarkdown (also in bench/.work/results.md):\n")
    console.print(markdown, markup=False)


if __name__ == "__main__":
    main()
