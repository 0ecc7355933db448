"""``lifecycle log export`` and ``lifecycle log migrate``: moving a registry between backends.

Guarantees:
1. Both read the whole log through the one reader first: a log that fails its chain is
   refused (``LogCorrupt``, exit 1) and nothing is written.
2. ``export`` writes the stored lines of every good commit, byte for byte, so the file is
   identical to an embedded log of the same commits (every hash kept); it is written to a
   temporary file, fsynced and renamed, never half-written.
3. ``migrate`` copies an embedded log into an empty PostgreSQL log in one transaction,
   under the embedded log's writer lock (no commit can slip in meanwhile), reads it back
   and compares the bytes, then names the shared log in the root's configuration and
   keeps the old file as ``events.jsonl.migrated`` (never read again). A failure before
   the configuration is written leaves the root on its embedded log.
"""

from __future__ import annotations

import os
import tempfile
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
    with engine.log.writing():
        lines = good_lines(engine.log)
        shared.import_lines(lines)
        if good_lines(shared) != lines:
            raise UserError("the log read back from PostgreSQL differs from the one written; "
                            "nothing was switched")
        configure(engine.root, url, registry_id, None)
        os.replace(engine.root / LOG_NAME, engine.root / f"{LOG_NAME}.migrated")
    return len(lines)
