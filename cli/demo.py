"""``make demo``: the three scenarios of SPEC section 6 through the real CLI.

Runs in a fresh temporary root (kept afterwards for inspection): three small untrained
candidates are registered, their metrics recorded, and the engine promotes, rejects and
rolls back; then the registry is deleted and rebuilt by replay, and verified.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from cli.app import app

SCENARIO_METRICS = {
    "v1.0.0": {"magnitude_accuracy": 97.63, "azimuth_accuracy": 71.28},
    "v1.0.1": {"magnitude_accuracy": 98.50, "azimuth_accuracy": 72.30},
    "v1.0.2": {"magnitude_accuracy": 96.50, "azimuth_accuracy": 70.10},
}


def run(*args: str, ok: tuple[int, ...] = (0,)) -> None:
    print(f"\n$ lifecycle {shlex.join(args)}", flush=True)
    try:
        app(list(args), standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    if code not in ok:
        sys.exit(f"demo: 'lifecycle {shlex.join(args)}' exited with {code}")


def banner(text: str) -> None:
    print(f"\n{'=' * 78}\n{text}\n{'=' * 78}", flush=True)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="lifecycle-demo-"))
    root = work / "registry"
    print(f"demo root: {root}")
    run("--root", str(root), "init")
    for n, (_version, metrics) in enumerate(SCENARIO_METRICS.items(), start=1):
        run("candidate", "new", str(work / f"candidate{n}"), "--architecture", "convnext_atto",
            "--seed", str(n))
        (work / f"metrics{n}.json").write_text(json.dumps(metrics))
    r = ("--root", str(root))

    banner("First model: no champion yet, so the first decided model becomes champion")
    _submit_and_decide(r, work, 1)
    banner("Scenario 1: the challenger wins and is promoted; the old champion is archived")
    _submit_and_decide(r, work, 2)
    banner("Scenario 2: the challenger loses; it is archived as rejected with its reason")
    _submit_and_decide(r, work, 3)
    banner("Scenario 3: the champion misbehaves in production; roll back")
    run(*r, "rollback", "--list")
    run(*r, "rollback", "--reason", "false positives rose in production", "--severity", "CRITICAL")

    banner("Where things are: status, the audit trail, the registry rebuilt by replay")
    run(*r, "status")
    run(*r, "list")
    run(*r, "history")
    for rel in ("config", "models", "production"):
        shutil.rmtree(root / rel)
    print("\n(deleted config/, models/ and production/)")
    run(*r, "replay")
    run(*r, "verify")
    print(f"\nDone. Explore it: lifecycle --root {root} status")


def _submit_and_decide(r: tuple[str, ...], work: Path, n: int) -> None:
    run(*r, "submit", str(work / f"candidate{n}"), "--reason", f"demo candidate {n}")
    run(*r, "evaluate", "challenger", "--metrics-file", str(work / f"metrics{n}.json"))
    run(*r, "decide")


if __name__ == "__main__":
    main()
