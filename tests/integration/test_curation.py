"""Operating it day to day (issue 18): a pool people can curate, holdouts kept out of
training, lineage, signals when something fails, families."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from bootstrap import open_engine
from lifecycle.versions import family_of
from models.data import read_dataset
from tests.conftest import Cli
from tests.integration.test_daemon import WATCH, drop


def spectrogram(path: Path, shade: int) -> Path:
    Image.new("RGB", (224, 224), (shade, 40, 90)).save(path)
    return path


def add(cli: Cli, event: str, station: str, day: str, image: Path, *labels: str) -> None:
    cli("data", "add", "--event-id", event, "--station", station, "--date", day, "--image", str(image),
        *(labels or ("--magnitude", "5.5", "--azimuth", "90")))


def test_a_wrong_event_can_be_corrected_then_removed_and_the_log_keeps_both(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    add(cli, "GTO_20260210", "GTO", "2026-02-10", spectrogram(tmp_path / "a.png", 1))
    cli("data", "correct", "GTO_20260210", "--magnitude", "6.4", "--azimuth", "200", "--reason", "re-read")
    [event] = cli.json("data", "list")["events"]
    assert (event["magnitude_class"], event["azimuth_class"]) == ("Large", "S")
    assert event["corrections"][0]["reason"] == "re-read"
    result = cli("data", "correct", "GTO_20260210", "--magnitude-class", "Normal", "--reason", "x")
    assert "data_corrected" in result.stdout
    assert cli.json("data", "list")["events"][0]["azimuth_class"] == "Normal"
    cli("data", "remove", "GTO_20260210", "--reason", "a quarry blast, not an earthquake")
    assert cli.json("data", "list")["count"] == 0 and cli.json("status")["pool"] == 0
    assert open_engine(root).state().data["GTO_20260210"]["removed"] == "a quarry blast, not an earthquake"
    types = [r["type"] for r in cli.json("history")]
    assert types == ["data_added", "data_corrected", "data_corrected", "data_removed"]
    for args, words in ((["remove", "GTO_20260210"], "was removed"), (["remove", "NOPE_1"], "no data event"),
                        (["correct", "NOPE_1", "--magnitude", "5"], "no data event")):
        result = cli("data", *args, "--reason", "x", code=2)
        assert words in result.stderr and result.stderr.count("\n") == 1
    add(cli, "GTO_20260211", "GTO", "2026-02-11", spectrogram(tmp_path / "b.png", 2))
    result = cli("data", "correct", "GTO_20260211", "--magnitude", "5.5", "--reason", "same", code=2)
    assert "nothing to correct" in result.stderr
    cli("verify")


def test_holdout_data_never_enters_the_pool_or_a_training(
    cli: Cli, root: Path, candidates: list[Path], holdout: Path, tmp_path: Path
) -> None:
    cli("submit", str(candidates[0]))
    cli("evaluate", "--data", str(holdout))  # the holdout is now registered
    cli("promote", "challenger", "--reason", "first")
    sample = read_dataset(holdout).samples[0]
    image = spectrogram(tmp_path / "h.png", 3)
    result = cli("data", "add", "--event-id", f"{sample.station}_{sample.date.replace('-', '')}", "--station",
                 sample.station, "--date", sample.date, "--image", str(image), "--magnitude", "5.5",
                 "--azimuth", "90", code=2)
    assert "registered holdout" in result.stderr
    result = cli("train", "--data", str(holdout), "--epochs", "1", "--architecture", "convnext_atto",
                 "--image-size", "32", code=2)
    assert "belongs to a registered holdout" in result.stderr and "must not be trained on the data it is judged" \
        in result.stderr
    assert cli.json("status")["challenger"] is None  # nothing was trained


def test_observe_without_a_reference_cannot_judge(cli: Cli, candidates: list[Path], metrics_file) -> None:  # type: ignore[no-untyped-def]
    cli("submit", str(candidates[0]))
    measured = metrics_file(magnitude_accuracy=90.0, azimuth_accuracy=60.0)
    cli("evaluate", "challenger", "--metrics-file", str(measured))
    cli("promote", "challenger", "--reason", "first")
    result = cli("observe", "--false-positive-rate", "50", code=2)
    assert "cannot judge" in result.stderr and result.stderr.count("\n") == 1
    assert cli.json("history", "--type", "observed") == []


def test_a_refused_drop_is_recorded_and_fires_the_hooks(
    site: Cli, root: Path, candidates: list[Path], tmp_path: Path
) -> None:
    marker = tmp_path / "signal.json"
    (root / "config" / "lifecycle.toml").write_text(
        f'[[hooks]]\nevents = ["problem_reported"]\ncommand = "cat > {marker}"\n')
    bad = drop(root, candidates[0], "corrupt")
    (bad / "best_model.pth").write_bytes(b"garbage")
    site(*WATCH)
    [problem] = site.json("history", "--type", "problem_reported")
    assert problem["actor"] == "daemon" and "corrupt" in json.dumps(problem)
    record = next(r for r in open_engine(root).records() if r["events"][0]["type"] == "problem_reported")
    assert record["events"][0]["kind"] == "drop_refused" and record["events"][0]["subject"] == "corrupt"
    assert site.json("status")["models"] == 0  # it changed no model
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (marker.exists() and marker.stat().st_size):
        time.sleep(0.1)
    assert json.loads(marker.read_text())["event"]["kind"] == "drop_refused"


def test_the_family_follows_the_architecture() -> None:
    assert [family_of(a) for a in ("convnext_tiny", "resnet10t", "efficientnet_b0", "ViT_Base", "_x", "9net")] \
        == ["convnext", "resnet10t", "efficientnet", "vit", "model", "net"]
