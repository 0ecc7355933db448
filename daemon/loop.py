"""``lifecycle watch``: the auto-update daemon (SPEC sections 6 and 9).

Guarantees:
1. One daemon per root (an exclusive lock on ``<root>/daemon.lock``); a second one exits
   with a clear message.
2. Every action is a command through the engine with actor ``daemon`` and a reason.
3. Restart-safe and idempotent: all progress lives in the log. On start it finishes what
   a killed run left: an undecided challenger is evaluated (unless it already is, on this
   holdout) and decided; a drop whose weights are registered is recognised by digest and
   only moved; nothing is recorded twice.
4. A bad drop never stops the daemon: it ends in ``.failed/`` (or as a recorded rejection)
   and the next drop is taken.
5. Event-driven (watchdog/inotify): idle, it sleeps until the inbox or the log changes,
   or until the next time-based check.
6. Production is watched: at least every ``PRODUCTION_POLL`` seconds it stats the files the
   scanner loads (and the registry and the log; a shared PostgreSQL log announces every
   commit of any host through LISTEN/NOTIFY, and is caught up after a reconnection); after
   any change it checks the production
   file against the champion's recorded digest, heals a lagging or replaced one from the
   store (``service.production.heal``), and raises an alarm through the hooks (event type
   ``production_unhealthy``) when the store cannot heal it.
7. ``--follow`` (a scanner host of a shared registry): only guarantee 6, nothing is
   decided or taken; no inbox, holdout or torch is needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import queue
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon import inbox as box
from daemon.steplog import StepLog
from events.store import StoreUnwritable
from lifecycle.commands import Rollback
from lifecycle.errors import LogUnwritable, UserError
from lifecycle.policy import Policy
from projections.reconcile import ProjectionUnwritable
from service.daemon_config import Settings
from service.engine import Engine, ProjectionFailed
from service.production import WeightsNotIntact, heal

HOUR = 3600.0
PRODUCTION_POLL = 0.5  # seconds between two looks at the production file's stat
# The disk, not the drop: such a drop stays in the inbox and is taken again at the next tick.
_NOT_THE_DROPS_FAULT = (StoreUnwritable, ProjectionUnwritable, ProjectionFailed, LogUnwritable)


@dataclass
class WatchOptions:
    inbox: Path
    holdout: Path
    policy: Policy = field(default_factory=Policy)
    dataset: str = "benchmark"
    train: bool = False
    base_data: Path | None = None
    train_config: Any = None
    device: str = "cpu"
    follow: bool = False  # a scanner host: keep the projections and production current, nothing else


@dataclass
class Hooks:
    """Progress displays for a terminal (the CLI fills them)."""

    evaluation: Callable[[str, int], Callable[[int], None]] | None = None
    training: Callable[[], contextlib.AbstractContextManager[dict[str, Any]]] | None = None


class Daemon:
    def __init__(self, engine: Engine, options: WatchOptions, settings: Settings, log: StepLog,
                 hooks: Hooks | None = None) -> None:
        self.engine, self.options, self.settings, self.log = engine, options, settings, log
        self.hooks = hooks or Hooks()
        self.moved_in: set[str] = set()
        self.reported: set[str] = set()
        self.wakeups: queue.Queue[str] = queue.Queue()
        self.production_seen: tuple[Any, ...] | None = None
        self.log_wakes = 0  # commits another host announced (a shared log's LISTEN/NOTIFY)
        self.problems_reported: set[tuple[str, str, str | None]] = set()

    # -- the loop ---------------------------------------------------------------------
    def run(self, once: bool = False) -> int:
        with single_instance(self.engine.root):
            self._prepare()
            self.log.step("start", inbox=str(self.options.inbox), holdout=str(self.options.holdout),
                          once=once)
            try:
                self.tick()
                if not once:
                    self._watch()
            except KeyboardInterrupt:
                self.log.step("stop", why="signal")
                return 0
            except LogUnwritable as exc:
                self.log.step("stop", why=str(exc))
                return 1
            self.log.step("stop", why="done" if once else "stopped")
        return 0

    def _prepare(self) -> None:
        if self.options.follow:
            self.engine.require_root()
            return
        import torch

        from models.data import read_dataset
        from models.network import build

        with torch.device("meta"):  # import torch and timm and warm them up now, not per drop
            build("convnext_atto", 4, 9)

        self.engine.require_root()
        self.options.inbox.mkdir(parents=True, exist_ok=True)
        self.holdout_digest = read_dataset(self.options.holdout).digest

    def _woken_by_the_log(self) -> None:
        self.log_wakes += 1
        self.wakeups.put("log")

    def _watch(self) -> None:
        from daemon.watching import listening, watch

        inbox = self.engine.root if self.options.follow else self.options.inbox
        with watch(inbox, self.engine.root, self.wakeups, self.moved_in), \
                listening(self.engine.log, self._woken_by_the_log):
            next_tick = time.monotonic() + self._next_check()
            while True:
                try:
                    self.wakeups.get(timeout=min(PRODUCTION_POLL, max(0.0, next_tick - time.monotonic())))
                    while not self.wakeups.empty():
                        self.wakeups.get_nowait()
                except queue.Empty:
                    if time.monotonic() < next_tick:
                        self._guarded("production", self.check_production)
                        continue
                self.tick()
                next_tick = time.monotonic() + self._next_check()

    def _next_check(self) -> float:
        if self.options.follow:
            return HOUR
        return min(self.settings.quiet_seconds, HOUR) if box.drops(self.options.inbox) else HOUR

    def tick(self) -> None:
        """One pass over everything that may need doing; each step is safe to repeat."""
        if self.options.follow:
            self._guarded("production", self.check_production)
            return
        self._guarded("settle", self.settle_challenger)
        for drop in box.drops(self.options.inbox):
            self._guarded("drop", functools.partial(self.take, drop))
        self._guarded("alert", self.handle_alert)
        if self.options.train:
            self._guarded("train", self.maybe_train)
        self._guarded("production", self.check_production)

    def _guarded(self, name: str, step: Callable[[], object]) -> None:
        """A failing step is logged and retried at the next tick; it never stops the daemon,
        except a log that can no longer be written (restart: the next start re-reads it)."""
        try:
            step()
        except LogUnwritable:
            raise
        except UserError as exc:
            self.log.step(f"{name}_failed", reason=str(exc))
            self._report("error", f"{name}: {exc}")
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            self.log.step(f"{name}_failed", reason=f"unexpected error: {exc!r}")
            self._report("error", f"{name}: unexpected error: {exc!r}")

    def _report(self, kind: str, detail: str, subject: str | None = None) -> None:
        """Record a refused drop or a daemon error in the log (it changes no model; hooks on
        ``problem_reported`` fire), once per distinct problem while the daemon runs; a log
        that cannot take it leaves the step log as the record."""
        from lifecycle.commands import ReportProblem

        key = (kind, detail, subject)
        if key in self.problems_reported:
            return
        self.problems_reported.add(key)
        try:
            self.engine.execute(ReportProblem(kind=kind, detail=detail, subject=subject), reason=detail[:200])
        except (UserError, OSError) as exc:
            self.log.step("report_failed", reason=str(exc))

    # -- steps ------------------------------------------------------------------------
    def take(self, drop: Path) -> None:
        moved = drop.name in self.moved_in
        if not box.is_complete(drop, self.settings.quiet_seconds, moved_in=moved):
            return
        self.moved_in.discard(drop.name)
        self.log.step("drop", drop=drop.name)
        try:
            self._take(drop)
        except _NOT_THE_DROPS_FAULT:
            raise  # logged by the tick; the drop is taken again at the next one
        except UserError as exc:
            self._fail(drop, str(exc))
        except Exception as exc:  # a bad drop must never stop the daemon
            self._fail(drop, f"unexpected error: {exc!r}")

    def _take(self, drop: Path) -> None:
        from events.store import BlobStore
        from service.submission import build_submit

        found = box.problems(drop, self.settings.max_file_mb * 2**20)
        if found:
            self._fail(drop, "; ".join(found))
            return
        digest = BlobStore.digest_file(drop / box.WEIGHTS)["digest"]
        known = self._registered(digest)
        if known is None:
            self.settle_challenger()  # a challenger left by someone else goes first
            waiting = self.engine.state().challenger
            if waiting is not None:
                self._blocked(drop, waiting)
                return
            command, files = build_submit(drop, reason=f"dropped in the inbox as {drop.name}",
                                          production_format=self.settings.production_format)
            known = self.engine.execute(command, blobs=files, reason=f"inbox drop {drop.name}").record[
                "events"][0]["model_id"]
            self.log.step("trained", drop=drop.name, model=known)
        else:
            self.log.step("duplicate", drop=drop.name, model=known)
        outcome = None
        if self.engine.state().challenger == known:
            try:
                outcome = self.settle_challenger()
            except UserError as exc:
                outcome = f"registered as {known}; not decided yet: {exc}"
                self.log.step("settle_failed", model=known, reason=str(exc))
        reason = outcome or self._status_line(known)
        box.finish(self.options.inbox, drop, "done", known, reason)
        self.log.step("done", drop=drop.name, model=known, reason=reason)

    def _blocked(self, drop: Path, challenger: str) -> None:
        """Leave the drop in the inbox while another challenger cannot be decided."""
        if drop.name not in self.reported:
            self.reported.add(drop.name)
            waiting = self._with_a_person(self.engine.state())
            self.log.step("waiting", drop=drop.name,
                          reason=f"challenger {challenger} {waiting or 'is still undecided; decide or reject it'}")

    def _with_a_person(self, state: Any) -> str | None:
        """Why the challenger is left to a person: its verdict awaits approval, or a person
        declined its rejection (the daemon never decides that challenger again; a person
        does, by hand)."""
        from lifecycle.approval import stale_reason

        challenger, pending = state.challenger_record(), state.pending
        if challenger is None:
            return None
        if pending is not None and stale_reason(state, pending) is None:
            return (f"awaits approval of its verdict ({pending['verdict']}: {pending['reason']}); "
                    f"approve or decline it")
        if (challenger.decision or {}).get("declined"):
            return "had its rejection declined by a person; decide, promote or reject it by hand"
        return None

    def _registered(self, digest: str) -> str | None:
        for record in self.engine.state().models.values():
            if record.weights and record.weights["digest"] == digest:
                return record.model_id
        return None

    def _status_line(self, model_id: str) -> str:
        record = self.engine.state().get(model_id)
        return f"already registered as {model_id} ({record.status}): same weights; nothing recorded"

    def _fail(self, drop: Path, reason: str) -> None:
        try:
            if drop.exists() or drop.is_symlink():
                box.finish(self.options.inbox, drop, "failed", drop.name, reason)
        except OSError as exc:
            reason = f"{reason}; could not move it to .failed/ ({exc})"
        self.log.step("failed", drop=drop.name, reason=reason)
        self._report("drop_refused", reason, subject=drop.name)

    def settle_challenger(self) -> str | None:
        """Evaluate (if needed) and decide the waiting challenger; returns the decision."""
        from service.deciding import decide
        from service.modelling import evaluate

        state = self.engine.state()
        challenger = state.challenger_record()
        if challenger is None:
            return None
        waiting = self._with_a_person(state)
        if waiting is not None:
            return f"{challenger.model_id} {waiting}"
        need = [m.model_id for m in (challenger, state.champion_record())
                if m is not None and m.weights is not None
                and m.evaluation_on(self.options.dataset, self.holdout_digest) is None]
        if need:
            self.log.step("evaluate", models=",".join(need))
            try:
                evaluate(self.engine, need, self.options.holdout, dataset=self.options.dataset,
                         policy=self.options.policy, device=self.options.device,
                         progress=self.hooks.evaluation)
            except UserError as exc:
                if challenger.model_id not in need or isinstance(exc, LogUnwritable):
                    raise
                return self._reject_unevaluable(challenger.model_id, exc)
        outcome = decide(self.engine, self.options.policy, self.options.dataset)
        event = outcome.record["events"][-1]  # type: ignore[union-attr]
        self.log.step(event["type"], model=event["model_id"], reason=event["reason"])
        if event["type"] == "approval_requested":
            return f"{event['verdict']} awaits approval: {event['reason']}"
        return f"{event['type']}: {event['reason']}"

    def _reject_unevaluable(self, model_id: str, exc: UserError) -> str:
        """A challenger that cannot even be evaluated on the holdout loses, with the reason."""
        from lifecycle.commands import Reject

        reason = f"cannot be evaluated on the holdout: {exc}"
        self.engine.execute(Reject(model_id, reason), reason=reason)
        self.log.step("rejected", model=model_id, reason=reason)
        return f"rejected: {reason}"

    def handle_alert(self) -> None:
        state = self.engine.state()
        alert = state.alert
        if not alert or alert["action"] != "rollback" or alert["model_id"] != state.champion:
            return
        if state.previous_champion() is None:
            self.log.step("alert", model=alert["model_id"], severity=alert["severity"],
                          reason="no previous champion to roll back to")
            return
        reason = f"{alert['severity']} in production: {'; '.join(alert['findings'])}"
        try:
            self.engine.execute(Rollback(reason=reason, severity=alert["severity"],
                                         observation_seq=alert["seq"]), reason=reason)
        except WeightsNotIntact as exc:  # the target cannot serve: people must know now
            self._alarm("rollback_refused", str(exc))
            return
        except UserError as exc:  # handled meanwhile by someone else
            self.log.step("alert", model=alert["model_id"], reason=str(exc))
            return
        self.log.step("rolled_back", model=self.engine.state().champion, reason=reason)

    def check_production(self) -> None:
        """Heal a production file that lags behind the log; alarm when the store cannot."""
        from projections.production import fingerprint

        seen = (*fingerprint(self.engine.root), self.log_wakes)
        if seen == self.production_seen:
            return
        self.production_seen = seen
        try:
            health, changes = heal(self.engine)
        except UserError as exc:
            self._alarm("production", str(exc))
            raise
        if changes:
            self.log.step("healed", changes=len(changes), production=health.state)
        if not health.ok:
            self._alarm(health.state, health.detail)
        self.production_seen = (*fingerprint(self.engine.root), self.log_wakes)

    def _alarm(self, state: str, detail: str) -> None:
        from service.hooks import dispatch

        self.log.step("production_unhealthy", state=state, reason=detail)
        current = self.engine.state()
        record = {"seq": current.seq, "time": self.engine.clock(), "actor": self.engine.actor, "command": "watch",
                  "events": [{"type": "production_unhealthy", "model_id": current.champion,
                              "state": state, "detail": detail}]}
        with contextlib.suppress(OSError):
            dispatch(self.engine.root, self.settings, record)

    def maybe_train(self) -> None:
        state = self.engine.state()
        if state.challenger is not None or self.options.base_data is None:
            return
        why = self._training_due(state)
        if why is None:
            return
        self.log.step("train", why=why)
        try:
            self._train()
        except UserError as exc:
            self.log.step("train_failed", reason=str(exc))
            return
        self.settle_challenger()

    def _training_due(self, state: Any) -> str | None:
        """Due when enough pool events have not been tried by any training yet (a rejected
        challenger's events stay in the pool, but do not trigger the same training again)."""
        triggers = self.settings.triggers
        newest = _newest_model(state)
        tried = set(newest.training_data.get("events_included", ())) if newest else set()
        waiting = sum(1 for k, e in state.pool.items() if e.get("images") and k not in tried)
        if waiting and waiting >= triggers.min_new_events:
            return f"{waiting} new events in the pool (trigger: {triggers.min_new_events})"
        if newest is not None and waiting:
            days = (time.time() - datetime.fromisoformat(newest.created_at).timestamp()) / 86400
            if days >= triggers.max_days_between_training:
                return f"{days:.0f} days since the last training (trigger: {triggers.max_days_between_training:g})"
        return None

    def _train(self) -> None:
        import shutil
        import tempfile

        from events.store import temp_prefix
        from service.pool import write_pool_dataset
        from service.training import train_challenger

        work = Path(tempfile.mkdtemp(dir=self.engine.root / "store" / "tmp", prefix=temp_prefix("pool")))
        try:
            write_pool_dataset(self.engine.state(), self.engine.store, work / "pool")
            assert self.options.base_data is not None
            display = self.hooks.training() if self.hooks.training else contextlib.nullcontext({})
            with display as hooks:
                train_challenger(self.engine, [self.options.base_data, work / "pool"],
                                 self.options.train_config, start_from="auto",
                                 reason="pool reached the training trigger", **hooks)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _newest_model(state: Any) -> Any:
    """The most recently trained (or imported) model: the last training the pool has seen."""
    records = list(state.models.values())
    return max(records, key=lambda m: (m.created_at, m.parsed_version)) if records else None


@contextlib.contextmanager
def single_instance(root: Path) -> Iterator[None]:
    path = root / "daemon.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise UserError(f"another lifecycle daemon is already watching {root} (pid {holder}); "
                            "stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def stop_on_signals() -> None:
    """SIGTERM and SIGINT stop the daemon cleanly (between or inside steps)."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
