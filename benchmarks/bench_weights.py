"""Benchmark 4: promotion and rollback of a large checkpoint vs a small one, in-process.

Two roots with the same history, differing only in the weight files' size. Each round
(untimed) stores a fresh weights file with ``store.put_file`` and submits it with one
``RecordEvaluation``; then ``Engine.execute(Promote)`` and ``Engine.execute(Rollback)``
are timed. Rounds alternate between the two roots (and which goes first).

Each timed command also records the time spent waiting in ``os.fsync`` (the shared
disk's fsync latency is the main noise here) and the bytes it read and wrote through
system calls (``/proc/self/io``): a promotion that copied the weights would show it.
A switch reads the target's weights back and checks their sha256 before it appends (issue
13): that read-back (``BlobStore.check``) is timed on its own too, so the report can show the
cost of the switch itself beside the cost of the check, which grows with the file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks import roots
from bootstrap import open_engine
from lifecycle.commands import Promote, Rollback
from service.engine import Engine


class Sample(NamedTuple):
    wall_s: float
    fsync_s: float
    fsyncs: int
    read_bytes: int
    written_bytes: int


def _io() -> dict[str, int]:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return {}
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines())}


def measured(fn: Callable[[], object]) -> Sample:
    """Run ``fn`` timing it, its fsync waits and its syscall I/O."""
    real_fsync = os.fsync
    waits = [0.0, 0]

    def fsync(fd: int) -> None:
        start = time.perf_counter()
        try:
            real_fsync(fd)
        finally:
            waits[0] += time.perf_counter() - start
            waits[1] += 1

    before = _io()
    os.fsync = fsync
    start = time.perf_counter()
    try:
        fn()
    finally:
        wall = time.perf_counter() - start
        os.fsync = real_fsync
    after = _io()
    return Sample(wall, waits[0], int(waits[1]), after.get("rchar", 0) - before.get("rchar", 0),
                  after.get("wchar", 0) - before.get("wchar", 0))


class _Root:
    def __init__(self, path: Path, source: Path, size: int) -> None:
        self.size = size
        self.source = source
        self.engine = open_engine(path, actor=roots.ACTOR)
        self.engine.init()
        self.n = 0
        self.put_s: list[float] = []
        self.promote: list[Sample] = []
        self.rollback: list[Sample] = []

    def submit(self) -> None:
        self.n += 1
        roots.stamp(self.source, self.n)
        start = time.perf_counter()
        weights = self.engine.store.put_file(self.source)
        self.put_s.append(time.perf_counter() - start)
        roots.add_challenger(self.engine, weights, self.n)

    def do_promote(self) -> Sample:
        return measured(lambda: self.engine.execute(Promote("challenger", "benchmark promotion")))

    def do_rollback(self) -> Sample:
        return measured(lambda: self.engine.execute(Rollback(reason="benchmark rollback")))


def run(work: Path, small_size: int, big_size: int, reps: int,
        say: Callable[[str], None]) -> dict[str, Any]:
    say(f"writing {big_size / 1e6:.0f} MB and {small_size / 1e6:.0f} MB weight files ...")
    small = _Root(work / "weights-small", roots.weight_file(work / "small.pth", small_size),
                  small_size)
    big = _Root(work / "weights-big", roots.weight_file(work / "big.pth", big_size), big_size)
    for r in (small, big):  # a first champion, so every timed promotion archives one
        r.submit()
        r.do_promote()
    for rep in range(reps):
        order = (big, small) if rep % 2 == 0 else (small, big)
        for r in order:
            r.submit()
        for r in order:
            r.promote.append(r.do_promote())
        for r in reversed(order):
            r.rollback.append(r.do_rollback())
        say(f"  round {rep + 1}/{reps}: promote {big.promote[-1].wall_s * 1000:.1f} ms (big) / "
            f"{small.promote[-1].wall_s * 1000:.1f} ms (small)")
    for r in (small, big):
        r.source.unlink()
        _check_links(r.engine)
    return {name: {"size": r.size, "promote": r.promote, "rollback": r.rollback,
                   "promote_s": [x.wall_s for x in r.promote],
                   "rollback_s": [x.wall_s for x in r.rollback], "put_s": r.put_s,
                   "check_s": _check_time(r.engine, reps)}
            for name, r in (("small", small), ("big", big))} | {"models": small.n}


def _check_time(engine: Engine, reps: int) -> float:
    """Median seconds of the read-back check of the champion's weights (what a switch pays)."""
    champion = engine.state().champion_record()
    assert champion is not None and champion.weights is not None
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        assert engine.store.check(champion.weights["digest"], champion.weights["size"]) is None
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _check_links(engine: Engine) -> None:
    """The champion's weights are the store's blob (a hard link), not a copy."""
    state = engine.state()
    champion = state.champion_record()
    assert champion is not None and champion.weights is not None
    link = engine.root / "models" / "champion" / "best_model.pth"
    blob = engine.store.path(champion.weights["digest"])
    if not link.samefile(blob):
        raise AssertionError(f"{link} is not a hard link to its blob")
    production = engine.root / "production" / "models" / "earthquake_model.pth"
    if not production.resolve().samefile(blob):
        raise AssertionError(f"{production} does not lead to the champion's weights")
