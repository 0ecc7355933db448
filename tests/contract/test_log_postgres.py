"""The contract (``test_log.py``) run against the PostgreSQL log, on a private server
(``tests/helpers/pg.py``; the tests skip, saying why, where PostgreSQL is not installed).

Each log is a fresh database (``create_schema`` makes its tables); the hooks reach the stored
lines with SQL on the tables the log keeps: ``lifecycle_commits`` (one stored line per row,
in order of ``n``) and ``lifecycle_aside`` (the torn tails moved aside, in order of ``id``).
A damaged log is stored with ``seq``/``prev``/``hash`` NULL on every row: those columns are
copies for people, the log must judge the ``line`` bytes alone. The rival writer is a real
process: the advisory lock must exclude writers across sessions.
"""

from __future__ import annotations

import contextlib
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from events.postgres import PostgresLog
from lifecycle.errors import LogCorrupt
from tests.contract.test_log import LogContract
from tests.helpers.pg import PrivateServer, dbname

OTHER_WRITER = """
import sys
from events.port import Draft
from events.postgres import PostgresLog
from lifecycle.errors import LogCorrupt
draft = Draft("2026-01-01T00:00:00.000000Z", "other@host", "reject", None,
              [{"type": "rejected", "model_id": "convnext_v1.0.99", "reason": "other"}])
log = PostgresLog(sys.argv[1])
with log.writing():
    n = len(list(log.read()))
    print("held", flush=True)
    sys.stdin.readline()
    log.append(draft, n)
log.close()
"""

OPEN_HANDLES = 16  # past this many, idle handles are closed (each reconnects when used again)


class TestPostgresLog(LogContract[PostgresLog]):
    @pytest.fixture(autouse=True)
    def _server(self, pg_server: PrivateServer) -> Iterator[None]:
        """Every log a test makes, closed (and its database dropped) at its end."""
        self.server = pg_server
        self.handles: list[PostgresLog] = []
        self.databases: list[str] = []  # the test's database, then the schemas of further logs
        self.others: list[subprocess.Popen[str]] = []
        self.sql: tuple[str, psycopg.Connection[Any]] | None = None
        try:
            yield
        finally:
            for other in self.others:
                if other.poll() is None:
                    other.kill()
                    other.wait()
            for handle in self.handles:
                handle.close()
            if self.sql is not None:
                self.sql[1].close()
            if self.databases:
                self.server.drop_database(self.databases[0])

    def track(self, log: PostgresLog) -> PostgresLog:
        """Keep the handle to close it at the end; past ``OPEN_HANDLES``, close the idle ones
        (not holding the writer lock) so loops that open hundreds stay under max_connections."""
        if len(self.handles) >= OPEN_HANDLES:
            for handle in self.handles:
                if not handle._held:
                    handle.close()
        self.handles.append(log)
        return log

    def execute(self, log: PostgresLog | str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """One statement on the log's (or url's) database, on this test's own connection (one
        at a time: a new url closes the last one)."""
        url = log if isinstance(log, str) else log.url
        if self.sql is None or self.sql[0] != url:
            if self.sql is not None:
                self.sql[1].close()
            self.sql = (url, psycopg.connect(url, autocommit=True))
        cursor = self.sql[1].execute(sql.encode(), params)
        return cursor.fetchall() if cursor.description else []

    # -- the hooks -------------------------------------------------------------------

    def new_log(self, tmp_path: Path) -> PostgresLog:
        """The test's first log: a fresh database. Further ones (the torn-tail test makes one
        per byte of a line, hundreds): a fresh schema in that database, named by the url's
        search_path; a database each would cost a minute (CREATE and DROP DATABASE with fsync).
        They share the database's writer lock, so a test must not write two of them at once."""
        if not self.databases:
            url = self.server.create_database()
            self.databases.append(dbname(url))
        else:
            url = self.server.url(self.databases[0])
            schema = f"log{len(self.databases)}"
            self.databases.append(schema)
            self.execute(url, f"CREATE SCHEMA {schema}")
            url += f"&options=-c%20search_path%3D{schema}"
        log = self.track(PostgresLog(url))
        log.create_schema()
        where = self.execute(log, "SELECT to_regclass('lifecycle_commits')::text, current_schema()")
        assert where == [("lifecycle_commits", "public" if len(self.databases) == 1 else schema)], where
        return log

    def reopen(self, log: PostgresLog) -> PostgresLog:
        return self.track(log.reopen())

    def raw_lines(self, log: PostgresLog) -> list[bytes]:
        return [bytes(line) for (line,) in self.execute(log, "SELECT line FROM lifecycle_commits ORDER BY n")]

    def set_raw_lines(self, log: PostgresLog, lines: list[bytes]) -> None:
        assert self.sql is None or self.sql[1].info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        self.execute(log, "BEGIN")
        try:
            self.execute(log, "DELETE FROM lifecycle_commits")
            for n, line in enumerate(lines, start=1):
                self.execute(log, "INSERT INTO lifecycle_commits (n, line) VALUES (%s, %s)", n, line)
            self.execute(log, "COMMIT")
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                self.execute(log, "ROLLBACK")
            raise

    def moved_aside(self, log: PostgresLog) -> list[bytes]:
        return [bytes(line) for (line,) in self.execute(log, "SELECT line FROM lifecycle_aside ORDER BY id")]

    def start_other_writer(self, log: PostgresLog) -> Callable[[], None]:
        """A second process, with its own session: the advisory lock must exclude it."""
        other = subprocess.Popen([sys.executable, "-c", OTHER_WRITER, log.url], cwd=Path(__file__).parents[2],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.others.append(other)
        assert other.stdin is not None and other.stdout is not None
        if not select.select([other.stdout], [], [], 30)[0] or other.stdout.readline() != "held\n":
            other.kill()
            pytest.fail("the other writer never got the lock")

        def finish() -> None:
            assert other.stdin is not None
            other.stdin.write("go\n")
            other.stdin.close()
            assert other.wait(30) == 0

        return finish


# -- PostgreSQL only -------------------------------------------------------------------

def test_the_private_server_runs_with_fsync_and_no_tcp(pg_server: PrivateServer, pg_url: str) -> None:
    query = ("SELECT name, setting FROM pg_settings "
             "WHERE name IN ('fsync', 'listen_addresses', 'synchronous_commit')")
    with psycopg.connect(pg_url) as conn:
        settings: dict[str, str] = dict(conn.execute(query).fetchall())
        assert conn.execute("SELECT current_database()").fetchone() == (dbname(pg_url),)
    assert settings == {"fsync": "on", "listen_addresses": "", "synchronous_commit": "on"}
    assert pg_server.started_in is not None and pg_server.started_in < 30


def test_commits_survive_a_server_crash(pg_server: PrivateServer, pg_url: str) -> None:
    """``restart("immediate")`` kills the server without a checkpoint: what an append
    acknowledged is there after crash recovery."""
    from tests.contract.test_log import append, seqs

    log = PostgresLog(pg_url)
    try:
        log.create_schema()
        written = [append(log, n, n) for n in range(3)]
        pg_server.restart("immediate")
        fresh = log.reopen()
        try:
            assert list(fresh.read()) == written
        finally:
            fresh.close()
        append(log, 3, 3)  # its connection died with the server: outside writing it reconnects
        assert seqs(log.read()) == [1, 2, 3, 4]
    finally:
        log.close()


def test_a_killed_writer_lets_go_of_the_lock(pg_url: str) -> None:
    """The lock is the writer's session's: it ends with the process, however that ends."""
    from tests.contract.test_log import append, seqs

    log = PostgresLog(pg_url)
    try:
        log.create_schema()
        other = subprocess.Popen([sys.executable, "-c", OTHER_WRITER, pg_url], cwd=Path(__file__).parents[2],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout is not None and select.select([other.stdout], [], [], 30)[0]
            assert other.stdout.readline() == "held\n"
        finally:
            other.kill()
            other.wait()
        append(log, 1, 0)
        assert seqs(log.read()) == [1]
    finally:
        log.close()


def test_rows_renumbered_by_hand_never_take_an_append_out_of_order(pg_url: str) -> None:
    """``n`` orders the lines: a writer must not put a commit where a reader will not find it
    next (rows numbered 10, 20, 30, 40: an append at n = 5 would read first). Refusing the
    log, or appending after the last row, are both fine."""
    from tests.contract.test_log import append, seqs

    log = PostgresLog(pg_url)
    try:
        log.create_schema()
        for n in range(4):
            append(log, n, n)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE lifecycle_commits SET n = n * 10")
        try:
            append(log.reopen(), 4, 4)
        except LogCorrupt:
            return
        fresh = log.reopen()
        try:
            assert seqs(fresh.read()) == [1, 2, 3, 4, 5]
        finally:
            fresh.close()
    finally:
        log.close()
