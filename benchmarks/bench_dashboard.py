"""Dashboard page render time on a root with 200 versions and 10,000 events.

The root's log is written directly (``benchmarks.loggen``: valid commits framed as the
log frames them, folded by the real ``evolve``). Every page of the Model Management view
is rendered with Streamlit's ``AppTest`` (the real script run: fold or cache, sections,
elements serialised), first once (the first load: imports, the log read and folded),
then several times per page; the figure per page is the median. Also measured: a run
right after someone else appended a commit (the log is read and folded again).

``python -m benchmarks.bench_dashboard [--quick]`` prints the results.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bootstrap import open_engine

VERSIONS = 200
EVENTS = 10_000
TARGET_S = 1.0
PAGES = ("Champion", "Archive", "Versions chart", "Compare", "Test an event", "History", "Pool")


def _script(root: str) -> None:
    from dashboard import render_model_management

    render_model_management(root, allow_actions=True, refresh_seconds=None)


def _timed(at: Any) -> float:
    start = time.perf_counter()
    at.run(timeout=120)
    elapsed = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception}")
    return elapsed


def _pages(at: Any, reps: int) -> dict[str, dict[str, float]]:
    out = {}
    for page in PAGES:
        at.radio(key="lcm_page").set_value(page)
        _timed(at)  # the switch itself (a page's first draw)
        times = [_timed(at) for _ in range(reps)]
        out[page] = {"median_s": statistics.median(times), "max_s": max(times), "runs": len(times)}
    return out


def _after_write(at: Any, root: Path, reps: int) -> list[float]:
    """Runs right after another writer appended a commit: the log is read and folded again."""
    from lifecycle.commands import RecordEvaluation

    writer = open_engine(root, actor="bench@writer")
    at.radio(key="lcm_page").set_value("Champion")
    times = []
    for n in range(reps):
        writer.execute(RecordEvaluation(ref="champion", dataset=f"monitoring-{n}",
                                        metrics={"magnitude_accuracy": 95.0, "azimuth_accuracy": 70.0}))
        times.append(_timed(at))
    return times


def run(quick: bool = False, *, work: Path | None = None,
        say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the root, render every page; returns figures in seconds and whether the target held."""
    from streamlit.testing.v1 import AppTest

    from benchmarks import loggen
    from dashboard import snapshot

    reps = 3 if quick else 7
    base = Path(tempfile.mkdtemp(prefix="bench-dashboard-", dir=work))
    try:
        started = time.perf_counter()
        generated = loggen.generate(base / "root", EVENTS, VERSIONS)
        build_s = time.perf_counter() - started
        snapshot.forget()
        at = AppTest.from_function(_script, args=(str(base / "root"),), default_timeout=120)
        first = _timed(at)
        pages = _pages(at, reps)
        after_write = _after_write(at, base / "root", reps)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    worst = max(p["median_s"] for p in pages.values())
    result = {"versions": generated.models, "events": generated.events, "commits": generated.lines,
              "build_s": build_s, "first_load_s": first, "pages": pages,
              "after_write_s": statistics.median(after_write), "after_write_max_s": max(after_write),
              "worst_page_median_s": worst, "target_s": TARGET_S, "passed": worst < TARGET_S}
    if say:
        say(summary(result))
    return result


def run_at_scale(root: Path, model_id: str, reps: int) -> dict[str, Any]:
    """Every page on a large root (caches in place), then the History page filtered by one
    model and by an indexed event type, and time travel to the middle of the log."""
    from streamlit.testing.v1 import AppTest

    from dashboard import snapshot

    snapshot.forget()
    at = AppTest.from_function(_script, args=(str(root),), default_timeout=600)
    first = _timed(at)
    pages = _pages(at, reps)
    at.radio(key="lcm_page").set_value("History")
    _timed(at)
    filters: list[tuple[str, Callable[[], Any]]] = [
        (f"History, model {model_id}", lambda: at.selectbox(key="lcm_hist_model").set_value(model_id)),
        ("History, rejected (all models)", lambda: (at.selectbox(key="lcm_hist_model").set_value("(all)"),
                                                    at.multiselect(key="lcm_hist_types").select("rejected"))),
    ]
    for label, choose in filters:
        choose()
        _timed(at)
        times = [_timed(at) for _ in range(reps)]
        pages[label] = {"median_s": statistics.median(times), "max_s": max(times), "runs": len(times)}
    at.multiselect(key="lcm_hist_types").unselect("rejected")
    _timed(at)
    middle = snapshot.load(root).state.models[model_id].created_at
    moment = datetime.fromisoformat(middle.replace("Z", "+00:00"))
    at.date_input(key="lcm_asof").set_value(moment.date())
    at.time_input(key="lcm_asof_time").set_value(moment.time().replace(second=0, microsecond=0))
    travel = _timed(at)
    worst = max(p["median_s"] for p in pages.values())
    return {"first_load_s": first, "pages": pages, "time_travel_s": travel, "time_travel_to": middle,
            "worst_page_median_s": worst, "target_s": TARGET_S, "passed": worst < TARGET_S}


def scale_summary(result: dict[str, Any]) -> str:
    lines = [f"dashboard on the big root (caches in place): first load {result['first_load_s']:.2f} s"]
    for page, figures in result["pages"].items():
        lines.append(f"  {page:<40} median {1000 * figures['median_s']:7.1f} ms  max "
                     f"{1000 * figures['max_s']:7.1f} ms  ({figures['runs']} runs)")
    lines.append(f"  time travel to {result['time_travel_to']} (a fold from the first commit, on demand): "
                 f"{result['time_travel_s']:.2f} s")
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> str:
    lines = [f"dashboard: {result['versions']} versions, {result['events']:,} events "
             f"({result['commits']:,} commits); first load {result['first_load_s']:.2f} s"]
    for page, figures in result["pages"].items():
        lines.append(f"  {page:<15} median {1000 * figures['median_s']:7.1f} ms  max "
                     f"{1000 * figures['max_s']:7.1f} ms  ({figures['runs']} runs)")
    lines.append(f"  right after another writer's commit (log read and folded again): median "
                 f"{1000 * result['after_write_s']:.1f} ms, max {1000 * result['after_write_max_s']:.1f} ms")
    verdict = "met" if result["passed"] else "MISSED"
    lines.append(f"  target: every page under {result['target_s']:.0f} s after the first load: {verdict} "
                 f"(worst median {1000 * result['worst_page_median_s']:.1f} ms)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_dashboard", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    run(args.quick, say=print)


if __name__ == "__main__":
    main()
