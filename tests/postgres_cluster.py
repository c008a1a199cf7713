"""A private, throwaway PostgreSQL cluster for fault tests.

Fault tests stop, crash and restart the database under a running server. They cannot do that to a
shared database (other tests use it, and it may be the system's), so each gets its own cluster: a
fresh data directory, a free TCP port on 127.0.0.1 and a unix socket in a private directory.
Linux only (it reads /proc).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

StopMode = Literal["smart", "fast", "immediate"]


def find_bindir() -> Path:
    """The newest installed server binaries: a fault test needs initdb, pg_ctl and postgres, not just psql."""
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    if candidates:
        return max(candidates, key=lambda bindir: int(bindir.parent.name))
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = Path(
            subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        )
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/<version>/bin "
        "or via `pg_config --bindir`; install the postgresql server package to run the fault tests"
    )


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1; never 5432, which the system cluster may own."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port != 5432:
            return port


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _alive(pid: int) -> bool:
    """Running, not a zombie: nothing reaps orphans in some containers, and a zombie still answers kill(pid, 0)."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


class PrivateCluster:
    """initdb + pg_ctl in a temporary directory, with stop/start/kill for fault tests.

    Use as a context manager; `url` is ready inside the `with`. Every process it signals is checked
    to be a server of its own data directory, so it never touches the system cluster.
    """

    def __init__(self, start_timeout: float = 30.0) -> None:
        self.start_timeout = start_timeout
        self.bindir = find_bindir()
        self.port = 0
        self._base: Path | None = None
        self._pid: int | None = None
        # initdb refuses to run as root; the tests do run as root, so the cluster belongs to `postgres`.
        self._account: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._account = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root, and there is no `postgres` OS user to own the cluster") from exc

    @property
    def base(self) -> Path:
        """The private directory holding the data directory, the socket directory and the server log."""
        if self._base is None:
            raise RuntimeError("the cluster is used outside its `with` block")
        return self._base

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        """Private, so the socket and its lock file never meet the system cluster's (/var/run/postgresql)."""
        return self.base / "socket"

    @property
    def log_path(self) -> Path:
        return self.base / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def __enter__(self) -> Self:
        self._base = Path(tempfile.mkdtemp(prefix="clara-pg-")).resolve()  # resolved: compared with /proc/<pid>/cwd
        try:
            self.socket_dir.mkdir()
            if self._account is not None:
                for path in (self.base, self.socket_dir):
                    os.chown(path, self._account.pw_uid, self._account.pw_gid)
            initdb = [
                "initdb",
                f"--pgdata={self.data_dir}",
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ]
            self._check(self._run(*initdb, timeout=120), "initdb failed")
            self.port = free_port()
            with (self.data_dir / "postgresql.conf").open("a") as conf:  # appended settings win
                conf.write(
                    "\n# PrivateCluster (tests/postgres_cluster.py)\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"port = {self.port}\n"
                    f"unix_socket_directories = '{self.socket_dir}'\n"
                    "max_connections = 100\n"
                    "fsync = on\n"
                    "synchronous_commit = on\n"
                    "timezone = 'UTC'\n"
                )
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server without a clean shutdown (the data is thrown away anyway) and remove the directory."""
        if self._base is None:
            return
        try:
            if self.is_running():
                try:
                    self.stop("immediate")
                except (RuntimeError, subprocess.TimeoutExpired):
                    self.kill()
        finally:
            shutil.rmtree(self._base)
            self._base = None
            self._pid = None

    def is_running(self) -> bool:
        """Whether the postmaster this cluster started is still alive (a crash or kill() makes it False)."""
        return self._pid is not None and self._ours(self._pid)

    def start(self) -> None:
        """Start (or restart after stop/kill, with crash recovery) and return once it accepts connections.

        `pg_ctl -w` waits until the postmaster reports "ready", which it does only after recovery.
        """
        if self.is_running():
            raise RuntimeError("the cluster is already running")
        command = ["pg_ctl", "start", "-w", "-t", str(int(self.start_timeout)), "-D", str(self.data_dir)]
        try:
            result = self._run(*command, "-l", str(self.log_path), timeout=self.start_timeout + 10)
        except subprocess.TimeoutExpired:
            self._abort_start()
            raise RuntimeError(f"pg_ctl start hung for {self.start_timeout + 10:.0f}s\n{self.server_log()}") from None
        if result.returncode != 0:
            self._abort_start()
        self._check(result, "pg_ctl start failed")
        self._pid = self._lockfile_pid()
        if self._pid is None or not self._ours(self._pid):
            raise RuntimeError(f"the server started but its postmaster.pid is unusable\n{self.server_log()}")

    def stop(self, mode: StopMode = "fast") -> None:
        """Shut down with pg_ctl and wait for it: `fast` aborts open transactions, as on a restart in production."""
        result = self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", mode, "-D", str(self.data_dir), timeout=40)
        self._check(result, f"pg_ctl stop -m {mode} failed")
        self._pid = None

    def kill(self) -> None:
        """Crash the server: SIGKILL the postmaster and every process it forked, then wait until they are dead.

        Killing the children too (the postmaster is frozen first so it cannot fork more) makes the crash
        instant and complete: clients see their connections drop at once, and orphaned backends cannot
        keep the old shared memory attached, which would make the next start() refuse to run.
        """
        if self._pid is None or not self._ours(self._pid):
            raise RuntimeError("the cluster is not running")
        pid, self._pid = self._pid, None
        os.kill(pid, signal.SIGSTOP)
        victims = [pid, *self._children(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(victim) for victim in victims):
            if time.monotonic() > deadline:
                raise RuntimeError(f"server processes {victims} survived SIGKILL for 10s")
            time.sleep(0.01)
        if _proc_stat(pid) is not None:
            # An unreaped zombie (PID 1 in some containers does not reap) still answers kill(pid, 0), so the
            # next postmaster would take the stale lock files for a live server. A reaped one is handled by
            # postgres itself, so then the files stay as a real crash leaves them.
            for lock in (self.data_dir / "postmaster.pid", self.socket_dir / f".s.PGSQL.{self.port}.lock"):
                lock.unlink(missing_ok=True)

    def server_log(self) -> str:
        """Everything the server logged, across restarts: failures quote it, and tests can look for recovery."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"

    def _run(self, program: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run one of the PostgreSQL binaries as the cluster's owner, with no PG* variables from our environment."""
        account = self._account
        return subprocess.run(
            [str(self.bindir / program), *args],
            cwd=self.base,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} (exit {result.returncode})\n{result.stdout}{result.stderr}\n--- server log ---\n"
                f"{self.server_log()}"
            )

    def _abort_start(self) -> None:
        """A start that failed or timed out may have left a postmaster behind; kill it, but only if it is ours."""
        pid = self._lockfile_pid()
        if pid is not None and self._ours(pid):
            self._pid = pid
            self.kill()

    def _lockfile_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _ours(self, pid: int) -> bool:
        """Alive and working in our data directory: a stale lock file may name a pid since reused by anyone."""
        try:
            return _alive(pid) and Path(os.readlink(f"/proc/{pid}/cwd")) == self.data_dir
        except OSError:
            return False

    @staticmethod
    def _children(pid: int) -> list[int]:
        children: list[int] = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                fields = _proc_stat(int(entry.name))
                if fields is not None and fields[1] == str(pid):
                    children.append(int(entry.name))
        return children
