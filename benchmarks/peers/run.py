"""``make bench-peers``: our registry side by side with MLflow's and with ``eventsourcing``.

Usage: ``python -m benchmarks.peers.run [--quick] [--rounds N] [--output PATH] [--keep]``

Each round runs every operation on every system, in an order that rotates from round to
round (ours, MLflow, eventsourcing-SQLite, eventsourcing-memory, then shifted by one), so
drift on a shared machine hits all sides alike; the tables report medians. Every operation's
result is checked (the version registered, the champion read back, the bytes at the serving
path, the number of versions listed, the rebuilt state): a wrong one stops the run.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import LIFECYCLE, PYTHON, REPO, machine_info, run_child
from benchmarks.peers import ours as ours_mod
from benchmarks.peers import peer as peer_mod
from benchmarks.peers import report
from benchmarks.peers.peer import Peer

SYSTEMS = ("ours", "mlflow", "es-sqlite", "es-memory")
WEIGHTS_BYTES = 64 * 1024
Times = dict[str, dict[str, list[float]]]


@dataclass(frozen=True)
class Sizes:
    versions: int
    events: int
    rounds: int
    rebuild_rounds: int


FULL = Sizes(versions=1000, events=100_000, rounds=5, rebuild_rounds=3)
QUICK = Sizes(versions=100, events=10_000, rounds=2, rebuild_rounds=1)


def say(text: str) -> None:
    print(text, flush=True)


def weights_file(folder: Path) -> tuple[Path, str]:
    """A fresh 64 KiB weights file (``folder/best_model.pth``) and its sha256."""
    folder.mkdir(parents=True)
    data = os.urandom(WEIGHTS_BYTES)
    path = folder / "best_model.pth"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


class Bench:
    """The systems, their set-up, and one round of interleaved operations."""

    def __init__(self, work: Path, sizes: Sizes) -> None:
        self.work, self.sizes = work, sizes
        self.ours = ours_mod.Ours(work, sizes.versions, sizes.events)
        self.peers: dict[str, Peer] = {}
        self.times: Times = {}
        self.setup: dict[str, Any] = {}

    def start(self) -> None:
        seed, _ = weights_file(self.work / "weights" / "seed")
        say(f"our logs: {self.sizes.versions} versions, {self.sizes.events:,} events ...")
        self.setup["ours"] = self.ours.setup()
        for label, script, args in (("mlflow", "mlflow_ops.py", []),
                                    ("es-sqlite", "es_ops.py", ["--persistence", "sqlite"]),
                                    ("es-memory", "es_ops.py", ["--persistence", "memory"])):
            folder = self.work / label
            folder.mkdir()
            say(f"{label}: {self.sizes.versions} versions ...")
            peer = Peer(label, script, [*args, "--workdir", str(folder)], self.work / f"{label}.stderr")
            self.peers[label] = peer
            self.setup[label] = peer.request("setup", versions=self.sizes.versions, weights=str(seed))
            if label.startswith("es-"):
                say(f"{label}: {self.sizes.events:,} events ...")
                self.setup[f"{label} rebuild"] = peer.request(
                    "setup_rebuild", events=self.sizes.events, weights=str(seed))

    def close(self) -> None:
        for peer in self.peers.values():
            peer.close()

    def record(self, op: str, order: list[str], calls: dict[str, Callable[[], float]]) -> None:
        """Run ``calls`` in ``order`` (systems without a call are skipped) and keep the times."""
        for system in order:
            if system in calls:
                self.times.setdefault(op, {}).setdefault(system, []).append(calls[system]())

    def _peer_op(self, label: str, op: str, out: dict[str, str], **args: Any) -> Callable[[], float]:
        def call() -> float:
            answer = self.peers[label].request(op, **args)
            if "version" in answer:
                out[label] = str(answer["version"])
            return float(answer["s"])
        return call

    def _register(self, order: list[str], weights: Path) -> dict[str, str]:
        got: dict[str, str] = {}

        def ours() -> float:
            seconds, got["ours"] = self.ours.register(weights)
            return seconds

        calls = {"ours": ours} | {p: self._peer_op(p, "register", got, weights=str(weights)) for p in self.peers}
        self.record("register", order, calls)
        return got

    def round(self, n: int) -> None:
        order = list(SYSTEMS[n % 4:] + SYSTEMS[:n % 4])
        a, _ = weights_file(self.work / "weights" / f"r{n}a")
        b, digest = weights_file(self.work / "weights" / f"r{n}b")
        got = self._register(order, a)
        self.record("champion", order, {"ours": lambda: self.ours.champion(got["ours"])} | {
            p: self._peer_op(p, "champion", {}, version=got[p]) for p in self.peers})
        got = self._register(order, b)
        self.record("serve", order, {"ours": lambda: self.ours.serve(got["ours"], digest)} | {
            p: self._peer_op(p, "serve", {}, version=got[p], weights=str(b), sha256=digest)
            for p in self.peers})
        self.record("list", order, {"ours": lambda: self.ours.list()[0]} | {
            p: self._peer_op(p, "list", {}, at_least=self.sizes.versions) for p in self.peers})
        self.record("read_fresh", order, {
            "ours": lambda: self.ours.read_champion_fresh(got["ours"]),
            "mlflow": lambda: self._fresh_read("mlflow", "mlflow_ops.py", got["mlflow"]),
            "es-sqlite": lambda: self._fresh_read("es-sqlite", "es_ops.py", got["es-sqlite"])})
        if n < self.sizes.rebuild_rounds:
            self.record("rebuild", order, {"ours": self.ours.rebuild} | {
                p: self._peer_op(p, "rebuild", {}, events=self.sizes.events) for p in self.peers
                if p.startswith("es-")})
            self.record("replay_cli", order, {"ours": self.ours.replay_fresh})

    def _fresh_read(self, label: str, script: str, expected: str) -> float:
        seconds, result = peer_mod.fresh(script, ["read-champion", "--workdir", str(self.work / label)])
        if result.get("champion") != expected:
            raise peer_mod.PeerError(f"{label}: a fresh process read champion {result}, not {expected}")
        return seconds

    def profiles(self) -> dict[str, dict[str, float]]:
        """Where our time goes: one register + promote, and one fold of the big log."""
        w, _ = weights_file(self.work / "weights" / "profile")

        def register_promote() -> None:
            _, model_id = self.ours.register(w)
            self.ours.champion(model_id)

        return {"register + set champion": ours_mod.profile(register_promote, report.WRITE_FUNCTIONS),
                "rebuild": ours_mod.profile(self.ours.rebuild, report.FOLD_FUNCTIONS)}


def baselines(reps: int) -> dict[str, list[float]]:
    """Process start + imports alone, for the fresh-process rows."""
    peers = str(peer_mod.PEERS_PY)
    argvs = {"python -c pass (.venv)": [PYTHON, "-c", "pass"],
             "lifecycle --help": [LIFECYCLE, "--help"],
             "python -c 'import mlflow' (.venv-peers)": [peers, "-c", "import mlflow"],
             "python -c 'import eventsourcing.application' (.venv-peers)":
                 [peers, "-c", "import eventsourcing.application"]}
    out: dict[str, list[float]] = {name: [] for name in argvs}
    for _ in range(reps):
        for name, argv in argvs.items():
            out[name].append(run_child(argv, env=peer_mod.peer_env() if argv[0] == peers else None).wall_s)
    return out


def preflight() -> None:
    """Peers only in ``.venv-peers``: the product's environment must not have them."""
    if not peer_mod.PEERS_PY.exists():
        raise SystemExit(f"{peer_mod.PEERS_PY} is missing: run 'make bench-peers' (it creates it)")
    for name in ("mlflow", "eventsourcing"):
        if importlib.util.find_spec(name) is not None:
            raise SystemExit(f"{name} is importable from {PYTHON}: the product's .venv must not have it")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, two rounds (smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds of interleaved operations")
    parser.add_argument("--output", type=Path, help="default docs/BENCHMARKS.md (--quick: a temporary file)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--raw", type=Path, default=Path(tempfile.gettempdir()) / "lifecycle-bench-peers.json",
                        help="raw figures as JSON (re-render: python -m benchmarks.peers.report RAW OUT)")
    args = parser.parse_args(argv)
    preflight()
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(sizes.versions, sizes.events, args.rounds, min(args.rounds, sizes.rebuild_rounds))
    output = args.output or (Path(tempfile.gettempdir()) / "lifecycle-bench-peers.md" if args.quick
                             else REPO / "docs" / "BENCHMARKS.md")
    work = Path(tempfile.mkdtemp(prefix="lifecycle-bench-peers-"))
    say(f"workdir: {work}")
    started, load_before = time.perf_counter(), os.getloadavg()
    info = machine_info() | {"peers": peer_mod.versions()}
    bench = Bench(work, sizes)
    try:
        bench.start()
        for n in range(sizes.rounds):
            say(f"round {n + 1}/{sizes.rounds} ...")
            bench.round(n)
        say("profiles and process-start baselines ...")
        profiles, base = bench.profiles(), baselines(3)
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    run = report.Run(command=report.command(argv), info=info, sizes=sizes.__dict__, times=bench.times,
                     setup=bench.setup, profiles=profiles, baselines=base,
                     load=(load_before, os.getloadavg()), total_s=time.perf_counter() - started)
    output.write_text(report.render(run))
    report.save(run, args.raw)
    say(report.summary(run))
    say(f"total {run.total_s:.0f} s; written to {output} (raw figures: {args.raw})")


if __name__ == "__main__":
    main()
