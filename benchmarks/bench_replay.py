"""Benchmark 1: ``lifecycle --root R replay`` of a large log in a fresh process.

Measures, side by side on the same machine and page cache:
- end-to-end replay of the big log (projections deleted first: a full rebuild), events/s;
- the small log both ways: rebuilt, and with the projections already in place (nothing
  to write; the difference is the projection's write cost, which depends on the models,
  not on the log's length);
- peak RSS of the replay process for the small and the big log (same models, 10x events);
- the references: the bare hash-chain check (``frame_hash`` on every line) and the
  hash plus ``orjson.loads`` of every line (what any Python reader must do), in-process;
- an in-process breakdown on the small log (read, hash, scan, fold, project).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks import loggen
from benchmarks.common import LIFECYCLE, median, run_child
from bootstrap import open_engine
from events.codec import frame_hash
from events.log import JsonlLog
from service.engine import fold

PROJECTIONS = ("config", "models", "production")


def drop_projections(root: Path) -> None:
    """Delete the projections and wait for the deletion to reach the disk (``sync``), so
    that its journal work is not charged to the replay that follows."""
    for rel in PROJECTIONS:
        shutil.rmtree(root / rel, ignore_errors=True)
    os.sync()


def replay_once(root: Path, lines: int, rebuild: bool) -> tuple[float, int, int]:
    """(wall seconds, peak RSS KiB, number of changes) of one replay process."""
    if rebuild:
        drop_projections(root)
    child = run_child([LIFECYCLE, "--root", str(root), "replay"])
    last = child.stdout.strip().splitlines()[-1]
    if not last.startswith(f"replayed {lines} commits"):
        raise RuntimeError(f"unexpected replay output: {last!r}")
    changes = int(last.split(";")[1].split()[0])
    return child.wall_s, child.maxrss_kib, changes


def chain_check(path: Path) -> int:
    """The reference: sha256 of every line's body, as ``frame_hash`` does."""
    n = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for line in f:
            if frame_hash(line) is None:
                raise RuntimeError(f"line {n + 1} fails its hash")
            n += 1
    return n


def parse_check(path: Path) -> int:
    """The floor of any Python reader: every line's sha256 and ``orjson.loads`` (one core)."""
    n = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for line in f:
            if frame_hash(line) is None or not orjson.loads(line):
                raise RuntimeError(f"line {n + 1} fails its hash")
            n += 1
    return n


def read_lines(path: Path) -> int:
    n = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for _ in f:
            n += 1
    return n


def timed(fn: Callable[[], Any], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def breakdown(root: Path, reps: int) -> dict[str, list[float]]:
    """In-process stages of a replay on an up-to-date root (no process start)."""
    path = root / "events.jsonl"
    engine = open_engine(root)
    states = []
    stages = {
        "read lines (no hashing)": timed(lambda: read_lines(path), reps),
        "hash chain reference (frame_hash per line)": timed(lambda: chain_check(path), reps),
        "JsonlLog.read (hash + orjson.loads + chain)": timed(
            lambda: sum(1 for _ in JsonlLog(path).read()), reps),
        "fold (the one reader + lifecycle.evolve.fold; no cache)": timed(
            lambda: fold(JsonlLog(path).read()), reps),
        "Engine.state (the state cache + the commits after it)": timed(
            lambda: states.append(engine.state()), reps),
    }
    stages["Engine.project (up-to-date tree, nothing written)"] = timed(
        lambda: engine.project(states[-1]), reps)
    return stages


def run(work: Path, big_events: int, small_events: int, models: int, reps: int,
        say: Callable[[str], None]) -> dict[str, Any]:
    small_root, big_root = work / "replay-small", work / "replay-big"
    say(f"generating {big_events:,}-event log ({models} models) ...")
    big = loggen.generate(big_root, big_events, models)
    say(f"  {big.lines:,} lines, {big.bytes / 1e6:.0f} MB in {big.seconds:.1f} s")
    say(f"generating {small_events:,}-event log ({models} models) ...")
    small = loggen.generate(small_root, small_events, models, seed=7)
    checked = loggen.check_sample(big.sample) + loggen.check_sample(small.sample)
    say(f"  validated {checked} sampled lines against lifecycle.schema (canonical form)")

    say("hash-chain and hash + parse references on the big log ...")
    chain_times = timed(lambda: chain_check(big.path), reps)
    parse_times = timed(lambda: parse_check(big.path), reps)

    result: dict[str, Any] = {"big": big._replace(sample=[]), "small": small._replace(sample=[]),
                              "validated_lines": checked, "chain_s": chain_times, "parse_s": parse_times}
    runs: dict[str, list[tuple[float, int, int]]] = {
        "big_rebuild": [], "big_uptodate": [], "small_rebuild": [], "small_uptodate": []}
    for rep in range(reps):
        say(f"replay round {rep + 1}/{reps} ...")
        runs["small_rebuild"].append(replay_once(small_root, small.lines, rebuild=True))
        runs["small_uptodate"].append(replay_once(small_root, small.lines, rebuild=False))
        runs["big_rebuild"].append(replay_once(big_root, big.lines, rebuild=True))
        runs["big_uptodate"].append(replay_once(big_root, big.lines, rebuild=False))
        say(f"  big rebuild {runs['big_rebuild'][-1][0]:.2f} s, up to date {runs['big_uptodate'][-1][0]:.2f} s")
    result["runs"] = runs
    say("lifecycle verify of the small log (schema, canonical form, fold, blobs, folders) ...")
    verify = run_child([LIFECYCLE, "--root", str(small_root), "verify"])
    if not verify.stdout.strip().endswith(": ok"):
        raise RuntimeError(f"verify failed: {verify.stdout[-2000:]}")
    result["verify"] = (verify.wall_s, verify.stdout.strip().splitlines()[-1])
    help_child = [run_child([LIFECYCLE, "--help"]) for _ in range(3)]
    result["help_rss_kib"] = median([c.maxrss_kib for c in help_child])
    say("in-process breakdown on the small log ...")
    result["breakdown"] = breakdown(small_root, reps)
    result["roots"] = {"small": small_root, "big": big_root}
    return result


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Medians and rates from a ``run`` result."""
    big, small, runs = result["big"], result["small"], result["runs"]
    out: dict[str, Any] = {}
    for key, gen in (("big_rebuild", big), ("big_uptodate", big),
                     ("small_rebuild", small), ("small_uptodate", small)):
        if not runs[key]:
            continue
        wall = median([r[0] for r in runs[key]])
        out[key] = {"wall_s": wall, "walls": [r[0] for r in runs[key]],
                    "events_per_s": gen.events / wall, "lines_per_s": gen.lines / wall,
                    "rss_kib": median([r[1] for r in runs[key]]),
                    "changes": runs[key][0][2], "n": len(runs[key])}
    chain = median(result["chain_s"])
    out["chain"] = {"wall_s": chain, "walls": result["chain_s"],
                    "lines_per_s": big.lines / chain, "events_per_s": big.events / chain,
                    "mb_per_s": big.bytes / 1e6 / chain}
    parse = median(result.get("parse_s") or [float("nan")])
    out["parse"] = {"wall_s": parse, "walls": result.get("parse_s", []),
                    "lines_per_s": big.lines / parse, "events_per_s": big.events / parse}
    return out
