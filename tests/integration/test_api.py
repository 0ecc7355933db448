"""The Python API: ModelDeployer goes through the same commands and log as the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from api import ModelDeployer
from lifecycle.errors import UserError
from tests.conftest import Cli


def test_model_deployer(cli: Cli, root: Path, candidates: list[Path], metrics_file) -> None:  # type: ignore[no-untyped-def]
    for n, mag in enumerate((96.0, 98.0)):
        cli("submit", str(candidates[n]))
        cli("evaluate", "challenger", "--metrics-file",
            str(metrics_file(magnitude_accuracy=mag, azimuth_accuracy=70.0)))
        if n:
            cli("evaluate", "champion", "--metrics-file",
                str(metrics_file(magnitude_accuracy=96.0, azimuth_accuracy=70.0)))
        cli("decide", "--same-data")
    api = ModelDeployer(root, actor="analyst@lab")
    assert api.get_current_champion()["model_id"] == "convnext_v1.0.1"  # type: ignore[index]
    assert [m["model_id"] for m in api.list_archived_models()] == ["convnext_v1.0.0"]
    assert api.get_all_versions()[0]["default"] is True
    diff = api.compare_models("1.0.0", "1.0.1")
    assert {r["metric"]: r["difference"] for r in diff["metrics"]}["magnitude_accuracy"] == 2.0
    record = api.rollback(reason="regression seen by the analyst")
    assert record["actor"] == "analyst@lab"
    assert api.get_current_champion()["model_id"] == "convnext_v1.0.0"  # type: ignore[index]
    assert cli.json("history", "--type", "rolled_back")[0]["actor"] == "analyst@lab"
    assert api.model_path("1.0.1") == root / "models/archive/convnext_v1.0.1_pre_rollback"
    with pytest.raises(UserError, match=r"no model with version 7\.7\.7"):
        api.rollback(version="7.7.7")
    assert api.status()["production"]["state"] == "ok"
    (root / "production" / "models" / "earthquake_model.pth").unlink()  # a projection behind the log
    assert api.production_health()["state"] == "stale" and api.status()["production"]["ok"] is False


def test_model_deployer_needs_a_registry(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a lifecycle registry"):
        ModelDeployer(tmp_path)
