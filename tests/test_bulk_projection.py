"""A rebuild of many folders is written on two threads and made durable with one ``syncfs``
per file system instead of an fsync per file: the same files, and a failure is the same
clear error as a failed fsync (nothing half-written left, the next replay heals)."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import threading
from pathlib import Path

import pytest

from lifecycle.errors import UserError
from projections import _staging, reconcile
from service.engine import Engine
from service.verify import verify
from tests.helpers.workload import PROJECTED, prepare, projected_tree


def _rebuild(engine: Engine) -> list[str]:
    for top in PROJECTED:
        shutil.rmtree(engine.root / top, ignore_errors=True)
    return engine.replay()[1]


def test_syncfs_and_fsync_per_file_build_the_same_folders(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    engine = prepare(tmp_path / "r", champions=4)
    calls: list[int] = []
    real = reconcile._syncfs_call()
    assert real is not None  # Linux: the call exists
    monkeypatch.setattr(reconcile, "_syncfs_call", lambda: lambda fd: calls.append(fd) or real(fd))
    monkeypatch.setattr(reconcile, "_WHOLE_FS_FROM", 1)
    changes = _rebuild(engine)
    assert calls and len(changes) > 10
    bulk = projected_tree(engine.root)
    monkeypatch.setattr(reconcile, "_WHOLE_FS_FROM", 10**9)
    assert _rebuild(engine) == changes
    assert projected_tree(engine.root) == bulk


def test_a_failed_syncfs_is_a_clear_error_and_the_next_replay_heals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = prepare(tmp_path / "r", champions=4)
    log_before = (engine.root / "events.jsonl").read_bytes()

    def failing(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(reconcile, "_syncfs_call", lambda: failing)
    monkeypatch.setattr(reconcile, "_WHOLE_FS_FROM", 1)
    with pytest.raises(UserError, match=r"could not be updated.*Input/output error"):
        _rebuild(engine)
    assert (engine.root / "events.jsonl").read_bytes() == log_before
    leftovers = [p for top in PROJECTED for p in (engine.root / top).rglob(".*.tmp-*")]
    assert leftovers == []
    monkeypatch.setattr(reconcile, "_WHOLE_FS_FROM", 10**9)
    Engine(engine.root).replay()
    report = verify(engine.root, Engine(engine.root).log, engine.store)  # type: ignore[arg-type]
    assert report.problems == []


def test_two_threads_and_one_build_the_same_folders_and_report_them_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = prepare(tmp_path / "r", champions=4)
    threads: set[str] = set()
    real_stage = reconcile._stage

    def stage(*args: object, **kwargs: object) -> str:
        threads.add(threading.current_thread().name)
        return real_stage(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reconcile, "_stage", stage)
    monkeypatch.setattr(reconcile, "_PARALLEL_STAGE", 1)
    changes = _rebuild(engine)
    assert "MainThread" not in threads and len(threads) >= 2 and len(changes) > 10
    assert changes == sorted(changes[:-1]) + changes[-1:]  # the registry last, the rest in path order
    both = projected_tree(engine.root)
    threads.clear()
    monkeypatch.setattr(reconcile, "_PARALLEL_STAGE", 10**9)
    assert _rebuild(engine) == changes
    assert threads == {"MainThread"} and projected_tree(engine.root) == both


@pytest.mark.parametrize("failing_call", [1, 2, 4])  # of 4 content files on the two threads
def test_a_failure_on_either_thread_leaves_no_temp_file_and_the_next_replay_heals(
        failing_call: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = prepare(tmp_path / "r", champions=4)
    log_before = (engine.root / "events.jsonl").read_bytes()
    real_write, calls, counting = reconcile._write_bytes, [0], threading.Lock()

    def write(path: str, data: bytes) -> None:
        with counting:  # called from both threads
            calls[0] += 1
            mine = calls[0]
        real_write(path, data[:1] if mine == failing_call else data)
        if mine == failing_call:  # the temp file exists, half-written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(reconcile, "_write_bytes", write)
    monkeypatch.setattr(reconcile, "_PARALLEL_STAGE", 1)
    with pytest.raises(UserError, match=r"could not be updated.*No space left on device"):
        _rebuild(engine)
    assert (engine.root / "events.jsonl").read_bytes() == log_before
    assert [p for top in PROJECTED for p in (engine.root / top).rglob(".*.tmp-*")] == []
    assert not (engine.root / "config" / "model_registry.json").exists()
    monkeypatch.setattr(reconcile, "_write_bytes", real_write)
    Engine(engine.root).replay()
    assert verify(engine.root, Engine(engine.root).log, engine.store).problems == []  # type: ignore[arg-type]


def test_a_thread_that_cannot_start_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = prepare(tmp_path / "r", champions=4)
    real_pool = _staging.ThreadPoolExecutor

    class OneThread(real_pool):  # type: ignore[misc, valid-type]
        started = 0

        def submit(self, *args: object, **kwargs: object) -> object:
            OneThread.started += 1
            if OneThread.started == 2:
                raise RuntimeError("can't start new thread")
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(_staging, "ThreadPoolExecutor", OneThread)
    monkeypatch.setattr(reconcile, "_PARALLEL_STAGE", 1)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        _rebuild(engine)
    assert [p for top in PROJECTED for p in (engine.root / top).rglob(".*.tmp-*")] == []
    monkeypatch.setattr(_staging, "ThreadPoolExecutor", real_pool)
    Engine(engine.root).replay()
    assert verify(engine.root, Engine(engine.root).log, engine.store).problems == []  # type: ignore[arg-type]
