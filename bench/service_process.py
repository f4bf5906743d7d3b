"""The local Dataverse in a process of its own, for benchmarks that time a client against it.

Real Dataverse is a remote service: its work never competes with the client's for the
client's interpreter. In one process the service's threads, the engine and a floor client
share one GIL, so a benchmark would time the service's Python as much as the client's. Here
the service runs as ``accord dev dataverse`` runs it — ``LocalDataverse.start`` in a fresh
Python process (HTTPS, SQLite on disk) — and the benchmark talks to it over HTTP like any
client. A line-based JSON channel on the child's stdin/stdout carries what only a benchmark
needs: the URL, token and CA file when it starts; the request counts (``stats.kinds()``),
a reset, a row count and one SQL scalar between timed phases, never during one.

    with ServiceProcess.start(data_dir) as dv:
        dv.url, dv.token, dv.ca_file; dv.reset(); ...; dv.kinds(); dv.count("account")
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
SRC_DIR = BENCH_DIR.parent / "src"
API_PATH = "/api/data/v9.2/"

# The child imports this module with the benchmarks' folder *after* the standard library
# (bench/http.py must not shadow the stdlib's http package, which uvicorn imports).
CHILD = (
    "import sys; sys.path.append(sys.argv[1]); "
    "import service_process; service_process.child_main(sys.argv[2])"
)


class ServiceError(RuntimeError):
    """The service process failed to start or to answer a command."""


class ServiceProcess:
    """A local Dataverse served by a child process; its URL, credentials and counters."""

    def __init__(self, proc: subprocess.Popen[str], hello: dict[str, Any]) -> None:
        self._proc = proc
        self.url: str = hello["url"]
        self.api_url: str = hello["api_url"]
        self.token: str = hello["token"]
        self.ca_file = Path(hello["ca_file"])
        self.pid: int = hello["pid"]

    @classmethod
    def start(cls, data_dir: Path) -> ServiceProcess:
        """Start ``LocalDataverse`` (HTTPS, SQLite in ``data_dir``) in a child; wait for it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(SRC_DIR), "NO_COLOR": "1"}
        log = (data_dir / "service.log").open("w", encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(BENCH_DIR), str(data_dir)],
            cwd=data_dir,  # not bench/, whose http.py would shadow the standard library's
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )
        log.close()
        hello = _read(proc, data_dir)
        return cls(proc, hello)

    # -- commands (between timed phases) ------------------------------------------------
    def _call(self, op: str, *args: Any) -> Any:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps([op, list(args)]) + "\n")
        self._proc.stdin.flush()
        answer = _read(self._proc, None)
        if "error" in answer:
            raise ServiceError(f"service process: {op} failed: {answer['error']}")
        return answer["ok"]

    def kinds(self) -> Counter[str]:
        """Requests answered since the start or the last :meth:`reset`, by kind."""
        return Counter(self._call("kinds"))

    def reset(self) -> None:
        self._call("reset")

    def count(self, logical_name: str) -> int:
        return int(self._call("count", logical_name))

    def scalar(self, sql: str, params: list[Any]) -> Any:
        return self._call("scalar", sql, params)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    # -- life -----------------------------------------------------------------------------
    def stop(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(ServiceError, OSError):
                self._call("stop")
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read(proc: subprocess.Popen[str], data_dir: Path | None) -> dict[str, Any]:
    stdout: IO[str] | None = proc.stdout
    assert stdout is not None
    line = stdout.readline()
    if not line:
        proc.wait()
        where = f" (see {data_dir / 'service.log'})" if data_dir else ""
        raise ServiceError(f"the service process ended with code {proc.returncode}{where}")
    answer: dict[str, Any] = json.loads(line)
    return answer


def child_main(data_dir: str) -> None:
    """The child: serve until told to stop; answer one JSON command per stdin line."""
    from accord.services.dataverse import LocalDataverse

    out = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write on the command channel
    with LocalDataverse.start(data_dir=Path(data_dir)) as dv:
        hello = {
            "url": dv.url,
            "api_url": dv.api_url,
            "token": dv.token,
            "ca_file": str(dv.ca_file),
            "pid": os.getpid(),
        }
        out.write(json.dumps(hello) + "\n")
        out.flush()
        for line in sys.stdin:
            op, args = json.loads(line)
            try:
                if op == "stop":
                    result: Any = None
                elif op == "kinds":
                    result = dict(dv.stats.kinds())
                elif op == "reset":
                    result = dv.stats.reset()
                elif op == "count":
                    result = dv.count(args[0])
                elif op == "scalar":
                    result = dv.store.scalar(args[0], tuple(args[1]))
                else:
                    raise ValueError(f"unknown command {op!r}")
                answer: dict[str, Any] = {"ok": result}
            except Exception as exc:  # reported to the parent, which raises it
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(answer, default=str) + "\n")
            out.flush()
            if op == "stop":
                break
