"""Where the time goes: cProfile of a CLI process, and ``-X importtime`` summaries.

``python -m benchmarks.profiling OUT.prof ARGS...`` runs ``lifecycle ARGS...`` in this
process under cProfile (imports included) and writes the stats to ``OUT.prof``.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import PYTHON, REPO, run_child


def profile_cli(out: Path, args: list[str]) -> None:
    """Profile ``lifecycle ARGS`` in a fresh child process; stats land in ``out``."""
    run_child([PYTHON, "-m", "benchmarks.profiling", str(out), *args])


def top_functions(prof: Path, n: int = 15) -> tuple[float, list[dict[str, Any]]]:
    """Total seconds and the top ``n`` functions by own time (with cumulative time)."""
    stats = pstats.Stats(str(prof))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        rows.append({"function": _where(file, line, name), "ncalls": ncalls,
                     "tottime": tottime, "cumtime": cumtime})
    rows.sort(key=lambda r: r["tottime"], reverse=True)
    return total, rows[:n]


def cumulative_of(prof: Path, names: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Cumulative time of chosen functions, given as (file suffix, function name)."""
    stats = pstats.Stats(str(prof))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    found = []
    for suffix, wanted in names:
        for (file, line, name), (_cc, ncalls, _tt, cumtime, _callers) in raw.items():
            if name == wanted and file.endswith(suffix):
                found.append({"function": _where(file, line, name), "ncalls": ncalls,
                              "cumtime": cumtime})
                break
    return found


def _where(file: str, line: int, name: str) -> str:
    """``path:line(function)``, relative to the repository or to site-packages."""
    if file == "~":
        return name
    path = Path(file)
    if "site-packages" in path.parts:
        idx = len(path.parts) - 1 - list(reversed(path.parts)).index("site-packages")
        return f"{'/'.join(path.parts[idx + 1:])}:{line}({name})"
    if path.is_relative_to(REPO):
        return f"{path.relative_to(REPO)}:{line}({name})"
    return f"{path.name}:{line}({name})"


def importtime_rows(stderr: str) -> list[tuple[str, int, float, float]]:
    """(module, depth, self s, cumulative s) for every line of ``-X importtime``."""
    rows: list[tuple[str, int, float, float]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative, name = line.split(":", 1)[1].split("|", 2)
        name = name[1:]  # one separating space, then two per nesting level
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((name.strip(), depth, float(self_us) / 1e6, float(cumulative) / 1e6))
    return rows


def importtime_top(stderr: str, n: int = 12) -> list[tuple[str, float, float]]:
    """Top-level imports (name, self s, cumulative s), by cumulative time."""
    rows = [(name, own, cum) for name, depth, own, cum in importtime_rows(stderr) if depth == 0]
    rows.sort(key=lambda r: r[2], reverse=True)
    return rows[:n]


def importtime_self(stderr: str, n: int = 12) -> list[tuple[str, float, float]]:
    """Modules at any depth (name, self s, cumulative s), by their own import time."""
    rows = [(name, own, cum) for name, _depth, own, cum in importtime_rows(stderr)]
    rows.sort(key=lambda r: r[1], reverse=True)
    return rows[:n]


def _main(argv: list[str]) -> None:
    out, args = Path(argv[0]), argv[1:]
    profiler = cProfile.Profile()
    sys.argv = ["lifecycle", *args]
    profiler.enable()
    try:
        from cli.app import main

        main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        profiler.disable()
        profiler.dump_stats(str(out))


if __name__ == "__main__":
    _main(sys.argv[1:])
