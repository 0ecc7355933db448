"""``make bench``: run every benchmark and write ``benchmarks/RESULTS.md``.

Usage: ``python -m benchmarks.run [--quick] [--output PATH] [--workdir DIR] [--keep]``

``--quick`` runs small sizes (a smoke run, a minute or two) and, unless ``--output`` is
given, writes its results to a temporary file instead of ``benchmarks/RESULTS.md``.
Every figure is a median over repeated runs; pairs that are compared (a command and
its baseline) run alternately in the same session.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import (
    bench_cli,
    bench_daemon,
    bench_dashboard,
    bench_decisions,
    bench_models,
    bench_replay,
    bench_scale,
    bench_shared,
    bench_weights,
    report,
)
from benchmarks.common import REPO, machine_info
from benchmarks.profiling import profile_cli

MB = 1_000_000


@dataclass(frozen=True)
class Sizes:
    big_events: int
    small_events: int
    models: int
    replay_reps: int
    cli_reps: int
    small_weights: int
    big_weights: int
    weight_reps: int


FULL = Sizes(1_000_000, 100_000, 1500, 3, 25, 3 * MB, 300 * MB, 21)
QUICK = Sizes(50_000, 10_000, 200, 2, 5, 3 * MB, 30 * MB, 3)


def say(text: str) -> None:
    print(text, flush=True)


def git_head() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, text=True, capture_output=True, check=True).stdout
        changed = len(dirty.splitlines())
        return f"{head}" + (f" (+{changed} modified tracked files)" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_origin() -> str:
    """Where a ``lifecycle`` process finds the engine (as the console script resolves it)."""
    probe = "import sys; sys.path.pop(0); import cli.app; print(cli.app.__file__)"
    try:
        out = subprocess.run([sys.executable, "-c", probe], cwd="/", text=True,
                             capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return str(Path(out).parent.parent)


def _command(argv: list[str] | None) -> str:
    """The exact command line, with the environment and folder it depends on."""
    args = shlex.join(sys.argv[1:] if argv is None else argv)
    python = Path(sys.executable)
    shown = ".venv/bin/python" if python.parent == REPO / ".venv" / "bin" else str(python)
    command = f"{shown} -m benchmarks.run {args}".strip()
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    if os.environ.get("MAKELEVEL"):
        command = f"make bench  (which runs: {command})"
    return f"cd {REPO} && {command}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--output", type=Path, help="results file (default: see above)")
    parser.add_argument("--workdir", type=Path, help="where temporary roots go (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary roots")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    output = args.output or (
        Path(tempfile.gettempdir()) / "lifecycle-bench-quick-RESULTS.md" if args.quick
        else REPO / "benchmarks" / "RESULTS.md")
    command = _command(argv)
    work = Path(tempfile.mkdtemp(prefix="lifecycle-bench-", dir=args.workdir))
    say(f"workdir: {work}")
    started = time.perf_counter()
    info = machine_info()
    info["git"] = git_head()
    info["engine code imported from"] = code_origin()
    try:
        results = _run_all(work, sizes)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["total_s"] = time.perf_counter() - started
    text = report.render(command, info, sizes, results)
    output.write_text(text)
    say(report.summary_text(results))
    say(f"total {results['total_s']:.0f} s; results written to {output}")


def _run_all(work: Path, sizes: Sizes) -> dict[str, Any]:
    results: dict[str, Any] = {}
    say("== 1. replay")
    results["replay"] = bench_replay.run(work, sizes.big_events, sizes.small_events,
                                         sizes.models, sizes.replay_reps, say)
    results["replay_summary"] = bench_replay.summary(results["replay"])
    say("== 2. status")
    results["status"] = bench_cli.run_status(work, sizes.cli_reps, say)
    say("== 3. promote (durable command)")
    results["promote"] = bench_cli.run_promote(work, sizes.cli_reps, say)
    say("== 4. promotion/rollback vs checkpoint size")
    results["weights"] = bench_weights.run(work, sizes.small_weights, sizes.big_weights,
                                           sizes.weight_reps, say)
    say("== 5. evaluation and training (models)")
    results["models"] = bench_models.run(quick=sizes is QUICK)
    say("== 6. the daemon: reaction time, idle CPU")
    results["daemon"] = bench_daemon.run(quick=sizes is QUICK)
    say("== 7. the dashboard: page render time")
    results["dashboard"] = bench_dashboard.run(sizes is QUICK, work=work, say=say)
    say("== 8. reading commands at scale (caches)")
    results["scale"] = bench_scale.run(results["replay"]["roots"]["small"], sizes.cli_reps // 3 or 1, say)
    say("== 8. the dashboard at scale")
    results["dashboard_scale"] = bench_dashboard.run_at_scale(
        results["replay"]["roots"]["small"], results["scale"]["middle_model"], 3)
    say(bench_dashboard.scale_summary(results["dashboard_scale"]))
    say("== 9. the decision gate: false promotions and power")
    results["decisions"] = bench_decisions.run(reps=1000 if sizes is QUICK else 4000)
    say("== 10. the log on PostgreSQL")
    try:
        results["shared"] = bench_shared.run(count=20 if sizes is QUICK else 100)
    except Exception as exc:  # no PostgreSQL on this machine: the section says so
        results["shared"] = {"error": repr(exc)}
    results["targets"] = (report.targets(results) + report.more_targets(results)
                          + [bench_scale.target(results["scale"]),
                             bench_scale.dashboard_target(results["dashboard_scale"])])
    say("== profiles for missed targets")
    results["profiles"] = _profiles(work, results)
    return results


def _profiles(work: Path, results: dict[str, Any]) -> dict[str, Any]:
    """cProfile the commands whose targets were missed; summarised before work is removed."""
    missed = {t["key"] for t in results["targets"] if not t["passed"]}
    jobs: list[tuple[str, list[str], Path | None]] = []
    if "replay" in missed:
        big_root = results["replay"]["roots"]["big"]
        jobs.append(("replay (rebuild), big log", ["--root", str(big_root), "replay"],
                     big_root))
    if "promote" in missed:
        results["promote"]["prepare"]()
        jobs.append(("promote challenger", ["--root", str(results["promote"]["root"]),
                                            "promote", "challenger", "--reason", "x"], None))
    if "status" in missed:
        jobs.append(("status", ["--root", str(results["status"]["root"]), "status"], None))
    profiles: dict[str, Any] = {}
    for n, (name, cli_args, rebuild) in enumerate(jobs):
        if rebuild is not None:
            bench_replay.drop_projections(rebuild)
        say(f"profiling lifecycle {shlex.join(cli_args[2:])} ({name}) ...")
        out = work / f"profile-{n}.prof"
        profile_cli(out, cli_args)
        profiles[name] = report.profile_summary(out, cli=not name.startswith("replay"))
    return profiles


if __name__ == "__main__":
    main()

