"""Training, same-holdout evaluation, significance-gated decisions, predict and compare.

Tiny images and few samples keep this fast; the point is the wiring and the guarantees,
not the accuracy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.data import read_dataset
from tests.conftest import Cli

TRAIN = ["--architecture", "convnext_atto", "--image-size", "32", "--batch-size", "16", "--lr", "0.002"]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from models.synth import write_synthetic

    base = tmp_path_factory.mktemp("data")
    return {name: write_synthetic(base / name, samples=n, seed=seed, image_size=32).root
            for name, n, seed in (("train", 72, 1), ("holdout", 48, 2), ("other", 24, 3))}


def registry(root: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((root / "config/model_registry.json").read_text())


@pytest.fixture
def champion(cli: Cli, datasets: dict[str, Path]) -> Cli:
    cli("train", "--data", str(datasets["train"]), "--epochs", "2", "--from", "none", *TRAIN)
    cli("evaluate", "--data", str(datasets["holdout"]))
    cli("decide")
    return cli


def test_train_evaluate_decide_with_the_paired_test_over_events(
    champion: Cli, datasets: dict[str, Path], root: Path
) -> None:
    reg = registry(root)
    assert reg["champion"]["model_id"] == "convnext_v1.0.0"
    assert reg["champion"]["training_data"]["total_samples"] == 72
    assert len(reg["champion"]["training_data"]["events_included"]) >= 2
    folder = root / "models" / "champion"
    assert {"best_model.pth", "class_mappings.json", "training_config.json", "training_history.csv",
            "evaluation_results.json", "metadata.json"} <= {p.name for p in folder.iterdir()}
    header = (folder / "training_history.csv").read_text().splitlines()[0]
    assert header == ("train_loss,val_loss,train_mag_acc,val_mag_acc,train_azi_acc,val_azi_acc,"
                      "val_mag_f1,val_azi_f1,lr")

    champion("train", "--data", str(datasets["train"]), "--data", str(datasets["other"]),
             "--epochs", "1", "--from", "champion", *TRAIN)
    assert registry(root)["challenger"]["training_data"]["total_samples"] == 96
    champion("evaluate", "--data", str(datasets["holdout"]))  # challenger and champion, one commit
    both = [r for r in champion.json("history") if r["seq"] == 5]
    assert [r["type"] for r in both] == ["evaluated", "evaluated"]
    assert {r["model_id"] for r in both} == {"convnext_v1.0.0", "convnext_v1.0.1"}
    champion("decide")
    [decision] = [e for r in _records(root) for e in r["events"] if e["type"] in ("promoted", "rejected")][-1:]
    checks = {c["name"]: c for c in decision["decision"]["checks"]}
    significance = checks["significance"]
    assert significance["tested"] is True
    assert {"b", "c", "p_value", "method", "test", "statistic", "discordant_events"} <= set(significance)
    holdout = read_dataset(datasets["holdout"])
    assert (significance["events"], significance["images"]) == (len(holdout.events), 48)
    assert significance["method"] == ("exact sign-flip over events" if significance["discordant_events"] < 25
                                      else "chi-square over events, continuity corrected")
    power = decision["decision"]["power"]
    assert power["events"] == len(holdout.events) and power["level"] == 0.05
    assert power["detail"].startswith(f"this holdout ({len(holdout.events)} events, 48 images)") or (
        "disagree on no image" in power["detail"])
    metrics = decision["decision"]["challenger_metrics"]
    assert {"magnitude_accuracy", "azimuth_accuracy", "magnitude_macro_f1", "magnitude_mcc",
            "false_positive_rate"} <= set(metrics)
    assert decision["decision"]["dataset"]["digest"] is not None


def _records(root: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]


def test_evaluation_records_predictions_and_details(champion: Cli, root: Path) -> None:
    [event] = [e for r in _records(root) for e in r["events"] if e["type"] == "evaluated"]
    assert event["n_samples"] == 48
    blob = root / "store" / "sha256" / event["predictions"]["digest"][:2] / event["predictions"]["digest"]
    rows = json.loads(blob.read_bytes())["rows"]
    assert len(rows) == 48 and {"magnitude_pred", "magnitude_confidence", "azimuth_true"} <= set(rows[0])
    details = event["details"]["magnitude"]
    assert details["confusion_matrix"]["labels"] == ["Large", "Medium", "Moderate", "Normal"]
    assert sum(map(sum, details["confusion_matrix"]["matrix"])) == 48
    results = json.loads((root / "models/champion/evaluation_results.json").read_text())
    assert results["evaluations"][0]["details"]["azimuth"]["per_class"]["N"]["support"] >= 0


def test_decide_refuses_evaluations_on_different_data(
    champion: Cli, datasets: dict[str, Path], root: Path
) -> None:
    champion("train", "--data", str(datasets["train"]), "--epochs", "1", "--seed", "5", *TRAIN)
    champion("evaluate", "challenger", "--data", str(datasets["other"]))
    result = champion("decide", code=2)
    assert "was evaluated on other data" in result.stderr


def test_predict_and_compare_on_one_event(champion: Cli, datasets: dict[str, Path]) -> None:
    from models.data import read_dataset

    event = read_dataset(datasets["holdout"]).events[0]
    out = champion("predict", "--event", event, "--data", str(datasets["holdout"])).stdout
    assert "v1.0.0: " in out and "[true: " in out and "%)" in out
    champion("train", "--data", str(datasets["train"]), "--epochs", "1", "--seed", "9", *TRAIN)
    rows = champion.json("compare", "champion", "challenger", "--event", event, "--data",
                         str(datasets["holdout"]))
    assert set(rows[0]["models"]) == {"convnext_v1.0.0", "convnext_v1.0.1"}
    view = champion.json("compare", "1.0.0", "1.0.1", "--data", str(datasets["holdout"]))
    assert view["same_data"] and 0 <= view["paired_test"]["p_value"] <= 1
    assert view["paired_test"]["events"] == len(read_dataset(datasets["holdout"]).events)
    image = read_dataset(datasets["holdout"]).samples[0].path
    [row] = champion.json("predict", str(image))
    assert list(row["models"]) == ["convnext_v1.0.0"]


def test_training_is_deterministic(tmp_path: Path, datasets: dict[str, Path]) -> None:
    digests = []
    for n in range(2):
        cli = Cli(tmp_path / f"root{n}")
        cli("init")
        cli("train", "--data", str(datasets["other"]), "--epochs", "1", "--seed", "3", *TRAIN)
        digests.append(cli.json("status")["challenger"]["weights"]["sha256"])
    assert digests[0] == digests[1]


def test_interrupted_training_leaves_nothing(root: Path, datasets: dict[str, Path]) -> None:
    env = {**os.environ, "LIFECYCLE_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    before = (root / "events.jsonl").read_bytes()
    blobs_before = _files(root / "store")
    for sig in (signal.SIGINT, signal.SIGTERM):
        child = subprocess.Popen(
            [sys.executable, "-c", "from cli.app import main; main()", "train", "--data",
             str(datasets["train"]), "--epochs", "50", "--patience", "50", *TRAIN],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            for line in child.stdout:  # wait until training is under way
                if line.startswith("epoch 1"):
                    break
            time.sleep(0.2)
            child.send_signal(sig)
            child.wait(timeout=60)
        finally:
            child.kill()
            child.wait()
        assert child.returncode == 130, child.stderr.read() if child.stderr else ""
        assert (root / "events.jsonl").read_bytes() == before
        assert _files(root / "store") == blobs_before  # no half-written candidate, no new blob


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir())


def test_python_api_loads_predicts_and_compares(champion: Cli, datasets: dict[str, Path], root: Path) -> None:
    import torch

    from api import ModelDeployer
    from models.data import read_dataset

    api = ModelDeployer(root)
    network, classes = api.load_model("champion")
    assert not network.training
    assert classes["magnitude"] == ["Large", "Medium", "Moderate", "Normal"]
    with torch.inference_mode():
        mag, azi = network(torch.zeros(1, 3, 32, 32))
    assert mag.shape == (1, 4) and azi.shape == (1, 9)
    holdout = read_dataset(datasets["holdout"])
    [row] = api.predict([holdout.samples[0].path])
    assert row["models"]["convnext_v1.0.0"]["magnitude_pred"] in classes["magnitude"]
    rows = api.predict(event=holdout.events[0], data=datasets["holdout"])
    assert all(r["truth"]["event_id"] == holdout.events[0] for r in rows)
    view = api.compare_models("1.0.0", "champion", data=datasets["holdout"])
    assert view["paired_test"]["b"] == 0 and view["paired_test"]["c"] == 0  # a model against itself


def test_tampered_weights_are_refused_before_loading(champion: Cli, datasets: dict[str, Path], root: Path) -> None:
    digest = json.loads((root / "config/model_registry.json").read_text())["champion"]["weights"]["sha256"]
    blob = root / "store" / "sha256" / digest[:2] / digest
    data = bytearray(blob.read_bytes())
    data[-100] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    result = champion("evaluate", "--data", str(datasets["holdout"]), code=2)
    assert "content does not match its digest" in result.stderr
    assert "PROBLEM" in champion("verify", code=1).stdout


def test_lineage_names_the_parent_the_data_and_the_runtime(champion: Cli, datasets: dict[str, Path]) -> None:
    from importlib import metadata

    champion("train", "--data", str(datasets["train"]), "--epochs", "1", "--from", "champion", *TRAIN)
    links = champion.json("lineage", "challenger")
    assert [link["model_id"] for link in links] == ["convnext_v1.0.1", "convnext_v1.0.0"]
    child, parent = links
    assert child["parent"] == "convnext_v1.0.0" and parent["parent"] is None
    assert [d["digest"] for d in child["data"]] == [read_dataset(datasets["train"]).digest]
    assert child["data"][0]["total_samples"] == 72 and child["device"] == "cpu"
    assert child["runtime"]["torch"] == metadata.version("torch") and child["runtime"]["python"]
    assert parent["decision"]["reason"].startswith("first model")
    out = champion("lineage", "1.0.1").stdout
    assert "parent: convnext_v1.0.0" in out and "parent: none (trained from scratch)" in out
