"""The original system's ModelDeployer (names and shapes) over the engine, and the shim package
``autoupdate_pipeline.src.deployer`` that unchanged scripts import."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from api.original import ROLLBACK_REASON, OriginalModelDeployer
from bootstrap import open_engine
from lifecycle.errors import UserError
from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[2]
METRIC_KEYS = ["magnitude_accuracy", "azimuth_accuracy", "composite_score"]


def _add(cli: Cli, candidate: Path, folder: Path, version: str, mag: float, azi: float,
         **extra: float) -> None:
    """Submit ``candidate`` as ``version`` and make it the champion (recorded metrics)."""
    metrics = folder / f"metrics-{version}.json"
    metrics.write_text(json.dumps({"magnitude_accuracy": mag, "azimuth_accuracy": azi, **extra}))
    cli("submit", str(candidate), "--version", version)
    cli("evaluate", "challenger", "--metrics-file", str(metrics))
    cli("promote", "challenger", "--reason", f"setting up {version}")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, candidates: list[Path]) -> Path:
    """Champion convnext_v1.0.10; archive: convnext_v1.0.1 then convnext_v1.0.0 (built once;
    tests that write work on a copy)."""
    folder = tmp_path_factory.mktemp("original")
    root = folder / "root"
    open_engine(root).init()
    cli = Cli(root)
    _add(cli, candidates[0], folder, "1.0.0", 96.0, 70.0, false_positive_rate=4.0)
    _add(cli, candidates[1], folder, "1.0.1", 98.0, 69.0, false_positive_rate=3.0)
    _add(cli, candidates[2], folder, "1.0.10", 97.0, 72.0, large_recall=90.0)
    return root


@pytest.fixture
def registry(built: Path) -> Cli:
    """The shared registry, for tests that change nothing (they check that)."""
    return Cli(built)


@pytest.fixture
def deployer(registry: Cli) -> OriginalModelDeployer:
    return OriginalModelDeployer(root=registry.root, actor="script@lab")


@pytest.fixture
def own(built: Path, tmp_path: Path) -> Cli:
    """A copy of the registry, for tests that write."""
    return Cli(Path(shutil.copytree(built, tmp_path / "copy", symlinks=True)))


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFECYCLE_ROOT", raising=False)


def test_champion_and_archive_have_the_registry_shapes(deployer: OriginalModelDeployer) -> None:
    champion = deployer.get_current_champion()
    assert champion["model_id"] == "convnext_v1.0.10" and champion["version"] == "1.0.10"
    assert champion["status"] == "active" and champion["previous_version"] == "1.0.1"
    assert champion["path"] == "models/champion/best_model.pth" and champion["deployed_at"]
    assert list(champion["metrics"]) == [*METRIC_KEYS[:2], "large_recall", "composite_score"]
    archived = deployer.list_archived_models()
    assert [m["model_id"] for m in archived] == ["convnext_v1.0.1", "convnext_v1.0.0"]
    assert {"model_id", "version", "archived_at", "path", "metrics", "reason", "status"} <= set(archived[0])
    assert archived[0]["metrics"]["false_positive_rate"] == 3.0


def test_get_model_by_version_matches_exactly(deployer: OriginalModelDeployer) -> None:
    # The original matched by substring: "1.0.1" found the champion convnext_v1.0.10.
    found = deployer.get_model_by_version("1.0.1")
    assert found is not None and found["model_id"] == "convnext_v1.0.1"
    assert found["status"] == "archived" and found["archive_status"] == "archived"
    assert deployer.get_model_by_version("v1.0.1") == found
    assert deployer.get_model_by_version("convnext_v1.0.1") == found
    champion = deployer.get_model_by_version("1.0.10")
    assert champion is not None and champion["model_id"] == "convnext_v1.0.10"
    assert champion["status"] == "champion" and champion["deployed_at"]
    for missing in ("1.0", "1.0.2", "convnext_v1.0", "nonsense!", "", "challenger"):
        assert deployer.get_model_by_version(missing) is None, missing


def test_get_all_versions(deployer: OriginalModelDeployer) -> None:
    rows = deployer.get_all_versions()
    assert [(r["version"], r["status"]) for r in rows] == [
        ("1.0.10", "champion"), ("1.0.1", "archived"), ("1.0.0", "archived")]
    assert set(rows[0]) == {"version", "model_id", "status", "deployed_at", "metrics"}
    assert set(rows[1]) == {"version", "model_id", "status", "archived_at", "metrics"}
    assert rows[2]["metrics"]["magnitude_accuracy"] == 96.0


def test_compare_models(deployer: OriginalModelDeployer) -> None:
    result = deployer.compare_models("1.0.0", "1.0.1")
    assert result["success"] is True
    assert result["model1"]["version"] == "1.0.0" and result["model1"]["status"] == "archived"
    assert result["model2"]["model_id"] == "convnext_v1.0.1" and result["model2"]["dataset"] == "benchmark"
    mag = result["differences"]["magnitude_accuracy"]
    assert mag == {"model1": 96.0, "model2": 98.0, "difference": 2.0, "better": "model2"}
    assert result["differences"]["azimuth_accuracy"]["better"] == "model1"
    fpr = result["differences"]["false_positive_rate"]  # lower is better
    assert fpr["difference"] == -1.0 and fpr["better"] == "model2"
    assert result["not_compared"] == []
    with_champion = deployer.compare_models("1.0.1", "champion")
    assert with_champion["model2"]["status"] == "champion"
    assert sorted(with_champion["not_compared"]) == ["false_positive_rate", "large_recall"]
    assert set(with_champion["differences"]) == set(METRIC_KEYS)
    same = deployer.compare_models("1.0.1", "v1.0.1")
    assert {d["better"] for d in same["differences"].values()} == {"equal"}


def test_compare_models_not_found_does_not_raise(deployer: OriginalModelDeployer) -> None:
    assert deployer.compare_models("1.0.0", "9.9.9") == {"success": False, "message": "Model not found: 9.9.9"}
    assert deployer.compare_models("1.0", "1.0.1") == {"success": False, "message": "Model not found: 1.0"}


def test_rollback_runs_the_products_rollback(own: Cli) -> None:
    deployer = OriginalModelDeployer(root=own.root, actor="script@lab")
    result = deployer.rollback("1.0.0")
    assert result["success"] is True and result["rolled_back_to"] == "convnext_v1.0.0"
    assert result["message"] == "Rollback successful to convnext_v1.0.0"
    status = own.json("status")
    assert status["champion"]["model_id"] == "convnext_v1.0.0" and status["production"]["state"] == "ok"
    event = own.json("history", "--type", "rolled_back")[0]
    assert event["actor"] == "script@lab" and event["reason"] == ROLLBACK_REASON
    assert event["seq"] == result["commit"]
    assert deployer.get_current_champion()["model_id"] == "convnext_v1.0.0"
    # a bare rollback goes back to the previous champion (the product's rule)
    again = deployer.rollback()
    assert again["success"] is True and again["rolled_back_to"] == own.json("status")["champion"]["model_id"]


def test_rollback_committed_but_not_projected_is_reported(own: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    deployer = OriginalModelDeployer(root=own.root)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(deployer.engine, "project", disk_full)
    result = deployer.rollback("1.0.1")
    # the log (the truth) has it; repeating would be wrong, so it is not reported as a failure
    assert result["success"] is True and result["rolled_back_to"] == "convnext_v1.0.1"
    assert "lifecycle replay" in result["message"]
    assert own.json("status", code=None)["champion"]["model_id"] == "convnext_v1.0.1"


@pytest.mark.parametrize("version", ["7.7.7", "1.0", "convnext_v1.0.10", "not a version"])
def test_rollback_refusals_do_not_raise(deployer: OriginalModelDeployer, registry: Cli, version: str) -> None:
    seq = registry.json("status")["log"]["seq"]
    result = deployer.rollback(version)
    assert result["success"] is False and result["rolled_back_to"] is None
    assert result["message"] and "\n" not in result["message"]
    assert registry.json("status")["log"]["seq"] == seq  # nothing recorded


def test_rollback_with_nothing_to_roll_back_to(root: Path) -> None:
    result = OriginalModelDeployer(root=root).rollback()
    assert result["success"] is False and result["rolled_back_to"] is None and result["message"]


def test_empty_registry(root: Path) -> None:
    deployer = OriginalModelDeployer(root=root)
    assert deployer.get_current_champion() == {}
    assert deployer.list_archived_models() == [] and deployer.get_all_versions() == []
    assert deployer.get_model_by_version("1.0.0") is None
    assert deployer.compare_models("1.0.0", "1.0.1")["success"] is False
    summary = deployer.get_registry_summary()
    assert summary["champion"] == {"model_id": "N/A", "version": "N/A", "magnitude_accuracy": 0,
                                   "azimuth_accuracy": 0, "composite_score": 0}
    assert summary["archive_count"] == 0 and summary["validated_events_count"] == 0
    assert summary["last_run"] == "Never"


def test_registry_summary(deployer: OriginalModelDeployer) -> None:
    summary = deployer.get_registry_summary()
    composite = deployer.get_current_champion()["metrics"]["composite_score"]
    assert summary["champion"] == {"model_id": "convnext_v1.0.10", "version": "1.0.10",
                                   "magnitude_accuracy": 97.0, "azimuth_accuracy": 72.0,
                                   "composite_score": composite}
    assert summary["archive_count"] == 2
    assert set(summary) == {"champion", "archive_count", "validated_events_count", "total_runs",
                            "successful_updates", "failed_updates", "last_run"}
    assert all(isinstance(summary[k], int) for k in ("validated_events_count", "total_runs",
                                                     "successful_updates", "failed_updates"))


def test_registry_summary_reads_the_original_blocks(deployer: OriginalModelDeployer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import api.original
    from projections.registry import registry

    def with_blocks(state):  # type: ignore[no-untyped-def]
        return {**registry(state), "validated_events": [{"event_id": "A"}, {"event_id": "B"}],
                "pipeline_history": {"total_runs": 3, "successful_updates": 2, "failed_updates": 1,
                                     "last_run": "2026-02-10T15:00:00Z"}}

    monkeypatch.setattr(api.original, "registry", with_blocks)
    summary = deployer.get_registry_summary()
    assert summary["validated_events_count"] == 2
    assert (summary["total_runs"], summary["successful_updates"], summary["failed_updates"]) == (3, 2, 1)
    assert summary["last_run"] == "2026-02-10T15:00:00Z"


def test_deploy_challenger_deploys_nothing(deployer: OriginalModelDeployer, registry: Cli) -> None:
    seq = registry.json("status")["log"]["seq"]
    result = deployer.deploy_challenger({"recommendation": "PROMOTE"}, force=True)
    assert result["success"] is False and "lifecycle decide" in result["message"]
    assert result["old_champion"] is None and result["new_champion"] is None and result["archived_to"] is None
    assert registry.json("status")["log"]["seq"] == seq


# -- finding the registry root ------------------------------------------------------------
def test_root_from_argument_config_and_env(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert OriginalModelDeployer(root=root).root == root.resolve()
    assert OriginalModelDeployer({"root": str(root), "auto_deploy": True}).root == root.resolve()
    assert OriginalModelDeployer(str(root)).root == root.resolve()
    monkeypatch.setenv("LIFECYCLE_ROOT", str(root))
    assert OriginalModelDeployer().root == root.resolve()
    assert OriginalModelDeployer({"threshold": 0.5}).root == root.resolve()  # other keys ignored
    monkeypatch.setenv("LIFECYCLE_ROOT", str(tmp_path))
    with pytest.raises(UserError, match="is not a lifecycle registry"):
        OriginalModelDeployer()
    with pytest.raises(UserError, match="is not a lifecycle registry"):
        OriginalModelDeployer(root=tmp_path / "nowhere")


def test_root_from_the_current_folder(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    assert OriginalModelDeployer().root == root.resolve()
    deep = root / "data" / "some" / "where"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)  # the nearest parent that is a registry
    assert OriginalModelDeployer().root == root.resolve()


def test_root_in_autoupdate_pipeline_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bootstrap import open_engine

    project = tmp_path / "project"
    open_engine(project / "autoupdate_pipeline").init()
    monkeypatch.chdir(project)
    assert OriginalModelDeployer().root == (project / "autoupdate_pipeline").resolve()


def test_no_root_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if any((p / "events.jsonl").is_file() for p in (tmp_path, *tmp_path.parents)):
        pytest.skip("a parent of the temporary folder is a registry")
    with pytest.raises(UserError, match="no lifecycle registry found") as raised:
        OriginalModelDeployer()
    assert "LIFECYCLE_ROOT" in str(raised.value) and "\n" not in str(raised.value)


# -- an unchanged script of the original system, in a real process --------------------------
SCRIPT = """\
from autoupdate_pipeline.src.deployer import ModelDeployer

deployer = ModelDeployer()
champion = deployer.get_current_champion()
print(champion['model_id'])
for m in deployer.list_archived_models():
    print(m['model_id'], m['metrics'])
comparison = deployer.compare_models("1.0.0", "1.0.1")
print(comparison['success'], comparison['differences']['magnitude_accuracy']['better'])
print(deployer.get_model_by_version("1.0.1")['model_id'])
print(deployer.get_registry_summary()['archive_count'])
result = deployer.rollback("1.0.0")
print(result['success'], result['rolled_back_to'])
"""

# Refuses torch, timm and torchvision in the script's process: the API must not need them.
NO_TORCH = """\
import sys


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "timm", "torchvision"):
            raise ImportError(f"{name} must not be needed by the original API")
        return None


sys.meta_path.insert(0, _NoTorch())
print("guard: on", file=sys.stderr)
"""


def test_an_original_script_runs_unchanged(own: Cli, tmp_path: Path) -> None:
    script = tmp_path / "scripts" / "check_models.py"
    script.parent.mkdir()
    script.write_text(SCRIPT)
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(textwrap.dedent(NO_TORCH))
    env = {k: v for k, v in os.environ.items() if k not in ("LIFECYCLE_ROOT", "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join([str(guard), str(REPO)])
    done = subprocess.run([sys.executable, str(script)], cwd=own.root, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "guard: on" in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "convnext_v1.0.10"
    assert lines[1].startswith("convnext_v1.0.1 {'magnitude_accuracy': 98.0")
    assert lines[2].startswith("convnext_v1.0.0 {'magnitude_accuracy': 96.0")
    assert lines[3:] == ["True model2", "convnext_v1.0.1", "2", "True convnext_v1.0.0"]
    status = own.json("status")
    assert status["champion"]["model_id"] == "convnext_v1.0.0"
    assert status["production"]["state"] == "ok"
    assert own.json("history", "--type", "rolled_back")[0]["reason"] == ROLLBACK_REASON
