"""Our side of each operation: the Python API in-process, the ``lifecycle`` CLI for fresh processes.

Every operation checks its result (the challenger just registered, the champion just set,
the serving path's bytes, the number of versions, the rebuilt state) and raises
``WrongResult`` when it is not what was asked: the runner stops on it.
"""

from __future__ import annotations

import cProfile
import hashlib
import json
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from api import ModelDeployer
from benchmarks import loggen, roots
from benchmarks.common import LIFECYCLE, run_child
from bootstrap import open_engine
from events.log import JsonlLog
from lifecycle.commands import Promote
from service.engine import fold

T = TypeVar("T")
PRODUCTION = Path("production/models/earthquake_model.pth")
ACTOR = "bench@peers"


class WrongResult(RuntimeError):
    """A measured operation did not do what it was asked to do."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise WrongResult(message)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Ours:
    """A registry root with ``versions`` models and a separate ``events``-event log."""

    def __init__(self, work: Path, versions: int, events: int) -> None:
        self.root, self.rebuild_root = work / "ours-registry", work / "ours-rebuild"
        self.versions, self.events = versions, events
        self.engine = open_engine(self.root, actor=ACTOR)
        self.counter = 0
        self.expected_models = 0

    def setup(self) -> dict[str, float]:
        """Both logs generated (``benchmarks.loggen``); the registry's projections built."""
        gen_s, _ = timed(lambda: loggen.generate(self.root, self.versions * 6, self.versions))
        init_s, _ = timed(self.engine.init)
        rebuild_s, big = timed(lambda: loggen.generate(self.rebuild_root, self.events, self.versions))
        check(big.events == self.events, f"generated {big.events} events, not {self.events}")
        self.rebuild_lines, self.rebuild_bytes = big.lines, big.bytes
        project_s, _ = timed(open_engine(self.rebuild_root, actor=ACTOR).replay)
        self.expected_models = len(self.engine.state().models)
        check(self.expected_models >= self.versions, f"only {self.expected_models} models")
        return {"registry_log_s": gen_s, "registry_project_s": init_s, "rebuild_log_s": rebuild_s,
                "rebuild_project_s": project_s}

    def register(self, weights: Path) -> tuple[float, str]:
        """Store the weights file and submit it as the challenger (``Engine.execute(Submit)``)."""
        self.counter += 1

        def op() -> str:
            blob = self.engine.store.put(weights)
            outcome = self.engine.execute(roots.fake_submit(self.engine.store, blob, self.counter))
            return str(outcome.state.challenger)

        seconds, model_id = timed(op)
        record = self.engine.state().challenger_record()
        check(record is not None and record.model_id == model_id, f"challenger is not {model_id}")
        return seconds, model_id

    def _promote(self) -> str:
        return str(self.engine.execute(Promote(ref="challenger", reason="benchmark")).state.champion)

    def champion(self, model_id: str) -> float:
        seconds, champion = timed(self._promote)
        check(champion == model_id == self.engine.state().champion, f"champion is {champion}, not {model_id}")
        return seconds

    def serve(self, model_id: str, digest: str) -> float:
        """Promote until ``production/models/earthquake_model.pth`` holds the new weights."""
        production = self.root / PRODUCTION
        seconds, served = timed(lambda: (self._promote(), sha256_file(production))[1])
        check(served == digest, f"serving path holds {served}, not {digest}")
        check(self.engine.state().champion == model_id, f"champion is not {model_id}")
        return seconds

    def list(self) -> tuple[float, int]:
        seconds, found = timed(lambda: ModelDeployer(self.root, actor=ACTOR).get_all_versions())
        check(len(found) >= self.versions, f"listed {len(found)} versions")
        return seconds, len(found)

    def read_champion_fresh(self, model_id: str) -> float:
        child = run_child([LIFECYCLE, "--root", str(self.root), "status", "--json"])
        champion = json.loads(child.stdout)["champion"]["model_id"]
        check(champion == model_id, f"fresh process read champion {champion}, not {model_id}")
        return child.wall_s

    def rebuild(self) -> float:
        """Fold the whole log (no cached state): what ``lifecycle replay`` does before projecting."""
        log = JsonlLog(self.rebuild_root / "events.jsonl")
        seconds, state = timed(lambda: fold(log.read()))
        check(state.seq == self.rebuild_lines, f"folded {state.seq} commits, not {self.rebuild_lines}")
        check(len(state.models) == self.versions, f"rebuilt {len(state.models)} models")
        return seconds

    def replay_fresh(self) -> float:
        """``lifecycle replay`` of the big log in a fresh process (projections up to date)."""
        child = run_child([LIFECYCLE, "--root", str(self.rebuild_root), "replay"])
        check(f"replayed {self.rebuild_lines} commits" in child.stdout, f"replay said {child.stdout[-300:]}")
        return child.wall_s


def profile(fn: Callable[[], Any], names: tuple[str, ...]) -> dict[str, float]:
    """Total and cumulative seconds of the named functions (``file:function`` suffixes) in one call."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(fn)
    total = time.perf_counter() - start
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    out = {"total": total}
    for name in names:
        file_part, func = name.split(":")
        out[name] = max((row[3] for (file, _, f), row in stats.items()
                         if f == func and file.endswith(file_part)), default=0.0)
    return out
