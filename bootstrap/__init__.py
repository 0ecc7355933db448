"""The composition root: the one place that builds a registry's log, store and clock.

Every entry point (the CLI, the Python API, the daemon, the dashboard) and the tests get
their ``Engine`` here; nothing else names a concrete log or store.

Guarantees:
1. ``open_engine(root)`` wires the embedded backends: the JSONL log ``<root>/events.jsonl``
   with its lock file ``<root>/events.lock``, the blob store ``<root>/store`` and the UTC
   wall clock (for commit times only; projections never read it).
2. ``memory_engine(root)`` wires the in-memory log twin instead, for tests: the same
   engine code runs over either.
"""

from __future__ import annotations

from pathlib import Path

from events.log import JsonlLog
from events.memory import MemoryLog
from events.store import BlobStore
from service.engine import LOG_NAME, Clock, Engine, utc_now


def open_engine(root: Path, *, actor: str | None = None, clock: Clock = utc_now) -> Engine:
    """The engine of the registry at ``root`` on its embedded log and store."""
    log = JsonlLog(root / LOG_NAME, root / "events.lock")
    return Engine(root, log=log, store=BlobStore(root / "store"), clock=clock, actor=actor)


def memory_engine(root: Path, *, actor: str | None = None, clock: Clock = utc_now) -> Engine:
    """An engine whose log lives in memory (the projections and the store still use ``root``)."""
    return Engine(root, log=MemoryLog(), store=BlobStore(root / "store"), clock=clock, actor=actor)
