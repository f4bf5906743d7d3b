"""Helpers for the SIGKILL tests: run accord in a child process, kill it, compare worlds.

A *world* is a demo directory (``erp.db``, ``crm.db``, ``accord.toml`` and its state store).
A :class:`Campaign` runs one command against a world again and again, each time killing the
child with SIGKILL at a chosen moment: at an engine kill point (``ACCORD_TEST_KILL_AT``, see
:mod:`accord.testing.killpoints`) or after a random delay. It then lets the command finish.

A :class:`Snapshot` is what the two systems and the state store hold, with the keys the run
generated (CRM GUIDs, ERP series numbers) replaced by the key of the original record they are
coupled to, so that two runs from the same seed compare equal exactly when they made the same
records, with the same values, coupled the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import sqlalchemy as sa

import accord
from accord.demo import CRM_METADATA, ERP_METADATA
from accord.state.tables import jobs
from accord.testing.killpoints import ENV
from tests.cli.support import executable

SYSTEMS = {"erp": ERP_METADATA, "crm": CRM_METADATA}
MODIFIED = {"last_modified", "modifiedon"}
"""Columns the SQL connector stamps on every write: they differ from run to run."""
TIMEOUT = 120.0

DRIVER = """
import sys
import accord

action, config, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
match_first = sys.argv[4] == "match"
with accord.Project.load(config, batch_size=batch_size) as project:
    if action == "sync":
        assert project.sync(full=True, match_first=match_first).ok
    elif action == "match":
        project.match("CUSTOMER")
    elif action == "uncouple":
        project.uncouple("CUSTOMER", all=True)
    else:
        raise SystemExit(f"unknown action {action}")
"""
"""The Python API in a child process, with a batch size of our choosing (the command line
has none): small batches make many batches per pass, hence kill points between them."""

ACTIONS: dict[str, tuple[str, ...]] = {
    "sync": ("sync", "--full"),
    "match": ("match", "CUSTOMER"),
    "uncouple": ("uncouple", "CUSTOMER", "--all"),
}


# -- kill points ----------------------------------------------------------------------------
@dataclass(frozen=True)
class KillPoint:
    """Where to kill a child: at the n-th time it reaches ``phase``, or after ``delay`` s."""

    phase: str | None = None
    n: int = 1
    delay: float = 0.0

    def __str__(self) -> str:
        return f"{self.phase}:{self.n}" if self.phase else f"after {self.delay:.2f}s"


@dataclass(frozen=True)
class Via:
    """How the child runs the action: the console script, or the API with a batch size.

    ``match``: a full synchronization first couples the records whose match criteria agree.
    That also couples what a killed run created but did not couple, which hides a missing
    pending coupling where the mapping has criteria: without it, that is a duplicate.
    """

    cli: bool
    batch_size: int = 1000
    match: bool = True

    def __str__(self) -> str:
        how = "accord CLI" if self.cli else f"API, batches of {self.batch_size}"
        return how if self.match else f"{how}, no match"


@dataclass
class Attempt:
    point: KillPoint | None
    via: Via
    killed: bool
    left_running: list[str]
    """Jobs a killed child left with status running."""
    took: float = 0.0

    def __str__(self) -> str:
        what = f"killed at {self.point}" if self.killed else f"finished (kill point {self.point})"
        return f"{what} [{self.via}] in {self.took:.1f}s, left running: {len(self.left_running)}"


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ACCORD_CONFIG", ENV)}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", **(extra or {})})
    return env


def command(action: str, config: Path, via: Via) -> list[str]:
    if via.cli:
        no_match = ("--no-match",) if action == "sync" and not via.match else ()
        return [executable(), *ACTIONS[action], *no_match, "-c", str(config)]
    match = "match" if via.match else "no-match"
    return [sys.executable, "-c", DRIVER, action, str(config), str(via.batch_size), match]


def run_child(
    action: str, config: Path, via: Via, point: KillPoint | None, log: Path
) -> tuple[int, float]:
    """Run the action once, killing it at ``point``; returns its exit code and duration."""
    env = child_env({ENV: f"{point.phase}:{point.n}"} if point and point.phase else None)
    started = time.monotonic()
    with log.open("w") as err:
        child = subprocess.Popen(
            command(action, config, via),
            cwd=config.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            timeout = point.delay if point and not point.phase else TIMEOUT
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if point is None or point.phase:
                child.kill()
                child.wait()
                raise AssertionError(f"accord {action} did not finish in {TIMEOUT}s") from None
            child.send_signal(signal.SIGKILL)
            code = child.wait(timeout=TIMEOUT)
    return code, time.monotonic() - started


class Campaign:
    """One action run against one world, killed at many points, then let finish."""

    def __init__(self, action: str, config: Path, rng: Random) -> None:
        self.action = action
        self.config = config
        self.rng = rng
        self.attempts: list[Attempt] = []
        self.log = config.parent / f"{action}.stderr"

    @property
    def kills(self) -> list[Attempt]:
        return [a for a in self.attempts if a.killed]

    def attempt(self, point: KillPoint | None, via: Via) -> Attempt:
        before = set(running_jobs(self.config))
        code, took = run_child(self.action, self.config, via, point, self.log)
        killed = code == -signal.SIGKILL
        assert killed or code == 0, self.failure(f"exit code {code} at {point} [{via}]")
        if not killed:
            # A run that finished (the kill point came too late) left no job running.
            assert not running_jobs(self.config), self.failure(f"finished at {point}")
        left = sorted(set(running_jobs(self.config)) - before)
        result = Attempt(point, via, killed, left, took)
        self.attempts.append(result)
        return result

    def finish(self, via: Via) -> float:
        """Run the action once more without a kill; returns how long it took."""
        code, took = run_child(self.action, self.config, via, None, self.log)
        assert code == 0, self.failure(f"exit code {code} of the final run [{via}]")
        self.attempts.append(Attempt(None, via, False, [], took))
        return took

    def failure(self, what: str) -> str:
        history = "\n".join(f"  {a}" for a in self.attempts)
        stderr = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return f"accord {self.action}: {what}\nattempts so far:\n{history}\nstderr:\n{stderr}"

    def phases(self) -> Counter[str]:
        return Counter(a.point.phase or "clock" for a in self.kills if a.point)

    def summary(self) -> str:
        phases = ", ".join(f"{p} {n}" for p, n in sorted(self.phases().items()))
        return (
            f"accord {self.action}: {len(self.kills)} kills in {len(self.attempts)} runs ({phases})"
        )


def random_point(rng: Random, ranges: Mapping[str, int], clock: float, share: float) -> KillPoint:
    """A kill point at an engine phase (n up to its range), or after a random delay."""
    if rng.random() < share:
        return KillPoint(delay=rng.uniform(0.8, max(clock, 1.0)))  # starting takes ~1s
    phase = rng.choice(sorted(ranges))
    return KillPoint(phase, rng.randint(1, ranges[phase]))


# -- what the worlds hold -------------------------------------------------------------------
def state_url(config: Path) -> str:
    with accord.Project.load(config) as project:
        return project.store.url


def running_jobs(config: Path) -> list[str]:
    return [job_id for job_id, status in job_statuses(config).items() if status == "running"]


def job_statuses(config: Path) -> dict[str, str]:
    """Every job's status, read straight from the state store (nothing is marked on the way)."""
    engine = _state_engine(config)
    try:
        with engine.connect() as conn:
            return {
                job_id: status
                for job_id, status in conn.execute(sa.select(jobs.c.id, jobs.c.status))
            }
    finally:
        engine.dispose()


_URLS: dict[Path, str] = {}


def _state_engine(config: Path) -> sa.Engine:
    url = _URLS.get(config)
    if url is None:
        url = _URLS[config] = state_url(config)
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


Row = tuple[tuple[str, Any], ...]


def system_rows(config: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every demo table, by ``system.table``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for system, metadata in SYSTEMS.items():
        engine = sa.create_engine(f"sqlite:///{config.parent / f'{system}.db'}")
        try:
            with engine.connect() as conn:
                for table in metadata.sorted_tables:
                    rows = conn.execute(sa.select(table)).mappings().all()
                    out[f"{system}.{table.name}"] = [dict(r) for r in rows]
        finally:
            engine.dispose()
    return out


def key_column(table_ref: str) -> str:
    system, name = table_ref.split(".")
    (column,) = SYSTEMS[system].tables[name].primary_key.columns
    return column.name


def original_keys(config: Path) -> dict[str, frozenset[str]]:
    """The keys of a world as built, before any run: every other key was generated."""
    return {
        ref: frozenset(str(r[key_column(ref)]) for r in rows)
        for ref, rows in system_rows(config).items()
    }


@dataclass(frozen=True)
class Snapshot:
    """A world with its generated keys named after the original record they are coupled to."""

    rows: dict[str, Counter[Row]]
    couplings: dict[str, frozenset[tuple[str, str]]]
    raw_couplings: dict[str, list[tuple[str, str, bool]]] = field(compare=False)
    filtered: dict[str, tuple[int, int]] = field(compare=False)
    """Records passing each mapping's filters, (local, integration)."""

    @classmethod
    def take(cls, config: Path, original: Mapping[str, frozenset[str]]) -> Snapshot:
        raw: dict[str, list[tuple[str, str, bool]]] = {}
        filtered: dict[str, tuple[int, int]] = {}
        tables: dict[str, tuple[str, str]] = {}
        with accord.Project.load(config) as project:
            for mapping in project.config.mappings:
                raw[mapping.name] = [
                    (c.local_key, c.integration_key, c.pending)
                    for batch in project.store.iter_couplings(mapping.name)
                    for c in batch
                ]
                ctx = project.context(mapping.name)
                filtered[mapping.name] = (
                    ctx.local.connector.count(ctx.local.table, filter=ctx.local.filter),
                    ctx.integration.connector.count(
                        ctx.integration.table, filter=ctx.integration.filter
                    ),
                )
                tables[mapping.name] = (str(mapping.table), str(mapping.integration_table))
        names = _canonical_names(raw, tables, original)

        def rename(value: object) -> object:
            return names.get(value, value) if isinstance(value, str) else value

        rows = {
            ref: Counter(
                tuple((k, rename(v)) for k, v in sorted(r.items()) if k not in MODIFIED)
                for r in table_rows
            )
            for ref, table_rows in system_rows(config).items()
        }
        couplings = {
            m: frozenset((str(rename(lk)), str(rename(ik))) for lk, ik, _ in pairs)
            for m, pairs in raw.items()
        }
        return cls(rows, couplings, raw, filtered)

    def differences(self, reference: Snapshot, shown: int = 3) -> list[str]:
        """What this world holds that the reference does not, and the other way round."""
        out = []
        for ref in sorted(set(self.rows) | set(reference.rows)):
            mine, theirs = self.rows.get(ref, Counter()), reference.rows.get(ref, Counter())
            if mine != theirs:
                extra, missing = list((mine - theirs).elements()), list((theirs - mine).elements())
                out.append(
                    f"{ref}: {sum(mine.values())} rows, reference {sum(theirs.values())}; "
                    f"{len(extra)} not in the reference, e.g. {_show(extra[:shown])}; "
                    f"{len(missing)} missing, e.g. {_show(missing[:shown])}"
                )
        for m in sorted(set(self.couplings) | set(reference.couplings)):
            mine_c, theirs_c = self.couplings.get(m, frozenset()), reference.couplings.get(m)
            if mine_c != theirs_c:
                theirs_c = theirs_c or frozenset()
                extra_c, missing_c = sorted(mine_c - theirs_c), sorted(theirs_c - mine_c)
                out.append(
                    f"couplings of {m}: {len(mine_c)}, reference {len(theirs_c)}; "
                    f"extra {extra_c[:shown]}, missing {missing_c[:shown]}"
                )
        return out


def _canonical_names(
    raw: Mapping[str, Sequence[tuple[str, str, bool]]],
    tables: Mapping[str, tuple[str, str]],
    original: Mapping[str, frozenset[str]],
) -> dict[str, str]:
    """Generated key → the name of the original record coupled to it."""
    names: dict[str, str] = {}
    for mapping, pairs in raw.items():
        local_table, integration_table = tables[mapping]
        for local, integration, _ in pairs:
            local_original = local in original[local_table]
            integration_original = integration in original[integration_table]
            if local_original and not integration_original:
                names[integration] = f"<{local_table} {local}>"
            elif integration_original and not local_original:
                names[local] = f"<{integration_table} {integration}>"
    return names


def _show(rows: Iterable[Row]) -> str:
    return "; ".join(", ".join(f"{k}={v!r}" for k, v in r if v not in (None, "")) for r in rows)


def coupling_problems(snapshot: Snapshot) -> list[str]:
    """Couplings that are not 1:1, left pending, or records passing the filters uncoupled."""
    out = []
    for m, pairs in snapshot.raw_couplings.items():
        local = Counter(lk for lk, _, _ in pairs)
        integration = Counter(ik for _, ik, _ in pairs)
        twice = [k for k, n in (local + integration).items() if n > 1]
        pending = [(lk, ik) for lk, ik, p in pairs if p]
        if twice:
            out.append(f"{m}: coupled more than once: {twice[:5]}")
        if pending:
            out.append(f"{m}: {len(pending)} pending couplings left, e.g. {pending[:3]}")
        if snapshot.filtered[m] != (len(pairs), len(pairs)):
            out.append(
                f"{m}: {len(pairs)} couplings, but {snapshot.filtered[m]} records (local, "
                "integration) pass the filters"
            )
    return out


def duplicates(snapshot: Snapshot, columns: Sequence[tuple[str, str]]) -> list[str]:
    """Values that must be unique (``system.table``, column) and occur more than once."""
    out = []
    for ref, column in columns:
        values = Counter(
            dict(row)[column] for row in snapshot.rows[ref].elements() if dict(row)[column]
        )
        twice = {v: n for v, n in values.items() if n > 1}
        if twice:
            out.append(f"{ref}.{column}: {len(twice)} duplicated, e.g. {list(twice.items())[:3]}")
    return out
