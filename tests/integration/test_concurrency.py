"""Several OS processes writing to one root at once, through ``Engine.execute``.

Checks: nothing acknowledged is lost, no two processes are acknowledged the same
commit, every line of the log is a whole framed commit (no interleaving), sequence
numbers are contiguous, the hash chain verifies (``lifecycle verify`` exits 0), readers
never see half a commit, and a stale ``expected_seq`` is a ``Conflict`` that appends
nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bootstrap import open_engine
from events.codec import frame_hash
from events.log import Draft
from lifecycle.errors import Conflict
from projections.registry import REGISTRY_PATH, registry_bytes
from tests.conftest import Cli
from tests.helpers.workload import REPO, evaluation, fake_submit, prepare, spawn

WRITERS = 4
COMMANDS = 25
TIMEOUT_S = 120



@contextmanager
def _children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every child started in the block is killed (if still running) and waited for."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)


def _ready(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == b"ready\n", f"child did not start: {line!r}"


def _finish(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err.decode()
    return out.decode(), err.decode()


def _acks(out: str) -> list[tuple[int, str]]:
    return [(int(s), h) for s, h in (line.split() for line in out.splitlines()
                                     if line != "conflict")]


def _cli_verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", "--root", str(root), "verify"],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S,
    )


def _check_root(root: Path, acked: list[tuple[int, str]], expected_commits: int) -> None:
    raw = (root / "events.jsonl").read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b""  # ends with a newline: no partial commit
    assert all(frame_hash(line + b"\n") is not None for line in lines[:-1])
    records = list(open_engine(root).records())
    assert len(records) == expected_commits
    assert [r["seq"] for r in records] == list(range(1, expected_commits + 1))
    hashes = {r["seq"]: r["hash"] for r in records}
    seqs = [seq for seq, _ in acked]
    assert len(set(seqs)) == len(seqs), "two writers were acknowledged the same commit"
    for seq, digest in acked:
        assert hashes[seq] == digest, f"acknowledged commit {seq} lost or changed"
    state = open_engine(root).state()
    assert (root / REGISTRY_PATH).read_bytes() == registry_bytes(state)
    result = _cli_verify(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith(": ok")


def _datasets(root: Path) -> Counter[str]:
    return Counter(e["dataset"] for r in open_engine(root).records() for e in r["events"]
                   if e["type"] == "evaluated")


def test_concurrent_writers_lose_nothing_and_never_interleave(tmp_path: Path) -> None:
    root = tmp_path / "root"
    prepare(root, champions=1)
    setup = len(list(open_engine(root).records()))
    go, stop = tmp_path / "go", tmp_path / "stop"
    with _children() as procs:
        reader = spawn("read", root, str(stop))
        procs.append(reader)
        for n in range(WRITERS):
            procs.append(spawn("evaluate", root, f"w{n}", str(COMMANDS), str(go)))
        for proc in procs:
            _ready(proc)
        go.touch()
        acked: list[tuple[int, str]] = []
        for n, proc in enumerate(procs[1:]):
            out, _ = _finish(proc)
            mine = _acks(out)
            assert len(mine) == COMMANDS, f"writer {n}"
            assert [s for s, _ in mine] == sorted(s for s, _ in mine)
            acked += mine
        stop.touch()
        out, err = _finish(reader)
    assert int(out.split()[-1]) > 0  # the reader read the log while it grew
    assert "torn tail" not in err, err
    _check_root(root, acked, setup + WRITERS * COMMANDS)
    datasets = _datasets(root)
    assert all(datasets[f"w{n}-{i}"] == 1 for n in range(WRITERS) for i in range(COMMANDS))
    assert sum(datasets.values()) == WRITERS * COMMANDS


def test_optimistic_writers_retry_conflicts_and_apply_each_command_once(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    prepare(root, champions=1)
    setup = len(list(open_engine(root).records()))
    go = tmp_path / "go"
    writers, commands = 3, 15
    conflicts = 0
    with _children() as procs:
        for n in range(writers):
            procs.append(spawn("optimistic", root, f"o{n}", str(commands), str(go)))
        for proc in procs:
            _ready(proc)
        go.touch()
        acked: list[tuple[int, str]] = []
        for proc in procs:
            out, _ = _finish(proc)
            conflicts += out.splitlines().count("conflict")
            acked += _acks(out)
    assert len(acked) == writers * commands
    _check_root(root, acked, setup + writers * commands)
    datasets = _datasets(root)
    assert sorted(datasets) == sorted(f"o{n}-{i}" for n in range(writers)
                                      for i in range(commands))
    assert set(datasets.values()) == {1}, "a refused (conflicting) attempt was appended"


@pytest.mark.parametrize("kind", ["submit", "promote"])
def test_racing_commands_are_decided_one_after_another(tmp_path: Path, kind: str) -> None:
    """Racing submits (or promotions of the same challenger): exactly one wins, the
    others are decided on the state it left and refused; nothing else is appended."""
    root = tmp_path / "root"
    engine = prepare(root, champions=1)
    if kind == "promote":
        engine.execute(fake_submit(engine, "challenger"))
    setup = len(list(engine.records()))
    go = tmp_path / "go"
    outs = []
    with _children() as procs:
        for n in range(WRITERS):
            procs.append(spawn("race", root, kind, f"racer{n}", str(go)))
        for proc in procs:
            _ready(proc)
        go.touch()
        outs = [_finish(proc)[0] for proc in procs]
    acked = [ack for out in outs if not out.startswith("refused") for ack in _acks(out)]
    refused = [out for out in outs if out.startswith("refused")]
    assert len(acked) == 1 and len(refused) == WRITERS - 1, outs
    expected = "still waiting for a decision" if kind == "submit" else "there is no challenger"
    assert all(expected in out for out in refused), refused
    _check_root(root, acked, setup + 1)
    state = open_engine(root).state()
    assert [m.status for m in state.models.values()].count("champion") == 1
    assert (state.challenger is None) == (kind == "promote")


def test_writer_lock_excludes_other_processes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    engine = prepare(root, champions=1)
    go = tmp_path / "go"
    go.touch()
    with _children() as procs:
        with engine.log.writing():
            proc = spawn("evaluate", root, "blocked", "1", str(go))
            procs.append(proc)
            _ready(proc)
            time.sleep(0.5)
            size = (root / "events.jsonl").stat().st_size
            assert proc.poll() is None, "the child wrote while another process held the lock"
        out, _ = _finish(proc)
    assert (root / "events.jsonl").stat().st_size > size
    assert _acks(out)[0][0] == 3


def test_stale_expected_seq_is_a_conflict_and_appends_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    engine = prepare(root, champions=2)
    seen = engine.state().seq
    engine.execute(evaluation("champion", "first"), expected_seq=seen)
    log_before = (root / "events.jsonl").read_bytes()
    registry_before = (root / REGISTRY_PATH).read_bytes()
    for stale in (seen, seen + 5, 0):
        with pytest.raises(Conflict, match="changed meanwhile"):
            engine.execute(evaluation("champion", "second"), expected_seq=stale)
        assert (root / "events.jsonl").read_bytes() == log_before
        assert (root / REGISTRY_PATH).read_bytes() == registry_before
    # the log itself refuses a stale position too, whatever the engine checked
    draft = Draft("2024-01-01T00:00:00.000000Z", "tester", "record_evaluation", None,
                  [{"type": "evaluated"}])
    with engine.log.writing(), pytest.raises(Conflict):
        engine.log.append(draft, seen)
    assert (root / "events.jsonl").read_bytes() == log_before
    # the current position is accepted
    outcome = engine.execute(evaluation("champion", "second"), expected_seq=seen + 1)
    assert outcome.record["seq"] == seen + 2


def test_stale_expected_seq_between_processes(tmp_path: Path) -> None:
    """A decision made before another process appended is refused."""
    root = tmp_path / "root"
    prepare(root, champions=1)
    mine = open_engine(root)
    seen = mine.state().seq
    go = tmp_path / "go"
    go.touch()
    with _children() as procs:
        proc = spawn("evaluate", root, "other", "1", str(go))
        procs.append(proc)
        _ready(proc)
        _finish(proc)
    before = (root / "events.jsonl").read_bytes()
    with pytest.raises(Conflict):
        mine.execute(evaluation("champion", "mine"), expected_seq=seen)
    assert (root / "events.jsonl").read_bytes() == before


def test_cli_expect_seq_stale_exits_2(cli: Cli, root: Path, metrics_file) -> None:  # type: ignore[no-untyped-def]
    prepare(root, champions=1)
    seq = open_engine(root).state().seq
    metrics = str(metrics_file(magnitude_accuracy=91.0, azimuth_accuracy=61.0))
    cli("evaluate", "champion", "--metrics-file", metrics, "--expect-seq", str(seq))
    before = (root / "events.jsonl").read_bytes()
    result = cli("evaluate", "champion", "--metrics-file", metrics, "--expect-seq", str(seq),
                 code=2)
    assert "changed meanwhile" in result.stderr
    assert (root / "events.jsonl").read_bytes() == before
