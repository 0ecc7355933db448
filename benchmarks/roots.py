"""Small registry roots built through ``Engine.execute`` (fake weights, no torch)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bootstrap import open_engine
from events.store import BlobStore
from lifecycle.commands import DecideChallenger, RecordEvaluation, Rollback, Submit
from service.engine import Engine

CLASSES = {"magnitude": ["Large", "Medium", "Moderate", "Normal"],
           "azimuth": ["E", "N", "NE", "NW", "Normal", "S", "SE", "SW", "W"]}
DEMO_METRICS = (
    {"magnitude_accuracy": 97.63, "azimuth_accuracy": 71.28},
    {"magnitude_accuracy": 98.50, "azimuth_accuracy": 72.30},
    {"magnitude_accuracy": 96.50, "azimuth_accuracy": 70.10},
)
ACTOR = "bench@localhost"


def fake_submit(store: BlobStore, weights: dict[str, Any], n: int) -> Submit:
    files = {"class_mappings.json": store.put_bytes(b'{"magnitude": [], "azimuth": []}\n'),
             "training_config.json": store.put_bytes(f'{{"seed": {n}}}\n'.encode())}
    return Submit(weights=weights, classes=CLASSES, architecture="convnext_atto", files=files,
                  training_config={"seed": n, "epochs": 30}, reason=f"benchmark candidate {n}")


def demo_root(root: Path) -> Engine:
    """The demo's three scenarios: promote (first), promote, reject, then roll back."""
    engine = open_engine(root, actor=ACTOR)
    engine.init()
    for n, metrics in enumerate(DEMO_METRICS, start=1):
        weights = engine.store.put_bytes(os.urandom(64 * 1024))
        engine.execute(fake_submit(engine.store, weights, n))
        engine.execute(RecordEvaluation("challenger", "benchmark", metrics))
        if n > 1:
            engine.execute(RecordEvaluation("champion", "benchmark", DEMO_METRICS[n - 2]))
        engine.execute(DecideChallenger())
    engine.execute(Rollback(reason="false positives rose in production", severity="CRITICAL"))
    return engine


def add_challenger(engine: Engine, weights: dict[str, Any], n: int,
                   metrics: dict[str, float] | None = None) -> None:
    """Submit a new challenger with the given blob and record one evaluation."""
    engine.execute(fake_submit(engine.store, weights, n))
    engine.execute(RecordEvaluation("challenger", "benchmark",
                                    metrics or {"magnitude_accuracy": 97.0 + n % 2,
                                                "azimuth_accuracy": 71.0}))


def weight_file(path: Path, size: int) -> Path:
    """A file of ``size`` random bytes (written in 1 MiB chunks)."""
    chunk = 1 << 20
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(os.urandom(min(chunk, left)))
            left -= chunk
    return path


def stamp(path: Path, n: int) -> None:
    """Make the file's content unique (a Submit refuses weights already registered)."""
    with open(path, "r+b") as f:
        f.write(f"bench-{n:08d}".encode())
