"""Issue 4 benchmarks: the daemon's reaction time and its idle CPU.

1. From the moment a drop's ``READY`` file appears to the ``trained`` step (the challenger
   is registered), measured in a running ``lifecycle watch`` process; evaluation excluded.
2. CPU time the daemon uses while idle (inotify: it should sleep; it stats the production
   files every 0.5 s).
3. Issue 13: from the moment the production file is removed (a projection behind the log)
   to the moment the running daemon has put it back (healed from the store).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bootstrap import open_engine


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(stream: Any, word: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if f" {word} " in line:
            return str(line)
    raise RuntimeError(f"daemon did not log {word!r}")


def run(quick: bool = False) -> dict[str, Any]:
    from models.candidate import write_candidate
    from models.synth import write_synthetic

    drops = 3 if quick else 6
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-daemon-") as tmp:
        base = Path(tmp)
        root = base / "root"
        open_engine(root).init()
        write_synthetic(root / "data" / "benchmark", samples=24, seed=4, image_size=32)
        candidates = [write_candidate(base / f"c{n}", "convnext_atto", seed=n) for n in range(drops)]
        env = {**os.environ, "LIFECYCLE_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
        child = subprocess.Popen([sys.executable, "-m", "cli", "watch", "--device", "cpu"], env=env,
                                 stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        try:
            _wait(child.stderr, "start")
            time.sleep(1.0)
            idle_window = 5.0 if quick else 20.0
            before = _cpu_seconds(child.pid)
            time.sleep(idle_window)
            idle_cpu = (_cpu_seconds(child.pid) - before) / idle_window
            reactions = [_react(root, candidate, n, child) for n, candidate in enumerate(candidates)]
            heals = [_heal(root) for _ in range(5 if quick else 20)]
        finally:
            child.terminate()
            child.wait(timeout=60)
    return {"reaction_s": reactions, "median_reaction_s": statistics.median(reactions),
            "max_reaction_s": max(reactions), "idle_cpu_fraction": idle_cpu, "idle_window_s": idle_window,
            "heal_s": heals, "median_heal_s": statistics.median(heals), "max_heal_s": max(heals)}


def _heal(root: Path) -> float:
    """Seconds from removing the production link to the daemon having put it back."""
    from projections.layout import PRODUCTION_LINK, PRODUCTION_TARGET

    link = root / PRODUCTION_LINK
    time.sleep(0.7)  # the daemon's previous look is over
    began = time.monotonic()
    link.unlink()
    while time.monotonic() - began < 30:
        if os.path.islink(link) and os.readlink(link) == PRODUCTION_TARGET:
            return time.monotonic() - began
        time.sleep(0.005)
    raise RuntimeError("the daemon did not heal the production link within 30 s")


def _react(root: Path, candidate: Path, n: int, child: subprocess.Popen[str]) -> float:
    drop = root / "inbox" / f"drop{n}"
    shutil.copytree(candidate, drop)
    ready = time.time()
    (drop / "READY").touch()
    line = _wait(child.stderr, "trained")
    _wait(child.stderr, "done")
    stamp = datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
    return stamp - ready


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
