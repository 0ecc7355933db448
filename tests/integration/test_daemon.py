"""The auto-update daemon: drops, duplicates, restarts after kill -9, triggers, alerts, hooks."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bootstrap import open_engine
from tests.conftest import Cli

WATCH = ["watch", "--once", "--device", "cpu"]


def drop(root: Path, candidate: Path, name: str, ready: bool = True) -> Path:
    target = root / "inbox" / name
    shutil.copytree(candidate, target)
    if ready:
        (target / "READY").touch()
    return target


def reason(root: Path, kind: str, name: str) -> str:
    return (root / "inbox" / kind / name / "reason.txt").read_text()


def models(cli: Cli) -> list[str]:
    return sorted(r["model_id"] for r in cli.json("list"))


def test_good_drops_are_registered_evaluated_and_decided(site: Cli, root: Path, candidates: list[Path]) -> None:
    drop(root, candidates[0], "first")
    site(*WATCH)
    assert "promoted: first model" in reason(root, ".done", "convnext_v1.0.0")
    drop(root, candidates[1], "second")
    site(*WATCH)
    assert reason(root, ".done", "convnext_v1.0.1").split(":")[0] in ("promoted", "rejected")
    assert site.json("status")["challenger"] is None
    evaluated = site.json("history", "--type", "evaluated")
    assert {r["actor"] for r in site.json("history")} == {"daemon"}
    assert len(evaluated) == 2  # v1.0.0 once, v1.0.1 once: the champion's holdout result is reused
    assert not [p for p in (root / "inbox").iterdir() if not p.name.startswith(".")]


def test_incomplete_drops_wait_and_quiet_ones_are_taken(site: Cli, root: Path, candidates: list[Path]) -> None:
    fresh = drop(root, candidates[0], "still-copying", ready=False)
    for path in fresh.iterdir():
        path.touch()  # being written right now
    site(*WATCH)
    assert fresh.exists() and models(site) == []
    old = time.time() - 60
    for path in [fresh, *fresh.iterdir()]:
        os.utime(path, (old, old))
    site(*WATCH)  # unchanged for longer than the quiet period (5 s): complete
    assert not fresh.exists() and models(site) == ["convnext_v1.0.0"]


@pytest.fixture
def bad_drops(root: Path, candidates: list[Path]) -> dict[str, str]:
    """name -> the reason it must fail with."""
    corrupt = drop(root, candidates[0], "corrupt")
    (corrupt / "best_model.pth").write_bytes(b"garbage")
    evil = drop(root, candidates[0], "malicious")
    torch.save({"model_state_dict": {}, "x": EvilPayload()}, evil / "best_model.pth")
    mapping = drop(root, candidates[0], "wrong-classes")
    classes = json.loads((mapping / "class_mappings.json").read_text())
    del classes["azimuth"]["8"]
    (mapping / "class_mappings.json").write_text(json.dumps(classes))
    missing = drop(root, candidates[0], "no-weights")
    (missing / "best_model.pth").unlink()
    link = drop(root, candidates[0], "symlink")
    (link / "best_model.pth").unlink()
    (link / "best_model.pth").symlink_to("/etc/passwd")
    huge = drop(root, candidates[0], "huge")
    with open(huge / "training_history.csv", "wb") as f:
        f.truncate(30 * 2**20)  # sparse: costs no disk
    (root / "config" / "lifecycle.toml").write_text("[daemon]\nmax_file_mb = 20\n")
    return {"corrupt": "not a readable PyTorch checkpoint", "malicious": "refused",
            "wrong-classes": "8 azimuth classes", "no-weights": "no best_model.pth",
            "symlink": "symlink pointing outside the drop", "huge": "above the 20 MB limit"}


class EvilPayload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch /tmp/lifecycle-daemon-pickle-ran",))


def test_bad_drops_fail_with_reasons_and_the_daemon_goes_on(
    site: Cli, root: Path, candidates: list[Path], bad_drops: dict[str, str]
) -> None:
    Path("/tmp/lifecycle-daemon-pickle-ran").unlink(missing_ok=True)
    drop(root, candidates[1], "good")
    site(*WATCH)
    for name, why in bad_drops.items():
        assert why in reason(root, ".failed", name), name
    assert models(site) == ["convnext_v1.0.0"]
    assert "promoted" in reason(root, ".done", "convnext_v1.0.0")
    assert not Path("/tmp/lifecycle-daemon-pickle-ran").exists()


def test_the_same_weights_dropped_twice_register_once(site: Cli, root: Path, candidates: list[Path]) -> None:
    drop(root, candidates[0], "a")
    drop(root, candidates[0], "a-again")
    site(*WATCH)
    assert models(site) == ["convnext_v1.0.0"]
    assert "already registered as convnext_v1.0.0" in reason(root, ".done", "convnext_v1.0.0-2")


def test_a_second_daemon_is_refused(site: Cli, root: Path) -> None:
    from daemon.loop import single_instance

    with single_instance(root):
        result = site(*WATCH, code=2)
    assert "another lifecycle daemon is already watching" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr


def _daemon(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LIFECYCLE_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", "from cli.app import main; main()", "watch", "--device",
                             "cpu", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_stops_a_running_daemon_cleanly(site: Cli, root: Path, candidates: list[Path]) -> None:
    child = _daemon(root)
    try:
        assert child.stderr is not None
        _wait_for(child, " start ")
        drop(root, candidates[0], "live")
        _wait_for(child, " done ")  # inotify woke it: no polling interval to wait for
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0
    assert models(site) == ["convnext_v1.0.0"]


def _wait_for(child: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    assert child.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = child.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"{text!r} not seen; daemon said:\n{''.join(seen)}")


def test_restart_after_kill_9_resumes_without_duplicates(site: Cli, root: Path, candidates: list[Path]) -> None:
    rng = random.Random(7)
    for n, candidate in enumerate(candidates):
        drop(root, candidate, f"d{n}")
    for _ in range(3):
        child = _daemon(root)
        try:
            _wait_for(child, " drop ")
            time.sleep(rng.uniform(0.0, 1.5))
        finally:
            child.kill()  # SIGKILL at a random moment of the processing
            child.wait()
    site(*WATCH)  # a final run finishes whatever is left
    assert models(site) == [f"convnext_v1.0.{n}" for n in range(4)]
    assert site.json("status")["challenger"] is None
    assert not [p for p in (root / "inbox").iterdir() if not p.name.startswith(".")]
    decided = [r["model_id"] for r in site.json("history") if r["type"] in ("promoted", "rejected")]
    assert sorted(decided) == models(site)  # each decided exactly once
    site("verify")


def _pool_event(cli: Cli, holdout: Path, n: int) -> None:
    """A new event with its own 224x224 spectrogram (never one of the holdout's)."""
    from PIL import Image

    image = cli.root / "new-images" / f"GTO_2026010{n + 1}.png"
    image.parent.mkdir(exist_ok=True)
    Image.new("RGB", (224, 224), (20 * n, 100, 200)).save(image)
    cli("data", "add", "--event-id", f"GTO_2026010{n + 1}", "--station", "GTO", "--date", f"2026-01-0{n + 1}",
        "--magnitude", "5.5", "--azimuth", "90", "--image", str(image))


TRAIN = ["--train", "--architecture", "convnext_atto", "--epochs", "1", "--image-size", "32"]


def test_training_starts_when_the_pool_reaches_the_trigger(
    site: Cli, root: Path, holdout: Path, candidates: list[Path]
) -> None:
    (root / "config" / "lifecycle.toml").write_text("[triggers]\nmin_new_events = 3\n")
    for n in range(2):
        _pool_event(site, holdout, n)
    site(*WATCH, *TRAIN, "--base-data", str(holdout))
    assert models(site) == []  # 2 < 3: nothing trained
    _pool_event(site, holdout, 2)
    assert site.json("data", "list")["count"] == 3
    site(*WATCH, *TRAIN, "--base-data", str(holdout))
    [trained] = site.json("history", "--type", "trained")
    assert trained["actor"] == "daemon"
    status = site.json("status")
    assert status["champion"]["model_id"] == "convnext_v1.0.0"  # first model: promoted
    assert status["pool"] == 0  # its events are in the champion's training data now


def test_a_critical_observation_rolls_back(site: Cli, root: Path, candidates: list[Path], metrics_file) -> None:  # type: ignore[no-untyped-def]
    for n in range(2):
        site("submit", str(candidates[n]))
        site("evaluate", "challenger", "--metrics-file", str(metrics_file(
            magnitude_accuracy=90.0 + n, azimuth_accuracy=70.0, false_positive_rate=2.0)))
        if n:
            site("evaluate", "champion", "--metrics-file", str(metrics_file(
                magnitude_accuracy=90.0, azimuth_accuracy=60.0, false_positive_rate=2.0)))
        site("promote", "challenger", "--reason", "test")
    site("observe", "--false-positive-rate", "4.0")  # +2 points: OK
    site("observe", "--false-positive-rate", "3.0", "--accuracy", "85.0")  # -6 points: HIGH, reported
    assert site.json("status")["champion"]["model_id"] == "convnext_v1.0.1"
    site(*WATCH)
    assert site.json("status")["champion"]["model_id"] == "convnext_v1.0.1"  # HIGH: no rollback by default
    result = site("observe", "--false-positive-rate", "9.5", "--window", "2026-03-01..07")  # +7.5: CRITICAL
    assert "CRITICAL" in result.stdout
    site(*WATCH)
    status = site.json("status")
    assert status["champion"]["model_id"] == "convnext_v1.0.0"
    [rollback] = site.json("history", "--type", "rolled_back")
    assert rollback["actor"] == "daemon" and rollback["reason"].startswith("CRITICAL in production")
    site(*WATCH)  # handled once: nothing more happens
    assert len(site.json("history", "--type", "rolled_back")) == 1


def test_observe_apply_rolls_back_in_the_same_commit(site: Cli, candidates: list[Path], metrics_file) -> None:  # type: ignore[no-untyped-def]
    for n in range(2):
        site("submit", str(candidates[n]))
        site("evaluate", "challenger", "--metrics-file", str(metrics_file(
            magnitude_accuracy=90.0, azimuth_accuracy=70.0, false_positive_rate=1.0)))
        site("promote", "challenger", "--reason", "test")
    record = site.json("observe", "--false-positive-rate", "20", "--apply")
    assert [e["type"] for e in record["events"]] == ["observed", "archived", "rolled_back"]
    assert site.json("status")["champion"]["model_id"] == "convnext_v1.0.0"


def test_failing_and_hanging_hooks_never_block_the_engine(
    site: Cli, root: Path, candidates: list[Path], tmp_path: Path
) -> None:
    marker = tmp_path / "hook-got.json"
    (root / "config" / "lifecycle.toml").write_text(
        '[[hooks]]\nevents = ["trained"]\ncommand = ["sh", "-c", "exit 3"]\n'
        '[[hooks]]\nevents = ["trained"]\ncommand = ["sleep", "60"]\ntimeout = 1\n'
        '[[hooks]]\nevents = ["trained"]\ncommand = ["/no/such/program"]\n'
        f'[[hooks]]\nevents = ["*"]\ncommand = "cat > {marker}"\n')
    started = time.monotonic()
    site("submit", str(candidates[0]))
    assert time.monotonic() - started < 20  # returns at once, not after the hanging hook
    log = root / "hooks.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 4):
        time.sleep(0.2)
    text = log.read_text()
    assert "failed with exit status 3" in text
    assert "timed out after 1 s; killed" in text
    assert "could not start" in text
    assert json.loads(marker.read_text())["event"]["type"] == "trained"
    assert site.json("status")["challenger"]["model_id"] == "convnext_v1.0.0"


def test_a_milder_observation_does_not_cancel_a_pending_rollback(
    site: Cli, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    for n in range(2):
        site("submit", str(candidates[n]))
        site("evaluate", "challenger", "--metrics-file", str(metrics_file(
            magnitude_accuracy=90.0, azimuth_accuracy=70.0, false_positive_rate=1.0)))
        site("promote", "challenger", "--reason", "test")
    site("observe", "--false-positive-rate", "20")  # CRITICAL, not applied yet
    site("observe", "--false-positive-rate", "1.0", "--accuracy", "80")  # HIGH: report only
    site(*WATCH)
    assert site.json("status")["champion"]["model_id"] == "convnext_v1.0.0"


def test_a_rejected_challengers_events_do_not_retrigger_training(root: Path) -> None:
    from daemon.loop import Daemon, WatchOptions
    from daemon.steplog import StepLog
    from lifecycle.commands import AddData, Reject, Submit
    from models.classes import default_classes
    from service.daemon_config import Settings, Triggers

    engine = open_engine(root)
    image = {"name": "x.png", **engine.store.put_bytes(b"png")}
    ids = [f"GTO_2026010{n + 1}" for n in range(5)]
    for n, event_id in enumerate(ids):
        image = {"name": "x.png", **engine.store.put_bytes(b"png %d" % n)}
        engine.execute(AddData(event_id=event_id, station="GTO", date=f"2026-01-0{n + 1}", magnitude_class="Large",
                               azimuth_class="N", images=(image,)))
    daemon = Daemon(engine, WatchOptions(inbox=root / "inbox", holdout=root), Settings(triggers=Triggers(5)),
                    StepLog())
    assert daemon._training_due(engine.state()) is not None  # 5 new events: due
    engine.execute(Submit(weights=engine.store.put_bytes(b"w"), classes=default_classes(),
                          architecture="convnext_atto", training_data={"events_included": ids}))
    engine.execute(Reject("challenger", "lost"))
    assert len(engine.state().pool) == 5  # they stay in the pool ...
    assert daemon._training_due(engine.state()) is None  # ... but do not trigger the same training


def test_a_challenger_that_can_score_none_of_the_holdout_is_rejected_and_the_next_drop_goes_on(
    site: Cli, root: Path, candidates: list[Path], tmp_path: Path
) -> None:
    """A model is scored on the samples whose labels are among its classes (issue 16); one
    whose azimuth classes hold none of the holdout's labels cannot be evaluated at all."""
    from models.candidate import write_candidate
    from models.checkpoint import save
    from models.data import read_dataset
    from models.network import build

    labels = {s.azimuth for s in read_dataset(root / "data" / "benchmark").samples}
    others = [a for a in ["N", "NE", "E", "SE", "S", "SW", "W", "NW", "Normal"] if a not in labels]
    assert others and "Normal" in labels
    narrow = write_candidate(tmp_path / "narrow", architecture="convnext_atto", seed=9)
    torch.manual_seed(9)
    save(build("convnext_atto", 4, len(others)), narrow / "best_model.pth")
    mappings = json.loads((narrow / "class_mappings.json").read_text())
    mappings["azimuth"] = {str(i): n for i, n in enumerate(others)}
    (narrow / "class_mappings.json").write_text(json.dumps(mappings))
    drop(root, narrow, "narrow-classes")
    site(*WATCH)
    text = reason(root, ".done", "convnext_v1.0.0")
    assert text.startswith("rejected: cannot be evaluated on the holdout") and "can score none" in text
    drop(root, candidates[0], "next")
    site(*WATCH)
    assert "promoted" in reason(root, ".done", "convnext_v1.0.1")


def test_a_full_disk_leaves_the_drop_in_the_inbox_for_the_next_tick(
    site: Cli, root: Path, candidates: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from events.store import BlobStore, StoreUnwritable

    drop(root, candidates[0], "first")
    real_put = BlobStore.put

    def full(self: BlobStore, *args: object, **kwargs: object) -> object:
        raise StoreUnwritable(f"could not store a blob ({os.strerror(errno.ENOSPC)}); nothing was recorded")

    monkeypatch.setattr(BlobStore, "put", full)
    site(*WATCH)
    assert (root / "inbox" / "first" / "READY").exists()  # not moved to .failed
    assert not (root / "inbox" / ".failed").exists() or not list((root / "inbox" / ".failed").iterdir())
    assert models(site) == []
    monkeypatch.setattr(BlobStore, "put", real_put)
    site(*WATCH)  # space again: the same drop is taken
    assert models(site) == ["convnext_v1.0.0"]
    assert "promoted: first model" in reason(root, ".done", "convnext_v1.0.0")
