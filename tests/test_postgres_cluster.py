"""The private PostgreSQL cluster behind the fault tests: it must really go down and really come back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.postgres_cluster import PrivateCluster


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with PrivateCluster() as private:
        yield private


def rows(cluster: PrivateCluster) -> list[str]:
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        return [row[0] for row in conn.execute("SELECT note FROM notes ORDER BY id")]


def write(cluster: PrivateCluster, *notes: str) -> None:
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, note text NOT NULL)")
        for note in notes:
            conn.execute("INSERT INTO notes (note) VALUES (%s)", (note,))


def assert_refused(cluster: PrivateCluster) -> None:
    """Down means the port is closed: a client fails at once instead of waiting out its timeout."""
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="Connection refused"):
        psycopg.connect(cluster.url, connect_timeout=5)
    assert time.monotonic() - started < 1


def test_accepts_connections_and_writes(cluster: PrivateCluster) -> None:
    assert cluster.port not in (0, 5432)
    assert cluster.url == f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
    write(cluster, "hello")
    assert rows(cluster) == ["hello"]
    with psycopg.connect(cluster.url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == (str(cluster.socket_dir),)
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


def test_stop_refuses_connections_and_start_keeps_the_data(cluster: PrivateCluster) -> None:
    write(cluster, "before stop")
    cluster.stop()
    assert not cluster.is_running()
    assert_refused(cluster)
    cluster.start()
    assert cluster.is_running()
    assert rows(cluster) == ["before stop"]


def test_kill_then_start_recovers_committed_rows_only(cluster: PrivateCluster) -> None:
    write(cluster, "committed 1", "committed 2")
    with psycopg.connect(cluster.url) as open_transaction:
        open_transaction.execute("INSERT INTO notes (note) VALUES ('never committed')")
        cluster.kill()
        assert not cluster.is_running()
        with pytest.raises(psycopg.OperationalError):  # the crash reaches connected clients too
            open_transaction.execute("SELECT 1")
    assert_refused(cluster)
    cluster.start()
    assert rows(cluster) == ["committed 1", "committed 2"]
    assert "database system was interrupted" in cluster.server_log()  # it went through crash recovery


def test_exit_stops_the_server_and_removes_the_directory() -> None:
    with PrivateCluster() as cluster:
        base, url = cluster.base, cluster.url
        write(cluster, "gone soon")
    assert not base.exists()
    assert not cluster.is_running()
    with pytest.raises(psycopg.OperationalError, match="Connection refused"):
        psycopg.connect(url, connect_timeout=5)
