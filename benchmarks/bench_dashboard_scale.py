"""The dashboard's pages on the 1,500-version root (issue 19), on its own: a 100,000-event log
with 1,500 model versions is generated (``benchmarks.loggen``), projected, and every page is
drawn with Streamlit's ``AppTest`` (``bench_dashboard.run_at_scale``; the same run is part of
``make bench``). Target: every page under 1 s after the first load.

Usage: ``python -m benchmarks.bench_dashboard_scale [--update benchmarks/RESULTS.md]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks import loggen
from benchmarks.bench_dashboard import run_at_scale, scale_summary
from benchmarks.bench_decisions import publish
from bootstrap import open_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_dashboard_scale")
    parser.add_argument("--update", type=Path, default=None)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-dash-")) / "root"
    loggen.generate(root, 100_000, 1500, seed=7)
    engine = open_engine(root)
    engine.replay()
    archived = sorted((m for m in engine.state().models.values() if m.status != "champion"),
                      key=lambda m: m.parsed_version)
    result = run_at_scale(root, archived[len(archived) // 2].model_id, 3)
    verdict = "PASS" if result["passed"] else "MISS"
    lines = ["<!-- bench_dashboard_scale:start -->", "## 11. Dashboard pages after issue 19", "",
             "Produced by: `.venv/bin/python -m benchmarks.bench_dashboard_scale --update "
             "benchmarks/RESULTS.md` on a 100,000-event root with 1,500 versions; worst page median "
             f"{1000 * result['worst_page_median_s']:.0f} ms against the 1 s target ({verdict}).", "", "```",
             scale_summary(result), "```", "<!-- bench_dashboard_scale:end -->", ""]
    return publish(lines, args.update)


if __name__ == "__main__":
    sys.exit(main())
