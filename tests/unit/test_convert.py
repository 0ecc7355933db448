"""Original-system checkpoints (torchvision ConvNeXt, SPEC section 10) onto the timm MultiTaskNet.

Random weights everywhere (LayerNorm weights and biases, layer scales, head biases too), so
that a swapped or misplaced tensor would change the outputs.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from lifecycle.errors import UserError
from models.checkpoint import load_state_dict
from models.convert import (
    TorchvisionMultiTask,
    has_final_norm,
    is_torchvision_layout,
    needs_identity_head_norm,
    timm_to_torchvision,
    torchvision_to_timm,
)
from models.network import MultiTaskNet

ARCH = "convnext_tiny"
N_MAG, N_AZI = 4, 9


def _randomise(network: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in network.named_parameters():
            if name.endswith("layer_scale"):
                value = torch.rand(param.shape, generator=generator) * 0.45 + 0.05
            elif param.ndim == 1 and name.endswith("weight"):  # norms
                value = 1 + 0.2 * torch.randn(param.shape, generator=generator)
            elif param.ndim == 1:  # biases
                value = 0.1 * torch.randn(param.shape, generator=generator)
            else:  # conv and linear weights
                value = 0.05 * torch.randn(param.shape, generator=generator)
            param.copy_(value)
    return network.eval()


@pytest.fixture(scope="module", params=[False, True], ids=["original", "classifier_norm"])
def original(request: pytest.FixtureRequest) -> TorchvisionMultiTask:
    network = TorchvisionMultiTask(N_MAG, N_AZI, classifier_norm=request.param)
    _randomise(network, seed=7 if request.param else 5)
    return network


@pytest.fixture(scope="module")
def timm_reference() -> dict[str, Tensor]:
    """Keys and shapes of MultiTaskNet (built on the meta device: no memory, no init time)."""
    with torch.device("meta"):
        return MultiTaskNet(ARCH, N_MAG, N_AZI).state_dict()


@pytest.fixture(scope="module")
def image() -> Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(11))


@pytest.fixture(scope="module")
def timm_network(original: TorchvisionMultiTask) -> MultiTaskNet:
    """MultiTaskNet as it must be built for ``original``'s checkpoint: ``head.norm`` is Identity when flagged."""
    network = MultiTaskNet(ARCH, N_MAG, N_AZI)
    if needs_identity_head_norm(torchvision_to_timm(original.state_dict(), ARCH), ARCH):
        network.backbone.get_submodule("head").norm = nn.Identity()  # the change models/network.py needs
    return network.eval()


def _load(network: MultiTaskNet, state: dict[str, Tensor]) -> MultiTaskNet:
    with torch.no_grad():  # a tensor the load did not overwrite would turn the outputs into NaN
        for param in network.parameters():
            param.fill_(float("nan"))
    network.load_state_dict(state, strict=True)
    return network


def _outputs(network: nn.Module, image: Tensor) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        mag, azi = network(image)
    return mag, azi


def test_layout_detection(original: TorchvisionMultiTask, timm_reference: dict[str, Tensor]) -> None:
    state = original.state_dict()
    assert is_torchvision_layout(state)
    assert not is_torchvision_layout(timm_reference)
    assert not is_torchvision_layout(torchvision_to_timm(state, ARCH))
    assert has_final_norm(state) == ("backbone.classifier.0.weight" in state)


def test_every_tensor_is_mapped_both_ways(
    original: TorchvisionMultiTask, timm_reference: dict[str, Tensor]
) -> None:
    state = original.state_dict()
    converted = torchvision_to_timm(state, ARCH)
    kept_norm = "backbone.classifier.0.weight" in state
    expected = {k for k in timm_reference if kept_norm or not k.startswith("backbone.head.norm.")}
    assert set(converted) == expected  # all names covered, nothing left over
    assert len(converted) == len(state)
    for key, tensor in converted.items():
        assert tensor.shape == timm_reference[key].shape, key
    assert sum(t.numel() for t in converted.values()) == sum(t.numel() for t in state.values())

    back = timm_to_torchvision(converted, ARCH)
    assert list(back) == list(state)
    for key, tensor in state.items():
        assert back[key].shape == tensor.shape, key
        assert torch.equal(back[key], tensor), key


def test_known_keys(original: TorchvisionMultiTask) -> None:
    state = original.state_dict()
    converted = torchvision_to_timm(state, ARCH)
    pairs = {
        "features.0.0.weight": "stem.0.weight",
        "features.0.1.bias": "stem.1.bias",
        "features.2.0.weight": "stages.1.downsample.0.weight",
        "features.6.1.weight": "stages.3.downsample.1.weight",
        "features.1.0.block.0.weight": "stages.0.blocks.0.conv_dw.weight",
        "features.3.2.block.2.bias": "stages.1.blocks.2.norm.bias",
        "features.5.8.block.3.weight": "stages.2.blocks.8.mlp.fc1.weight",
        "features.7.2.block.5.bias": "stages.3.blocks.2.mlp.fc2.bias",
    }
    for tv, timm in pairs.items():
        assert torch.equal(converted["backbone." + timm], state["backbone." + tv]), tv
    scale = state["backbone.features.5.4.layer_scale"]
    assert scale.shape == (384, 1, 1)
    assert torch.equal(converted["backbone.stages.2.blocks.4.gamma"], scale.flatten())
    for head in ("mag_head", "azi_head"):
        for index in (0, 2, 5):
            for param in ("weight", "bias"):
                key = f"{head}.{index}.{param}"
                assert converted[key] is state[key]


def test_same_outputs(original: TorchvisionMultiTask, timm_network: MultiTaskNet, image: Tensor) -> None:
    state = original.state_dict()
    converted = torchvision_to_timm(state, ARCH)
    assert needs_identity_head_norm(converted, ARCH) == ("backbone.classifier.0.weight" not in state)
    expected = _outputs(original, image)
    got = _outputs(_load(timm_network, converted), image)
    for want, have in zip(expected, got, strict=True):
        assert want.shape == have.shape
        assert want.abs().max() > 1e-2  # not a degenerate comparison
        assert torch.allclose(want, have, atol=1e-5, rtol=1e-5)


def test_filled_head_norm_loads_into_unmodified_network(original: TorchvisionMultiTask, image: Tensor) -> None:
    state = original.state_dict()
    converted = torchvision_to_timm(state, ARCH, fill_head_norm=True)
    if has_final_norm(state):  # the checkpoint's own norm is used, never overwritten
        for param in ("weight", "bias"):
            assert converted[f"backbone.head.norm.{param}"] is state[f"backbone.classifier.0.{param}"]
        return
    assert not needs_identity_head_norm(converted, ARCH)
    assert torch.equal(converted["backbone.head.norm.weight"], torch.ones(768))
    assert torch.equal(converted["backbone.head.norm.bias"], torch.zeros(768))
    network = MultiTaskNet(ARCH, N_MAG, N_AZI)
    network.load_state_dict(converted, strict=True)
    # LayerNorm(identity affine) then the heads' LayerNorm == the heads' LayerNorm, up to eps.
    for want, have in zip(_outputs(original, image), _outputs(network.eval(), image), strict=True):
        assert torch.allclose(want, have, atol=1e-4, rtol=1e-4)


def test_wrapped_checkpoint_file(
    original: TorchvisionMultiTask, timm_network: MultiTaskNet, image: Tensor, tmp_path: Path
) -> None:
    trained = copy.deepcopy(original.mag_head)  # an optimizer state like the original's, fixture untouched
    optimizer = torch.optim.AdamW(trained.parameters(), lr=1e-4)
    trained(torch.randn(2, 768)).sum().backward()
    optimizer.step()
    optimizer.zero_grad()
    path = tmp_path / "best_model.pth"
    torch.save({"epoch": 12, "model_state_dict": original.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(),
                "val_mag_acc": 98.36, "val_azi_acc": 50.66, "config": {"model_variant": "tiny"}}, path)
    state = load_state_dict(path)
    assert is_torchvision_layout(state)
    network = _load(timm_network, torchvision_to_timm(state, ARCH))
    for want, have in zip(_outputs(original, image), _outputs(network, image), strict=True):
        assert torch.allclose(want, have, atol=1e-5, rtol=1e-5)


def test_refusals(original: TorchvisionMultiTask) -> None:
    state = original.state_dict()
    with pytest.raises(UserError, match=r"features\.8\.0\.weight"):
        torchvision_to_timm({**state, "backbone.features.8.0.weight": torch.zeros(1)}, ARCH)
    with pytest.raises(UserError, match=r"classifier\.2\.weight"):
        torchvision_to_timm({**state, "backbone.classifier.2.weight": torch.zeros(1000, 768)}, ARCH)
    missing = {k: v for k, v in state.items() if k != "backbone.features.5.8.block.3.weight"}
    with pytest.raises(UserError, match=r"features\.5\.8\.block\.3\.weight' is missing"):
        torchvision_to_timm(missing, ARCH)
    with pytest.raises(UserError, match="convnext_small"):  # 27 blocks in stage 2, not 9
        torchvision_to_timm(state, "convnext_small")
    with pytest.raises(UserError, match="shape"):
        torchvision_to_timm(state, "convnext_atto")
    with pytest.raises(UserError, match="only to ConvNeXt"):
        torchvision_to_timm(state, "resnet18")
    with pytest.raises(UserError, match="unknown architecture"):
        torchvision_to_timm(state, "no_such_net")
    converted = torchvision_to_timm(state, ARCH)
    with pytest.raises(UserError, match=r"stages\.0\.blocks\.3"):
        timm_to_torchvision({**converted, "backbone.stages.0.blocks.3.gamma": torch.zeros(96)}, ARCH)


def test_original_checkpoint_file_loads_and_predicts_the_same(
    original: TorchvisionMultiTask, image: Tensor, tmp_path: Path
) -> None:
    """The whole path a user takes: an original .pth -> load_network_file -> same outputs."""
    from models.checkpoint import inspect, load_network_file
    from models.classes import default_classes

    path = tmp_path / "best_model.pth"
    torch.save({"epoch": 3, "model_state_dict": original.state_dict(), "val_mag_acc": 97.6}, path)
    assert inspect(path, ARCH, default_classes())["heads"] == {"magnitude": N_MAG, "azimuth": N_AZI}
    network = load_network_file(path, ARCH, default_classes())
    for ours, theirs in zip(_outputs(network, image), _outputs(original, image), strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
