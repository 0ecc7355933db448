"""One consistent view of a registry root per page run (no Streamlit here).

Guarantees:
1. A snapshot is the registry at one commit (``Engine.state``: the cached state plus the
   commits after it); every section of a page shows that commit prefix, never a torn
   state, whatever the daemon or the CLI write meanwhile: the commits a section reads
   (``commits_of_type``, ``matching``, ``choices``: filters over one read of the log;
   ``at_time``, a streaming fold for time travel) stop at the snapshot's commit.
2. Snapshots are cached per root and keyed by the log file's identity (inode, size,
   mtime): the log is append-only, so an unchanged key means unchanged content and the
   fold is reused; any append changes the key and the next run reads the log again.
3. A snapshot whose log changed while it was being read is used but never cached.
4. What a snapshot read from the log for a page (the commits of some types, a filtered
   history page, the filter choices) is kept with it, so a page drawn again on an
   unchanged log does not read the log again (a few dozen answers at most).
5. A snapshot is made only from a log whose every line passes its hash and its link to the
   line before, up to the snapshot's commit: the state may start from ``cache/state.json``
   (only the commits after its anchor are read), so the lines before the anchor are
   checked too (hashes and links only, no parsing; once per log key, since the snapshot
   is then cached). A log that fails raises ``LogCorrupt`` naming the line, on every page
   alike, and no page is drawn from it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bootstrap import open_engine
from dashboard.access import ACTOR
from events.port import Record, StaleAnchor
from lifecycle.state import State
from service.engine import LOG_NAME, Engine, fold

LogKey = tuple[int, int, int]
MEMO_SIZE = 32
T = TypeVar("T")

_CACHE: dict[Path, Snapshot] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Snapshot:
    root: Path
    state: State
    key: LogKey | None
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def seq(self) -> int:
        return self.state.seq

    def _kept(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()``, kept with the snapshot (guarantee 4)."""
        with _LOCK:
            if key in self._memo:
                return self._memo[key]  # type: ignore[no-any-return]
        value = compute()
        with _LOCK:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = value
        return value

    def commits_of_type(self, *types: str) -> list[Record]:
        """Commits with an event of these types up to the snapshot's, oldest first."""
        from service import history

        def compute() -> list[Record]:
            found = {r["seq"]: r for t in types for r in history.of_type(engine(self.root), t)
                     if r["seq"] <= self.seq}
            return [found[seq] for seq in sorted(found)]

        return self._kept(("types", types), compute)

    def matching(self, limit: int, **filters: Any) -> list[Record]:
        """Up to ``limit`` commits up to the snapshot's, newest first (``history.matching``)."""
        from service import history

        key = ("matching", limit, tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                               for k, v in filters.items())))
        return self._kept(key, lambda: history.matching(engine(self.root), limit, upto_seq=self.seq, **filters))

    def choices(self) -> tuple[list[str], list[str]]:
        """(event types, actors) in the log (``history.choices``)."""
        from service import history

        return self._kept("choices", lambda: history.choices(engine(self.root)))

    def at_time(self, time: str) -> tuple[Record | None, State]:
        """(the last commit at or before ``time``, the registry as it was then), up to the
        snapshot's commit: one streaming pass over the log (time travel)."""
        last: Record | None = None
        reader = engine(self.root).records()

        def until_then() -> Iterator[Record]:
            nonlocal last
            try:
                for record in reader:
                    if record["seq"] > self.seq or record["time"] > time:
                        return
                    last = record
                    yield record
            finally:
                reader.close()  # type: ignore[attr-defined]

        state = fold(until_then())
        return last, state

    def first_time(self) -> str | None:
        """When the first commit was made (None: the log is empty)."""
        reader = engine(self.root).records()
        try:
            first = next(iter(reader), None)
        finally:
            reader.close()  # type: ignore[attr-defined]
        return first["time"] if first else None


def log_key(root: Path) -> LogKey | None:
    """The log's identity: the file's, or a shared log's number of lines (asked on one kept
    connection); None when there is no log (not a registry)."""
    from service.backend import read as read_backend

    if read_backend(root).url is not None:
        return (0, _shared_log(root).head_seq(), 0)
    try:
        info = os.stat(root / LOG_NAME)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


@functools.cache
def _shared_log(root: Path) -> Any:
    """One handle per root for the change checks of a shared log (it reconnects by itself)."""
    return engine(root).log


def engine(root: Path, actor: str = ACTOR) -> Engine:
    """The engine the dashboard writes through: same commands, same log, actor "dashboard"
    (or ``dashboard:<name>``, the name of the token the person gave: ``access.actor_for``)."""
    return open_engine(root, actor=actor)


def load(root: Path) -> Snapshot:
    """The current snapshot of ``root`` (cached while the log is unchanged).

    Raises ``UserError`` when ``root`` is not a registry, and ``LogCorrupt`` when its log
    fails its hash chain anywhere, also before the commit of the state cache (guarantee 5).
    """
    root = root.resolve()
    before = log_key(root)
    with _LOCK:
        cached = _CACHE.get(root)
    if cached is not None and before is not None and cached.key == before:
        return cached
    state = checked_state(engine(root))
    after = log_key(root)
    snapshot = Snapshot(root, state, before if before == after else None)
    if snapshot.key is not None:
        with _LOCK:
            _CACHE[root] = snapshot
    return snapshot


def checked_state(reader: Engine) -> State:
    """The registry's state (``Engine.state``: the state cache plus the commits after it)
    once every line up to its commit passed its hash and link (guarantee 5); else the whole
    log is read, which raises ``LogCorrupt`` naming the damaged line."""
    state = reader.state()
    position = reader.log.position()
    if position is None or position.seq != state.seq:  # nothing read (an empty log)
        return state
    try:
        for _ in reader.log.read_after(position, checked=True):
            pass  # commits appended since: the next log key reads them
    except StaleAnchor:
        return fold(reader.log.read())  # names the damage (or a log replaced meanwhile)
    return state


def forget(root: Path | None = None) -> None:
    """Drop cached snapshots (all, or one root's)."""
    with _LOCK:
        if root is None:
            _CACHE.clear()
        else:
            _CACHE.pop(root.resolve(), None)
