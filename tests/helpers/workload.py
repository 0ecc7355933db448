"""Workloads for the concurrency and crash tests, run in child processes.

``python -m tests.helpers.workload MODE ROOT [ARGS]`` (from the repository root). Every
mode prints ``ready`` once its imports are done, then one line ``<seq> <hash>`` per
acknowledged commit, flushed only after ``Engine.execute`` has returned (the commit is
fsynced by then). Nothing here imports torch: weights are fake blobs put into the store.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lifecycle.decide
import lifecycle.schema  # noqa: F401  (imported before "ready": the kills land in commands)
import projections.layout
import projections.reconcile  # noqa: F401
from bootstrap import open_engine
from lifecycle.commands import Promote, RecordEvaluation, Rollback, Submit
from lifecycle.errors import Conflict, UserError
from models.classes import AZIMUTH_CLASSES, MAGNITUDE_CLASSES
from service.engine import Engine, Outcome

REPO = Path(__file__).resolve().parents[2]


def spawn(mode: str, root: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start ``python -m tests.helpers.workload MODE ROOT ...`` (the tests' child process)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.workload", mode, str(root), *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
CLASSES = {"magnitude": list(MAGNITUDE_CLASSES), "azimuth": list(AZIMUTH_CLASSES)}
METRICS = {"magnitude_accuracy": 90.0, "azimuth_accuracy": 60.0}
ACTOR = "tester@crash"


def fake_submit(engine: Engine, tag: str) -> Submit:
    """A Submit whose weights and class file are small fake blobs (no torch)."""
    weights = engine.store.put_bytes(f"fake weights {tag}".encode())
    classes = engine.store.put_bytes(json.dumps(CLASSES, sort_keys=True).encode())
    return Submit(weights=weights, classes=CLASSES, architecture="convnext_atto",
                  files={"class_mappings.json": classes})


def evaluation(ref: str, dataset: str, accuracy: float = 90.0) -> RecordEvaluation:
    return RecordEvaluation(ref=ref, dataset=dataset,
                            metrics={**METRICS, "magnitude_accuracy": accuracy})


PROJECTED = ("config", "models", "production")


def projected_tree(root: Path) -> dict[str, bytes | str]:
    """Every projected path: a symlink's target, or a file's bytes."""
    found: dict[str, bytes | str] = {}
    for top in PROJECTED:
        for base, _, files in os.walk(root / top):
            for name in files:
                path = Path(base) / name
                rel = str(path.relative_to(root))
                found[rel] = os.readlink(path) if path.is_symlink() else path.read_bytes()
    return found


def prepare(root: Path, champions: int = 3) -> Engine:
    """A root whose first ``champions`` models were each promoted in turn: versions
    1.0.0 .. 1.0.<champions-2> are archived former champions, the last one reigns."""
    engine = open_engine(root, actor=ACTOR)
    engine.init()
    for n in range(champions):
        engine.execute(fake_submit(engine, f"setup {n}"))
        engine.execute(Promote(ref="challenger", reason=f"setup {n}"))
    return engine


def copy_root(template: Path, where: Path) -> Engine:
    """A copy of a root's log and store with its projections rebuilt (so the model
    folders hold hard links into the new store, as the engine makes them)."""
    where.mkdir(parents=True)
    shutil.copytree(template / "store", where / "store")
    shutil.copy2(template / "events.jsonl", where / "events.jsonl")
    engine = open_engine(where, actor=ACTOR)
    engine.init()
    engine.replay()
    return engine


def rollback_target(engine: Engine, outcome_state: Any = None) -> str:
    """The next former champion (by version, cyclically) after the current champion."""
    state = outcome_state if outcome_state is not None else engine.state()
    reigned = sorted({state.models[m].version for m in state.reigns},
                     key=lambda v: tuple(int(p) for p in v.split(".")))
    champion = state.champion_record()
    assert champion is not None
    current = champion.version
    return reigned[(reigned.index(current) + 1) % len(reigned)]


def _ack(outcome: Outcome) -> None:
    print(f"{outcome.record['seq']} {outcome.record['hash']}", flush=True)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the start signal")
        time.sleep(0.001)


def run_evaluate(engine: Engine, tag: str, count: int, go: Path) -> None:
    """``count`` RecordEvaluation commands on the champion, datasets ``<tag>-<i>``."""
    print("ready", flush=True)
    _wait_for(go)
    for i in range(count):
        _ack(engine.execute(evaluation("champion", f"{tag}-{i}")))


def run_optimistic(engine: Engine, tag: str, count: int, go: Path) -> None:
    """Like ``evaluate``, but each command states the position it decided on and is
    retried on ``Conflict``; prints ``conflict`` for every refused attempt."""
    print("ready", flush=True)
    _wait_for(go)
    for i in range(count):
        while True:
            seen = engine.state().seq
            try:
                outcome = engine.execute(evaluation("champion", f"{tag}-{i}"), expected_seq=seen)
            except Conflict:
                print("conflict", flush=True)
                continue
            _ack(outcome)
            break


def run_promote(engine: Engine, tag: str) -> None:
    """Forever: submit a challenger and promote it (which archives the champion); every
    second promotion is followed by ``Rollback(ref=None)`` (back to the previous champion).
    The next command follows from the state alone, so a restarted child goes on with the
    same cycle: submit, promote, submit, promote, rollback."""
    state = engine.state()
    print("ready", flush=True)
    while True:
        champion = state.champion_record()
        if state.challenger is not None:
            command: Any = Promote(ref="challenger", reason=f"crash test {tag}")
        elif champion is not None and champion.rollback_from is None and len(state.models) % 2 == 0:
            command = Rollback(reason=f"crash test {tag}")
        else:
            command = fake_submit(engine, f"{tag} {state.seq}")
        outcome = engine.execute(command)
        _ack(outcome)
        state = outcome.state


def run_rollback(engine: Engine) -> None:
    """Forever: roll back to the next former champion."""
    state = engine.state()
    print("ready", flush=True)
    while True:
        target = rollback_target(engine, state)
        outcome = engine.execute(Rollback(ref=target, reason="crash test", severity="HIGH"))
        _ack(outcome)
        state = outcome.state


def run_race(engine: Engine, kind: str, tag: str, go: Path) -> None:
    """One command decided under the lock against whatever the others did first; prints
    its ack or ``refused: <message>`` (a ``UserError``: nothing appended)."""
    command: Any = (fake_submit(engine, tag) if kind == "submit"
                    else Promote(ref="challenger", reason=f"race {tag}"))
    print("ready", flush=True)
    _wait_for(go)
    try:
        _ack(engine.execute(command))
    except UserError as exc:
        print(f"refused: {exc}", flush=True)


def run_die(engine: Engine, kind: str, boundary: int) -> None:
    """Run one promotion or rollback and SIGKILL this process just before its
    ``boundary``-th call of ``os.write``, ``os.fsync`` or ``os.replace`` (counted together);
    prints ``survived <seq> <hash>`` when the command made fewer calls than that."""
    command: Any = (Promote(ref="challenger", reason="killed") if kind == "promote"
                    else Rollback(ref=rollback_target(engine), reason="killed"))
    calls = [0]

    def dying(real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if calls[0] == boundary:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return call

    for name in ("write", "fsync", "replace"):
        setattr(os, name, dying(getattr(os, name)))
    outcome = engine.execute(command)
    print(f"survived {outcome.record['seq']} {outcome.record['hash']}", flush=True)


def run_persist(engine: Engine, tag: str, count: int, go: Path) -> None:
    """Like ``evaluate``, riding out a database restart: after a ``LogUnreachable`` it waits
    and looks whether its command landed (its data set in the log) before trying again, so
    no command is recorded twice; the ack is the commit that holds it."""
    from lifecycle.errors import LogUnreachable

    print("ready", flush=True)
    _wait_for(go)
    for i in range(count):
        name = f"{tag}-{i}"
        while True:
            try:
                _ack(engine.execute(evaluation("champion", name)))
                break
            except LogUnreachable:
                time.sleep(0.2)
                found = _landed(engine, name)
                if found is not None:
                    print(f"{found['seq']} {found['hash']}", flush=True)
                    break


def _landed(engine: Engine, dataset: str) -> dict[str, Any] | None:
    from lifecycle.errors import LogUnreachable

    while True:
        try:
            return next((r for r in engine.records()
                         if any(e.get("dataset") == dataset for e in r["events"])), None)
        except LogUnreachable:
            time.sleep(0.2)


def run_read(engine: Engine, stop: Path) -> None:
    """Read the whole log until ``stop`` exists; every read must be a contiguous chain."""
    print("ready", flush=True)
    reads = 0
    while not stop.exists():
        seqs = [r["seq"] for r in engine.records()]
        if seqs != list(range(1, len(seqs) + 1)):
            raise SystemExit(f"non-contiguous read: {seqs}")
        reads += 1
    print(f"reads {reads}", flush=True)


def main(argv: list[str]) -> None:
    mode, root = argv[0], Path(argv[1])
    engine = open_engine(root, actor=f"{ACTOR}-{os.getpid()}")
    if mode == "evaluate":
        run_evaluate(engine, argv[2], int(argv[3]), Path(argv[4]))
    elif mode == "optimistic":
        run_optimistic(engine, argv[2], int(argv[3]), Path(argv[4]))
    elif mode == "promote":
        run_promote(engine, argv[2])
    elif mode == "rollback":
        run_rollback(engine)
    elif mode == "race":
        run_race(engine, argv[2], argv[3], Path(argv[4]))
    elif mode == "die":
        run_die(engine, argv[2], int(argv[3]))
    elif mode == "persist":
        run_persist(engine, argv[2], int(argv[3]), Path(argv[4]))
    elif mode == "read":
        run_read(engine, Path(argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
