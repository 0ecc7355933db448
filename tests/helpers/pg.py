"""A private PostgreSQL 15 server for tests (``events.postgres.PostgresLog`` and whatever
else needs a real database).

``PrivateServer`` runs ``initdb`` and ``pg_ctl`` on a fresh folder under ``/tmp``: the data
directory and the Unix socket lie there (a short path: socket paths are limited to about
100 bytes), with no TCP at all (``listen_addresses = ''``), ``fsync`` on (durability is
tested: ``restart("immediate")`` is a server crash, followed by crash recovery) and small
buffers. Run as root, the server runs as the ``postgres`` system user (PostgreSQL refuses to
run as root), with its folder handed to that user; connections are local and trusted
(``postgresql://postgres@/DBNAME?host=SOCKETDIR``).

Nothing outlives the test session: ``stop()`` shuts the server down and removes its folder,
the session fixture ``pg_server`` calls it however the session ends, and a watchdog process
started beside the server stops it and removes the folder if this process dies without
stopping it (killed, ``os._exit``): it waits on a pipe that only this process holds open.

Fixtures: ``pg_server`` (one server per session; the tests that use it skip, saying why, if
PostgreSQL is not installed) and ``pg_url`` (a fresh empty database per test, dropped at the
end together with any connection left open to it).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

VERSION = "15"
USER = "postgres"  # the database superuser, and the system user the server runs as under root
_SETTINGS = {
    "listen_addresses": "''",
    "port": "5432",  # only names the socket file: no TCP
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "16MB",
    "max_connections": "300",
    "max_wal_size": "256MB",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "logging_collector": "off",
    "timezone": "'UTC'",
}


class ServerUnavailable(RuntimeError):
    """PostgreSQL's server programs are not installed here (or cannot be run): tests skip."""


def find_bindir() -> Path:
    """The folder with ``initdb`` and ``pg_ctl``: ``$LIFECYCLE_PG_BINDIR`` if set (and only it),
    else PostgreSQL 15's Debian folder, what ``dpkg -L postgresql-15`` lists, ``pg_ctl`` on the
    PATH."""
    chosen = os.environ.get("LIFECYCLE_PG_BINDIR")
    candidates = [Path(chosen)] if chosen else [Path(f"/usr/lib/postgresql/{VERSION}/bin")]
    if not chosen and shutil.which("dpkg"):
        listed = subprocess.run(["dpkg", "-L", f"postgresql-{VERSION}"], capture_output=True, text=True)
        candidates += [Path(line).parent for line in listed.stdout.splitlines() if line.endswith("/bin/pg_ctl")]
    on_path = shutil.which("pg_ctl")
    if not chosen and on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise ServerUnavailable(f"PostgreSQL {VERSION} is not installed: no initdb/pg_ctl/postgres in "
                            f"{', '.join(map(str, candidates))} (apt-get install postgresql-{VERSION}, "
                            "or set LIFECYCLE_PG_BINDIR)")


class PrivateServer:
    """One PostgreSQL server in its own folder under ``/tmp``, reachable only by its socket."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.base: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        self.started_in: float | None = None  # seconds the last start took (initdb included)
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(USER)
            except KeyError:
                raise ServerUnavailable(f"running as root, and there is no {USER!r} system user "
                                        "for the server to run as") from None
            self._uid, self._gid = entry.pw_uid, entry.pw_gid
            runuser = shutil.which("runuser")
            self._as_user = ([runuser, "-u", USER, "--"] if runuser else
                             ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--"])

    # -- where it lives --------------------------------------------------------------

    @property
    def data(self) -> Path:
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base()

    @property
    def logfile(self) -> Path:
        return self._base() / "server.log"

    def url(self, dbname: str) -> str:
        """``postgresql://postgres@/DBNAME?host=SOCKETDIR``: a local, trusted connection."""
        return f"postgresql://{USER}@/{dbname}?host={self.socket_dir}"

    def _base(self) -> Path:
        if self.base is None:
            raise RuntimeError("the server was never started")
        return self.base

    # -- starting and stopping -------------------------------------------------------

    def start(self) -> None:
        """A fresh cluster (initdb) and the server on it; a second call does nothing."""
        if self.base is not None:
            return
        began = time.monotonic()
        self.base = Path(tempfile.mkdtemp(prefix="lcpg-", dir="/tmp"))
        try:
            if self._as_user:
                os.chown(self.base, self._uid, self._gid)
            self._watch()
            self._pg("initdb", "-D", str(self.data), "-U", USER, "-A", "trust", "-E", "UTF8",
                     "--locale=C", "--no-sync", "--no-instructions")
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write("\n# tests/helpers/pg.py\n")
                conf.writelines(f"{key} = {value}\n" for key, value in _SETTINGS.items())
                conf.write(f"unix_socket_directories = '{self.socket_dir}'\n")
            self._ctl("start")
            self.started_in = time.monotonic() - began
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Shut the server down (fast; immediate if that hangs) and remove its folder."""
        if self.base is None:
            return
        try:
            if (self.data / "postmaster.pid").exists():
                try:
                    self._ctl("stop", "-m", "fast")
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                    self._ctl("stop", "-m", "immediate", check=False)
        finally:
            if self._watchdog is not None:  # let it go: it finds no server and removes the folder
                assert self._watchdog.stdin is not None
                self._watchdog.stdin.close()
                try:
                    self._watchdog.wait(60)
                except subprocess.TimeoutExpired:
                    self._watchdog.kill()
                    self._watchdog.wait()
                self._watchdog = None
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def restart(self, mode: str = "immediate") -> None:
        """``pg_ctl restart -m MODE``: ``immediate`` kills every server process without a
        checkpoint, a crash; the server comes back through crash recovery. Connections die."""
        self._ctl("restart", "-m", mode)

    def running(self) -> bool:
        return self.base is not None and self._ctl("status", check=False).returncode == 0

    # -- databases -------------------------------------------------------------------

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (``CREATE DATABASE``); its url."""
        name = name or f"t{next(self._names)}_{os.getpid()}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop it, ending any connection still open to it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str) -> None:
        """One statement, outside a transaction, in the ``postgres`` database."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.encode())

    # -- running the server's programs ----------------------------------------------

    def _ctl(self, action: str, *options: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        waits = ["-w", "-t", "60"] if action in {"start", "stop", "restart"} else []
        logs = ["-l", str(self.logfile)] if action in {"start", "restart"} else []
        return self._pg("pg_ctl", action, "-D", str(self.data), *waits, *logs, *options, check=check)

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self._as_user, str(self.bindir / program), *args], cwd=self._base(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, done.args,
                                                done.stdout, done.stderr + self._log_tail())
        return done

    def _log_tail(self) -> str:
        try:
            return "\n--- server log ---\n" + self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _watch(self) -> None:
        """A process, in its own session, that waits until this one closes the pipe (by
        ``stop`` or by dying), then stops any server left and removes the folder."""
        ctl = shlex.join([*self._as_user, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data),
                          "-m", "immediate", "-w", "-t", "30"])
        script = (f"read _ignored; if [ -f {shlex.quote(str(self.data / 'postmaster.pid'))} ]; "
                  f"then {ctl} >/dev/null 2>&1; fi; rm -rf {shlex.quote(str(self._base()))}")
        self._watchdog = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True)


# -- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_server() -> Iterator[PrivateServer]:
    """One private PostgreSQL server for the session, always stopped at its end."""
    try:
        server = PrivateServer()
    except ServerUnavailable as missing:
        pytest.skip(str(missing))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PrivateServer) -> Iterator[str]:
    """A fresh empty database on the session's server; dropped afterwards."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        if pg_server.base is not None:
            pg_server.drop_database(dbname(url))


def dbname(url: str) -> str:
    """The database a url of ``PrivateServer.url`` names."""
    return url.split("@/", 1)[1].split("?", 1)[0]
