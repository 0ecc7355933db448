"""Fault injection (ENGINEERING.md, "Tests that these systems rely on").

``os.write``, ``os.fsync`` and ``os.replace`` (what ``events/log.py``, ``events/store.py``
and ``projections/reconcile.py`` call) raise ``OSError(EIO)`` at their k-th call during one
command, for k = 1, 2, ... until the command no longer reaches a k-th call. ``write``
also fails after writing part of the line (half of it, or all but the newline). After
each fault: the command reported an error; the same log object refuses further writes
when the log's own write or fsync failed; a fresh Engine finds the commit either whole
or absent (a torn tail is moved aside), a later command succeeds, and ``verify`` is clean
before and after ``replay``.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from bootstrap import open_engine
from events.codec import frame_hash
from events.log import Draft, JsonlLog
from lifecycle.commands import Promote, Rollback
from lifecycle.errors import LogUnwritable
from projections.registry import REGISTRY_PATH
from service.engine import Engine, ProjectionFailed, decide_events
from service.verify import verify
from tests.helpers.workload import copy_root, evaluation, fake_submit, prepare

OPS = ("write", "write_half", "write_all_but_newline", "fsync", "replace")
GARBAGE = b'{"seq":8,"time":"2024-01-01T00:00:00Z","events":[{"type":"evalua'


class Fault:
    """Raise EIO at the k-th call of one ``os`` function."""

    def __init__(self, op: str, k: int) -> None:
        self.op, self.k = op, k
        self.name = "write" if op.startswith("write") else op
        self.calls = 0
        self.fired = False
        self.damage: bytes | None = None  # bytes a partial write left in the file


@contextmanager
def inject(op: str, k: int) -> Iterator[Fault]:
    fault = Fault(op, k)
    real = getattr(os, fault.name)

    def failing(*args: Any, **kwargs: Any) -> Any:
        fault.calls += 1
        if fault.calls != k:
            return real(*args, **kwargs)
        fault.fired = True
        if op in ("write_half", "write_all_but_newline"):
            data = bytes(args[1])
            part = data[: len(data) // 2] if op == "write_half" else data[:-1]
            assert real(args[0], part) == len(part)
            if os.readlink(f"/proc/self/fd/{args[0]}").endswith("events.jsonl"):
                fault.damage = part  # a torn tail; elsewhere a temp file, removed at once
        raise OSError(errno.EIO, f"injected EIO at {fault.name} call {k}")

    with mock.patch.object(os, fault.name, failing):
        yield fault


# -- scenarios: (set-up outside the fault window, the faulted command) ----------------------
def _nothing(engine: Engine) -> None:
    pass


def _submit_challenger(engine: Engine) -> None:
    engine.execute(fake_submit(engine, "next challenger"))


def _torn_tail(engine: Engine) -> None:
    with open(engine.root / "events.jsonl", "ab") as f:
        f.write(GARBAGE)


Setup = Callable[[Engine], None]
Build = Callable[[Engine], Any]
SCENARIOS: dict[str, tuple[Setup, Build]] = {
    "evaluate": (_nothing, lambda e: evaluation("champion", "faulted")),
    "submit": (_nothing, lambda e: fake_submit(e, "faulted")),
    "promote": (_submit_challenger, lambda e: Promote(ref="challenger", reason="faulted")),
    "rollback": (_nothing, lambda e: Rollback(reason="faulted")),
    "evaluate_after_torn_tail": (_torn_tail, lambda e: evaluation("champion", "faulted")),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with three models, each promoted in turn (1.0.2 reigns)."""
    root = tmp_path_factory.mktemp("faults") / "template"
    prepare(root, champions=3)
    return root


def _records(root: Path) -> list[dict[str, Any]]:
    return list(open_engine(root).records())


def _assert_clean(engine: Engine) -> None:
    report = verify(engine.root, engine.log, engine.store)  # type: ignore[arg-type]
    assert report.problems == []


def _assert_log_lines_whole(root: Path) -> None:
    raw = (root / "events.jsonl").read_bytes()
    assert raw == b"" or raw.endswith(b"\n")
    for line in raw.splitlines(keepends=True):
        assert frame_hash(line) is not None


def _run_with_fault(template: Path, where: Path, scenario: str, op: str, k: int) -> bool:
    """One faulted command and the recovery checks; False when no k-th call happened."""
    setup, build = SCENARIOS[scenario]
    engine = copy_root(template, where)
    setup(engine)
    command = build(engine)
    state_before = engine.state()
    records_before = _records(where)
    expected_events = decide_events(state_before, command)

    error: BaseException | None = None
    with inject(op, k) as fault:
        try:
            engine.execute(command)
        except (OSError, LogUnwritable, ProjectionFailed) as exc:
            error = exc
    if not fault.fired:
        assert error is None
        shutil.rmtree(where)
        return False
    assert error is not None, f"{scenario}: a failed {op} (call {k}) was swallowed"
    if isinstance(error, ProjectionFailed):  # the commit landed; only the folders lag
        assert "do not repeat the command" in str(error)
        error = error.__cause__
    if isinstance(error, OSError):
        assert error.errno == errno.EIO

    # the same log object refuses to write once its own write or fsync failed
    if isinstance(error, LogUnwritable):
        size = (where / "events.jsonl").stat().st_size
        with pytest.raises(LogUnwritable):
            engine.execute(evaluation("champion", "same-engine"))
        with pytest.raises(LogUnwritable):
            engine.replay()
        assert (where / "events.jsonl").stat().st_size == size

    # a fresh engine: the commit is whole or absent, never half
    fresh = open_engine(where, actor="recovery")
    records = list(fresh.records())
    assert [r["hash"] for r in records[: len(records_before)]] == [
        r["hash"] for r in records_before
    ]
    assert len(records) in (len(records_before), len(records_before) + 1)
    committed = len(records) == len(records_before) + 1
    if committed:
        assert records[-1]["events"] == expected_events
    if op.startswith("write") and isinstance(error, LogUnwritable):
        assert not committed  # the line never fully reached the file

    # a later command succeeds; damaged bytes were moved aside, not lost
    outcome = fresh.execute(evaluation("champion", "after-fault"))
    assert outcome.record["seq"] == len(records) + 1
    _assert_log_lines_whole(where)
    damage = {d for d in (fault.damage, GARBAGE if scenario.endswith("torn_tail") else None)
              if d is not None}
    aside = {p.read_bytes() for p in where.glob("events.jsonl.broken-*")}
    assert aside == damage

    _assert_clean(fresh)
    _, changes = open_engine(where).replay()
    assert changes == []  # the later command had already converged every projection
    _assert_clean(open_engine(where))
    shutil.rmtree(where)
    return True


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_fault_at_every_call_recovers(
    template: Path, tmp_path: Path, scenario: str, op: str
) -> None:
    k = 1
    while _run_with_fault(template, tmp_path / f"k{k}", scenario, op, k):
        k += 1
    if op.startswith("write") or op == "fsync":
        assert k > 1, f"{scenario} never called os.{op}"  # the log append always does
    if op == "replace":
        assert k > 3  # the projection replaced at least three files


@pytest.mark.parametrize("op", ["write", "fsync"])
def test_failed_log_write_makes_the_log_object_refuse_writes(tmp_path: Path, op: str) -> None:
    path = tmp_path / "events.jsonl"
    log = JsonlLog(path)
    draft = Draft("2024-01-01T00:00:00.000000Z", "tester", "record_evaluation", None,
                  [{"type": "evaluated"}])
    with log.writing():
        log.append(draft, 0)
    size = path.stat().st_size

    with log.writing():
        with inject(op, 1) as fault, pytest.raises(LogUnwritable):
            log.append(draft, 1)
        assert fault.fired
        with pytest.raises(LogUnwritable):
            log.append(draft, 1)  # not retried, even with the lock still held
    with pytest.raises(LogUnwritable), log.writing():
        pass
    with pytest.raises(LogUnwritable), log.writing():
        pass  # and it stays so: no second chance

    # what reached the file is what a new process reads: after a failed fsync the
    # line is in the file (the OS has it), after a failed write it is not
    reopened = JsonlLog(path)
    seqs = [r["seq"] for r in reopened.read()]
    assert seqs == ([1, 2] if op == "fsync" else [1])
    with reopened.writing():
        reopened.append(draft, len(seqs))
    assert [r["seq"] for r in JsonlLog(path).read()] == [*seqs, len(seqs) + 1]
    if op == "write":
        assert path.stat().st_size > size


def test_failed_fsync_through_the_engine_keeps_refusing(template: Path, tmp_path: Path) -> None:
    engine = copy_root(template, tmp_path / "root")
    with inject("fsync", 1), pytest.raises(LogUnwritable):
        engine.execute(evaluation("champion", "lost-fsync"))
    for _ in range(2):
        with pytest.raises(LogUnwritable):
            engine.execute(evaluation("champion", "retry"))
    # a new engine (a restart) re-reads what reached the file and goes on
    fresh = open_engine(tmp_path / "root")
    outcome = fresh.execute(evaluation("champion", "after-restart"))
    datasets = [e["dataset"] for r in fresh.records() for e in r["events"]
                if e["type"] == "evaluated"]
    assert datasets[-2:] == ["lost-fsync", "after-restart"]
    assert outcome.record["seq"] == len(list(fresh.records()))
    _assert_clean(fresh)


def _temp_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if ".tmp-" in p.name and "store" not in p.relative_to(root).parts)


def test_failed_replace_leaves_no_temp_file(template: Path, tmp_path: Path) -> None:
    leftovers: dict[int, list[str]] = {}
    k = 1
    while True:
        engine = copy_root(template, tmp_path / f"k{k}")
        _submit_challenger(engine)
        with inject("replace", k) as fault, suppress(OSError, ProjectionFailed):
            engine.execute(Promote(ref="challenger", reason="faulted"))
        if not fault.fired:
            break
        if found := _temp_files(engine.root):
            leftovers[k] = found
        k += 1
    assert leftovers == {}


def test_projection_fsyncs_directories_after_replace(template: Path, tmp_path: Path) -> None:
    engine = copy_root(template, tmp_path / "root")
    _submit_challenger(engine)
    steps: list[tuple[str, str]] = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        real_replace(src, dst, *args, **kwargs)
        steps.append(("replace", os.path.realpath(Path(dst).parent)))

    def fsync(fd: int) -> None:
        real_fsync(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            steps.append(("fsync_dir", os.readlink(f"/proc/self/fd/{fd}")))

    with mock.patch.object(os, "replace", replace), mock.patch.object(os, "fsync", fsync):
        engine.execute(Promote(ref="challenger", reason="durable"))
    replaced = [d for kind, d in steps if kind == "replace"]
    assert replaced
    unsynced = [d for i, (kind, d) in enumerate(steps)
                if kind == "replace" and ("fsync_dir", d) not in steps[i:]]
    assert unsynced == []
    assert (engine.root / REGISTRY_PATH).exists()


def test_first_commit_makes_the_log_file_entry_durable(tmp_path: Path) -> None:
    root = tmp_path / "root"
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))

    with mock.patch.object(os, "fsync", fsync):
        engine = open_engine(root, actor="tester")
        engine.init()
        engine.execute(fake_submit(engine, "first"))
    assert os.path.realpath(root) in synced
