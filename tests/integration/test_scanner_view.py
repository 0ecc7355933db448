"""The scanner's view: production/models/earthquake_model.pth is never missing or partial.

A reader thread resolves and reads the production path in a tight loop (open, read all,
sha256) while a child process runs promotions and rollbacks (``workload promote``: submit,
promote, submit, promote, rollback, ...). Every read must succeed and hash to a weights
blob of the store (the only copies the engine links from), i.e. a whole weights file: a
partial or mixed read would hash to nothing the store holds.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from bootstrap import open_engine
from events.store import BlobStore
from projections.layout import PRODUCTION_LINK
from tests.helpers.workload import prepare, spawn

RUN_S = 6.0


class Reader(threading.Thread):
    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.path = root / PRODUCTION_LINK
        self.store = BlobStore(root / "store")
        self.stop = threading.Event()
        self.reads = 0
        self.digests: set[str] = set()
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with open(self.path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                self.failures.append(f"read {self.reads}: {exc!r}")
                continue
            digest = hashlib.sha256(data).hexdigest()
            if not self.store.has(digest):
                self.failures.append(f"read {self.reads}: {len(data)} bytes that are no stored blob")
            self.digests.add(digest)
            self.reads += 1


def test_production_weights_are_never_missing_or_partial(tmp_path: Path) -> None:
    root = tmp_path / "root"
    prepare(root, champions=2)
    reader = Reader(root)
    reader.start()
    child = spawn("promote", root, "scanner")
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(RUN_S)
    finally:
        child.kill()
        child.wait(timeout=30)
        reader.stop.set()
        reader.join(timeout=30)
    commands = [r["command"] for r in open_engine(root).records()][4:]
    assert commands.count("promote") >= 5 and commands.count("rollback") >= 2, commands
    assert reader.failures == []
    assert reader.reads >= 1000
    assert len(reader.digests) >= 3  # the reader saw the champion change
