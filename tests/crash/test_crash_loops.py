"""kill -9 loops over every writing command and over the daemon processing drops.

``tests/helpers/crashloop.py`` does the work: ROUNDS kills per command here (a few hundred
with ``python -m benchmarks.reliability kills``). After every kill: nothing acknowledged is
lost, no projected file is half-written, and the root recovers with ``verify`` clean.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootstrap import open_engine
from projections.layout import desired_tree
from service.engine import fold
from service.verify import verify
from tests.helpers import crashloop
from tests.helpers.faults import SEED, half_written
from tests.integration.test_daemon import WATCH, drop

ROUNDS = int(os.environ.get("LIFECYCLE_KILL_ROUNDS", "15"))


@pytest.mark.parametrize("kind", crashloop.KINDS)
def test_kill_loop(tmp_path: Path, kind: str) -> None:
    imported = None
    if kind == "import":
        if not SEED.is_dir():
            pytest.skip(f"fixture not found: {SEED}")
        from service.importer import build_import

        command, files, _ = build_import(SEED)
        imported = (command, files)
    stats, problems = crashloop.loop(kind, tmp_path, ROUNDS, seed=sum(map(ord, kind)),
                                     imported=imported)
    assert problems == []
    assert stats.rounds == ROUNDS
    assert sum(stats.killed_in.values()) >= 1, stats  # kills landed inside commands
    if kind not in ("replay", "import"):
        assert stats.acked >= ROUNDS // 4, stats  # the children made progress
        assert stats.commands[kind] or kind == "submit", stats


@pytest.fixture(scope="module")
def holdout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.synth import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("h") / "benchmark", samples=24, seed=4,
                           image_size=32).root


def _watch(root: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LIFECYCLE_ROOT": str(root)}
    return subprocess.Popen([sys.executable, "-c", "from cli.app import main; main()", "watch",
                             "--device", "cpu"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait_for_line(child: subprocess.Popen[bytes], text: bytes, timeout: float = 60) -> None:
    assert child.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = child.stderr.readline()
        if not line or text in line:
            return
    raise AssertionError(f"{text!r} not seen")


def test_kill_loop_of_the_daemon_processing_drops(
    tmp_path: Path, candidates: list[Path], holdout: Path
) -> None:
    """The daemon is killed at random moments while it registers, evaluates and decides
    drops; after each kill nothing is half-written and no acknowledged commit is lost; a
    final ``watch --once`` finishes the work: each drop registered and decided once."""
    from tests.conftest import Cli

    root = tmp_path / "root"
    open_engine(root).init()
    shutil.copytree(holdout, root / "data" / "benchmark")
    for n, candidate in enumerate(candidates):
        drop(root, candidate, f"d{n}")
    rng, seen = random.Random(11), list[str]()
    for _ in range(int(os.environ.get("LIFECYCLE_DAEMON_KILLS", "3"))):
        child = _watch(root)
        try:
            _wait_for_line(child, b" drop ")
            time.sleep(rng.uniform(0.0, 1.5))
        finally:
            child.kill()
            child.wait()
        engine = open_engine(root)
        records = list(engine.records())
        assert [r["hash"] for r in records[: len(seen)]] == seen
        seen = [r["hash"] for r in records]
        trees = [desired_tree(fold(records, at_seq=s))
                 for s in range(max(0, len(records) - 2), len(records) + 1)]
        assert half_written(root, trees)[0] == []
    cli = Cli(root)
    cli(*WATCH)
    models = sorted(r["model_id"] for r in cli.json("list"))
    assert models == [f"convnext_v1.0.{n}" for n in range(len(candidates))]
    decided = [r["model_id"] for r in cli.json("history") if r["type"] in ("promoted", "rejected")]
    assert sorted(decided) == models
    engine = open_engine(root)
    assert verify(root, engine.log, engine.store).problems == []  # type: ignore[arg-type]
