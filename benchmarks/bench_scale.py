"""Benchmark 8 (issue 14, scale): reading commands on a 100,000-event root, fresh processes.

On the replay benchmark's small root (100,000 events, 1,500 model versions: the size a busy
registry reaches): ``status``, ``list``, ``history --model X`` and ``rollback --list`` once
without ``cache/`` (the run folds the whole log and writes the state cache), then repeatedly
with the cache in place, alternating with ``lifecycle --help`` (the process start and CLI
imports every command pays). Every output is checked against the first run's, so a wrong
answer from the cache fails the benchmark. Targets (issue 14): each command within 1 s of
process start with the cache, within 2 s without it (whole process, wall clock).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import LIFECYCLE, median, run_child
from bootstrap import open_engine

TARGET_S = 1.0  # with the cache
COLD_TARGET_S = 2.0  # without it
PAGE_TARGET_S = 1.0  # a dashboard page after the first load


def commands(state_json: dict[str, Any]) -> dict[str, list[str]]:
    archived = [m for m in state_json["models"].values() if m["status"] != "champion"]
    middle = sorted(archived, key=lambda m: [int(p) for p in m["version"].split(".")])[len(archived) // 2]
    return {"status": ["status"], "list": ["list"], "history --model": ["history", "--model", middle["version"]],
            "rollback --list": ["rollback", "--list"]}


def run(root: Path, reps: int, say: Callable[[str], None]) -> dict[str, Any]:
    from projections.snapshot import state_to_json

    shutil.rmtree(root / "cache", ignore_errors=True)
    which = commands(state_to_json(open_engine(root).state()))
    shutil.rmtree(root / "cache", ignore_errors=True)
    out: dict[str, Any] = {"cold": {}, "warm": {}, "help": [], "args": which}
    expected: dict[str, str] = {}
    for name, args in which.items():
        child = run_child([LIFECYCLE, "--root", str(root), *args, "--json"])
        expected[name] = child.stdout
        out["cold"][name] = child.wall_s
        say(f"  {name} without cache: {child.wall_s:.2f} s")
    for _ in range(reps):
        out["help"].append(run_child([LIFECYCLE, "--help"]).wall_s)
        for name, args in which.items():
            child = run_child([LIFECYCLE, "--root", str(root), *args])
            out["warm"].setdefault(name, []).append(child.wall_s)
            check = run_child([LIFECYCLE, "--root", str(root), *args, "--json"])
            if check.stdout != expected[name]:
                raise RuntimeError(f"{name}: the cached answer differs from the full fold's")
    out["middle_model"] = f"convnext_v{which['history --model'][2]}"
    out["cache_bytes"] = {p.name: p.stat().st_size for p in sorted((root / "cache").iterdir())}
    out["medians"] = {name: median(times) for name, times in out["warm"].items()}
    out["worst"] = max(out["medians"].values())
    return out


def target(scale: dict[str, Any]) -> dict[str, Any]:
    """Each command's whole process: the median with the cache, the one run without it."""
    warm = max(scale["medians"], key=scale["medians"].__getitem__)
    cold = max(scale["cold"], key=scale["cold"].__getitem__)
    return {"key": "scale", "name": "8. status, list, history --model, rollback --list on 100,000 events, "
                                   "1,500 versions (fresh process)",
            "target": f"<= {TARGET_S:.0f} s with the cache, <= {COLD_TARGET_S:.0f} s without (whole process)",
            "measured": f"worst with cache {warm} {1000 * scale['medians'][warm]:.0f} ms; worst without "
                        f"{cold} {1000 * scale['cold'][cold]:.0f} ms; "
                        f"`--help` {1000 * median(scale['help']):.0f} ms",
            "passed": scale["medians"][warm] <= TARGET_S and scale["cold"][cold] <= COLD_TARGET_S}


def dashboard_target(result: dict[str, Any]) -> dict[str, Any]:
    worst = max(result["pages"], key=lambda page: result["pages"][page]["median_s"])
    return {"key": "dashboard-scale", "name": "8. dashboard pages on 100,000 events, 1,500 versions "
                                             "(cache in place; History unfiltered, by model, by type)",
            "target": f"< {1000 * PAGE_TARGET_S:.0f} ms per page after the first load (median)",
            "measured": f"worst {worst} {1000 * result['pages'][worst]['median_s']:.0f} ms; first load "
                        f"{result['first_load_s']:.2f} s; time travel to mid-log {result['time_travel_s']:.2f} s "
                        "(on demand)",
            "passed": result["pages"][worst]["median_s"] < PAGE_TARGET_S}


def section(scale: dict[str, Any]) -> list[str]:
    out = ["## 8. Reading commands at scale", "",
           "The replay benchmark's small root (100,000 events, 1,500 versions), fresh processes. "
           "*Without cache*: `cache/` deleted first (the run folds the whole log, then writes "
           "`cache/state.json`; `history` is a filter over one read of the log). *With cache*: median "
           "of the runs after it; each answer was compared (`--json`) with the first run's.", "",
           "| command | without cache | with cache (median) | runs (s) |", "|---|---|---|---|"]
    for name, args in scale["args"].items():
        runs = ", ".join(f"{t:.3f}" for t in scale["warm"][name])
        out.append(f"| `lifecycle {' '.join(args)}` | {scale['cold'][name]:.2f} s | "
                   f"{1000 * scale['medians'][name]:.0f} ms | {runs} |")
    start = 1000 * median(scale["help"])
    out += ["", f"`lifecycle --help` (process start and CLI imports): median {start:.0f} ms.",
            "Cache files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in scale["cache_bytes"].items())
            + ".", ""]
    return out
