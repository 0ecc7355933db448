"""The runner's side of the peer protocol: child processes in ``.venv-peers``."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import IO, Any

from benchmarks.common import REPO, run_child

PEERS_VENV = REPO / ".venv-peers"
PEERS_PY = PEERS_VENV / "bin" / "python"
HERE = Path(__file__).resolve().parent
MARK = "@@ "
PACKAGES = ("mlflow", "eventsourcing", "sqlalchemy", "alembic")


class PeerError(RuntimeError):
    """A peer failed an operation or gave a wrong result."""


def peer_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONPATH=str(REPO))
    env.pop("VIRTUAL_ENV", None)
    return env


class Peer:
    """One long-lived ``<script> serve ...`` child answering JSON requests."""

    def __init__(self, label: str, script: str, args: list[str], log: Path) -> None:
        self.label, self.log = label, log
        self._stderr: IO[str] = open(log, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([str(PEERS_PY), str(HERE / script), "serve", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, cwd=REPO, env=peer_env())

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one request; its answer, or ``PeerError`` (with the peer's stderr tail)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(MARK):
                answer: dict[str, Any] = json.loads(line[len(MARK):])
                if "error" in answer:
                    raise PeerError(f"{self.label} {op} failed: {answer['error']}\n{answer.get('traceback', '')}")
                return answer
        raise PeerError(f"{self.label} exited during {op} (code {self.proc.wait()}); "
                        f"stderr: {self.log.read_text()[-2000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(PeerError):
                self.request("quit")
            self.proc.wait(timeout=60)
        self._stderr.close()


def fresh(script: str, args: list[str]) -> tuple[float, dict[str, Any]]:
    """Wall time and JSON output of a fresh ``.venv-peers`` process."""
    child = run_child([str(PEERS_PY), str(HERE / script), *args], env=peer_env())
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise PeerError(f"{script} {' '.join(args)} printed no JSON: {child.stdout[-500:]} {child.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return child.wall_s, result


def versions() -> dict[str, str]:
    """Versions of the peer packages and Python in ``.venv-peers``."""
    code = ("import importlib.metadata as m, json, platform; "
            f"found = {{p: m.version(p) for p in {PACKAGES!r}}}; "
            "print(json.dumps(found | {'python': platform.python_version()}))")
    child = run_child([str(PEERS_PY), "-c", code], env=peer_env())
    found: dict[str, str] = json.loads(child.stdout)
    return found
