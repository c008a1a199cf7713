"""Execute throughput: hello-world through uvicorn at 32 connections, next to the physical floor, on
SQLite and PostgreSQL.

    .venv-test/bin/python bench/execute_throughput.py [--seconds 10] [--connections 32] [--rounds 3]
        [--databases sqlite,postgresql] [--rate-limits off,database,redis] [--modes sync,async]

Needs `wrk` (Debian package `wrk`) as the load generator. Every server runs under the same uvicorn
settings (one worker, uvloop, httptools, no access log) on 127.0.0.1. The floor is `floor_app.py`: a
bare Starlette app that parses the same body and does one autocommit INSERT per request with asyncpg
(PostgreSQL) or aiosqlite in WAL with `synchronous=NORMAL` (SQLite); none of the project's code.

All servers of one database are started together and loaded one after another, round after round
(floor, runner in each rate-limit mode, floor, ...), so a passing disturbance of the shared machine
hits every target alike; medians of the rounds are printed. Server CPU per request is read from
`/proc/<pid>/stat` over each load.

Rate-limit modes of the runner: `off` (RATE_LIMIT_ENABLED=false: the execute path itself),
`database` (the default counter) and `redis` (REDIS_URL set). The limit is raised so that no request
is refused. `no-metrics` is `off` with METRICS_ENABLED=false: `--rate-limits off,no-metrics` prints what
the metrics cost (`off` against `no-metrics`, paired by round).

`--modes sync,async` also loads every runner with `Prefer: respond-async` (async submit: 202 with the
run's URLs, the run going on in a task of its own), in turn with the sync loads of the same server in
every round, and prints async against sync (target >= 0.9x), then how the runs ended: the count of
execution rows by status, sync and detached apart (a detached run has an event log, in its row or in
chunks), once every run has finished.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import psycopg

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_DATABASE = "clara_bench"
HELLO_WORLD = {
    "nodes": [
        {"id": "input-1", "type": "input", "data": {"label": "Name"}},
        {"id": "output-1", "type": "output", "data": {"outputLabel": "Greeting"}},
    ],
    "connections": [{"source": "input-1", "target": "output-1", "sourceHandle": "output", "targetHandle": "input"}],
}
BODY = json.dumps({"name": "Alice"})
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
RATE_LIMIT_MODES: dict[str, dict[str, str]] = {
    "off": {"RATE_LIMIT_ENABLED": "false"},
    "database": {"RATE_LIMIT_MAX_REQUESTS": "1000000000"},
    "redis": {"RATE_LIMIT_MAX_REQUESTS": "1000000000", "REDIS_URL": REDIS_URL},
    "no-metrics": {"RATE_LIMIT_ENABLED": "false", "METRICS_ENABLED": "false"},
}
TARGETS = {
    ("postgresql", "off"): (0.75, 2.0),
    ("postgresql", "database"): (0.6, None),
    ("postgresql", "redis"): (0.7, None),
    ("sqlite", "database"): (0.6, None),
}
"""(minimum throughput ratio, maximum p99 ratio) the issue sets, by database and rate-limit mode."""
ASYNC_TARGET = 0.9
"""Minimum async-submit throughput as a share of sync execute's on the same server."""
RESPOND_ASYNC = {"Prefer": "respond-async"}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    cpu_ms_per_request: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def runner_server(env: dict[str, str], port: int) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """The runner as `clara-runner serve` starts it (one worker, its own HTTP protocol, uvloop)."""
    command = [sys.executable, "-m", "clara_runner.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return server_process(command, {**env, "WEB_CONCURRENCY": "1"}, port)


def quiet_sqlite_runner(folder: str, **settings: str) -> AbstractContextManager[tuple[subprocess.Popen[bytes], str]]:
    """(the server process, its base URL): a runner on a fresh SQLite database in `folder`, rate limit
    off, for benchmarks that load it with something other than hello-world; `settings` are more
    environment variables for it."""
    return quiet_runner(folder, f"sqlite:///{folder}/runner.db", **settings)


@contextmanager
def quiet_runner(folder: str, database_url: str, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`quiet_sqlite_runner` on the (fresh) database at `database_url`, e.g. one of `database_urls`."""
    env = {
        "DATABASE_URL": database_url,
        "CLARA_DATA_DIR": folder,
        "CLARA_SECRET_KEY": "bench",
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_ENABLED": "false",
        **settings,
    }
    from clara_runner.store.migrate import upgrade

    upgrade(database_url)
    port = free_port()
    with runner_server(env, port) as process:
        yield process, f"http://127.0.0.1:{port}"


def uvicorn_server(target: str, env: dict[str, str], port: int) -> AbstractContextManager[subprocess.Popen[bytes]]:
    command = [
        *(sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
    ]
    return server_process(command, env, port)


@contextmanager
def server_process(command: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env={**os.environ, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx2.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{command} did not start") from None
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait()


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int, pid: int) -> Measured:
    header_lines = "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in headers.items())
    script = f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\n{header_lines}'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        subprocess.run(
            ["wrk", "-t1", f"-c{connections}", "-d2s", "-s", handle.name, url], capture_output=True, check=True
        )
        cpu_before = cpu_seconds(pid)
        result = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu_used = cpu_seconds(pid) - cpu_before
    finally:
        os.unlink(handle.name)
    return parse_wrk(result.stdout, cpu_used)


def parse_wrk(output: str, cpu_used: float) -> Measured:
    def latency(percentile: str) -> float:
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, flags=re.MULTILINE)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    assert rate, output
    assert total, output
    failures = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return Measured(
        requests_per_second=float(rate.group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        non_2xx=int(failures.group(1)) if failures else 0,
        cpu_ms_per_request=cpu_used * 1000 / max(1, int(total.group(1))),
    )


def database_urls(kind: str, folder: Path) -> tuple[str, str]:
    """(URL for the runners, URL for the floor): a fresh database each."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'runner.db'}", f"sqlite:///{folder / 'floor.db'}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        for name in (f"{BENCH_DATABASE}_runner", f"{BENCH_DATABASE}_floor"):
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{BENCH_DATABASE}_runner", f"{base}/{BENCH_DATABASE}_floor"


@dataclass
class Target:
    """A server under test: its process, the URL to load and the headers to send."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    headers: dict[str, str]
    rate_limit: str | None = None
    """The runner's rate-limit mode (None: the floor)."""
    run_mode: str = "sync"

    def submitting_async(self) -> Target:
        """The same server and URL, loaded with `Prefer: respond-async`."""
        headers = {**self.headers, **RESPOND_ASYNC}
        return Target(f"async (rl {self.rate_limit})", self.process, self.url, headers, self.rate_limit, "async")

    def load(self, seconds: int, connections: int) -> Measured:
        return wrk(self.url, self.headers, seconds, connections, self.process.pid)


def start_runner(stack: ExitStack, url: str, folder: Path, rate_limit: str) -> Target:
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "CLARA_DATA_DIR": str(folder),
        "CLARA_SECRET_KEY": "bench",
        "LOG_LEVEL": "warning",
        **RATE_LIMIT_MODES[rate_limit],
    }
    server = stack.enter_context(runner_server(env, port))
    deploy_url = f"http://127.0.0.1:{port}/api/deploy"
    body = {"name": f"Hello World {rate_limit}", "workflow": HELLO_WORLD}
    deployment = httpx2.post(deploy_url, json=body).json()["deployment"]
    headers = {"Authorization": f"Bearer {deployment['apiKey']}", "Content-Type": "application/json"}
    return Target(f"runner (rl {rate_limit})", server, deployment["endpoint"], headers, rate_limit)


def start_floor(stack: ExitStack, url: str) -> Target:
    port = free_port()
    server = stack.enter_context(uvicorn_server("bench.floor_app:create_floor_app", {"DATABASE_URL": url}, port))
    return Target("floor", server, f"http://127.0.0.1:{port}/floor", {"Content-Type": "application/json"})


def median(runs: list[Measured]) -> Measured:
    return Measured(
        requests_per_second=statistics.median(run.requests_per_second for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        non_2xx=sum(run.non_2xx for run in runs),
        cpu_ms_per_request=statistics.median(run.cpu_ms_per_request for run in runs),
    )


@dataclass
class Results:
    """Every load of one database, by target, and how the runner's runs ended."""

    targets: list[Target]
    runs: dict[str, list[Measured]]
    endings: list[tuple[str, str, str, int]]
    """(deployment name, `sync` or `detached`, status, rows)."""


def measure(kind: str, rate_limits: list[str], run_modes: list[str], args: argparse.Namespace) -> Results:
    """Every target of one database, loaded in turn for `rounds` rounds."""
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        runner_url, floor_url = database_urls(kind, Path(folder))
        from clara_runner.store.migrate import upgrade

        upgrade(runner_url)
        targets = [start_floor(stack, floor_url)]
        for rate_limit in rate_limits:
            runner = start_runner(stack, runner_url, Path(folder), rate_limit)
            targets += [runner if run_mode == "sync" else runner.submitting_async() for run_mode in run_modes]
        runs: dict[str, list[Measured]] = {target.name: [] for target in targets}
        for _ in range(args.rounds):
            for target in targets:
                runs[target.name].append(target.load(args.seconds, args.connections))
        endings = run_endings(runner_url) if "async" in run_modes else []
    return Results(targets, runs, endings)


def run_endings(database_url: str, seconds: float = 60) -> list[tuple[str, str, str, int]]:
    """(deployment name, `sync` or `detached`, status, rows) of every execution, once none is still
    queued or running (or after `seconds`): async runs go on after their 202."""
    from sqlalchemy import create_engine, text

    from clara_runner.store.database import sync_database_url

    engine = create_engine(sync_database_url(database_url))
    unfinished = text("SELECT count(*) FROM executions WHERE status IN ('queued', 'running')")
    endings = text(
        "SELECT d.name, CASE WHEN e.event_log IS NOT NULL "
        "OR EXISTS (SELECT 1 FROM execution_events v WHERE v.execution_id = e.id) "
        "THEN 'detached' ELSE 'sync' END AS kind, e.status, count(*) FROM executions e "
        "JOIN deployments d ON d.id = e.deployment_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    try:
        deadline = time.monotonic() + seconds
        with engine.connect() as conn:
            while conn.execute(unfinished).scalar_one() and time.monotonic() < deadline:
                conn.rollback()
                time.sleep(0.5)
            return [(name, kind, status, count) for name, kind, status, count in conn.execute(endings)]
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every target; medians are printed")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rate-limits", default="off,database,redis", help="runner rate-limit modes to measure")
    parser.add_argument("--modes", default="sync", help="execute modes to load each runner with: sync, async")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    modes = args.rate_limits.split(",")
    run_modes = args.modes.split(",")
    if not set(run_modes) <= {"sync", "async"}:
        sys.exit("--modes takes sync and/or async")
    print(
        f"hello-world execute, {args.connections} connections, {args.seconds} s per load, 1 uvicorn worker each; "
        f"median of {args.rounds} rounds, targets loaded in turn within each round"
    )
    header = f"{'database':<11} {'server':<18} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/req':>10}"
    print(f"{header} {'non-2xx':>7} {'ratio':>6} {'spread':>11} {'p99 x':>6}  target")
    results: dict[str, Results] = {}
    for kind in args.databases.split(","):
        rate_limits = modes if kind == "postgresql" else [m for m in modes if m != "redis"]
        results[kind] = result = measure(kind, rate_limits, run_modes, args)
        runs = result.runs
        floor = median(runs["floor"])
        for target_of in result.targets:
            name, measured_runs = target_of.name, runs[target_of.name]
            measured = median(measured_runs)
            ratios = [run.requests_per_second / floor.requests_per_second for run in measured_runs]
            target = TARGETS.get((kind, target_of.rate_limit or "")) if target_of.run_mode == "sync" else None
            wanted = "" if target is None else f">= {target[0]}" + (f", p99 <= {target[1]}x" if target[1] else "")
            print(
                f"{kind:<11} {name:<18} {measured.requests_per_second:>7.0f} {measured.p50_ms:>7.2f} "
                f"{measured.p99_ms:>7.2f} {measured.cpu_ms_per_request:>10.3f} {measured.non_2xx:>7} "
                f"{measured.requests_per_second / floor.requests_per_second:>6.2f} "
                f"{min(ratios):>5.2f}-{max(ratios):<5.2f} {measured.p99_ms / floor.p99_ms:>6.2f}  {wanted}"
            )
    if "async" in run_modes and "sync" in run_modes:
        print_async_against_sync(results)
    if {"off", "no-metrics"} <= set(modes):
        print_metrics_cost(results)


def print_metrics_cost(results: dict[str, Results]) -> None:
    """The runner with metrics (`off`) against the same runner without (`no-metrics`), paired by round."""
    print("\nmetrics on against metrics off (rate limits off both), same rounds")
    print(f"{'database':<11} {'req/s on/off':>12} {'spread':>11} {'cpu on/off':>10}")
    for kind, result in results.items():
        on, off = result.runs["runner (rl off)"], result.runs["runner (rl no-metrics)"]
        ratios = [a.requests_per_second / b.requests_per_second for a, b in zip(on, off, strict=True)]
        cpu = median(on).cpu_ms_per_request / median(off).cpu_ms_per_request
        print(f"{kind:<11} {statistics.median(ratios):>12.3f} {min(ratios):>5.2f}-{max(ratios):<5.2f} {cpu:>10.3f}")


def print_async_against_sync(results: dict[str, Results]) -> None:
    """Async submit next to sync execute on the same server (ratios paired by round), then the runs' endings."""
    print(f"\nasync submit (Prefer: respond-async) against sync execute, same server; target >= {ASYNC_TARGET}x")
    print(
        f"{'database':<11} {'rate limit':<10} {'async/sync':>10} {'spread':>11} {'p50 x':>6} {'p99 x':>6} {'cpu x':>6}"
    )
    for kind, result in results.items():
        for target in result.targets:
            if target.run_mode != "async":
                continue
            async_runs, sync_runs = result.runs[target.name], result.runs[f"runner (rl {target.rate_limit})"]
            ratios = [a.requests_per_second / s.requests_per_second for a, s in zip(async_runs, sync_runs, strict=True)]
            async_median, sync_median = median(async_runs), median(sync_runs)
            print(
                f"{kind:<11} {target.rate_limit or '':<10} {statistics.median(ratios):>10.2f} "
                f"{min(ratios):>5.2f}-{max(ratios):<5.2f} {async_median.p50_ms / sync_median.p50_ms:>6.2f} "
                f"{async_median.p99_ms / sync_median.p99_ms:>6.2f} "
                f"{async_median.cpu_ms_per_request / sync_median.cpu_ms_per_request:>6.2f}"
            )
    print("\nhow the runs ended (execution rows once none is queued or running)")
    for kind, result in results.items():
        for name, run_kind, status, count in result.endings:
            print(f"{kind:<11} {name:<24} {run_kind:<9} {status:<12} {count:>9,}")


if __name__ == "__main__":
    main()
