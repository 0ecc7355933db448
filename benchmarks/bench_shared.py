"""Benchmark 10 (issue 17): the event log on PostgreSQL beside the JSONL log, on a private
server (``tests/helpers/pg.py``; fsync on, synchronous commit: durable like the file).

Side by side in one run, alternating:
1. append: ``Engine.execute`` of one evaluation (decide, append durably, project) on an
   embedded root and on a shared root: median latency and commits per second;
2. ``lifecycle status`` as a fresh process on a second host of the shared registry, beside
   the same command on the embedded root;
3. promotion on host A to host B's production file switching (B runs ``watch --follow``):
   median and max of 20;
4. MLflow's registry on the same PostgreSQL server doing the same step (``set alias
   champion`` on a new model version), when ``.venv-peers`` exists (psycopg2 is installed
   there for it).

Usage: ``python -m benchmarks.bench_shared [--update benchmarks/RESULTS.md]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_decisions import publish
from benchmarks.common import LIFECYCLE, REPO, median
from bootstrap import open_engine
from tests.helpers.pg import PrivateServer
from tests.helpers.workload import evaluation, fake_submit

START, END = "<!-- bench_shared:start -->", "<!-- bench_shared:end -->"
PEERS = REPO / ".venv-peers" / "bin" / "python"


def _shared_root(path: Path, url: str, store: Path) -> None:
    subprocess.run([LIFECYCLE, "--root", str(path), "init", "--log", url, "--store", str(store)],
                   check=True, capture_output=True)


def appends(work: Path, url: str, count: int) -> dict[str, Any]:
    embedded = open_engine(work / "embedded")
    embedded.init()
    _shared_root(work / "host-a", url, work / "store")
    shared = open_engine(work / "host-a")
    for engine in (embedded, shared):
        engine.execute(fake_submit(engine, "bench"))
    times: dict[str, list[float]] = {"jsonl": [], "postgresql": []}
    for i in range(count):
        for name, engine in (("jsonl", embedded), ("postgresql", shared)):
            started = time.perf_counter()
            engine.execute(evaluation("challenger", f"b-{i}"))
            times[name].append(time.perf_counter() - started)
    return {k: {"median_ms": 1000 * median(v), "per_s": len(v) / sum(v)} for k, v in times.items()}


def status(work: Path, url: str, reps: int) -> dict[str, float]:
    _shared_root(work / "host-b", url, work / "store")
    subprocess.run([LIFECYCLE, "--root", str(work / "host-b"), "replay"], check=True, capture_output=True)
    times: dict[str, list[float]] = {"jsonl": [], "postgresql": []}
    for _ in range(reps):
        for name, root in (("jsonl", work / "embedded"), ("postgresql", work / "host-b")):
            started = time.perf_counter()
            subprocess.run([LIFECYCLE, "--root", str(root), "status"], capture_output=True)
            times[name].append(time.perf_counter() - started)
    return {k: 1000 * median(v) for k, v in times.items()}


def propagation(work: Path, reps: int) -> list[float]:
    from lifecycle.commands import Promote

    a = open_engine(work / "host-a")
    link = work / "host-b" / "production" / "models" / "earthquake_model.pth"
    daemon = subprocess.Popen([sys.executable, "-m", "cli", "--root", str(work / "host-b"), "watch", "--follow"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies = []
    try:
        time.sleep(3.0)
        for n in range(reps):
            if a.state().challenger is None:
                a.execute(fake_submit(a, f"promote {n}"))
            started = time.perf_counter()
            outcome = a.execute(Promote(ref="challenger", reason=f"bench {n}"))
            target = outcome.state.champion_record().weights["digest"]  # type: ignore[union-attr]
            while _digest(link) != target:
                if time.perf_counter() - started > 30:
                    raise RuntimeError("host B's production never switched")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - started)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    return latencies


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


MLFLOW = """
import json, os, sys, time
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
import mlflow
from mlflow import MlflowClient
uri, workdir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
client = MlflowClient()
client.create_registered_model("earthquake_model")
times = []
for i in range(count):
    version = client.create_model_version("earthquake_model", f"file://{workdir}/m{i}", run_id=None)
    started = time.perf_counter()
    client.set_registered_model_alias("earthquake_model", "champion", version.version)
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"""


def mlflow_alias(server: PrivateServer, work: Path, count: int) -> dict[str, float] | None:
    if not PEERS.exists():
        return None
    install = subprocess.run([str(PEERS), "-m", "pip", "install", "-q", "psycopg2-binary"], capture_output=True)
    if install.returncode:
        return None
    url = server.create_database("mlflow_bench").replace("postgresql://", "postgresql+psycopg2://")
    host = url.split("?host=")[1]
    url = url.split("?")[0].replace("@/", "@localhost/") + f"?host={host}"
    done = subprocess.run([str(PEERS), "-c", MLFLOW, url, str(work), str(count)], capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1][:200]}  # type: ignore[dict-item]
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return {"median_ms": 1000 * median(times)}


def run(count: int = 100, reps: int = 20) -> dict[str, Any]:
    started = time.perf_counter()
    server = PrivateServer()
    server.start()
    work = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    try:
        url = server.create_database("bench")
        out: dict[str, Any] = {"count": count, "reps": reps, "appends": appends(work, url, count),
                               "status": status(work, url, 10), "propagation": propagation(work, reps)}
        out["mlflow"] = mlflow_alias(server, work, 30)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    out["seconds"] = time.perf_counter() - started
    return out


def section(r: dict[str, Any]) -> list[str]:
    a, s, p = r["appends"], r["status"], r["propagation"]
    lines = [START, "## 10. The log on PostgreSQL (issue 17)", "",
             "Produced by: `.venv/bin/python -m benchmarks.bench_shared --update benchmarks/RESULTS.md` "
             f"({r['seconds']:.0f} s), a private PostgreSQL 15 server on a Unix socket (fsync on), "
             "alternating with the JSONL log in the same run.", "",
             "| measure | JSONL (embedded) | PostgreSQL (shared) | ratio |", "|---|---|---|---|",
             f"| append: one evaluation command, median of {r['count']} | {a['jsonl']['median_ms']:.1f} ms "
             f"| {a['postgresql']['median_ms']:.1f} ms "
             f"| {a['postgresql']['median_ms'] / a['jsonl']['median_ms']:.2f}x |",
             f"| append throughput, one writer | {a['jsonl']['per_s']:.0f}/s | {a['postgresql']['per_s']:.0f}/s | "
             f"{a['postgresql']['per_s'] / a['jsonl']['per_s']:.2f}x |",
             f"| `lifecycle status`, a fresh process (PostgreSQL: on a second host), median of 10 "
             f"| {s['jsonl']:.0f} ms | {s['postgresql']:.0f} ms | {s['postgresql'] / s['jsonl']:.2f}x |", "",
             f"Promotion on host A to host B's production file switching (B runs `watch --follow`), "
             f"{len(p)} promotions: median {1000 * median(p):.0f} ms, max {1000 * max(p):.0f} ms "
             f"(target: within 2 s).", ""]
    mlflow = r.get("mlflow")
    if mlflow and "median_ms" in mlflow:
        lines += [f"MLflow's registry on the same server (SQLAlchemy + psycopg2), `set_registered_model_alias"
                  f"('champion')`, median of 30: {mlflow['median_ms']:.1f} ms, beside our whole promotion-sized "
                  f"command above ({a['postgresql']['median_ms']:.1f} ms: decide, append, project).", ""]
    elif mlflow:
        lines += [f"MLflow on PostgreSQL could not be measured here: {mlflow.get('error')}", ""]
    else:
        lines += ["MLflow on PostgreSQL: not measured (`make bench-peers` creates `.venv-peers` first).", ""]
    return [*lines, END, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_shared")
    parser.add_argument("--update", type=Path, default=None)
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args(argv)
    return publish(section(run(args.count)), args.update)


if __name__ == "__main__":
    sys.exit(main())
