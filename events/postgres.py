"""The event log in PostgreSQL (psycopg 3): one registry shared by several hosts.

Guarantees (the port's, as ``events.log.JsonlLog`` and ``events.memory.MemoryLog`` give
them; ``tests/contract`` runs the same suite against all three):
1. One row per line: ``lifecycle_commits(n, seq, prev, hash, line)`` holds the very bytes a
   JSONL line would hold, in order of ``n``; ``scan`` (the one reader) checks every line's
   sha256, ``seq`` and ``prev``, so an edit in the database is detected like a file edit.
   ``seq``/``prev``/``hash`` are copies for people querying the table; only ``line`` counts.
2. One writer at a time: ``writing`` holds a session advisory lock. An append is one
   transaction that inserts ``n = expected + 1`` under the primary key, so a writer that
   decided on an older state gets "changed meanwhile, retry", never an interleaving; the
   same transaction notifies ``lifecycle_commits`` (LISTEN/NOTIFY) with the new ``seq``.
3. A torn tail cannot come from an append (transactions), but one stored by hand is
   handled as in a file: moved aside to ``lifecycle_aside`` under the writer lock.
4. The schema is the project's: ``create_schema`` creates and versions it
   (``lifecycle_meta``: ``schema_version``, ``registry_id``); ``check`` refuses a database
   without it, of another schema version or of another registry, in one line.
5. A database that cannot be reached, or that drops the connection, is a ``LogUnreachable``
   (one line, exit 2); inside ``writing`` the command stops and nothing more is written.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from events.codec import GENESIS, decode, frame_hash
from events.log import check_prefix, classify, conflict_message, next_commit, scan
from events.port import Damage, Draft, Record, StaleAnchor, Tail
from lifecycle.errors import Conflict, LogCorrupt, LogUnreachable, UserError

SCHEMA_VERSION = "1"
CHANNEL = "lifecycle_commits"
_LOCK_KEY = 0x6C6966656379  # "lifecy": the writers' advisory lock
_START = Tail(0, GENESIS, 0)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lifecycle_meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lifecycle_commits (n bigint PRIMARY KEY CHECK (n >= 1), seq bigint, "
    "prev text, hash text, line bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lifecycle_aside (id bigserial PRIMARY KEY, line bytea NOT NULL, "
    "moved_at timestamptz NOT NULL DEFAULT now())",
)


def shown(url: str) -> str:
    """The URL without its password (for messages); never raises."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except Exception:  # a malformed URL: say so without echoing it (it may hold a password)
        return "postgresql://(an unparsable URL)"
    user, db = info.get("user") or "", info.get("dbname") or ""
    host = info.get("host") or "localhost"
    return f"postgresql://{user}@{host}/{db}" if user else f"postgresql://{host}/{db}"


class PostgresLog:
    """The port over one PostgreSQL database (one connection per handle)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._tail: Tail | None = None

    # -- connection ------------------------------------------------------------------
    def reopen(self) -> PostgresLog:
        return PostgresLog(self.url)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except Exception as exc:  # psycopg.Error, or a malformed URL (ProgrammingError, ValueError)
                why = _first_line(exc).replace(self.url, shown(self.url))
                if not isinstance(exc, psycopg.OperationalError):
                    why = "the URL cannot be parsed"
                raise LogUnreachable(f"cannot reach the PostgreSQL log at {shown(self.url)}: "
                                     f"{why}; check the URL, the server and the credentials") from None
        return self._conn

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; outside ``writing`` a dropped connection is retried once."""
        for attempt in range(2):
            try:
                cursor = self._connection().execute(sql.encode(), params)
                return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError as exc:
                self.close()
                if self._held or attempt:
                    raise LogUnreachable(f"lost the PostgreSQL log at {shown(self.url)} "
                                         f"({_first_line(exc)}); nothing more was written, retry") from None
            except psycopg.errors.UndefinedTable:
                raise LogUnreachable(f"{shown(self.url)} holds no lifecycle log; create it with "
                                     "'lifecycle init --log URL' or 'lifecycle log migrate --to URL'") from None
            except psycopg.Error as exc:  # privileges, constraints: one line, never a traceback
                raise LogUnreachable(f"the PostgreSQL log at {shown(self.url)} refused a statement "
                                     f"({_first_line(exc)}); check the role's privileges") from None
        raise AssertionError("unreachable")

    # -- schema ----------------------------------------------------------------------
    def create_schema(self) -> str:
        """Create the tables unless they exist (so a role that may only read and insert can
        join); returns the database's registry id."""
        found = self._query("SELECT to_regclass('lifecycle_meta') IS NOT NULL AND "
                            "to_regclass('lifecycle_commits') IS NOT NULL")
        if not found[0][0]:
            try:
                conn = self._connection()
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY + 1,))  # one creator at a time
                    for statement in _SCHEMA:
                        conn.execute(statement.encode())
                    conn.execute("INSERT INTO lifecycle_meta VALUES ('schema_version', %s), ('registry_id', %s) "
                                 "ON CONFLICT (key) DO NOTHING", (SCHEMA_VERSION, str(uuid.uuid4())))
            except psycopg.Error as exc:
                self.close()
                raise LogUnreachable(f"cannot create the lifecycle tables in {shown(self.url)} "
                                     f"({_first_line(exc)}); check the role's privileges") from None
        return self.check()

    def check(self, registry_id: str | None = None) -> str:
        """The database's registry id, after checking its schema version (and that it is
        ``registry_id``'s, when given)."""
        meta = dict(self._query("SELECT key, value FROM lifecycle_meta"))
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise UserError(f"{shown(self.url)} holds a lifecycle log of schema version "
                            f"{meta.get('schema_version')!r}; this lifecycle reads version {SCHEMA_VERSION}")
        found = str(meta.get("registry_id", ""))
        if registry_id is not None and found != registry_id:
            raise UserError(f"{shown(self.url)} holds another registry (id {found}); this root belongs to "
                            f"{registry_id}; check the URL in config/lifecycle.toml")
        return found

    def is_empty(self) -> bool:
        return not self._query("SELECT 1 FROM lifecycle_commits LIMIT 1")

    # -- reading ---------------------------------------------------------------------
    def _lines(self, after: int = 0, until: int | None = None) -> list[bytes]:
        """The stored lines after line ``after`` (up to ``until``), checked to be numbered
        ``after + 1, after + 2, ...``: rows renumbered or removed by hand are corruption."""
        bound = "" if until is None else " AND n <= %s"
        params = (after,) if until is None else (after, until)
        rows = self._query(f"SELECT n, line FROM lifecycle_commits WHERE n > %s{bound} ORDER BY n", params)
        for position, (n, _) in enumerate(rows, start=after + 1):
            if n != position:
                raise LogCorrupt(position, f"the row for line {position} is numbered {n} (rows renumbered "
                                           "or removed in the database)")
        return [bytes(row[1]) for row in rows]

    def read(self) -> Iterator[Record]:
        return self._read(None)

    def read_after(self, anchor: Tail, checked: bool = False) -> Iterator[Record]:
        return self._read(anchor, checked)

    def position(self) -> Tail | None:
        return self._tail

    def audit(self, found: list[Damage]) -> Iterator[Record]:
        lines = self._lines()
        problems: list[Damage] = []
        yield from scan(lines, problems, [_START])
        damage = classify(problems, lines[problems[0].line:] if problems else [])
        if damage is not None:
            found.append(damage)

    def lines(self) -> list[bytes]:
        """Every stored line, byte for byte (``lifecycle log export``)."""
        return self._lines()

    def _read(self, anchor: Tail | None, checked: bool = False) -> Iterator[Record]:
        start = anchor or _START
        prefix, lines = self._snapshot(anchor, checked)
        if anchor is not None and checked:
            check_prefix(prefix, anchor)
        if anchor is not None and anchor.seq:
            last = prefix[-1:] if prefix else []
            if not last or frame_hash(last[0]) != anchor.hash or decode(last[0]).get("seq") != anchor.seq:
                raise StaleAnchor(f"commit {anchor.seq} is not where or what the cache says")
        problems: list[Damage] = []
        tail = [start]
        yield from scan(lines, problems, tail)
        damage = classify(problems, lines[problems[0].line - start.seq:] if problems else [])
        if damage is not None and damage.framed:
            raise LogCorrupt(damage.line, damage.why)
        if damage is not None and self._held:
            self._move_aside(tail[0].seq)
        self._tail = tail[0]

    def _snapshot(self, anchor: Tail | None, checked: bool) -> tuple[list[bytes], list[bytes]]:
        """(the lines up to the anchor, or just its own line; the lines after it), read in one
        repeatable-read transaction, so a concurrent writer cannot slip between the two."""
        if anchor is None or not anchor.seq:
            return [], self._lines(0)
        first = 0 if checked else anchor.seq - 1
        if self._held:
            return self._lines(first, anchor.seq), self._lines(anchor.seq)
        conn = self._connection()
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return self._lines(first, anchor.seq), self._lines(anchor.seq)
        except psycopg.OperationalError as exc:
            self.close()
            raise LogUnreachable(f"lost the PostgreSQL log at {shown(self.url)} ({_first_line(exc)})") from None

    def _move_aside(self, good: int) -> None:
        conn = self._connection()
        with conn.transaction():
            rest = [bytes(r[0]) for r in conn.execute(
                "SELECT line FROM lifecycle_commits WHERE n > %s ORDER BY n", (good,)).fetchall()]
            conn.execute("INSERT INTO lifecycle_aside (line) VALUES (%s)", (b"".join(rest),))
            conn.execute("DELETE FROM lifecycle_commits WHERE n > %s", (good,))

    # -- writing ---------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writers' advisory lock; the first full read under it recovers a torn tail.
        Not reentrant (like ``flock``): a handle already writing is a programming error."""
        if self._held:
            raise RuntimeError("this log handle is already writing")
        self._query("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        self._held, self._tail = True, None
        try:
            yield
        finally:
            self._held = False
            if self._conn is not None and not self._conn.closed:
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))

    def append(self, draft: Draft, expected_seq: int) -> Record:
        if not self._held:
            raise RuntimeError("append needs the writer lock: use 'with log.writing():'")
        if self._tail is None:
            for _ in self.read():
                pass
        tail = self._tail or _START
        line, after = next_commit(draft, tail, expected_seq)
        self._insert(after.seq, tail.hash, after.hash, line, expected_seq)
        self._tail = after
        return decode(line)

    def _insert(self, seq: int, prev: str, digest: str, line: bytes, expected_seq: int) -> None:
        try:
            conn = self._connection()
            with conn.transaction():
                conn.execute("INSERT INTO lifecycle_commits (n, seq, prev, hash, line) "
                             "VALUES (%s, %s, %s, %s, %s)", (seq, seq, prev, digest, line))
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(seq)))
        except psycopg.errors.UniqueViolation:
            raise Conflict(conflict_message(expected_seq, seq)) from None
        except psycopg.OperationalError as exc:
            self.close()
            raise LogUnreachable(f"lost the PostgreSQL log at {shown(self.url)} during an append "
                                 f"({_first_line(exc)}); the commit may or may not have landed: run "
                                 "'lifecycle history' before repeating the command") from None

    def head_seq(self) -> int:
        """The number of stored lines (a cheap "has the log moved?" for readers)."""
        return int(self._query("SELECT coalesce(max(n), 0) FROM lifecycle_commits")[0][0])

    def listen(self, wake: Callable[[], None], stop: threading.Event) -> None:
        """Call ``wake`` after every commit any host makes (LISTEN/NOTIFY) until ``stop`` is
        set. A lost connection (a database restart) is retried every half second and
        ``wake`` is called again once connected: the caller re-reads the log by ``seq``, so
        commits made while nobody listened are caught up, none is missed."""
        while not stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}".encode())
                    wake()
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            wake()
            except psycopg.Error:
                stop.wait(0.5)

    def import_lines(self, lines: list[bytes]) -> None:
        """Store an embedded log's lines as they are, into an empty log (``log migrate``), in
        one transaction that reads them back and compares the bytes before it commits."""
        try:
            conn = self._connection()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                if conn.execute("SELECT 1 FROM lifecycle_commits LIMIT 1").fetchone():
                    raise UserError(f"{shown(self.url)} already holds commits; migrate into an empty log")
                with conn.cursor().copy("COPY lifecycle_commits (n, seq, prev, hash, line) FROM STDIN") as copy:
                    for n, line in enumerate(lines, start=1):
                        record = decode(line)
                        copy.write_row((n, record.get("seq"), record.get("prev"), record.get("hash"), line))
                back = [bytes(r[0]) for r in conn.execute("SELECT line FROM lifecycle_commits ORDER BY n")]
                if back != lines:
                    raise UserError("the log read back from PostgreSQL differs from the one written; "
                                    "nothing was stored")
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(len(lines))))
        except psycopg.Error as exc:
            self.close()
            raise LogUnreachable(f"could not store the log in {shown(self.url)} ({_first_line(exc)}); "
                                 "nothing was stored") from None

    def clear(self) -> None:
        """Remove every commit (only ``log migrate`` undoing its own import)."""
        self._query("DELETE FROM lifecycle_commits")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
