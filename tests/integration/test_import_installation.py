"""Importing a real installation as it is after years of use: versions listed in two
places, validated events, the original's registry blocks and its composite score."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import Cli
from tests.integration.test_import import FIXTURE
from tests.integration.test_subset_classes import eight_azimuths


@pytest.fixture
def installation(tmp_path: Path, candidates: list[Path]) -> Path:
    """The real files, with weights, after an original rollback to v1.0.0: the archive
    folder was copied into models/champion and stays in the archive."""
    copy = tmp_path / "original"
    shutil.copytree(FIXTURE, copy)
    archived = copy / "models/archive/convnext_v1.0.0"
    shutil.copy(candidates[0] / "best_model.pth", archived / "best_model.pth")
    meta = json.loads((archived / "metadata.json").read_text())
    (archived / "metadata.json").write_text(json.dumps({**meta, "architecture": "convnext_atto"}))
    shutil.rmtree(copy / "models/champion")
    shutil.copytree(archived, copy / "models/champion")
    registry = json.loads((copy / "config/model_registry.json").read_text())
    registry["champion"] = {**registry["archive"][0], "version": "1.0.0", "status": "active",
                            "deployed_at": "2026-02-11T09:00:00.000001", "rollback_from": "1.0.1"}
    (copy / "config/model_registry.json").write_text(json.dumps(registry))
    return copy


def registry(root: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((root / "config/model_registry.json").read_text())


def test_a_version_in_two_places_with_the_same_weights_is_one_model(installation: Path, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "new")
    out = cli("import", str(installation)).stdout
    assert ("convnext_v1.0.0: also in models/archive/convnext_v1.0.0 (the same weights): imported once, "
            "from models/champion") in out
    reg = registry(tmp_path / "new")
    assert reg["champion"]["model_id"] == "convnext_v1.0.0" and reg["champion"]["weights"] is not None
    assert [v["version"] for v in reg["all_versions"]] == ["1.0.0"]
    meta = json.loads((tmp_path / "new/models/champion/metadata.json").read_text())
    assert any("also in models/archive/convnext_v1.0.0" in w for w in meta["warnings"])
    cli("verify")


def test_a_version_with_different_weights_in_two_places_is_a_reported_conflict(
    installation: Path, tmp_path: Path, candidates: list[Path]
) -> None:
    shutil.copy(candidates[1] / "best_model.pth", installation / "models/champion/best_model.pth")
    cli = Cli(tmp_path / "new")
    out = cli("import", str(installation)).stdout
    assert "conflict: version 1.0.0 has different weights in models/champion (sha256 " in out
    assert "imported) and models/archive/convnext_v1.0.0 (sha256 " in out and "left out" in out
    reg = registry(tmp_path / "new")
    assert reg["champion"]["weights"]["sha256"] == json.loads(cli("status", "--json").stdout)[
        "champion"]["weights"]["sha256"]
    from events.store import BlobStore

    assert reg["champion"]["weights"]["sha256"] == BlobStore.digest_file(
        candidates[1] / "best_model.pth")["digest"]  # the role folder's copy: what production ran


def test_validated_events_with_spectrograms_join_the_pool_the_others_are_reported(
    installation: Path, tmp_path: Path
) -> None:
    images = installation / "data" / "spectrograms"
    images.mkdir(parents=True)
    Image.new("RGB", (224, 224), (10, 20, 30)).save(images / "SCN_20260211.png")
    reg = json.loads((installation / "config/model_registry.json").read_text())
    reg["validated_events"][1]["spectrogram_path"] = "data/spectrograms/SCN_20260211.png"
    reg["validated_events"][3]["spectrogram_path"] = "/etc/passwd"
    (installation / "config/model_registry.json").write_text(json.dumps(reg))
    cli = Cli(tmp_path / "new")
    out = cli("import", str(installation)).stdout
    assert "validated event GTO_20260210: no spectrogram in the installation" in out
    assert "validated event MLB_20260212: spectrogram '/etc/passwd' lies outside the installation" in out
    assert "validated event SCN_20260211" not in out
    pool = cli.json("data", "list")
    assert [e["event_id"] for e in pool["events"]] == ["SCN_20260211"]
    validated = registry(tmp_path / "new")["validated_events"]
    assert [v["event_id"] for v in validated] == ["SCN_20260211"]
    assert set(validated[0]) == {"event_id", "date", "station", "spectrogram_path", "added_at", "magnitude_value",
                                 "azimuth_value", "magnitude_class", "azimuth_class", "magnitude", "azimuth",
                                 "validated_at"}
    assert (tmp_path / "new" / validated[0]["spectrogram_path"]).is_file()


def test_the_original_blocks_are_projected_and_go_on_from_the_imported_counts(
    installation: Path, tmp_path: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    cli = Cli(tmp_path / "new")
    cli("import", str(installation))
    reg = registry(tmp_path / "new")
    assert reg["pending_events"] == {"count": 0, "events": [], "last_added": "2026-02-10T13:06:29.502339"}
    assert reg["pipeline_history"] == {"total_runs": 1, "successful_updates": 1, "failed_updates": 0,
                                       "last_run": "2026-02-09T13:00:19.864319"}
    cli("submit", str(candidates[2]))
    better = metrics_file(magnitude_accuracy=99.0, azimuth_accuracy=80.0)
    cli("evaluate", "challenger", "--metrics-file", str(better))
    cli("promote", "challenger", "--reason", "after the switch")
    history = registry(tmp_path / "new")["pipeline_history"]
    assert (history["total_runs"], history["successful_updates"]) == (2, 2)
    assert history["last_run"] == cli.json("status")["champion"]["deployed_at"]
    before = (tmp_path / "new/config/model_registry.json").read_bytes()
    cli("replay")
    assert (tmp_path / "new/config/model_registry.json").read_bytes() == before


def test_imported_metrics_keep_the_original_composite_beside_the_recomputed_one(tmp_path: Path) -> None:
    original = tmp_path / "original"
    shutil.copytree(FIXTURE, original)
    cli = Cli(tmp_path / "new")
    cli("import", str(original))
    metrics = registry(tmp_path / "new")["champion"]["metrics"]
    assert metrics["original_composite_score"] == 0.926  # the original's own figure, verbatim
    assert metrics["composite_score"] != metrics["original_composite_score"]
    assert list(metrics)[-2:] == ["composite_score", "original_composite_score"]


def test_the_first_challenger_after_the_switch_is_decided_by_the_rule(
    tmp_path: Path, candidates: list[Path], with_ne: Path
) -> None:
    """The real installation, its 8-class champion given weights: import, a challenger,
    one evaluation on a holdout with NE events, and decide: no manual promote."""
    original = tmp_path / "original"
    shutil.copytree(FIXTURE, original)
    champion = original / "models/champion"
    eight_azimuths(tmp_path / "eight")
    shutil.copy(tmp_path / "eight/best_model.pth", champion / "best_model.pth")
    meta = json.loads((champion / "metadata.json").read_text())
    (champion / "metadata.json").write_text(json.dumps({**meta, "architecture": "convnext_atto"}))
    cli = Cli(tmp_path / "new")
    cli("import", str(original))
    cli("submit", str(candidates[0]))
    cli("evaluate", "--data", str(with_ne))
    record = cli.json("decide")
    decided = record["events"][-1]
    assert decided["type"] in ("promoted", "rejected")
    assert decided["decision"]["same_rows"]["left_out"]["challenger"] > 0


def test_the_champion_copy_wins_over_a_challenger_copy_of_the_same_version(
    installation: Path, tmp_path: Path
) -> None:
    shutil.copytree(installation / "models/champion", installation / "models/challenger", dirs_exist_ok=True)
    cli = Cli(tmp_path / "new")
    cli("import", str(installation))
    status = cli.json("status")
    assert status["champion"]["model_id"] == "convnext_v1.0.0" and status["challenger"] is None
