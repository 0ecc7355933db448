"""A champion whose classes are a subset of the data's (the original system's champion has
8 azimuth classes, no NE) is evaluated on what it can score, and decided against a
challenger on the same rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from bootstrap import open_engine
from models.checkpoint import save
from models.classes import default_classes
from models.network import build
from tests.conftest import Cli


def eight_azimuths(folder: Path) -> Path:
    """A candidate like the original champion: 8 azimuth classes, no NE."""
    classes = default_classes()
    azimuth = [a for a in classes["azimuth"] if a != "NE"]
    folder.mkdir(parents=True)
    torch.manual_seed(3)
    save(build("convnext_atto", 4, 8), folder / "best_model.pth", epoch=0)
    mappings = {"magnitude": {str(i): n for i, n in enumerate(classes["magnitude"])},
                "azimuth": {str(i): n for i, n in enumerate(azimuth)}}
    (folder / "class_mappings.json").write_text(json.dumps(mappings))
    return folder


def test_a_subset_champion_is_scored_on_what_it_can_and_decided_on_the_same_rows(
    cli: Cli, root: Path, candidates: list[Path], with_ne: Path, tmp_path: Path
) -> None:
    cli("submit", str(eight_azimuths(tmp_path / "old")), "--architecture", "convnext_atto")
    cli("promote", "challenger", "--reason", "the installation's champion")
    cli("submit", str(candidates[0]))
    record = cli.json("evaluate", "--data", str(with_ne))
    by_model = {e["model_id"]: e for e in record["events"]}
    unscored = by_model["convnext_v1.0.0"]["details"]["unscored"]
    total = len(list(csv.DictReader((with_ne / "labels.csv").open())))
    assert unscored["why"] == {"azimuth label NE is not among the model's classes": unscored["count"]}
    assert by_model["convnext_v1.0.0"]["n_samples"] == total - unscored["count"] > 0
    assert by_model["convnext_v1.0.1"]["n_samples"] == total
    assert "unscored" not in by_model["convnext_v1.0.1"]["details"]
    details = [r["detail"] for r in cli.json("history", "--type", "evaluated")]
    assert any(f"{unscored['count']} sample(s) not scored (azimuth label NE" in d for d in details)

    result = cli("decide")
    assert "same rows: " in result.stdout
    decision = open_engine(root).state().resolve("1.0.1").decision
    assert decision["same_rows"]["compared"] == total - unscored["count"]
    assert decision["same_rows"]["left_out"] == {"champion": 0, "challenger": unscored["count"]}
    significance = next(c for c in decision["checks"] if c["name"] == "significance")
    assert significance["images"] == total - unscored["count"]
    assert decision["challenger_metrics"] != by_model["convnext_v1.0.1"]["metrics"]  # recomputed on the rows

    view = cli.json("compare", "1.0.0", "1.0.1", "--data", str(with_ne))
    assert view["same_rows"]["compared"] == total - unscored["count"]
    assert view["paired_test"]["images"] == total - unscored["count"]


def test_a_model_that_can_score_nothing_is_one_line(cli: Cli, tmp_path: Path, with_ne: Path) -> None:
    labels = with_ne / "labels.csv"
    rows = [r for r in csv.DictReader(labels.open()) if r["magnitude_class"] != "Normal"]
    for row in rows:
        row["azimuth_class"] = "NE"
    with labels.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    cli("submit", str(eight_azimuths(tmp_path / "old")), "--architecture", "convnext_atto")
    result = cli("evaluate", "--data", str(with_ne), code=2)
    assert "can score none of the" in result.stderr and result.stderr.count("\n") == 1
