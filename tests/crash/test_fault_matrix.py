"""The fault matrix (``tests/helpers/faults.py``), a read-only root and a full disk.

Default run: a deterministic sample of the matrix (every command x every op it calls x
k in {1, 2, middle, last}, the errno and mode cycling with k; plus every errno x every mode
x every k for promote). ``LIFECYCLE_FULL_MATRIX=1`` runs every case instead (about 3,000;
``python -m benchmarks.reliability faults`` does the same and writes a summary).

A read-only root and a full disk use a real tmpfs (``mount -t tmpfs``, then
``remount,ro``) when this process may mount one (root with CAP_SYS_ADMIN); otherwise they
are simulated by injecting EROFS / ENOSPC into every writing ``os`` call
(``LIFECYCLE_NO_MOUNT=1`` forces the simulation). Root ignores file
permissions, so ``chmod`` cannot make a read-only root in these containers.
"""

from __future__ import annotations

import errno
import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from bootstrap import open_engine
from service.verify import verify
from tests.conftest import Cli
from tests.helpers import faults
from tests.helpers.faults import COMMANDS, ERRNOS, MODES, Case
from tests.helpers.workload import fake_submit, prepare

FULL = os.environ.get("LIFECYCLE_FULL_MATRIX") == "1"
DEEP = ("promote",)  # every errno x mode x k in the default run


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    if not faults.SEED.is_dir():
        pytest.skip(f"fixture not found: {faults.SEED}")
    base = tmp_path_factory.mktemp("matrix")
    templates = faults.make_templates(base / "templates")
    return templates, faults.call_counts(templates, base)


def sample(command: str, counts: dict[str, int]) -> list[Case]:
    """The default run's cases for one command (all of them with LIFECYCLE_FULL_MATRIX=1)."""
    if FULL or command in DEEP:
        return list(faults.all_cases({command: counts}))
    cases, cycle = [], itertools.cycle(itertools.product(MODES, ERRNOS))
    for op, total in counts.items():
        for k in sorted({k for k in (1, 2, (total + 1) // 2, total) if 1 <= k <= total}):
            mode, error = next(cycle)
            cases.append(Case(command, op, error, mode, k, k if mode == "recovery" else 0))
    return cases


def test_the_commands_call_every_op_the_matrix_injects(setup: Any) -> None:
    _, counts = setup
    for command in COMMANDS:
        called = {op for op, n in counts[command].items() if n}
        assert called >= {"write", "fsync", "replace", "link", "mkdir"}, (command, counts[command])
    assert counts["replay"]["symlink"] and counts["import"]["symlink"]  # the production link
    # os.rename is the daemon's (inbox drops); no engine command calls it
    assert all(counts[c]["rename"] == 0 for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_fault_matrix(setup: Any, tmp_path: Path, command: str) -> None:
    templates, counts = setup
    cases = sample(command, counts[command])
    assert cases
    failures, swallowed, unclear = [], [], []
    for n, case in enumerate(cases):
        result = faults.run_case(case, templates[command], tmp_path / f"case{n}")
        assert result.fired, case  # k never exceeds the command's calls
        if result.problems:
            failures.append((case, result.outcome, result.problems[:3]))
        # allowed to pass silently: mkdir(exist_ok) of an existing folder, the state cache
        if result.outcome == "ok" and case.op != "mkdir" and not faults.only_cache(result):
            swallowed.append((case, result.paths))
        if result.outcome == "raw_oserror":
            unclear.append(case)
        if result.outcome == "user_error":
            assert "\n" not in result.message, result.message
    assert failures == []
    assert swallowed == []  # a failed write, fsync, replace or link is never ignored
    if command != "replay":
        assert unclear == []  # a one-line UserError, never a bare OSError


def test_a_failed_replay_is_a_clear_error(setup: Any, tmp_path: Path) -> None:
    """Replay and the heal at the start of a command project outside ``execute``'s wrapper:
    the projection's own ``ProjectionUnwritable`` makes that one line too."""
    templates, _ = setup
    result = faults.run_case(Case("replay", "replace", "EIO", "once", 1), templates["replay"],
                             tmp_path / "case")
    assert result.problems == []
    assert result.outcome == "user_error"
    assert "could not be updated" in result.message and "lifecycle replay" in result.message


# -- a read-only root and a full disk ----------------------------------------------------------
@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[bool]:
    """Mount a tmpfs at ``where`` when allowed; yields whether it is mounted."""
    where.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
    mounted = (os.environ.get("LIFECYCLE_NO_MOUNT") != "1"
               and subprocess.run(command, capture_output=True).returncode == 0)
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


WRITING_OS = {errno.EROFS: ("write", "fsync", "replace", "rename", "link", "symlink", "mkdir",
                            "truncate", "ftruncate"),
              errno.ENOSPC: ("write", "link", "symlink", "mkdir")}  # what needs new blocks


@contextmanager
def simulated(code: int) -> Iterator[None]:
    """What a read-only (EROFS) or full (ENOSPC) file system refuses fails with ``code``:
    read-only refuses any open for writing, full only the creation of a file."""
    real_open = os.open

    def opening(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        creates = flags & os.O_CREAT and not os.path.exists(path)
        if (code == errno.EROFS and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)) or creates:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(os, "open", opening))
        for name in WRITING_OS[code]:
            stack.enter_context(mock.patch.object(os, name, failing))
        yield


WRITING = [
    ["promote", "challenger", "--reason", "x"],
    ["reject", "challenger", "--reason", "x"],
    ["rollback"],
    ["observe", "--false-positive-rate", "3"],
    ["replay"],
]


def _one_clear_line(cli: Cli, args: list[str]) -> str:
    result = cli(*args, code=None)
    assert result.exit_code in (1, 2), (args, result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), (args, repr(result.exception))
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
    return str(lines[0])


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and "cache" not in p.parts}


def _readable(cli: Cli) -> None:
    cli("status")
    cli("list")
    cli("history")
    assert "ok" in cli("verify").stdout


def test_read_only_root_refuses_writes_with_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "8m") as mounted:
        root = tmp_path / "mnt" / "root"
        engine = prepare(root, champions=2)
        engine.execute(fake_submit(engine, "waiting"))
        before = _snapshot(root)
        cli = Cli(root)
        with ExitStack() as stack:
            if mounted:
                subprocess.run(["mount", "-o", "remount,ro", str(tmp_path / "mnt")], check=True)
            else:
                stack.enter_context(simulated(errno.EROFS))
            for args in WRITING:
                _one_clear_line(cli, args)
            _readable(cli)
        assert _snapshot(root) == before


def _fill(directory: Path) -> Path:
    """Fill the file system holding ``directory``; returns the filler file."""
    filler = directory / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_full_disk_gives_clear_errors_and_loses_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "8m") as mounted:
        root = tmp_path / "mnt" / "root"
        engine = prepare(root, champions=2)
        acked = [r["hash"] for r in engine.records()]
        log_before = (root / "events.jsonl").read_bytes()
        cli = Cli(root)
        candidate = tmp_path / "candidate.pth"
        candidate.write_bytes(os.urandom(1 << 16))
        with ExitStack() as stack:
            filler = _fill(tmp_path / "mnt") if mounted else None
            if not mounted:
                stack.enter_context(simulated(errno.ENOSPC))
            messages = [_one_clear_line(cli, args) for args in WRITING[2:4]]
            assert all("No space left on device" in m or "ENOSPC" in m for m in messages), messages
            with pytest.raises(Exception, match="No space left on device"):
                open_engine(root).execute(fake_submit(engine, "no room"))
        assert (root / "events.jsonl").read_bytes().startswith(log_before)
        if filler is not None:
            filler.unlink()
        outcome = open_engine(root, actor="after").execute(fake_submit(open_engine(root), "room again"))
        acked.append(outcome.record["hash"])
        fresh = open_engine(root)
        assert {r["hash"] for r in fresh.records()} >= set(acked)
        assert verify(root, fresh.log, fresh.store).problems == []  # type: ignore[arg-type]
        assert fresh.replay()[1] == []
