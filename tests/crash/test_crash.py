"""Crash tests: a child process runs commands in a loop and prints each acknowledged
commit; the parent SIGKILLs it at a random moment, reopens the root and checks that
nothing acknowledged was lost and that the projections agree with the log.

Each kind runs ROUNDS rounds on one root, so the damage of one kill is what the next
round starts from. After a kill the parent alternates how it reopens: a ``replay``, a
writing command, or only a read (then the next child's first command must heal the
root on its own). Process crashes only: power loss is not simulated.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from bootstrap import open_engine
from events.log import JsonlLog
from lifecycle.commands import Promote
from projections.layout import PRODUCTION_LINK, PRODUCTION_TARGET
from projections.registry import REGISTRY_PATH, registry_bytes
from service.engine import Engine
from service.verify import verify
from tests.helpers.workload import REPO, copy_root, evaluation, fake_submit, prepare, spawn

ROUNDS = 20
MAX_DELAY_S = 0.25



def _kill_at_random(
    proc: subprocess.Popen[bytes], rng: random.Random, after_first_ack: bool
) -> bytes:
    """Wait for ``ready`` (and the first ack, if asked), sleep a random time, SIGKILL;
    returns everything the child printed after ``ready``."""
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if first != b"ready\n":
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"child did not start: {first!r}\n{err.decode()}")
    early = proc.stdout.readline() if after_first_ack else b""
    try:
        proc.wait(timeout=rng.uniform(0.0, MAX_DELAY_S))
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, (
        f"child exited by itself ({proc.returncode}) before the kill:\n{err.decode()}"
    )
    return early + out


def _acknowledged(out: bytes) -> list[tuple[int, str]]:
    acked = []
    for line in out.split(b"\n")[:-1]:  # a last line without its newline is not an ack
        seq, digest = line.decode().split()
        acked.append((int(seq), digest))
    return acked


def _check_log(engine: Engine, acked: list[tuple[int, str]]) -> None:
    records = list(engine.records())
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    hashes = {r["seq"]: r["hash"] for r in records}
    for seq, digest in acked:
        assert hashes.get(seq) == digest, f"acknowledged commit {seq} lost or changed"


def _check_projection(engine: Engine) -> None:
    root = engine.root
    state = engine.state()
    report = verify(root, engine.log, engine.store)  # type: ignore[arg-type]
    assert report.problems == []
    assert (root / REGISTRY_PATH).read_bytes() == registry_bytes(state)
    registry = json.loads((root / REGISTRY_PATH).read_bytes())
    champion = state.champion_record()
    challenger = state.challenger_record()
    assert champion is not None and champion.weights is not None
    assert registry["champion"]["model_id"] == champion.model_id
    assert (registry["challenger"] or {}).get("model_id") == (
        challenger.model_id if challenger else None
    )
    assert [m.model_id for m in state.models.values() if m.status == "champion"] == [
        champion.model_id
    ]
    assert [v["status"] for v in registry["all_versions"]].count("champion") == 1
    assert registry["log_position"] == {"seq": state.seq, "hash": state.head}
    production = root / PRODUCTION_LINK
    assert os.readlink(production) == PRODUCTION_TARGET
    assert os.path.samefile(production, engine.store.path(champion.weights["digest"]))
    metadata = json.loads((root / "models/champion/metadata.json").read_bytes())
    assert metadata["model_id"] == champion.model_id
    if challenger is None:
        assert sorted(os.listdir(root / "models/challenger")) == []


def _crash_rounds(root: Path, mode: str, seed: int, *args: str) -> dict[str, int]:
    rng = random.Random(seed)
    known = len(list(open_engine(root).records()))
    all_acked: list[tuple[int, str]] = []
    stats = {"acked": 0, "torn_tails": 0, "rounds_without_ack": 0, "stale_projection": 0,
             "unacked_commits": 0}
    for n in range(ROUNDS):
        proc = spawn(mode, root, *args)
        try:
            # every other round lets the child finish one command first, so the
            # children are sure to make progress however slow this machine is
            out = _kill_at_random(proc, rng, after_first_ack=n % 2 == 1)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        acked = _acknowledged(out)
        if all_acked and acked:
            assert acked[0][0] > all_acked[-1][0]
        all_acked += acked
        stats["acked"] += len(acked)
        stats["rounds_without_ack"] += not acked

        engine = open_engine(root, actor="checker")
        head = list(engine.records())[-1]
        stats["stale_projection"] += engine.registry_position() != (head["seq"], head["hash"])
        stats["unacked_commits"] += head["seq"] - max(known, acked[-1][0] if acked else 0)
        how = n % 3
        if how == 0:
            engine.replay()
        elif how == 1:
            engine.execute(evaluation("champion", f"check-{n}"))
        _check_log(engine, all_acked)
        known = list(engine.records())[-1]["seq"]
        if how != 2:  # a read-only reopen: the next child's first command must heal
            _check_projection(engine)
    stats["torn_tails"] = len(list(root.glob("events.jsonl.broken-*")))
    engine = open_engine(root, actor="checker")
    engine.replay()
    _check_log(engine, all_acked)
    _check_projection(engine)
    assert stats["acked"] >= ROUNDS // 2, stats
    print("crash stats", mode, stats)
    return stats


def _commands(root: Path) -> list[str]:
    return [r["command"] for r in JsonlLog(root / "events.jsonl").read()]


def test_kill_during_promotions(tmp_path: Path) -> None:
    root = tmp_path / "root"
    prepare(root, champions=2)
    stats = _crash_rounds(root, "promote", 20240601, "crash")
    commands = _commands(root)[4:]  # after the set-up
    # at least ROUNDS // 2 commands of the cycle submit, promote, submit, promote, rollback
    assert commands.count("promote") >= 4 and commands.count("rollback") >= 2, stats


def test_kill_during_rollbacks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    prepare(root, champions=3)
    stats = _crash_rounds(root, "rollback", 20240602)
    assert _commands(root).count("rollback") >= ROUNDS // 2, stats
    state = open_engine(root).state()
    assert len(state.models) == 3  # rollbacks never create or lose a model


# -- deterministic kill points ----------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three models promoted in turn (1.0.2 reigns) and a waiting challenger 1.0.3."""
    root = tmp_path_factory.mktemp("crash") / "template"
    engine = prepare(root, champions=3)
    engine.execute(fake_submit(engine, "waiting challenger"))
    return root


def _die_at(root: Path, kind: str, boundary: int) -> tuple[int, bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.workload", "die", str(root), kind, str(boundary)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode in (0, -signal.SIGKILL), err.decode()
    return proc.returncode, out


@pytest.mark.parametrize("kind", ["promote", "rollback"])
def test_kill_at_every_write_fsync_and_replace(template: Path, tmp_path: Path, kind: str) -> None:
    """SIGKILL just before each os.write / os.fsync / os.replace of one promotion (or
    rollback): the commit is whole or absent, and a reopen converges."""
    before = list(open_engine(template).records())
    boundary, seen_commit = 1, False
    while True:
        root = tmp_path / f"b{boundary}"
        copy_root(template, root)
        code, out = _die_at(root, kind, boundary)
        engine = open_engine(root, actor="checker")
        records = list(engine.records())
        assert [r["hash"] for r in records[: len(before)]] == [r["hash"] for r in before]
        if code == 0:  # the command made fewer calls than ``boundary``: it completed
            _, seq, digest = out.decode().split()
            assert (records[-1]["seq"], records[-1]["hash"]) == (int(seq), digest)
            _check_projection(engine)
            break
        # the commit is absent until the kill point after the log write, then whole
        committed = len(records) == len(before) + 1
        assert committed or len(records) == len(before)
        assert committed or not seen_commit, "a commit vanished at a later kill point"
        seen_commit = seen_commit or committed
        assert boundary > 1 or not committed  # killed before anything was written
        if committed:
            assert records[-1]["command"] == kind
            assert len(records[-1]["events"]) == 2  # archived + promoted / rolled_back
        if boundary % 2:
            engine.replay()
        else:
            engine.execute(evaluation("champion", f"after-kill-{boundary}"))
        _check_log(engine, [])
        _check_projection(engine)
        boundary += 1
    assert seen_commit
    assert boundary > 6  # the command had at least the log write, its fsync and 4 replaces


def test_recovery_removes_temp_files_of_a_killed_writer(template: Path, tmp_path: Path) -> None:
    # find the kill point just before the registry is replaced, by a dry run
    dry = copy_root(template, tmp_path / "dry")
    calls: list[tuple[str, str]] = []
    real = {name: getattr(os, name) for name in ("write", "fsync", "replace")}

    def counting(name: str) -> Any:
        def call(*args: Any) -> Any:
            calls.append((name, str(args[1]) if name == "replace" else ""))
            return real[name](*args)

        return call

    with ExitStack() as stack:
        for name in real:
            stack.enter_context(mock.patch.object(os, name, counting(name)))
        dry.execute(Promote(ref="challenger", reason="killed"))
    boundary = calls.index(("replace", str(dry.root / REGISTRY_PATH))) + 1

    root = tmp_path / "root"
    copy_root(template, root)
    code, _ = _die_at(root, "promote", boundary)
    assert code == -signal.SIGKILL
    assert list((root / "config").glob(".*.tmp-*"))  # what the kill left behind
    open_engine(root).replay()
    open_engine(root).execute(evaluation("champion", "after-kill"))
    leftovers = [str(p.relative_to(root)) for p in root.rglob(".*.tmp-*")]
    assert leftovers == []
