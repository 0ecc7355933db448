"""One line per daemon step, for people (``time step key=value ...``) or machines (JSON)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO


class StepLog:
    def __init__(self, as_json: bool = False, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stderr

    def step(self, name: str, **fields: Any) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if self.as_json:
            line = json.dumps({"time": now, "step": name, **fields}, sort_keys=True, default=str)
        else:
            details = " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
            line = f"{now} {name} {details}".rstrip()
        print(line, file=self.stream, flush=True)


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text or not text.isprintable()) else text
