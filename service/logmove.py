"""``lifecycle log export`` and ``lifecycle log migrate``: moving a registry between backends.

Guarantees:
1. Both read the whole log through the one reader first: a log that fails its chain is
   refused (``LogCorrupt``, exit 1) and nothing is written.
2. ``export`` writes the stored lines of every good commit, byte for byte, so the file is
   identical to an embedded log of the same commits (every hash kept); it is written to a
   temporary file, fsynced and renamed, never half-written.
3. ``migrate`` copies an embedded log into an empty PostgreSQL log in one transaction that
   reads it back and compares the bytes before it commits, under the embedded log's writer
   lock (no commit can slip in meanwhile) and only while no daemon runs on the root; then
   it names the shared log in the root's configuration and keeps the old file as
   ``events.jsonl.migrated`` (never read again). If the configuration cannot be written,
   the import is undone: the root stays on its embedded log, the database empty.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from events.disk import fsync_path
from lifecycle.errors import UserError
from service.engine import LOG_NAME, Engine


def good_lines(log: Any) -> list[bytes]:
    """The stored lines of every good commit (the whole log read and checked first)."""
    count = sum(1 for _ in log.read())
    return list(log.lines()[:count])


def export(engine: Engine, out: Path) -> int:
    """Guarantee 2; returns the number of commits written."""
    engine.require_root()
    lines = good_lines(engine.log)
    out = out.resolve()
    handle, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}-")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(b"".join(lines))
        fsync_path(Path(temp))
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return len(lines)


def migrate(engine: Engine, url: str, shared: Any, registry_id: str) -> int:
    """Guarantee 3 (``shared``: the PostgreSQL log at ``url``, its tables created); returns
    the number of commits moved."""
    from service.backend import configure

    engine.require_root()
    if engine.shared:
        raise UserError("this root's log is already shared (config/lifecycle.toml names it)")
    with _no_daemon(engine.root), engine.log.writing():
        lines = good_lines(engine.log)
        shared.import_lines(lines)  # read back and compared in its transaction
        try:
            configure(engine.root, url, registry_id, None)
        except BaseException:
            shared.clear()  # the root stays on its embedded log; the database is empty again
            raise
        os.replace(engine.root / LOG_NAME, engine.root / f"{LOG_NAME}.migrated")
    return len(lines)


@contextlib.contextmanager
def _no_daemon(root: Path) -> Iterator[None]:
    """Refuse while a daemon runs on this root (it would keep writing to the old file)."""
    lock = root / "daemon.lock"
    if not lock.exists():
        yield
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError("a daemon ('lifecycle watch') runs on this root; stop it, migrate, "
                            "then start it again") from None
        yield
    finally:
        os.close(fd)
