"""The PostgreSQL databases the tests empty: only ones the tests created themselves.

Every test starts from empty tables, so the suite deletes every row of the database it runs on. That is
only harmless on a database made for it: this module creates such databases, marks them with a comment,
and refuses to hand out an existing database without that mark. `scripts/test` calls it from the shell
(`python -m tests.postgres_databases create|drop URL`); the fixtures call it for each pytest-xdist worker,
which needs a database of its own, and for the servers that the tests of a module share.
"""

from __future__ import annotations

import os
import re
import sys

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

MARK = "clara-runner tests: created by the test suite, emptied by every test"


class NotATestDatabase(RuntimeError):
    """The database exists but the tests did not create it: emptying it could destroy someone's data."""


def ensure(url: str) -> str:
    """Create the database `url` names (on its server, with its credentials) unless the tests made it before.

    Returns `url`. Raises NotATestDatabase when a database of that name exists without the tests' mark."""
    name = _name(url)
    with _maintenance(url) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if row is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARK)))
        elif row[0] != MARK:
            raise NotATestDatabase(
                f"database {name!r} exists and was not created by the tests; they empty every table of the "
                "database they run on, so they refuse to use it (name another with CLARA_TEST_POSTGRES_DB)"
            )
    return url


def drop(url: str) -> list[str]:
    """Drop the database `url` names and the siblings the fixtures derive from it (`NAME_gw0`,
    `NAME_servers`, `NAME_gw0_servers`, ...), those that carry the tests' mark. Returns the names dropped."""
    name = _name(url)
    ours = re.compile(re.escape(name) + r"(_gw\d+)?(_servers)?")
    with _maintenance(url) as conn:
        marked = conn.execute(
            "SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') = %s", (MARK,)
        )
        names = [str(found) for (found,) in marked if ours.fullmatch(str(found))]
        for found in names:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(found)))
    return names


def for_worker(url: str) -> str:
    """The database of one pytest-xdist worker (`NAME_gw0`, ...): workers running side by side must not
    empty each other's tables. Without xdist, `url` itself."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return sibling(url, worker) if worker else url


def sibling(url: str, suffix: str) -> str:
    """The database `NAME_suffix` on the same server as `url`, which names NAME."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(hide_password=False)


def _name(url: str) -> str:
    name = make_url(url).database
    if not name:
        raise ValueError(f"{url!r} names no database")
    return name


def _maintenance(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the server's `postgres` database (CREATE and DROP DATABASE cannot run in a
    transaction, nor on the database they name)."""
    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    return psycopg.connect(parsed.render_as_string(hide_password=False), autocommit=True, connect_timeout=10)


def main(argv: list[str]) -> int:
    """`create URL` or `drop URL`, for scripts/test."""
    match argv:
        case ["create", url]:
            try:
                ensure(url)
            except NotATestDatabase as refused:
                sys.stderr.write(f"{refused}\n")
                return 1
        case ["drop", url]:
            for name in drop(url):
                sys.stdout.write(f"dropped database {name}\n")
        case _:
            sys.stderr.write("usage: python -m tests.postgres_databases create|drop URL\n")
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
