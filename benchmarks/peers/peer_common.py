"""Standard-library-only helpers shared by the peer scripts (they run in ``.venv-peers``).

Protocol: the runner starts ``<peer>_ops.py serve ...`` and writes one JSON object per line
(``{"op": NAME, ...arguments}``); the peer answers each with one line ``@@ {json}`` on
stdout (anything else a library prints is ignored by the runner). An operation that fails,
or whose result is wrong, answers ``{"error": ...}``: the runner stops loudly on it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARK = "@@ "
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def answer(payload: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(payload) + "\n")
    sys.stdout.flush()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call, by ``time.perf_counter``."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def check(condition: bool, message: str) -> None:
    """Raise (and so answer an error) when a measured operation gave a wrong result."""
    if not condition:
        raise AssertionError(message)


def serve(handlers: dict[str, Handler]) -> None:
    """Answer requests from stdin until ``quit`` or end of input."""
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request.get("op")
        if op == "quit":
            answer({"ok": True})
            return
        try:
            answer(handlers[op](request))
        except Exception as exc:  # reported to the runner, which fails loudly
            answer({"error": f"{op}: {type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-3000:]})
