"""``docs/BENCHMARKS.md`` from one run of ``benchmarks.peers.run``: tables, ratios, and why."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, fmt_s

SYSTEMS = ("ours", "mlflow", "es-sqlite", "es-memory")
PEERS = SYSTEMS[1:]
TITLES = {"mlflow": "MLflow (SQLite)", "es-sqlite": "eventsourcing SQLite", "es-memory": "eventsourcing memory"}
OPS = {  # key: (row title, how ours is measured)
    "register": ("register a version", "`Engine.execute(Submit)` + weights into the store, in-process"),
    "champion": ("set the champion", "`Engine.execute(Promote)`, in-process (folders switched too)"),
    "read_fresh": ("read the champion from a fresh process", "`lifecycle --root R status --json`, whole process"),
    "list": ("list {versions:,} versions", "`ModelDeployer(root).get_all_versions()`, in-process"),
    "rebuild": ("rebuild state from {events:,} events", "`service.engine.fold(JsonlLog.read())`, in-process"),
    "serve": ("new champion -> serving path points at it",
              "promote until `production/models/earthquake_model.pth` has the new bytes"),
    "replay_cli": ("(ours only) `lifecycle replay`, {events:,} events, fresh process",
                   "whole process; projections already up to date"),
}
WRITE_FUNCTIONS = ("service/engine.py:fold", "service/engine.py:decide_events",
                   "projections/layout.py:desired_tree", "projections/reconcile.py:apply",
                   "projections/registry.py:registry_bytes", "events/log.py:_durable_append",
                   "~:<built-in method posix.fsync>", "events/store.py:put_file")
FOLD_FUNCTIONS = ("events/log.py:_read", "events/codec.py:frame_hash", "events/codec.py:decode",
                  "lifecycle/evolve.py:apply_commit")


@dataclass(frozen=True)
class Run:
    command: str
    info: dict[str, Any]
    sizes: dict[str, int]
    times: dict[str, dict[str, list[float]]]
    setup: dict[str, Any]
    profiles: dict[str, dict[str, float]]
    baselines: dict[str, list[float]]
    load: tuple[tuple[float, float, float], tuple[float, float, float]]
    total_s: float


def command(argv: list[str] | None) -> str:
    args = shlex.join(sys.argv[1:] if argv is None else argv)
    shown = ".venv/bin/python" if Path(sys.executable).parent == REPO / ".venv" / "bin" else sys.executable
    text = f"{shown} -m benchmarks.peers.run {args}".strip()
    if os.environ.get("MAKELEVEL"):
        text = f"make bench-peers  (which runs: {text})"
    return f"cd {REPO} && {text}"


def medians(run: Run, op: str) -> dict[str, float]:
    return {s: statistics.median(v) for s, v in run.times.get(op, {}).items()}


def ratios(run: Run, op: str) -> dict[str, float]:
    """ours / peer for each peer measured on ``op``."""
    m = medians(run, op)
    return {p: m["ours"] / m[p] for p in PEERS if p in m and "ours" in m and m[p] > 0}


def _cell(m: dict[str, float], system: str) -> str:
    return fmt_s(m[system]) if system in m else "n/a"


def _ratio(r: float | None) -> str:
    if r is None:
        return "n/a"
    return f"**{r:.2f}x**" if r > 1 else f"{r:.2f}x"


def table(run: Run) -> list[str]:
    head = ["operation", *(TITLES.get(s, "ours") for s in SYSTEMS),
            *(f"ours / {TITLES[p]}" for p in PEERS), "runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for op, (title, _) in OPS.items():
        if op not in run.times:
            continue
        m, r = medians(run, op), ratios(run, op)
        n = max(len(v) for v in run.times[op].values())
        cells = [title.format(**run.sizes), *(_cell(m, s) for s in SYSTEMS),
                 *(_ratio(r.get(p)) for p in PEERS), str(n)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def slower(run: Run) -> list[tuple[str, str, float]]:
    return [(op, p, r) for op in OPS for p, r in ratios(run, op).items() if r > 1]


def summary(run: Run) -> str:
    return "\n".join(table(run))


def _machine(run: Run) -> list[str]:
    info, (before, after) = run.info, run.load
    peers = info["peers"]
    busy = max(before[0], after[0]) > 0.5 * (os.cpu_count() or 1)
    return [
        f"- nproc: {info['nproc']}; CPU: {info['cpu']}; memory: {info['memory']}; {info['platform']}",
        f"- python -V: ours {info['python']}; .venv-peers Python {peers['python']}",
        "- peers (in `.venv-peers` only): " + ", ".join(f"{k} {v}" for k, v in peers.items() if k != "python"),
        f"- load average (1, 5, 15 min) before: {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}; "
        f"after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}",
        ("- **measured under load**: the machine was shared with other work during this run, so absolute "
         "times are inflated; the interleaving (every round runs every system, order rotating) keeps the "
         "ratios fair, not the absolute numbers." if busy else "- the machine was otherwise idle."),
        f"- date: {info['date']}; whole run {run.total_s:.0f} s",
    ]


def _profile_lines(run: Run) -> list[str]:
    lines = []
    for name, prof in run.profiles.items():
        total = prof["total"]
        parts = [f"`{k.split(':', 1)[1]}` ({k.split(':', 1)[0]}) {fmt_s(v)}" for k, v in prof.items()
                 if k != "total" and v > 0]
        lines.append(f"- {name}, one call under cProfile, {fmt_s(total)} in all: " + "; ".join(parts))
    for name, values in run.baselines.items():
        lines.append(f"- `{name}`: {fmt_s(statistics.median(values))} (median of {len(values)})")
    return lines


def render(run: Run) -> str:
    out = ["# Benchmarks against peers", "",
           "Our registry side by side with MLflow's model registry (SQLite backend, aliases `champion` / "
           "`challenger`) and with the `eventsourcing` library (an `Application` holding one `ModelRegistry` "
           "aggregate with `VersionRegistered` / `ChampionSet` events, SQLite and in-memory `POPO` "
           "persistence), on the same machine in the same run. Generated by `make bench-peers`; do not edit "
           "by hand.", "", "```", run.command, "```", "", "## Machine", "", *_machine(run), "",
           "## Results", "",
           "Medians. **ours / peer** is our time divided by the peer's: 0.25x means we take a quarter of "
           "the peer's time, **4.00x** (bold) means we are four times slower. n/a: the peer has no such "
           "operation (MLflow keeps current state in tables, there is no event log to rebuild; an in-memory "
           "eventsourcing store is gone when its process ends, so no fresh process can read it).", "",
           *table(run), "", "## How each operation is measured", "", *METHOD, "",
           "| operation | ours |", "|---|---|",
           *(f"| {title.format(**run.sizes)} | {how} |" for op, (title, how) in OPS.items() if op in run.times),
           "", "## Where we are slower, why, and what would fix it", ""]
    found = slower(run)
    if not found:
        out.append("Nowhere in this run.")
    first_write: str | None = None
    for op in dict.fromkeys(op for op, _, _ in found):
        who = ", ".join(f"{TITLES[p]} ({r:.2f}x)" for o, p, r in found if o == op)
        why = WHY.get(op, "")
        if why.startswith(_WRITE_WHY) and first_write is not None:
            why = (f"Why, and the fix: the same as for *{first_write}* above (every log line checked, "
                   "the registry rendered whole, on every write)."
                   + why[len(_WRITE_WHY):])
        elif why.startswith(_WRITE_WHY):
            first_write = OPS[op][0].format(**run.sizes)
        out += [f"### {OPS[op][0].format(**run.sizes)}: slower than {who}", "", why, ""]
    out += ["## Profile of our side (this run)", "", *_profile_lines(run), "",
            "Set-up (not timed in the tables): " + "; ".join(
                f"{k}: " + ", ".join(f"{kk} {fmt_s(float(vv))}" for kk, vv in v.items()
                                     if kk == "seconds" or kk.endswith("_s"))
                for k, v in run.setup.items()), ""]
    return "\n".join(out)


METHOD = [
    "- Every round runs each operation on every system before the next operation, in an order that "
    "rotates by one system per round; the tables give the median over rounds.",
    "- Peers run in `.venv-peers` (never in the product's `.venv`), as long-lived child processes "
    "(`benchmarks/peers/mlflow_ops.py`, `es_ops.py`) that time each operation in-process with "
    "`time.perf_counter` and answer JSON; ours are timed the same way in the runner's process.",
    "- Fresh-process rows time the whole child process from the runner (start, imports, read, exit).",
    "- The weights file is the same 64 KiB file for all systems in a round. MLflow registers it as "
    "real users do: a run that logs it as an artifact (copied into the artifact store), a model version "
    "from that artifact, alias `challenger`. eventsourcing stores only the metadata (digest, path). "
    "We copy the file into the content-addressed store and append one fsynced commit.",
    "- Setting the champion: MLflow sets alias `champion` and deletes `challenger`; eventsourcing "
    "appends `ChampionSet`; ours appends `archived` + `promoted` and switches the model folders.",
    "- Serving path: MLflow sets the alias, downloads `models:/earthquake_model@champion` into a new "
    "folder and switches a symlink to it; eventsourcing appends `ChampionSet`, re-reads the aggregate and "
    "switches a symlink to the version's file; ours promotes (the production symlink's target is "
    "replaced by the engine). Each ends when the serving path's bytes hash to the new weights.",
    "- Rebuild: eventsourcing reconstructs the aggregate from its 100,000 events (no snapshots, no "
    "cache); ours folds the 100,000-event log generated by `benchmarks/loggen.py` (hash chain checked "
    "per line, then every event applied). Our events are larger (full metric sets, training data).",
    "- A wrong result (version, champion read back, bytes at the serving path, number of versions, "
    "rebuilt state) stops the run with an error.",
]
_WRITE_WHY = (
    "Why: a write checks the whole log and renders the whole registry. `Engine.execute` (see the "
    "profile below) reads every line of the log again under the writer lock (its sha256 and its link "
    "to the line before, so that corruption anywhere stops a write; a long-lived engine applies only "
    "the commits after the state it folded itself), renders the whole `model_registry.json` "
    "(`registry_bytes`: one entry per model), reconciles the folders of the models the commit changed "
    "and fsyncs the log, the changed files and their folders. The peers write one row (MLflow) or one "
    "event (eventsourcing): the SQLite commit is their only fsync. What would help: render the "
    "registry from per-model fragments kept by the long-lived engine. The line check and the fsyncs "
    "stay: they are what lets a write refuse a corrupt log, and what durability costs."
)
WHY: dict[str, str] = {
    "register": _WRITE_WHY + " Registering also copies the weights into the content-addressed store "
    "(hashing them) and writes the new challenger folder; MLflow's `log_artifact` copies the file too.",
    "champion": _WRITE_WHY + " A promotion also switches the champion folder and archives the old "
    "one (hard links, atomic renames); the peers' champion is only a pointer until someone deploys it.",
    "serve": _WRITE_WHY + " Here the peers do more than set a pointer (MLflow downloads the artifact, "
    "eventsourcing re-reads the aggregate), yet our promotion still pays the per-model costs above.",
    "list": "Why: `ModelDeployer(root).get_all_versions()` builds the whole `State` first: it opens "
    "the cached state (`cache/state.json`, every model's full record: metrics, evaluations, training "
    "data), decodes it into immutable records, checks its anchor against the log and folds what came "
    "after, then builds one dict per model. MLflow runs one indexed SQL query over a narrow table; "
    "eventsourcing (memory) replays its events from a Python list. What would help: keep the decoded "
    "state in the long-lived `ModelDeployer` (as the engine now does for writes).",
    "rebuild": "Why: our fold checks the hash chain of every line (`frame_hash`: a sha256 over each "
    "line's bytes), decodes it with orjson and applies every event in pure Python to immutable "
    "records (`apply_commit`); our events are also larger than the peers' (full metric sets, training "
    "data lists). eventsourcing checks no hashes. A reading command in a fresh process starts from "
    "the cached state (only the commits after it are folded).",
    "read_fresh": "Why: almost all of it is process start and imports, not reading: compare "
    "`lifecycle --help` and `python -c pass` in the profile below. `status --json` imports typer and "
    "the engine's modules (`cli.app` and what it pulls in: about 0.3 s of imports on this machine "
    "under load; no pydantic, rich or torch), then loads the cached state of every model and checks "
    "its anchor against the log, to print one of them. eventsourcing's fresh reader imports a small "
    "library and replays ~1,000 events from SQLite. Fix: a fast path for "
    "`status --json` that imports only `orjson` and the registry projection, reads "
    "`config/model_registry.json` and returns it when its `log_position` matches the log's last line "
    "(falling back to the full path otherwise); and lazy imports of the command modules in `cli/app.py`.",
}


def save(run: Run, path: Path) -> None:
    """The raw figures, so ``python -m benchmarks.peers.report RAW OUT`` can render them again."""
    path.write_text(json.dumps(dataclasses.asdict(run)))


def load(path: Path) -> Run:
    raw = json.loads(path.read_text())
    raw["load"] = tuple(tuple(x) for x in raw["load"])
    return Run(**raw)


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(render(load(Path(sys.argv[1]))))
