"""Notification hooks: commands run for chosen event types, with the event JSON on stdin.

Guarantees:
1. A hook never blocks or breaks the engine: each one runs in a detached runner process
   (``python -m service.hooks``) that enforces the timeout (the hook's whole process group
   is killed) and logs the outcome to ``<root>/hooks.log``; the command that committed the
   event returns at once.
2. Hooks run only after the commit is durable and projected.
3. A failing, missing or hanging hook is logged with its reason; nothing else happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.daemon_config import Hook, Settings

LOG = "hooks.log"


def dispatch(root: Path, settings: Settings, record: Mapping[str, Any]) -> int:
    """Start a runner for every (hook, event) pair that matches; returns how many."""
    started = 0
    for event in record["events"]:
        for hook in settings.hooks:
            if event["type"] in hook.events or "*" in hook.events:
                _start(root, hook, record, event)
                started += 1
    return started


def _start(root: Path, hook: Hook, record: Mapping[str, Any], event: Mapping[str, Any]) -> None:
    payload = {
        "root": str(root), "command": hook.command if isinstance(hook.command, str) else list(hook.command),
        "timeout": hook.timeout,
        "event": {"seq": record["seq"], "time": record["time"], "actor": record["actor"],
                  "command": record["command"], "event": dict(event)},
    }
    runner = subprocess.Popen([sys.executable, "-m", "service.hooks"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, cwd=root)
    assert runner.stdin is not None
    runner.stdin.write(json.dumps(payload).encode())
    runner.stdin.close()


def run_hook(payload: Mapping[str, Any]) -> str:
    """Run one hook to completion or timeout; returns the log line."""
    command, timeout = payload["command"], float(payload["timeout"])
    data = json.dumps(payload["event"], sort_keys=True).encode()
    what = f"hook {command!r} for {payload['event']['event']['type']} (commit {payload['event']['seq']})"
    try:
        process = subprocess.Popen(command, shell=isinstance(command, str), stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return f"{what}: could not start ({exc})"
    try:
        _, err = process.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return f"{what}: timed out after {timeout:g} s; killed"
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"{what}: failed with exit status {process.returncode} {tail[0][:200]}".rstrip()
    return f"{what}: ok"


def _log(root: Path, line: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(root / LOG, "a") as f:
        f.write(f"{stamp} {line}\n")


def main() -> None:
    payload = json.loads(sys.stdin.buffer.read())
    try:
        line = run_hook(payload)
    except Exception as exc:  # the runner must log, whatever happens
        line = f"hook {payload.get('command')!r}: runner error {exc!r}"
    _log(Path(payload["root"]), line)


if __name__ == "__main__":
    main()
