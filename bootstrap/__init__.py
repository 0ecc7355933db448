"""The composition root: the one place that builds a registry's log, store and clock.

Every entry point (the CLI, the Python API, the daemon, the dashboard) and the tests get
their ``Engine`` here; nothing else names a concrete log or store.

Guarantees:
1. ``open_engine(root)`` wires the embedded backends: the JSONL log ``<root>/events.jsonl``
   with its lock file ``<root>/events.lock``, the blob store ``<root>/store`` and the UTC
   wall clock (for commit times only; projections never read it).
2. ``memory_engine(root)`` wires the in-memory log twin instead, for tests: the same
   engine code runs over either.
3. A root whose ``config/lifecycle.toml`` names a PostgreSQL log (``[log] url``, or
   ``LIFECYCLE_LOG_URL``) gets ``events.postgres.PostgresLog`` (checked: the database holds
   this registry, at this schema version) and the ``[store] path`` it names (a path every
   host can read); the root keeps that host's projections (``service.backend``).
"""

from __future__ import annotations

from pathlib import Path

from events.log import JsonlLog
from events.memory import MemoryLog
from events.port import EventLog
from events.store import BlobStore
from service.backend import read as read_backend
from service.engine import LOG_NAME, Clock, Engine, utc_now


def open_engine(root: Path, *, actor: str | None = None, clock: Clock = utc_now) -> Engine:
    """The engine of the registry at ``root`` on the log and store its configuration names
    (by default the embedded ones)."""
    backend = read_backend(root)
    store = BlobStore(backend.store or root / "store")
    if backend.url is None:
        log = JsonlLog(root / LOG_NAME, root / "events.lock")
        return Engine(root, log=log, store=store, clock=clock, actor=actor)
    return Engine(root, log=shared_log(backend.url, backend.registry_id), store=store, clock=clock,
                  actor=actor, shared=True)


def shared_log(url: str, registry_id: str | None = None) -> EventLog:
    """The PostgreSQL log at ``url`` (imported only for roots that use it), checked."""
    from events.postgres import PostgresLog

    log = PostgresLog(url)
    log.check(registry_id)
    return log


def create_shared_log(url: str) -> tuple[EventLog, str]:
    """The PostgreSQL log at ``url`` with its tables created (idempotent), and its registry id."""
    from events.postgres import PostgresLog

    log = PostgresLog(url)
    return log, log.create_schema()


def memory_engine(root: Path, *, actor: str | None = None, clock: Clock = utc_now) -> Engine:
    """An engine whose log lives in memory (the projections and the store still use ``root``)."""
    return Engine(root, log=MemoryLog(), store=BlobStore(root / "store"), clock=clock, actor=actor)
