"""The three scenarios of SPEC section 6, end to end through the CLI: registry and folders."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bootstrap import open_engine
from tests.conftest import Cli

CHAMPION_METRICS = {"magnitude_accuracy": 97.63, "azimuth_accuracy": 71.28}
WINNER_METRICS = {"magnitude_accuracy": 98.50, "azimuth_accuracy": 72.30}
LOSER_METRICS = {"magnitude_accuracy": 96.50, "azimuth_accuracy": 70.00}


def registry(root: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((root / "config" / "model_registry.json").read_text())


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def submit_evaluate(cli: Cli, candidate: Path, metrics: dict, metrics_file, *extra: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    cli("submit", str(candidate), *extra)
    cli("evaluate", "challenger", "--metrics-file", str(metrics_file(**metrics)))


@pytest.fixture
def champion_v101(cli: Cli, candidates: list[Path], metrics_file) -> Cli:  # type: ignore[no-untyped-def]
    submit_evaluate(cli, candidates[0], CHAMPION_METRICS, metrics_file, "--version", "1.0.1")
    cli("decide", "--same-data")
    return cli


def test_scenario_1_challenger_wins_and_is_promoted(
    champion_v101: Cli, candidates: list[Path], metrics_file, root: Path  # type: ignore[no-untyped-def]
) -> None:
    cli = champion_v101
    submit_evaluate(cli, candidates[1], WINNER_METRICS, metrics_file)
    assert files(root / "models" / "challenger") >= {"best_model.pth", "class_mappings.json"}
    result = cli("decide", "--same-data")
    assert "promoted: convnext_v1.0.2" in result.stdout

    reg = registry(root)
    assert reg["registry_version"] == "2.0.0"
    assert reg["champion"]["model_id"] == "convnext_v1.0.2"
    assert reg["champion"]["path"] == "models/champion/best_model.pth"
    assert reg["champion"]["metrics"]["magnitude_accuracy"] == 98.50
    assert 0 < reg["champion"]["metrics"]["composite_score"] <= 1
    assert reg["challenger"] is None
    [old] = reg["archive"]
    assert old["model_id"] == "convnext_v1.0.1"
    assert old["path"] == "models/archive/convnext_v1.0.1"
    assert old["reason"].startswith("Replaced by v1.0.2")
    assert reg["all_versions"] == [
        {"version": "1.0.1", "status": "archived", "path": "models/archive/convnext_v1.0.1"},
        {"version": "1.0.2", "status": "champion", "path": "models/champion"},
    ]
    archive = root / "models" / "archive" / "convnext_v1.0.1"
    assert {"best_model.pth", "class_mappings.json", "metadata.json",
            "evaluation_results.json"} <= files(archive)
    meta = json.loads((archive / "metadata.json").read_text())
    assert meta["status"] == "archived" and meta["archived_at"] == old["archived_at"]
    assert (archive / "best_model.pth").read_bytes() == (
        candidates[0] / "best_model.pth").read_bytes()
    assert (root / "models/champion/best_model.pth").read_bytes() == (
        candidates[1] / "best_model.pth").read_bytes()
    assert files(root / "models" / "challenger") == set()
    link = root / "production" / "models" / "earthquake_model.pth"
    assert os.readlink(link) == "../../models/champion/best_model.pth"
    assert link.read_bytes() == (candidates[1] / "best_model.pth").read_bytes()


def test_scenario_2_challenger_loses_and_its_events_return_to_the_pool(
    champion_v101: Cli, candidates: list[Path], metrics_file, root: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    cli = champion_v101
    loser = tmp_path / "loser"
    shutil.copytree(candidates[1], loser)
    (loser / "metadata.json").write_text(json.dumps({"training_data": {
        "total_samples": 2100, "events_included": ["GTO_20260210", "SCN_20260211"]}}))
    submit_evaluate(cli, loser, LOSER_METRICS, metrics_file)
    result = cli("decide", "--same-data")
    assert "rejected: convnext_v1.0.2: lower composite score" in result.stdout

    reg = registry(root)
    assert reg["champion"]["model_id"] == "convnext_v1.0.1"
    assert reg["challenger"] is None
    [rejected] = reg["archive"]
    assert rejected["status"] == "rejected"
    assert rejected["path"] == "models/archive/convnext_v1.0.2_rejected"
    assert rejected["reason"].startswith("lower composite score")
    assert {e["event_id"] for e in reg["pool"]["events"]} == {"GTO_20260210", "SCN_20260211"}
    folder = root / "models" / "archive" / "convnext_v1.0.2_rejected"
    assert "best_model.pth" in files(folder)
    assert json.loads((folder / "metadata.json").read_text())["status"] == "rejected"
    [event] = cli.json("history", "--type", "rejected")
    assert event["reason"].startswith("lower composite score")
    assert (root / "models/champion/best_model.pth").read_bytes() == (
        candidates[0] / "best_model.pth").read_bytes()


def test_scenario_3_rollback_to_a_version_and_to_the_previous_champion(
    champion_v101: Cli, candidates: list[Path], metrics_file, root: Path  # type: ignore[no-untyped-def]
) -> None:
    cli = champion_v101
    submit_evaluate(cli, candidates[1], WINNER_METRICS, metrics_file)
    cli("decide", "--same-data")
    listing = cli("rollback", "--list").stdout
    assert "1. convnext_v1.0.1" in listing and "Mag: 97.63%, Azi: 71.28%" in listing
    cli("rollback", "--version", "1.0.1", "--reason", "false positives rose sharply",
        "--severity", "CRITICAL")

    reg = registry(root)
    assert reg["champion"]["model_id"] == "convnext_v1.0.1"
    assert reg["champion"]["rollback_from"] == "1.0.2"
    [backup] = reg["archive"]
    assert backup["path"] == "models/archive/convnext_v1.0.2_pre_rollback"
    assert backup["status"] == "pre_rollback"
    assert "best_model.pth" in files(root / backup["path"])
    assert (root / "production/models/earthquake_model.pth").read_bytes() == (
        candidates[0] / "best_model.pth").read_bytes()
    [event] = cli.json("history", "--type", "rolled_back")
    assert event["reason"] == "false positives rose sharply"
    assert event["model_id"] == "convnext_v1.0.1"

    # no previous archived champion now (v1.0.2 was removed by a rollback): refused
    result = cli("rollback", code=2)
    assert "no archived champion" in result.stderr
    # ... but an explicit version still works, and versions are never reused
    cli("rollback", "--version", "1.0.2")
    assert registry(root)["champion"]["model_id"] == "convnext_v1.0.2"
    cli("submit", str(candidates[2]))
    assert registry(root)["challenger"]["version"] == "1.0.3"


def test_rollback_without_flags_goes_to_the_previous_champion(
    champion_v101: Cli, candidates: list[Path], metrics_file, root: Path  # type: ignore[no-untyped-def]
) -> None:
    cli = champion_v101
    for candidate, mag in ((candidates[1], 98.5), (candidates[2], 99.5)):
        submit_evaluate(cli, candidate, {"magnitude_accuracy": mag, "azimuth_accuracy": 75.0},
                        metrics_file)
        cli("evaluate", "champion", "--metrics-file",
            str(metrics_file(magnitude_accuracy=mag - 1, azimuth_accuracy=74.0)))
        cli("decide", "--same-data")
    assert registry(root)["champion"]["version"] == "1.0.3"
    cli("rollback")
    assert registry(root)["champion"]["version"] == "1.0.2"
    cli("rollback")
    assert registry(root)["champion"]["version"] == "1.0.1"


def test_replay_rebuilds_the_projection_byte_for_byte(
    champion_v101: Cli, candidates: list[Path], metrics_file, root: Path  # type: ignore[no-untyped-def]
) -> None:
    cli = champion_v101
    submit_evaluate(cli, candidates[1], WINNER_METRICS, metrics_file)
    cli("decide", "--same-data")
    cli("rollback", "--reason", "bug in the new model")
    submit_evaluate(cli, candidates[2], LOSER_METRICS, metrics_file)
    cli("decide", "--same-data")
    before = snapshot(root)
    for rel in ("config", "models", "production"):
        shutil.rmtree(root / rel)
    out = cli("replay").stdout
    assert "+ config/model_registry.json" in out
    assert snapshot(root) == before
    assert cli("replay").stdout.strip() == "replayed 10 commits; 0 change(s)"
    cli("verify")


def snapshot(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for base in ("config", "models", "production"):
        for path in sorted((root / base).rglob("*")):
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
            else:
                out[rel] = "dir"
    return out


@pytest.mark.parametrize("damage", ["garbage", "truncated", "hand-edited", "deleted"])
def test_a_corrupt_registry_is_detected_and_rebuilt(
    champion_v101: Cli, root: Path, damage: str
) -> None:
    path = root / "config" / "model_registry.json"
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "hand-edited":
        path.write_bytes(good.replace(b'"convnext_v1.0.1"', b'"convnext_v9.9.9"', 1))
    else:
        path.unlink()
    result = champion_v101("verify", code=1)
    assert "config/model_registry.json" in result.stdout
    champion_v101("replay")
    assert path.read_bytes() == good


def test_a_crash_between_append_and_projection_is_healed_by_the_next_command(
    champion_v101: Cli, candidates: list[Path], metrics_file, root: Path, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    from service.engine import Engine

    submit_evaluate(champion_v101, candidates[1], WINNER_METRICS, metrics_file)
    monkeypatch.setattr(Engine, "project", lambda self, state, before=None: (_ for _ in ()).throw(
        KeyboardInterrupt("killed after the append")))
    with pytest.raises(KeyboardInterrupt):
        from lifecycle.commands import DecideChallenger
        open_engine(root).execute(DecideChallenger(same_data=True))
    monkeypatch.undo()
    assert registry(root)["champion"]["model_id"] == "convnext_v1.0.1"  # stale projection
    champion_v101("evaluate", "champion", "--metrics-file",
                  str(metrics_file(magnitude_accuracy=90.0, azimuth_accuracy=60.0)))
    reg = registry(root)
    assert reg["champion"]["model_id"] == "convnext_v1.0.2"
    champion_v101("verify")
