"""Importing the original system's real files (a copy of shared/fixtures/seed_registry)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "seed_registry"


@pytest.fixture
def installation(tmp_path: Path) -> Path:
    if not FIXTURE.is_dir():
        pytest.skip(f"fixture not found: {FIXTURE}")
    copy = tmp_path / "original"
    shutil.copytree(FIXTURE, copy)
    return copy


def test_import_takes_what_exists_and_reports_what_is_missing(
    installation: Path, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "new-root")
    out = cli("import", str(installation)).stdout
    assert "convnext_v1.0.1 (models/champion): no best_model.pth" in out
    assert "convnext_v1.0.0 (archive/convnext_v1.0.0): no best_model.pth" in out
    assert "8 azimuth classes, the family has 9" in out
    assert "azimuth class counts differ between models (convnext_v1.0.0: 9, convnext_v1.0.1: 8)" in out
    assert "models/challenger: holds class_mappings.json but no metadata or weights" in out

    registry = json.loads((tmp_path / "new-root/config/model_registry.json").read_text())
    champion = registry["champion"]
    assert champion["model_id"] == "convnext_v1.0.1"
    assert champion["deployed_at"] == "2026-02-09T13:00:19"  # the original's, verbatim
    assert champion["metrics"]["magnitude_accuracy"] == 97.63
    assert champion["weights"] is None
    assert champion["training_data"]["total_samples"] == 1972
    [archived] = registry["archive"]
    assert archived["model_id"] == "convnext_v1.0.0"
    assert archived["reason"] == "Replaced by v1.0.1 (better azimuth accuracy)"
    assert registry["challenger"] is None

    meta = json.loads((tmp_path / "new-root/models/champion/metadata.json").read_text())
    assert any("8 azimuth classes" in w for w in meta["warnings"])
    assert meta["classes"]["azimuth"] == ["E", "N", "NW", "Normal", "S", "SE", "SW", "W"]
    assert not (tmp_path / "new-root/models/champion/best_model.pth").exists()
    kept = tmp_path / "new-root/models/archive/convnext_v1.0.0"
    assert json.loads((kept / "original_metadata.json").read_text())["notes"] == (
        "Initial production model")
    assert (kept / "config.json").is_file()

    result = cli("verify")
    assert "imported without a weight file" in result.stdout
    [event] = cli.json("history", "--model", "1.0.1")
    assert event["type"] == "imported"


def test_imported_models_without_weights_cannot_become_champion(
    installation: Path, tmp_path: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    cli = Cli(tmp_path / "new-root")
    cli("import", str(installation))
    result = cli("rollback", code=2)
    assert "no archived champion to roll back to" in result.stderr
    result = cli("rollback", "--version", "1.0.0", code=2)
    assert "has no weight file" in result.stderr
    cli("submit", str(candidates[0]))  # the next version after the imported ones
    view = cli.json("status", code=1)  # the scanner has nothing to load from this registry
    assert view["challenger"]["version"] == "1.0.2"
    assert view["production"]["state"] == "unavailable"


def test_import_refuses_a_registry_that_has_history(
    installation: Path, cli: Cli, candidates: list[Path]
) -> None:
    cli("submit", str(candidates[0]))
    result = cli("import", str(installation), code=2)
    assert "already has 1 commits" in result.stderr


def test_import_with_weights_validates_them(
    installation: Path, tmp_path: Path, candidates: list[Path]
) -> None:
    # the archived v1.0.0 has 9 azimuth classes; give it real weights
    shutil.copy(candidates[0] / "best_model.pth",
                installation / "models/archive/convnext_v1.0.0/best_model.pth")
    config = installation / "models/archive/convnext_v1.0.0/config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_variant": "atto"}))
    meta = installation / "models/archive/convnext_v1.0.0/metadata.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "architecture": "convnext_atto"}))
    cli = Cli(tmp_path / "new-root")
    cli("import", str(installation))
    archive = tmp_path / "new-root/models/archive/convnext_v1.0.0"
    assert (archive / "best_model.pth").read_bytes() == (
        candidates[0] / "best_model.pth").read_bytes()
    cli("rollback", "--version", "1.0.0", "--reason", "back to the only model with weights")
    assert cli.json("status")["champion"]["model_id"] == "convnext_v1.0.0"
