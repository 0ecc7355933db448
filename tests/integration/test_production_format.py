"""The production file loads into the users' unchanged scanner (SPEC section 10).

A ConvNeXt this product trains has timm key names; ``[production] format`` ("auto" by
default) exports it to the original torchvision layout when it is registered, and the
production path is a hard link to that export. Random weights everywhere (norms, layer
scales, biases), so that a misplaced tensor would change the outputs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import orjson
import pytest
import torch
from torch import Tensor, nn

from bootstrap import open_engine
from lifecycle.errors import UserError
from models.checkpoint import load_network_file, save
from models.classes import default_classes
from models.convert import TorchvisionMultiTask
from models.network import build
from tests.conftest import Cli
from tests.helpers.workload import projected_tree

ARCH = "convnext_tiny"
N_MAG, N_AZI = 4, 9
PRODUCTION = "production/models/earthquake_model.pth"


def _randomise(network: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in network.named_parameters():
            if name.endswith("gamma"):  # layer scales
                value = torch.rand(param.shape, generator=generator) * 0.45 + 0.05
            elif param.ndim == 1 and name.endswith("weight"):  # norms
                value = 1 + 0.2 * torch.randn(param.shape, generator=generator)
            elif param.ndim == 1:  # biases
                value = 0.1 * torch.randn(param.shape, generator=generator)
            else:
                value = 0.05 * torch.randn(param.shape, generator=generator)
            param.copy_(value)
    return network.eval()


def _candidate(folder: Path, *, head_norm: bool, seed: int, architecture: str = ARCH) -> Path:
    """A product-trained (timm layout) candidate folder, as ``lifecycle train`` writes one."""
    classes = default_classes()
    network = _randomise(build(architecture, N_MAG, N_AZI, head_norm=head_norm), seed)
    folder.mkdir(parents=True)
    save(network, folder / "best_model.pth", epoch=1)
    mappings = {task: {str(i): n for i, n in enumerate(names)} for task, names in classes.items()}
    (folder / "class_mappings.json").write_text(json.dumps(mappings))
    (folder / "training_config.json").write_text(json.dumps({"architecture": architecture}))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _candidate(tmp_path_factory.mktemp("tiny") / "c", head_norm=False, seed=3)


@pytest.fixture(scope="module")
def tiny_with_norm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _candidate(tmp_path_factory.mktemp("tiny_norm") / "c", head_norm=True, seed=4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tiny: Path) -> Cli:
    """A fresh root, default settings, the tiny candidate submitted and promoted."""
    root = tmp_path_factory.mktemp("exported") / "root"
    open_engine(root).init()
    cli = Cli(root)
    cli("submit", str(tiny))
    cli("promote", "challenger", "--reason", "x")
    return cli


def _trained_events(root: Path) -> list[dict]:  # type: ignore[type-arg]
    lines = [orjson.loads(line) for line in (root / "events.jsonl").read_bytes().splitlines()]
    return [e for line in lines for e in line["events"] if e["type"] == "trained"]




def _is_production_symlink(root: Path) -> bool:
    path = root / PRODUCTION
    return path.is_symlink() and os.readlink(path) == "../../models/champion/best_model.pth"


def _outputs(network: nn.Module, image: Tensor) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        mag, azi = network.eval()(image)
    return mag, azi


def test_the_unchanged_scanner_loads_the_production_file(exported: Cli, tiny: Path) -> None:
    root = exported.root
    path = root / PRODUCTION
    assert not path.is_symlink()
    (event,) = _trained_events(root)
    production = event["production"]
    assert production["format"] == "torchvision"
    assert production["digest"] != event["weights"]["digest"]
    assert os.path.samefile(path, root / "store" / "sha256" / production["digest"][:2] / production["digest"])
    assert path.stat().st_size == production["size"]

    scanner = TorchvisionMultiTask(N_MAG, N_AZI, classifier_norm=False)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    scanner.load_state_dict(checkpoint["model_state_dict"], strict=True)
    ours = load_network_file(tiny / "best_model.pth", ARCH, default_classes())
    image = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(11))
    for want, have in zip(_outputs(ours, image), _outputs(scanner, image), strict=True):
        assert want.abs().max() > 1e-2  # not a degenerate comparison
        assert torch.allclose(want, have, atol=1e-5)

    registry = json.loads((root / "config/model_registry.json").read_text())
    assert registry["champion"]["production_format"] == "torchvision"
    metadata = json.loads((root / "models/champion/metadata.json").read_text())
    assert metadata["production"] == production
    exported("verify")


def test_replay_rebuilds_the_hard_link_byte_for_byte(exported: Cli) -> None:
    root = exported.root
    before = projected_tree(root)
    inode = (root / PRODUCTION).stat().st_ino
    for top in ("production", "models"):
        shutil.rmtree(root / top)
    exported("replay")
    assert projected_tree(root) == before
    assert not (root / PRODUCTION).is_symlink()
    assert (root / PRODUCTION).stat().st_ino == inode  # the same blob, linked again
    assert exported("replay").stdout.strip().endswith("0 change(s)")
    exported("verify")


def test_a_snapshot_of_the_state_keeps_the_export(exported: Cli) -> None:
    from projections.layout import desired_tree
    from projections.snapshot import state_from_json, state_to_json

    state = open_engine(exported.root).state()
    back = state_from_json(orjson.loads(orjson.dumps(state_to_json(state))))
    assert back == state
    assert back.champion_record().production == state.champion_record().production  # type: ignore[union-attr]
    assert desired_tree(back) == desired_tree(state)


def test_a_checkpoint_with_the_head_norm_is_refused(cli: Cli, root: Path, tiny_with_norm: Path) -> None:
    log = (root / "events.jsonl").read_bytes()
    result = cli("submit", str(tiny_with_norm), code=2)
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and "head norm" in err and 'format = "native"' in err, err
    assert (root / "events.jsonl").read_bytes() == log
    assert not (root / "store" / "sha256").exists() or not any((root / "store" / "sha256").rglob("*"))


def test_an_original_checkpoint_is_its_own_production_file(cli: Cli, root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "original"
    folder.mkdir()
    original = _randomise(TorchvisionMultiTask(N_MAG, N_AZI, classifier_norm=False), seed=5)
    torch.save({"epoch": 3, "model_state_dict": original.state_dict()}, folder / "best_model.pth")
    cli("submit", str(folder / "best_model.pth"), "--architecture", ARCH)
    cli("promote", "challenger", "--reason", "x")
    (event,) = _trained_events(root)
    assert "production" not in event  # already the scanner's layout: no export
    assert _is_production_symlink(root)


def test_native_keeps_the_symlink(cli: Cli, root: Path, tiny_with_norm: Path) -> None:
    (root / "config" / "lifecycle.toml").write_text('[production]\nformat = "native"\n')
    cli("submit", str(tiny_with_norm))
    cli("promote", "challenger", "--reason", "x")
    assert _is_production_symlink(root)
    (event,) = _trained_events(root)
    assert "production" not in event
    assert "production_format" not in json.loads((root / "config/model_registry.json").read_text())["champion"]


@pytest.mark.parametrize("architecture", ["convnext_atto", "resnet10t"])
def test_other_architectures_keep_the_symlink(cli: Cli, root: Path, tmp_path: Path, architecture: str) -> None:
    from models.candidate import write_candidate

    cli("submit", str(write_candidate(tmp_path / "c", architecture=architecture, seed=1)))
    cli("promote", "challenger", "--reason", "x")
    assert _is_production_symlink(root)
    (event,) = _trained_events(root)
    assert "production" not in event
    metadata = json.loads((root / "models/champion/metadata.json").read_text())
    assert "production" not in metadata


def test_torchvision_refuses_an_architecture_torchvision_lacks(cli: Cli, root: Path,
                                                               candidates: list[Path]) -> None:
    (root / "config" / "lifecycle.toml").write_text('[production]\nformat = "torchvision"\n')
    log = (root / "events.jsonl").read_bytes()
    err = cli("submit", str(candidates[0]), code=2).stderr.strip()
    assert len(err.splitlines()) == 1 and "convnext_atto has no torchvision counterpart" in err, err
    assert (root / "events.jsonl").read_bytes() == log


def test_the_setting_is_checked(tmp_path: Path) -> None:
    from service.daemon_config import load

    assert load(tmp_path).production_format == "auto"
    config = tmp_path / "config" / "lifecycle.toml"
    config.parent.mkdir()
    config.write_text('[production]\nformat = "torchvision"\n')
    assert load(tmp_path).production_format == "torchvision"
    config.write_text('[production]\nformat = "onnx"\n')
    with pytest.raises(UserError, match=r"production\.format must be one of"):
        load(tmp_path)
    config.write_text('[production]\nlayout = "native"\n')
    with pytest.raises(UserError, match="unknown keys"):
        load(tmp_path)


def _scanner_loads(root: Path) -> None:
    scanner = TorchvisionMultiTask(N_MAG, N_AZI, classifier_norm=False)
    checkpoint = torch.load(root / PRODUCTION, map_location="cpu", weights_only=True)
    scanner.load_state_dict(checkpoint["model_state_dict"], strict=True)


def test_training_builds_the_network_for_the_scanner(cli: Cli, root: Path, tmp_path: Path) -> None:
    from models.synth import write_synthetic

    data = write_synthetic(tmp_path / "train", samples=24, seed=1, image_size=32).root
    train = ("train", "--data", str(data), "--epochs", "1", "--image-size", "32", "--batch-size", "8")
    cli(*train, "--from", "none", "--architecture", ARCH)
    (event,) = _trained_events(root)
    assert event["production"]["format"] == "torchvision"
    config = json.loads((root / "models/challenger/training_config.json").read_text())
    assert config["head_norm"] is False
    cli("promote", "challenger", "--reason", "x")
    _scanner_loads(root)
    cli(*train, "--from", "champion")  # a champion without the head norm: trained on as it is
    assert _trained_events(root)[-1]["production"]["format"] == "torchvision"


def test_training_from_a_champion_with_the_head_norm_leaves_it_out(
    cli: Cli, root: Path, tmp_path: Path, tiny_with_norm: Path
) -> None:
    from models.synth import write_synthetic

    (root / "config" / "lifecycle.toml").write_text('[production]\nformat = "native"\n')
    cli("submit", str(tiny_with_norm))
    cli("promote", "challenger", "--reason", "x")
    (root / "config" / "lifecycle.toml").write_text('[production]\nformat = "auto"\n')
    data = write_synthetic(tmp_path / "train", samples=24, seed=1, image_size=32).root
    cli("train", "--data", str(data), "--epochs", "1", "--image-size", "32", "--batch-size", "8",
        "--from", "champion")
    assert _trained_events(root)[-1]["production"]["format"] == "torchvision"
    cli("promote", "challenger", "--reason", "x")
    _scanner_loads(root)
