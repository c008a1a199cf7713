"""Execute throughput: hello-world through uvicorn at 32 connections, next to a floor, on SQLite and PostgreSQL.

    .venv/bin/python bench/execute_throughput.py [--seconds 10] [--connections 32] [--databases sqlite,postgresql]
        [--rate-limits off,database,redis]

Needs `wrk` (Debian package `wrk`) as the load generator. Both servers run under the same uvicorn
settings (one worker, uvloop, httptools, no access log) on 127.0.0.1. The floor is `floor_app.py`:
parse the same body, one INSERT into the same database. Prints req/s, p50 and p99 for both and the ratio.

The runner is measured once per rate-limit mode: `off` (RATE_LIMIT_ENABLED=false: the execute path
itself), `database` (the default counter: one more write transaction per request) and `redis`
(REDIS_URL set: the counter in Redis). The limit is raised so that no request is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
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
}


@dataclass(frozen=True)
class Measured:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_uvicorn(target: str, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env={**os.environ, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx2.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int) -> Measured:
    header_lines = "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in headers.items())
    script = f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\n{header_lines}'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    subprocess.run(["wrk", "-t1", f"-c{connections}", "-d2s", "-s", handle.name, url], capture_output=True, check=True)
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name, url],
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(handle.name)
    return parse_wrk(result.stdout)


def parse_wrk(output: str) -> Measured:
    def latency(percentile: str) -> float:
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, flags=re.MULTILINE)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rate, output
    failures = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return Measured(float(rate.group(1)), latency("50"), latency("99"), int(failures.group(1)) if failures else 0)


def database_urls(kind: str, folder: Path) -> tuple[str, str]:
    """(URL for the runner, URL for the floor): a fresh database each."""
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

    process: subprocess.Popen[bytes]
    url: str
    headers: dict[str, str]

    def load(self, seconds: int, connections: int) -> Measured:
        return wrk(self.url, self.headers, seconds, connections)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def start_runner(url: str, folder: Path, rate_limit: str) -> Target:
    from clara_runner.store.migrate import upgrade

    upgrade(url)
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "CLARA_DATA_DIR": str(folder),
        "CLARA_SECRET_KEY": "bench",
        "LOG_LEVEL": "warning",
        **RATE_LIMIT_MODES[rate_limit],
    }
    server = start_uvicorn("clara_runner.server.app:create_app_from_environment", env, port)
    deploy_url = f"http://127.0.0.1:{port}/api/deploy"
    deployment = httpx2.post(deploy_url, json={"name": "Hello World", "workflow": HELLO_WORLD}).json()["deployment"]
    headers = {"Authorization": f"Bearer {deployment['apiKey']}", "Content-Type": "application/json"}
    return Target(server, deployment["endpoint"], headers)


def start_floor(url: str) -> Target:
    port = free_port()
    server = start_uvicorn("bench.floor_app:create_floor_app", {"DATABASE_URL": url}, port)
    return Target(server, f"http://127.0.0.1:{port}/floor", {"Content-Type": "application/json"})


def median(runs: list[Measured]) -> Measured:
    return sorted(runs, key=lambda run: run.requests_per_second)[len(runs) // 2]


def measure(kind: str, modes: list[str], args: argparse.Namespace) -> dict[str, Measured]:
    """The floor and the runner without rate limits, alternated `rounds` times (medians kept, so a
    passing disturbance does not decide the ratio); then the runner once in each other rate-limit mode."""
    with tempfile.TemporaryDirectory() as folder:
        runner_url, floor_url = database_urls(kind, Path(folder))
        floor, runner = start_floor(floor_url), start_runner(runner_url, Path(folder), "off")
        floor_runs: list[Measured] = []
        runner_runs: list[Measured] = []
        try:
            for _ in range(args.rounds):
                floor_runs.append(floor.load(args.seconds, args.connections))
                runner_runs.append(runner.load(args.seconds, args.connections))
        finally:
            floor.stop()
            runner.stop()
        results = {"floor": median(floor_runs), "runner (rl off)": median(runner_runs)}
        for mode in modes:
            if mode == "off":
                continue
            target = start_runner(runner_url, Path(folder), mode)
            try:
                results[f"runner (rl {mode})"] = target.load(args.seconds, args.connections)
            finally:
                target.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternated floor/runner runs; medians are kept")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rate-limits", default="off,database,redis", help="runner rate-limit modes to measure")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    modes = args.rate_limits.split(",")
    print(
        f"hello-world execute, {args.connections} connections, {args.seconds} s per run, "
        f"1 uvicorn worker each; floor and runner (rl off): median of {args.rounds} alternated runs"
    )
    print(f"{'database':<11} {'server':<17} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'ratio':>6}")
    for kind in args.databases.split(","):
        results = measure(kind, modes, args)
        floor = results["floor"]
        for name, measured in results.items():
            ratio = measured.requests_per_second / floor.requests_per_second
            print(
                f"{kind:<11} {name:<17} {measured.requests_per_second:>9.0f} {measured.p50_ms:>8.2f} "
                f"{measured.p99_ms:>8.2f} {measured.non_2xx:>8} {ratio:>6.2f}"
            )
    print("target: runner (rl off) / floor >= 0.75 on PostgreSQL")


if __name__ == "__main__":
    main()
