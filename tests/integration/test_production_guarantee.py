"""The production guarantee: what the scanner loads is the champion the log names, intact.

Each numbered case of the issue is a test here. Roots are made with fake weight blobs
(``tests.helpers.workload.prepare``), so nothing imports torch; the CLI runs in-process
except where a real process matters (a killed writer, a closed pipe, the daemon).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootstrap import open_engine
from events.log import Draft, JsonlLog
from lifecycle.commands import Promote
from projections.layout import PRODUCTION_LINK
from service.engine import Engine
from tests.conftest import Cli
from tests.helpers.workload import ACTOR, REPO, evaluation, fake_submit, prepare

LIFECYCLE = [sys.executable, "-m", "cli"]


def _production_digest(root: Path) -> str:
    import hashlib

    return hashlib.sha256((root / PRODUCTION_LINK).read_bytes()).hexdigest()


def _flip(path: Path, offset: int = 3) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        data = f.read(8)
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in data))


@pytest.fixture
def two(tmp_path: Path) -> tuple[Engine, Cli]:
    """Champion v1.0.1, former champion v1.0.0 archived."""
    engine = prepare(tmp_path / "r", champions=2)
    return engine, Cli(engine.root)


def _archived_weights(engine: Engine, version: str = "1.0.0") -> Path:
    return engine.root / "models" / "archive" / f"convnext_v{version}" / "best_model.pth"


def _unchanged(engine: Engine, seq: int, production: str) -> None:
    assert engine.state().seq == seq
    assert _production_digest(engine.root) == production


# -- 1. rollback and promotion deploy only intact weights ----------------------------------
def test_rollback_to_damaged_weights_is_refused(two: tuple[Engine, Cli]) -> None:
    engine, cli = two
    seq, production = engine.state().seq, _production_digest(engine.root)
    _flip(_archived_weights(engine))  # a hard link into the store: the blob itself is damaged
    result = cli("rollback", "--version", "1.0.0", code=1)
    assert result.stderr.startswith("error: refused: convnext_v1.0.0's weights")
    assert "damaged" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    _unchanged(engine, seq, production)
    assert cli.json("status")["production"]["state"] == "ok"


def test_decide_refuses_a_challenger_whose_weights_are_damaged(
    two: tuple[Engine, Cli], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    engine, cli = two
    engine.execute(fake_submit(engine, "new"))
    cli("evaluate", "champion", "--metrics-file", str(metrics_file(magnitude_accuracy=80, azimuth_accuracy=50)))
    cli("evaluate", "challenger", "--metrics-file", str(metrics_file(magnitude_accuracy=95, azimuth_accuracy=60)))
    seq, production = engine.state().seq, _production_digest(engine.root)
    _flip(engine.root / "models" / "challenger" / "best_model.pth")
    result = cli("decide", "--same-data", code=1)
    assert "refused: convnext_v1.0.2's weights" in result.stderr
    _unchanged(engine, seq, production)
    assert engine.state().challenger == "convnext_v1.0.2"


def test_the_daemons_critical_rollback_refuses_damaged_weights(
    two: tuple[Engine, Cli], capsys: pytest.CaptureFixture[str]
) -> None:
    from daemon.loop import Daemon, WatchOptions
    from daemon.steplog import StepLog
    from service.daemon_config import Settings

    engine, cli = two
    cli("evaluate", "champion", "--metrics-file", str(_write(engine.root / "m.json", false_positive_rate=1.0,
                                                             magnitude_accuracy=90, azimuth_accuracy=50)))
    cli("observe", "--false-positive-rate", "40")
    assert engine.state().alert is not None
    seq, production = engine.state().seq, _production_digest(engine.root)
    _flip(_archived_weights(engine))
    daemon = Daemon(open_engine(engine.root, actor="daemon"), WatchOptions(inbox=engine.root / "inbox",
                    holdout=engine.root), Settings(), StepLog())
    daemon.handle_alert()
    logged = capsys.readouterr().err
    assert "production_unhealthy state=rollback_refused" in logged
    assert "refused: convnext_v1.0.0's weights" in logged
    _unchanged(engine, seq, production)


def _write(path: Path, **metrics: float) -> Path:
    path.write_text(json.dumps(metrics))
    return path


# -- 2. a rollback never reports success while production keeps the old model ----------
def test_rollback_to_a_blob_missing_from_the_store_is_refused(two: tuple[Engine, Cli]) -> None:
    engine, cli = two
    seq, production = engine.state().seq, _production_digest(engine.root)
    target = engine.state().get("convnext_v1.0.0")
    assert target.weights is not None
    engine.store.path(target.weights["digest"]).unlink()  # a partial restore of store/
    result = cli("rollback", code=1)
    assert "refused: convnext_v1.0.0's weights" in result.stderr and "missing" in result.stderr
    _unchanged(engine, seq, production)


def test_replay_reports_a_file_it_cannot_project(two: tuple[Engine, Cli]) -> None:
    engine, cli = two
    target = engine.state().get("convnext_v1.0.0")
    assert target.weights is not None
    engine.store.path(target.weights["digest"]).unlink()
    _archived_weights(engine).unlink()
    result = cli("replay", code=1)
    assert "missing from the store" in result.stderr and "models/archive/convnext_v1.0.0" in result.stderr
    assert "verify" in result.stderr
    assert cli.json("status")["production"]["state"] == "ok"  # the champion is not concerned


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX users")
def test_an_unreadable_store_is_not_taken_for_a_missing_blob(two: tuple[Engine, Cli], tmp_path: Path) -> None:
    """As a user who cannot read store/: refused with 'unreadable', nothing changed."""
    engine, _ = two
    seq, production = engine.state().seq, _production_digest(engine.root)
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to run as another user")
        shutil.chown(engine.root, "nobody")
        for path in [engine.root, *engine.root.rglob("*")]:
            if "store" not in path.relative_to(engine.root).parts:
                os.lchown(path, 65534, 65534)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        prefix = []
    os.chmod(engine.root / "store", 0o700)
    try:
        os.chmod(tmp_path, 0o755)
        os.chmod(tmp_path / "r", 0o755)
        command = [*prefix, *LIFECYCLE, "--root", str(engine.root), "rollback", "--version", "1.0.0"]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(engine.root / "store", 0o755)
    assert result.returncode == 1, result.stderr
    assert "unreadable" in result.stderr and "Permission denied" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    _unchanged(engine, seq, production)


# -- 3. a lagging production is visible and healed ------------------------------------
def _append_unprojected_promotion(engine: Engine) -> None:
    """What a writer killed between its append and its projection leaves: the commit only."""
    engine.execute(fake_submit(engine, "lagging"))
    state = engine.state()
    from service.engine import decide_events

    events = decide_events(state, Promote(ref="challenger", reason="killed mid-promotion"))
    log = JsonlLog(engine.root / "events.jsonl", engine.root / "events.lock")
    with log.writing():
        log.append(Draft("2026-01-01T00:00:00.000000Z", ACTOR, "promote", None, events), state.seq)


def test_status_says_production_lags_and_watch_once_heals_it(two: tuple[Engine, Cli], holdout: Path) -> None:
    engine, cli = two
    _append_unprojected_promotion(engine)
    result = cli("status", code=1)
    assert "Production: NOT OK (stale)" in result.stdout
    assert cli.json("status", code=1)["production"]["state"] == "stale"
    shutil.copytree(holdout, engine.root / "data" / "benchmark")
    cli("watch", "--once", "--device", "cpu")
    view = cli.json("status")
    assert view["production"]["state"] == "ok" and view["champion"]["model_id"] == "convnext_v1.0.2"
    champion = engine.state().champion_record()
    assert champion is not None and champion.weights is not None
    assert _production_digest(engine.root) == champion.weights["digest"]


def test_a_running_daemon_heals_a_lagging_production_within_two_seconds(
    two: tuple[Engine, Cli], holdout: Path
) -> None:
    engine, _ = two
    shutil.copytree(holdout, engine.root / "data" / "benchmark")
    daemon = subprocess.Popen([*LIFECYCLE, "--root", str(engine.root), "watch", "--device", "cpu"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(daemon, b" start ")
        time.sleep(1.0)
        _append_unprojected_promotion(engine)
        began = time.monotonic()
        while time.monotonic() - began < 10 and not engine.production_health().ok:
            time.sleep(0.05)
        took = time.monotonic() - began
        assert engine.production_health().ok
        assert took < 2.0, f"healed after {took:.2f} s"
        champion = engine.state().champion_record()
        assert champion is not None and champion.weights is not None
        assert _production_digest(engine.root) == champion.weights["digest"]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)


def _wait_for(process: subprocess.Popen[bytes], word: bytes, timeout: float = 60) -> None:
    """The daemon's step log is on stderr."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if word in line:
            return
        if not line:
            break
    raise AssertionError(f"the daemon never said {word!r}")


def test_the_daemon_alarms_through_the_hooks_when_the_store_cannot_heal(
    two: tuple[Engine, Cli], holdout: Path, tmp_path: Path
) -> None:
    engine, cli = two
    out = tmp_path / "alarm.json"
    (engine.root / "config" / "lifecycle.toml").write_text(
        f'[[hooks]]\nevents = ["production_unhealthy"]\ncommand = ["sh", "-c", "cat > {out}"]\n')
    champion = engine.state().champion_record()
    assert champion is not None and champion.weights is not None
    _flip(engine.root / "models" / "champion" / "best_model.pth")  # the store's only copy
    shutil.copytree(holdout, engine.root / "data" / "benchmark")
    result = cli("watch", "--once", "--device", "cpu")
    assert "production_unhealthy" in result.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out.exists() and out.read_text()):
        time.sleep(0.1)
    alarm = json.loads(out.read_text())
    assert alarm["event"]["type"] == "production_unhealthy" and alarm["event"]["state"] == "damaged"
    assert cli.json("status", code=1)["production"]["state"] == "damaged"


# -- 4. nothing outside the root is ever deleted --------------------------------------
@pytest.mark.parametrize("managed", ["models/archive", "production/models", "models", "models/champion"])
def test_symlinked_managed_folders_are_refused(two: tuple[Engine, Cli], tmp_path: Path, managed: str) -> None:
    engine, cli = two
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(engine.root / managed, elsewhere, symlinks=True)
    (elsewhere / "precious.txt").write_text("not ours")
    shutil.rmtree(engine.root / managed)
    (engine.root / managed).symlink_to(elsewhere)
    before = sorted(p.name for p in elsewhere.iterdir())
    seq = engine.state().seq
    for args in (["replay"], ["rollback"], ["init"]):
        result = cli(*args, code=2)
        assert f"refused: {managed} is a symlink" in result.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == before
    assert (elsewhere / "precious.txt").read_text() == "not ours"
    assert engine.state().seq == seq


# -- 6. temp files of interrupted blob writes ------------------------------------------
def test_temp_file_of_a_writer_killed_mid_blob_is_reported_and_cleaned(two: tuple[Engine, Cli]) -> None:
    engine, cli = two
    code = ("import sys, time; from pathlib import Path; from events.store import BlobStore\n"
            "def chunks():\n"
            "    yield b'x' * 4096; print('writing', flush=True)\n"
            "    while True: time.sleep(0.1); yield b'y'\n"
            f"BlobStore(Path({str(engine.root / 'store')!r}))._put(chunks())\n")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"writing\n"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    temps = list((engine.root / "store" / "tmp").iterdir())
    assert [t.name.startswith(f"incoming-{child.pid}-") for t in temps] == [True]
    report = cli("verify", code=1).stdout
    assert f"store/tmp/{temps[0].name}: left by an interrupted write" in report
    engine.execute(evaluation("champion", "after-the-kill"))
    assert list((engine.root / "store" / "tmp").iterdir()) == []
    cli("verify")


def test_a_live_writers_temp_file_is_left_alone(two: tuple[Engine, Cli]) -> None:
    engine, _ = two
    live = engine.root / "store" / "tmp" / f"incoming-{os.getppid()}-abc"
    live.parent.mkdir(exist_ok=True)
    live.write_bytes(b"in progress")
    engine.execute(evaluation("champion", "x"))
    assert live.exists()


# -- 7. the small ones -------------------------------------------------------------------
def test_a_closed_stdout_is_not_an_error(two: tuple[Engine, Cli], tmp_path: Path) -> None:
    engine, _ = two
    for reader in ("head -1", "true"):  # ``true`` has exited before the first line is written
        status = subprocess.run(["bash", "-o", "pipefail", "-c",
                                 f"{sys.executable} -m cli --root {engine.root} status | {reader}"],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr
        assert status.stderr == ""
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (224, 224)).save(image)
    added = subprocess.run(["bash", "-o", "pipefail", "-c",
                            f"{sys.executable} -m cli --root {engine.root} data add --event-id GTO_20260101 "
                            f"--station GTO --date 2026-01-01 --image {image} "
                            "--azimuth-class N --magnitude-class Large | true"],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    assert "GTO_20260101" in engine.state().pool


def test_verify_after_a_torn_tail_still_checks_blobs_and_folders(two: tuple[Engine, Cli]) -> None:
    engine, cli = two
    (engine.root / "models" / "champion" / "metadata.json").unlink()
    with open(engine.root / "events.jsonl", "ab") as f:
        f.write(b'{"seq": 99, "events": [')  # a crash during an append: no newline
    lines = cli("verify", code=1).stdout
    assert "torn tail" in lines
    assert "models/champion/metadata.json: differs from the log's projection" in lines
    assert "blobs" in lines and " 0 blobs" not in lines
