"""The full reliability runs behind docs/RELIABILITY.md (the test suite runs samples).

    python -m benchmarks.reliability faults            # every case of the fault matrix
    python -m benchmarks.reliability kills --rounds 300  # kill -9 loops, each writing command
    python -m benchmarks.reliability all --rounds 300

Prints a Markdown summary (and ``--json FILE`` writes the raw counts). Exit status 1 when
any case found a problem. Needs the test helpers (run from the repository root).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any


def run_faults(base: Path) -> dict[str, Any]:
    from tests.helpers import faults

    templates = faults.make_templates(base / "templates")
    counts = faults.call_counts(templates, base)
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    started, cases = time.monotonic(), 0
    for case in faults.all_cases(counts):
        result = faults.run_case(case, templates[case.command], base / "case")
        cases += 1
        outcomes[f"{case.command} {result.outcome}"] += 1
        if result.outcome == "ok" and case.op != "mkdir" and not faults.only_cache(result):
            problems.append(f"{case}: the failure was swallowed")
        problems += [f"{case}: {p}" for p in result.problems]
    return {"calls": counts, "cases": cases, "outcomes": dict(sorted(outcomes.items())),
            "problems": problems, "seconds": round(time.monotonic() - started, 1)}


def run_kills(base: Path, rounds: int, only: list[str] | None = None) -> dict[str, Any]:
    from service.importer import build_import
    from tests.helpers import crashloop
    from tests.helpers.faults import SEED

    command, files, _ = build_import(SEED)
    report: dict[str, Any] = {}
    for kind in only or crashloop.KINDS:
        started = time.monotonic()
        stats, problems = crashloop.loop(kind, base / kind, rounds, seed=len(kind),
                                         imported=(command, files))
        report[kind] = {"rounds": stats.rounds, "acked": stats.acked,
                        "killed_in": dict(stats.killed_in), "problems": problems,
                        "seconds": round(time.monotonic() - started, 1)}
    return report


def markdown(faults: dict[str, Any] | None, kills: dict[str, Any] | None) -> str:
    lines = []
    if faults is not None:
        lines += [f"Fault matrix: {faults['cases']} cases in {faults['seconds']} s, "
                  f"{len(faults['problems'])} problem(s).", "",
                  "| command | " + " | ".join(next(iter(faults["calls"].values()))) + " |",
                  "|---" * (1 + len(next(iter(faults["calls"].values())))) + "|"]
        lines += [f"| {c} | " + " | ".join(str(n) for n in ops.values()) + " |"
                  for c, ops in faults["calls"].items()]
        lines += ["", "Outcomes: " + ", ".join(f"{k}: {v}" for k, v in faults["outcomes"].items()), ""]
    if kills is not None:
        lines += ["| command | kills | acknowledged | killed inside | problems |", "|---|---|---|---|---|"]
        lines += [f"| {kind} | {r['rounds']} | {r['acked']} | "
                  + ", ".join(f"{k} {v}" for k, v in sorted(r["killed_in"].items()))
                  + f" | {len(r['problems'])} |" for kind, r in kills.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("faults", "kills", "all"))
    parser.add_argument("--rounds", type=int, default=300, help="kills per writing command")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--only", action="append", help="kill loops for this command only (repeatable)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        base = Path(tmp)
        faults = run_faults(base / "faults") if args.what in ("faults", "all") else None
        kills = run_kills(base / "kills", args.rounds, args.only) if args.what in ("kills", "all") else None
    print(markdown(faults, kills))
    if args.json:
        args.json.write_text(json.dumps({"faults": faults, "kills": kills}, indent=2) + "\n")
    found = (faults or {}).get("problems", []) + [p for r in (kills or {}).values() for p in r["problems"]]
    for problem in found[:50]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
