"""Benchmarks 2 and 3: short CLI processes against their process-start baselines.

- ``lifecycle --root R status`` vs ``python -c "import typer, pydantic, orjson"``;
- ``lifecycle --root R promote challenger --reason x`` vs ``lifecycle --help``.

Each pair alternates run by run (after warm-up runs), so drift on a noisy machine hits
both sides alike; medians are reported. Which heavy modules each command imported is
read from ``sys.modules`` at exit through a small wrapper process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import roots
from benchmarks.common import LIFECYCLE, PYTHON, run_child
from benchmarks.profiling import importtime_self, importtime_top

BASELINE_IMPORTS = "import typer, pydantic, orjson"
HEAVY = ("torch", "timm", "torchvision", "numpy", "PIL", "scipy", "pandas")

_WRAPPER = """
import atexit, sys
def _report():
    heavy = [m for m in {heavy!r} if m in sys.modules]
    with open({out!r}, "w") as f:
        f.write(",".join(heavy) + "\\n" + str(len(sys.modules)))
atexit.register(_report)
sys.argv = ["lifecycle", *{args!r}]
from cli.app import main
main()
"""


def heavy_imports(args: list[str], out: Path) -> tuple[list[str], int]:
    """Heavy modules loaded by ``lifecycle ARGS`` and the total number of modules."""
    code = _WRAPPER.format(heavy=HEAVY, out=str(out), args=args)
    run_child([PYTHON, "-c", code])
    heavy, count = out.read_text().splitlines()
    return [m for m in heavy.split(",") if m], int(count)


def alternate(a: Callable[[], float], b: Callable[[], float], reps: int,
              warmup: int = 2) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        a()
        b()
    xs, ys = [], []
    for i in range(reps):
        if i % 2:
            ys.append(b())
            xs.append(a())
        else:
            xs.append(a())
            ys.append(b())
    return xs, ys


def run_status(work: Path, reps: int, say: Callable[[str], None]) -> dict[str, Any]:
    root = work / "status-root"
    roots.demo_root(root)
    status = [LIFECYCLE, "--root", str(root), "status"]
    say(f"status x{reps} vs '{BASELINE_IMPORTS}' x{reps} ...")
    ours, base = alternate(lambda: run_child(status).wall_s,
                           lambda: run_child([PYTHON, "-c", BASELINE_IMPORTS]).wall_s, reps)
    heavy, modules = heavy_imports(["--root", str(root), "status"], work / "status-modules.txt")
    imports = run_child([PYTHON, "-X", "importtime", LIFECYCLE, "--root", str(root), "status"])
    base_imports = run_child([PYTHON, "-X", "importtime", "-c", BASELINE_IMPORTS])
    return {"status_s": ours, "baseline_s": base, "heavy": heavy, "modules": modules,
            "importtime": importtime_top(imports.stderr),
            "importtime_self": importtime_self(imports.stderr),
            "baseline_importtime": importtime_top(base_imports.stderr, n=5), "root": root}


def run_promote(work: Path, reps: int, say: Callable[[str], None]) -> dict[str, Any]:
    root = work / "promote-root"
    engine = roots.demo_root(root)
    counter = [100]

    def prepare() -> None:
        counter[0] += 1
        roots.add_challenger(engine, engine.store.put_bytes(os.urandom(64 * 1024)), counter[0])

    def promote() -> float:
        prepare()  # untimed: a fresh challenger for each promotion
        child = run_child([LIFECYCLE, "--root", str(root), "promote", "challenger",
                           "--reason", "x"])
        return child.wall_s

    say(f"promote x{reps} vs 'lifecycle --help' x{reps} ...")
    ours, base = alternate(promote, lambda: run_child([LIFECYCLE, "--help"]).wall_s, reps)
    prepare()
    heavy, modules = heavy_imports(["--root", str(root), "promote", "challenger", "--reason", "x"],
                                   work / "promote-modules.txt")
    prepare()
    imports = run_child([PYTHON, "-X", "importtime", LIFECYCLE, "--root", str(root), "promote",
                         "challenger", "--reason", "x"])
    return {"promote_s": ours, "help_s": base, "heavy": heavy, "modules": modules,
            "importtime": importtime_top(imports.stderr),
            "importtime_self": importtime_self(imports.stderr), "root": root,
            "commits": engine.state().seq, "prepare": prepare}
