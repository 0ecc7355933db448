"""Bad input: one clear line on stderr, exit 2, log and files unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.conftest import Cli


def fingerprint(root: Path) -> dict[str, str]:
    """Every path under the root with a digest of its content (or its link target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "->" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@pytest.fixture
def ready(cli: Cli, candidates: list[Path], metrics_file, root: Path) -> Cli:  # type: ignore[no-untyped-def]
    """Champion v1.0.1 and archived v1.0.0... plus v1.0.10 to tempt substring matching."""
    cli("submit", str(candidates[0]), "--version", "1.0.1")
    cli("evaluate", "challenger", "--metrics-file",
        str(metrics_file(magnitude_accuracy=97.0, azimuth_accuracy=70.0)))
    cli("decide")
    cli("submit", str(candidates[1]), "--version", "1.0.10")
    return cli


def refused(cli: Cli, root: Path, *args: str, match: str) -> str:
    before = fingerprint(root)
    result = cli(*args, code=2)
    err = result.stderr.strip()
    assert err.startswith("error: "), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in result.stdout + result.stderr
    assert match in err, err
    assert fingerprint(root) == before, "a refused command changed files"
    return err


def test_unknown_versions_and_no_substring_matching(ready: Cli, root: Path) -> None:
    refused(ready, root, "promote", "9.9.9", "--reason", "x", match="no model with version 9.9.9")
    refused(ready, root, "rollback", "--version", "1.0.7", match="no model with version 1.0.7")
    refused(ready, root, "history", "--model", "1.0", match="not a model reference")
    refused(ready, root, "reject", "convnext_v1.0.1", "--reason", "x",
            match="only the challenger")
    assert ready.json("history", "--model", "1.0.1")[0]["model_id"] == "convnext_v1.0.1"
    assert {r["model_id"] for r in ready.json("history", "--model", "1.0.10")} == {
        "convnext_v1.0.10"}


@pytest.mark.parametrize("bad", ["../../etc", "1.0.1/../../x", "..", "v1.0.1/..", "a b",
                                 "convnext_v1.0.1/../x", "/etc/passwd", "1.0.1\x00"])
def test_path_traversal_in_references(ready: Cli, root: Path, bad: str) -> None:
    refused(ready, root, "rollback", "--version", bad, match="not a model reference")


@pytest.mark.parametrize("bad", ["../1.0.20", "1.0.20/../..", "1.0", "1.0.x", "01.0.20", "-1.0.0"])
def test_path_traversal_and_malformed_explicit_versions(
    ready: Cli, root: Path, candidates: list[Path], bad: str
) -> None:
    ready("reject", "challenger", "--reason", "make room")
    refused(ready, root, "submit", str(candidates[2]), "--version", bad, match="not a version")


def test_version_not_greater_than_every_version_seen(ready: Cli, root: Path, candidates) -> None:  # type: ignore[no-untyped-def]
    ready("reject", "challenger", "--reason", "make room")
    refused(ready, root, "submit", str(candidates[2]), "--version", "1.0.9",
            match="not greater than every version")


def test_second_challenger_is_refused(ready: Cli, root: Path, candidates) -> None:  # type: ignore[no-untyped-def]
    refused(ready, root, "submit", str(candidates[2]), match="still waiting for a decision")


def test_rollback_with_no_archive(cli: Cli, root: Path, candidates, metrics_file) -> None:  # type: ignore[no-untyped-def]
    refused(cli, root, "rollback", match="no champion to roll back")
    cli("submit", str(candidates[0]))
    cli("promote", "challenger", "--reason", "first")
    refused(cli, root, "rollback", match="no archived champion to roll back to")


@pytest.fixture
def weirdo(tmp_path: Path, candidates: list[Path]) -> Iterator[Path]:
    folder = tmp_path / "weird"
    shutil.copytree(candidates[2], folder)
    yield folder


def test_corrupt_checkpoint(ready: Cli, root: Path, weirdo: Path) -> None:
    ready("reject", "challenger", "--reason", "make room")
    data = (weirdo / "best_model.pth").read_bytes()
    (weirdo / "best_model.pth").write_bytes(data[: len(data) // 3])
    refused(ready, root, "submit", str(weirdo), match="not a readable PyTorch checkpoint")
    (weirdo / "best_model.pth").write_bytes(b"definitely not a checkpoint")
    refused(ready, root, "submit", str(weirdo), match="not a readable PyTorch checkpoint")


class RunsCode:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {MARKER}",))


MARKER = "/tmp/lifecycle-test-pickle-ran"


def test_malicious_pickle_is_refused_without_running(ready: Cli, root: Path, weirdo: Path) -> None:
    ready("reject", "challenger", "--reason", "make room")
    Path(MARKER).unlink(missing_ok=True)
    torch.save({"model_state_dict": {}, "payload": RunsCode()}, weirdo / "best_model.pth")
    refused(ready, root, "submit", str(weirdo), match="refused: the file asks to unpickle posix.system")
    with open(weirdo / "best_model.pth", "wb") as f:
        pickle.dump(RunsCode(), f)
    refused(ready, root, "submit", str(weirdo), match="best_model.pth")
    assert not Path(MARKER).exists(), "the pickle's code ran"


def test_checkpoint_that_is_not_a_state_dict(ready: Cli, root: Path, weirdo: Path) -> None:
    ready("reject", "challenger", "--reason", "make room")
    torch.save([torch.zeros(3)], weirdo / "best_model.pth")
    refused(ready, root, "submit", str(weirdo), match="expected a state_dict")
    torch.save({"model_state_dict": {"mag_head.5.weight": torch.zeros(4, 512)}},
               weirdo / "best_model.pth")
    refused(ready, root, "submit", str(weirdo), match="no azimuth head")


def test_wrong_architecture(ready: Cli, root: Path, weirdo: Path) -> None:
    ready("reject", "challenger", "--reason", "make room")
    refused(ready, root, "submit", str(weirdo), "--architecture", "convnext_femto",
            match="do not fit architecture")
    refused(ready, root, "submit", str(weirdo), "--architecture", "no_such_net",
            match="unknown architecture")


def test_mismatched_class_mappings(ready: Cli, root: Path, weirdo: Path) -> None:
    ready("reject", "challenger", "--reason", "make room")
    mappings = json.loads((weirdo / "class_mappings.json").read_text())
    del mappings["azimuth"]["8"]
    (weirdo / "class_mappings.json").write_text(json.dumps(mappings))
    err = refused(ready, root, "submit", str(weirdo), match="8 azimuth classes")
    assert "9 outputs" in err
    mappings["azimuth"]["8"] = "Up"
    (weirdo / "class_mappings.json").write_text(json.dumps(mappings))
    refused(ready, root, "submit", str(weirdo), match="unknown azimuth classes")


@pytest.mark.parametrize(("content", "match"), [
    ("not json", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"magnitude_accuracy": 97}', "azimuth_accuracy"),
    ('{"magnitude_accuracy": 197, "azimuth_accuracy": 50}', "less than or equal to 100"),
    ('{"magnitude_accuracy": "high", "azimuth_accuracy": 50}', "magnitude_accuracy"),
    ('{"magnitude_acc": 97, "magnitude_accuracy": 97, "azimuth_accuracy": 50}',
     "unknown metric 'magnitude_acc'"),
    ('{"magnitude_accuracy": 97, "azimuth_accuracy": 50, "composite_score": 0.99}',
     "computed by the engine"),
])
def test_malformed_metrics_file(ready: Cli, root: Path, tmp_path: Path, content: str,
                                match: str) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(content)
    refused(ready, root, "evaluate", "challenger", "--metrics-file", str(path), match=match)


def test_missing_files_and_not_a_root(ready: Cli, root: Path, tmp_path: Path) -> None:
    refused(ready, root, "evaluate", "challenger", "--metrics-file", str(tmp_path / "nope.json"),
            match="metrics file not found")
    refused(ready, root, "submit", str(tmp_path / "nope"), match="no such file or folder")
    refused(ready, root, "decide", "--policy", str(tmp_path / "nope.toml"),
            match="policy file not found")
    empty = Cli(tmp_path / "not-a-root")
    (tmp_path / "not-a-root").mkdir()
    refused(empty, tmp_path / "not-a-root", "status", match="not a lifecycle registry")


def test_decide_refuses_metrics_from_different_data_sets(
    ready: Cli, root: Path, metrics_file  # type: ignore[no-untyped-def]
) -> None:
    ready("evaluate", "challenger", "--dataset", "other-holdout", "--metrics-file",
          str(metrics_file(magnitude_accuracy=99.0, azimuth_accuracy=80.0)))
    refused(ready, root, "decide", match="no evaluation on data set 'benchmark'")
    refused(ready, root, "decide", "--dataset", "other-holdout",
            match="champion convnext_v1.0.1 has no evaluation on data set 'other-holdout'")


def test_bad_policy_file(ready: Cli, root: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("min_gain = [")
    refused(ready, root, "decide", "--policy", str(policy), match="not valid TOML")
    policy.write_text("min_gian = 0.1")
    refused(ready, root, "decide", "--policy", str(policy), match="unknown policy keys")


@pytest.mark.parametrize(("content", "match"), [
    ('strict = "false"', "strict must be true or false"),
    ('[tolerances]\nlarge_recall_drop = "2"', "tolerances.large_recall_drop must be a number"),
    ("min_gain = true", "min_gain must be a number"),
])
def test_policy_values_are_type_checked(ready: Cli, root: Path, tmp_path: Path, content: str, match: str) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(content)
    refused(ready, root, "decide", "--policy", str(policy), match=match)
