"""The engine: one registry root, its log, its store and its projections.

Every entry point (CLI, Python API, daemon, dashboard) runs commands through
``Engine.execute``, so all of them are audited the same way.

Guarantees:
1. A command is decided, appended and projected under the writer lock: decide on the
   state folded from the log, append one commit (fsync), then reconcile the folders and
   write the registry last.
2. A command that states the position it decided on (``expected_seq``) fails with
   ``Conflict`` ("changed meanwhile, retry") if the log has moved; nothing interleaves.
3. A crash between the append and the projection is healed by the next writing
   command (the registry records the log position it reflects).
4. Reading commands fold the log under a shared lock and change nothing.
5. A command that switches the champion (promotion, rollback) reads the target's files
   back from the store and checks them against their recorded digests before it appends;
   missing, unreadable or damaged files refuse it (``WeightsNotIntact``), nothing recorded.
6. Every writing command first refuses managed folders that are symlinks and removes the
   store's temp files left by killed writers.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from events.disk import fsync_dir
from events.port import Draft, EventLog, Record, StaleAnchor, Tail
from lifecycle.errors import LogCorrupt, UserError
from lifecycle.evolve import apply_commit
from lifecycle.evolve import fold as fold_commits
from lifecycle.state import State
from lifecycle.transitions import InvalidTransition
from projections import snapshot
from projections.reconcile import ProjectionIncomplete
from projections.registry import REGISTRY_PATH
from service.production import check_switch

if TYPE_CHECKING:
    from events.store import BlobStore
    from projections.production import Health

LOG_NAME = "events.jsonl"
Clock = Callable[[], str]


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_actor() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM (on this thread) from the append to the end of the projection."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ProjectionFailed(UserError):
    """The commit is in the log; only the projection (folders, registry) lags behind."""

    exit_code = 1


def fold(
    records: Iterable[Record], *, at_seq: int | None = None, as_of: str | None = None,
    start: State | None = None,
) -> State:
    """The state after the given commits (stopping at a commit number or a time), folded
    onto ``start`` (a cached state) or the empty state, with ``lifecycle.evolve.fold``. A
    log reader passed in is closed on return, so its shared lock never outlives the fold.
    A commit that cannot be applied is corruption (``LogCorrupt`` naming it)."""
    def until(records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if (at_seq is not None and record["seq"] > at_seq) or (
                    as_of is not None and record["time"] > as_of):
                return
            yield record

    try:
        return fold_commits(records if at_seq is None and as_of is None else until(records), start)
    except InvalidTransition as exc:
        raise LogCorrupt(exc.seq, f"it cannot be applied: {exc}") from None
    finally:
        if isinstance(records, Generator):
            records.close()


class Outcome(NamedTuple):
    record: Record
    state: State
    changes: list[str]


class Engine:
    """One registry root over its log and store (built by the composition root,
    ``bootstrap.open_engine``, and handed in)."""

    def __init__(self, root: Path, *, log: EventLog, store: BlobStore, clock: Clock = utc_now,
                 actor: str | None = None, shared: bool = False) -> None:
        self.root = root
        self.log = log
        self.shared = shared  # the log lives elsewhere (PostgreSQL); the root holds projections
        self.store = store
        self.clock = clock
        self._actor = actor
        self._known: tuple[Tail, State] | None = None  # what this process last folded or appended

    @property
    def actor(self) -> str:
        if self._actor is None:
            self._actor = default_actor()
        return self._actor

    # -- set-up ---------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return self.shared or (self.root / LOG_NAME).exists()

    def init(self) -> bool:
        """Create the root's folders and an empty log; True if anything was created."""
        created = not self.initialised
        for rel in ("store", "config", "models/champion", "models/challenger",
                    "models/archive", "production/models"):
            (self.root / rel).mkdir(parents=True, exist_ok=True)
        if created and not self.shared:
            (self.root / LOG_NAME).touch()
            fsync_dir(self.root)
        self.replay()
        return created

    def require_root(self) -> None:
        if not self.initialised:
            raise UserError(f"{self.root} is not a lifecycle registry (no {LOG_NAME}); "
                            "run 'lifecycle init' or pass --root")

    # -- reading --------------------------------------------------------------------
    def records(self) -> Iterator[Record]:
        self.require_root()
        return self.log.read()

    def records_about(self, model_id: str) -> list[Record]:
        """The commits with an event about one model (a filter over the read)."""
        self.require_root()
        return [r for r in self.log.read() if any(e.get("model_id") == model_id for e in r["events"])]

    def state(self, *, at_seq: int | None = None, as_of: str | None = None) -> State:
        """The state after every commit, or as it was at a commit or a time.

        A reading command starts from the cached state (``projections.snapshot``) when its
        commit is still in the log with its hash, and folds only what came after; writers
        never do (``fold_log``)."""
        self.require_root()
        if at_seq is not None or as_of is not None:
            return fold(self.log.read(), at_seq=at_seq, as_of=as_of)
        cached = snapshot.load(self.root)
        state = None
        if cached is not None:
            with contextlib.suppress(StaleAnchor):
                state = fold(self.log.read_after(cached.anchor), start=cached.state)
        if state is None:
            cached, state = None, fold(self.log.read())
        if snapshot.due(cached, state):
            self._cache(state)
        return state

    def _cache(self, state: State) -> None:
        position = self.log.position()
        if position is not None and position.seq == state.seq > 0:
            snapshot.save(self.root, position, state)

    # -- writing --------------------------------------------------------------------
    def execute(
        self, command: Any, *, expected_seq: int | None = None, reason: str | None = None,
        blobs: Mapping[str, Path | bytes] | None = None,
    ) -> Outcome:
        """Decide, store the command's files (``blobs``: digest -> source), append, project.

        Files are copied into the store only once the command is accepted, so a refused
        command leaves every file as it was.
        """
        from projections.reconcile import check_managed

        self.require_root()
        with self.log.writing(), self._host_lock():
            check_managed(self.root)
            self.store.clean_temps()
            state = self.fold_log()
            self._heal(state)
            if expected_seq is not None and expected_seq != state.seq:
                from lifecycle.errors import Conflict

                raise Conflict(f"the registry changed meanwhile (you decided at commit "
                               f"{expected_seq}, it is now at {state.seq}); retry the command")
            events = decide_events(state, command)
            check_switch(self.store, state, events)
            for digest, source in sorted((blobs or {}).items()):
                self.store.put(source, expect=digest)
            draft = Draft(self.clock(), self.actor, _command_name(command), reason, events)
            with _signals_held():  # Ctrl-C/SIGTERM land after the commit is projected
                record = self.log.append(draft, state.seq)
                before, state = state, apply_commit(state, record)
                self._remember(state)
                try:
                    changes = self.project(state, before=before)
                except (OSError, ProjectionIncomplete) as exc:
                    raise ProjectionFailed(
                        f"committed as commit {record['seq']}, but the folders could not be updated "
                        f"({exc}); do not repeat the command: run 'lifecycle replay'"
                    ) from exc
            if state.seq % snapshot.SAVE_AFTER == 0:
                self._cache(state)
            outcome = Outcome(record, state, changes)
        self._notify(record)
        return outcome

    def production_health(self, state: State | None = None) -> Health:
        """Whether the production file is the champion's intact bytes (reads only)."""
        from projections.production import health

        return health(self.root, self.state() if state is None else state, self.store)

    def _notify(self, record: Record) -> None:
        """Start the configured hooks for this commit (they run detached; never fail it)."""
        if not (self.root / "config" / "lifecycle.toml").is_file():
            return
        from service.daemon_config import load
        from service.hooks import dispatch

        try:
            dispatch(self.root, load(self.root), record)
        except (UserError, OSError) as exc:
            print(f"warning: hooks not run for commit {record['seq']}: {exc}", file=sys.stderr)

    def preview(self, command: Any) -> list[dict[str, Any]]:
        """The events a command would append now, without appending them."""
        return decide_events(self.state(), command)

    def replay(self) -> tuple[State, list[str]]:
        """Rebuild every projection from the log; returns what changed on disk."""
        self.require_root()
        with self.projecting():
            self.store.clean_temps()
            state = fold(self.log.read())  # the whole log, whatever the cache says
            changes = self.project(state)
            self._cache(state)
            return state, changes

    @contextlib.contextmanager
    def projecting(self) -> Iterator[None]:
        """The lock for work on this root's own files (replay, a daemon's heal): the writer
        lock of an embedded log (it serialises everything); for a shared log only a lock
        local to this host, so a scanner host bringing its files up to date never holds up
        the writers of every host."""
        if not self.shared:
            with self.log.writing():
                yield
            return
        with self._host_lock():
            yield

    @contextlib.contextmanager
    def _host_lock(self) -> Iterator[None]:
        """``<root>/projections.lock`` (shared logs only; taken after the shared writer lock,
        never before it, so the two cannot deadlock)."""
        if not self.shared:
            yield
            return
        import fcntl
        import os

        fd = os.open(self.root / "projections.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def project(self, state: State, before: State | None = None) -> list[str]:
        """Bring the folders and the registry to ``state``: all of them, or (``before``: the
        state a commit was applied to) only the folders of the models the commit changed.
        A registry that does not match its log is healed by the next command (``_heal``:
        everything), and ``replay`` always reconciles everything."""
        from projections.layout import changed_models, desired_tree, folders_of
        from projections.reconcile import apply

        if before is None:
            return apply(self.root, desired_tree(state), self.store)
        changed = changed_models(before, state)
        return apply(self.root, desired_tree(state, only=changed), self.store,
                     scope=folders_of(before, changed))

    def fold_log(self) -> State:
        """The state a writer decides on, under the writer lock. Every line of the log is
        checked again (hash and link to the line before; the commits after the last state
        this process folded itself are read in full and applied to it), so corruption
        anywhere stops the write; anything unexpected and the whole log is read and folded,
        which names the damage. A file cache is never read here (ENGINEERING rule 12)."""
        state = None
        if self._known is not None:
            anchor, known = self._known
            with contextlib.suppress(StaleAnchor):
                state = fold(self.log.read_after(anchor, checked=True), start=known)
        if state is None:
            state = fold(self.log.read())
        self._remember(state)
        return state

    def _remember(self, state: State) -> None:
        position = self.log.position()
        self._known = (position, state) if position is not None and position.seq == state.seq else None

    def _heal(self, state: State) -> None:
        """Re-project everything when the registry does not name the log's head (a writer
        killed between its append and its projection: the registry is written last)."""
        if self.registry_lags(state):
            try:
                self.project(state)
            except ProjectionIncomplete as exc:  # other models' files; a switch checks its own first
                print(f"warning: {exc}", file=sys.stderr)

    def registry_lags(self, state: State) -> bool:
        """Whether the registry does not name the commit ``state`` reflects (it is written
        last, so one that names the head means every folder was put in place)."""
        return self.registry_position() != (state.seq, state.head)

    def registry_position(self) -> tuple[int, str] | None:
        try:
            position = orjson.loads((self.root / REGISTRY_PATH).read_bytes())["log_position"]
            return int(position["seq"]), str(position["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


def validation_message(exc: Any) -> str:
    """One line from a pydantic ValidationError: where and what."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"invalid {where or 'input'}: {first['msg']} (got {first.get('input')!r:.80})"


def decide_events(state: State, command: Any) -> list[dict[str, Any]]:
    """Decide a command and return its events in canonical stored form."""
    from pydantic import ValidationError

    from lifecycle.decide import decide

    try:
        return [e.model_dump(mode="json", exclude_none=True) for e in decide(state, command)]
    except ValidationError as exc:
        raise UserError(validation_message(exc)) from None


def _command_name(command: Any) -> str:
    name = type(command).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
