"""Shared helpers: child processes with their own rusage, medians, machine facts."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PYTHON = str(VENV_BIN / "python")
LIFECYCLE = str(VENV_BIN / "lifecycle")


class Child(NamedTuple):
    wall_s: float
    code: int
    maxrss_kib: int
    stdout: str
    stderr: str


def run_child(argv: Sequence[str], *, env: dict[str, str] | None = None,
              check: bool = True) -> Child:
    """Run a process to completion; wall time and *its own* peak RSS (``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        child = Child(wall, proc.returncode, usage.ru_maxrss,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if check and child.code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {child.code}\n"
                           f"stdout: {child.stdout[-2000:]}\nstderr: {child.stderr[-2000:]}")
    return child


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """``min..max`` of a sample, for the tables."""
    return f"{min(values):.3f}..{max(values):.3f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, str]:
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()} "
                  f"({sys.executable})",
        "platform": platform.platform(),
    }


def fmt_s(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"
