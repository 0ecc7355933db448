"""kill -9 loops over every writing command (``tests/crash/test_crash_loops.py``,
``benchmarks/reliability.py kills``).

A forked child (a real process; fork makes a round cost milliseconds, not an interpreter
start) runs one kind of command in a loop, the next command following from the state alone,
and writes ``start <command>`` before and ``ack <seq> <hash>`` after each ``execute`` to a
pipe. The parent SIGKILLs it after a random delay, then checks: every acknowledged commit is
in the log with its hash; no file under ``models/``, ``config/``, ``production/`` is
half-written (each equals that path in the projection of one of the last three states); the
production file is the champion's bytes, or the production health (what ``status`` shows
and exits 1 on) says it is not; the root recovers (alternately by ``replay``, by a writing
command, or by the next child's first command alone) and ``verify`` is clean.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bootstrap import open_engine
from lifecycle.commands import (
    AddData,
    DecideChallenger,
    Promote,
    RecordEvaluation,
    RecordEvaluations,
    RecordObservation,
    Reject,
    Rollback,
)
from lifecycle.state import State
from projections.layout import desired_tree
from service.engine import Engine, fold
from service.verify import verify
from tests.helpers.faults import half_written
from tests.helpers.workload import ACTOR, METRICS, evaluation, fake_submit, prepare, rollback_target

KINDS = ("submit", "evaluate", "decide", "promote", "reject", "rollback", "import", "replay",
         "data_add", "observe")
Action = Callable[[], Any]


def _submit(engine: Engine, n: int) -> tuple[str, Action]:
    return "submit", lambda: engine.execute(fake_submit(engine, f"loop {os.getpid()} {n}"))


def _data_add(engine: Engine, n: int) -> tuple[str, Action]:
    image = f"fake spectrogram {os.getpid()} {n}".encode()
    stored = engine.store.digest_bytes(image)
    event_id = f"GTO_{os.getpid()}_{n}"
    day = (date(2000, 1, 1) + timedelta(days=len(engine.state().data))).isoformat()  # one event per day
    command = AddData(event_id=event_id, station="GTO", date=day, magnitude_class="Large",
                      azimuth_class="N", images=({"name": f"{event_id}_1.png", **stored},))
    return "data_add", lambda: engine.execute(command, blobs={stored["digest"]: image})


def _decide(engine: Engine, state: State, n: int) -> tuple[str, Action]:
    challenger = state.challenger_record()
    if challenger is None:
        return _submit(engine, n)
    if not challenger.evaluations:
        both = RecordEvaluations((evaluation("challenger", "loop", 80.0 + n % 20),
                                  evaluation("champion", "loop", 90.0)))
        return "evaluate", lambda: engine.execute(both)
    return "decide", lambda: engine.execute(DecideChallenger(dataset="loop", same_data=True))


def _replay(engine: Engine) -> tuple[str, Action]:
    def damage_and_replay() -> Any:
        for rel in ("models/champion", "production", "config/model_registry.json"):
            path = engine.root / rel
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        return engine.replay()

    return "replay", damage_and_replay


def next_command(kind: str, engine: Engine, state: State, n: int) -> tuple[str, Action]:
    """The loop's next command for ``kind``, from the state alone (restart-safe)."""
    waiting = state.challenger is not None
    if kind in ("submit", "promote", "reject") and not waiting:
        return _submit(engine, n)
    if kind == "submit":
        return "reject", lambda: engine.execute(Reject("challenger", "loop"))
    if kind == "promote":
        return "promote", lambda: engine.execute(Promote("challenger", "loop"))
    if kind == "reject":
        return "reject", lambda: engine.execute(Reject("challenger", "loop"))
    if kind == "evaluate":
        return "evaluate", lambda: engine.execute(evaluation("champion", f"loop-{n}"))
    if kind == "decide":
        return _decide(engine, state, n)
    if kind == "rollback":
        target = rollback_target(engine, state)
        return "rollback", lambda: engine.execute(Rollback(ref=target, reason="loop"))
    if kind == "replay":
        return _replay(engine)
    if kind == "data_add":
        return _data_add(engine, n)
    if kind == "observe":
        champion = state.champion_record()
        if champion is None or champion.metrics.get("false_positive_rate") is None:  # something to judge by
            measured = RecordEvaluation(ref="champion", dataset=f"loop-{n}",
                                        metrics={**METRICS, "false_positive_rate": 2.0})
            return "evaluate", lambda: engine.execute(measured)
        command = RecordObservation(ref="champion", false_positive_rate=float(n % 9), apply=n % 4 == 0)
        return "observe", lambda: engine.execute(command)
    raise ValueError(kind)


def _say(fd: int, text: str) -> None:
    os.write(fd, text.encode() + b"\n")


def _child(kind: str, root: Path, fd: int, imported: Any) -> None:
    engine = open_engine(root, actor=f"{ACTOR}-{os.getpid()}")
    if kind == "import":
        engine.init()
        _say(fd, "start import")
        outcome = engine.execute(imported[0], blobs=imported[1])
        _say(fd, f"ack {outcome.record['seq']} {outcome.record['hash']}")
        return
    for n in range(10**9):
        name, action = next_command(kind, engine, engine.state(), n)
        _say(fd, f"start {name}")
        outcome = action()
        record = getattr(outcome, "record", None)
        _say(fd, f"ack {record['seq']} {record['hash']}" if record else "ack - -")


def kill_child(kind: str, root: Path, delay: float, imported: Any = None) -> list[str]:
    """Fork a child looping over ``kind`` on ``root``; SIGKILL it after ``delay`` seconds;
    return the lines it wrote."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 0
        try:
            os.close(read_end)
            _child(kind, root, write_end, imported)
        except BaseException as exc:  # reported to the parent, which fails the test
            _say(write_end, f"error {exc!r}")
            code = 1
        os._exit(code)
    os.close(write_end)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
    os.close(read_end)
    text = b"".join(chunks).decode()
    return text.split("\n")[:-1]  # a line cut by the kill has no newline: not counted


@dataclass
class Stats:
    rounds: int = 0
    acked: int = 0
    killed_in: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)


def _recent_trees(engine: Engine) -> list[Any]:
    records = list(engine.records())
    head = len(records)
    return [desired_tree(fold(records, at_seq=s)) for s in range(max(0, head - 2), head + 1)]


def check_after_kill(root: Path, acked: list[str]) -> list[str]:
    """Problems seen right after a kill, before any recovery."""
    engine = open_engine(root, actor="checker")
    hashes = {r["hash"] for r in engine.records()}
    problems = [f"acknowledged commit {h[:12]} lost" for h in acked if h not in hashes]
    bad, _temps = half_written(root, _recent_trees(engine))  # temps: cleaned by the next writer
    return problems + [f"half-written or foreign file {rel}" for rel in bad] + _production_problems(engine)


def _production_problems(engine: Engine) -> list[str]:
    """The production file is the champion's weights, or the health says it is not."""
    import hashlib

    from projections.layout import PRODUCTION_LINK
    from projections.production import production_blob

    state = engine.state()
    champion = state.champion_record()
    expected = production_blob(champion) if champion is not None else None
    if champion is None or expected is None:
        return []
    try:
        serving = hashlib.sha256((engine.root / PRODUCTION_LINK).read_bytes()).hexdigest()
    except OSError:
        serving = None
    health = engine.production_health(state)
    if serving != expected["digest"] and health.ok:
        return [f"production serves {str(serving)[:12]}, not {champion.model_id}, yet status says ok"]
    if serving == expected["digest"] and not health.ok and health.state != "stale":
        return [f"production serves {champion.model_id}, yet status says {health.state}"]
    return []


def recover_and_verify(root: Path, how: int, n: int) -> list[str]:
    """Recover (0: replay, 1: a writing command, 2: nothing: the next child must heal)."""
    engine = open_engine(root, actor="checker")
    if how == 2:
        return []
    if how == 0 or engine.state().champion is None:
        engine.replay()
    else:
        engine.execute(evaluation("champion", f"check-{n}"))
    report = verify(root, engine.log, engine.store)  # type: ignore[arg-type]
    _, temps = half_written(root, [])
    health = engine.production_health()  # a champion imported without weights has nothing to serve
    healthy = [] if health.ok or health.state == "unavailable" else [f"production: {health.detail}"]
    return [f"verify: {p}" for p in report.problems] + [f"temp file left: {t}" for t in temps] + healthy


def loop(kind: str, base: Path, rounds: int, seed: int, max_delay: float = 0.15,
         imported: Any = None) -> tuple[Stats, list[str]]:
    """``rounds`` kills of a child running ``kind``; returns the stats and every problem."""
    rng = random.Random(seed)
    stats, problems, acked = Stats(), list[str](), list[str]()
    root = base / kind
    if kind != "import":
        prepare(root, champions=3)
    for n in range(rounds):
        where = base / f"import-{n}" if kind == "import" else root
        lines = kill_child(kind, where, rng.uniform(0.0, max_delay), imported)
        problems += [line for line in lines if line.startswith("error")]
        started = [line.split()[1] for line in lines if line.startswith("start")]
        new = [line.split()[2] for line in lines if line.startswith("ack") and line.split()[2] != "-"]
        stats.rounds += 1
        stats.acked += len(new)
        stats.commands.update(started)
        if len(started) > sum(line.startswith("ack") for line in lines):
            stats.killed_in[started[-1]] += 1
        acked = new if kind == "import" else acked + new
        if not (where / "events.jsonl").exists():
            continue  # an import killed before ``init`` created the log
        problems += [f"round {n}: {p}" for p in check_after_kill(where, acked)]
        problems += [f"round {n}: {p}" for p in recover_and_verify(where, 0 if kind == "import" else n % 3, n)]
    if kind != "import":
        problems += [f"final: {p}" for p in recover_and_verify(root, 0, rounds)]
    return stats, problems
