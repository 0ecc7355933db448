"""Checkpoints of the original system (torchvision ConvNeXt) <-> this product's timm ConvNeXt.

SPEC section 10: the original network is ``torchvision.models.convnext_tiny`` with its
classifier removed (``backbone.classifier = nn.Identity()``), so the backbone returns the
average-pooled 768 features of the last stage with no final norm, followed by ``mag_head``
and ``azi_head``. Our ``MultiTaskNet`` wraps ``timm.create_model(arch, num_classes=0)``.

Mapping (keys under ``backbone.``; ``s`` = stage 0..3, ``j`` = block index):

====================================  =====================================  ==============
torchvision                           timm                                   shape
====================================  =====================================  ==============
``features.0.0.{weight,bias}``        ``stem.0.*`` (4x4/4 conv)              same
``features.0.1.{weight,bias}``        ``stem.1.*`` (LayerNorm2d)             same
``features.{2s}.0.*`` (s = 1..3)      ``stages.s.downsample.0.*`` (LN2d)     same
``features.{2s}.1.*``                 ``stages.s.downsample.1.*`` (2x2/2)    same
``features.{2s+1}.j.block.0.*``       ``stages.s.blocks.j.conv_dw.*``        same
``features.{2s+1}.j.block.2.*``       ``stages.s.blocks.j.norm.*``           same
``features.{2s+1}.j.block.3.*``       ``stages.s.blocks.j.mlp.fc1.*``        [o,i] (or [o,i,1,1] conv_mlp)
``features.{2s+1}.j.block.5.*``       ``stages.s.blocks.j.mlp.fc2.*``        [o,i] (or [o,i,1,1] conv_mlp)
``features.{2s+1}.j.layer_scale``     ``stages.s.blocks.j.gamma``            [C,1,1] <-> [C]
``classifier.0.*`` (only if kept)     ``head.norm.*`` (LayerNorm2d)          same
====================================  =====================================  ==============

Stage 0 has no downsample in either (the stem does it). Every other key (``mag_head.*``,
``azi_head.*``) passes through unchanged. Both networks use eps 1e-6 in every backbone norm,
exact GELU and average pooling, so a converted network computes the same function.

The final norm -- two checkpoint shapes:

1. The original design (``classifier = nn.Identity()``): no ``backbone.classifier.*`` keys;
   the heads' own ``LayerNorm(768)`` is the first norm after pooling. timm's convnext always
   applies ``head.norm`` (LayerNorm2d) after pooling, which the original did not. By default
   the converted dict has no ``backbone.head.norm.*`` keys and must be loaded into a network
   whose ``backbone.head.norm`` is ``nn.Identity()``; :func:`needs_identity_head_norm` is the
   flag that says so. With ``fill_head_norm=True`` it gets weight 1 / bias 0 instead and loads
   into an unmodified ``MultiTaskNet``: a LayerNorm with identity affine followed by the
   heads' LayerNorm equals the heads' LayerNorm alone except for the eps terms (relative
   error about ``eps_head * |var - 1| / (2 var)``, ``var`` the feature variance across the
   768 channels; large only for near-constant features), so this is an approximation.
2. ``classifier[2] = nn.Identity()`` (LayerNorm2d and Flatten kept): ``backbone.classifier.0.*``
   present; it maps exactly onto ``head.norm``.

Guarantees:
1. Every backbone tensor is mapped or the conversion is refused (``UserError``) naming the
   key: no silent leftovers, no invented tensors (except ``fill_head_norm``'s, on request).
2. The result is checked against the timm architecture's keys and shapes (built on the
   ``meta`` device: no memory, no download).
3. ``timm_to_torchvision(torchvision_to_timm(s))`` reproduces every tensor of ``s`` exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

import torch
from torch import Tensor, nn

from lifecycle.errors import UserError

PREFIX = "backbone."
TORCHVISION_PREFIX = "backbone.features."
TORCHVISION_NORM = "backbone.classifier.0."
TIMM_NORM = "backbone.head.norm."

_BLOCK_PARTS = {"0": "conv_dw", "2": "norm", "3": "mlp.fc1", "5": "mlp.fc2"}
_BLOCK_INDICES = {part: index for index, part in _BLOCK_PARTS.items()}
_PARAM = r"(weight|bias)"


def is_torchvision_layout(state: Mapping[str, Tensor]) -> bool:
    """True for a state_dict of the original system's torchvision backbone."""
    return any(key.startswith(TORCHVISION_PREFIX) for key in state)


def has_final_norm(state: Mapping[str, Tensor]) -> bool:
    """True if the checkpoint (either layout) carries a norm after pooling."""
    return any(key.startswith((TORCHVISION_NORM, TIMM_NORM)) for key in state)


def needs_identity_head_norm(state: Mapping[str, Tensor], architecture: str = "convnext_tiny") -> bool:
    """The flag for a timm-layout dict: load it into a network with ``backbone.head.norm = nn.Identity()``.

    True when the architecture has ``head.norm`` but the dict does not (a converted checkpoint
    of the original design); False for everything else, including non-ConvNeXt architectures.
    """
    return "head.norm.weight" in _timm_shapes(architecture) and not has_final_norm(state)


def torchvision_name_to_timm(name: str) -> str | None:
    """Backbone-relative torchvision key -> timm key; None if it has no counterpart."""
    if found := re.fullmatch(rf"features\.0\.([01])\.{_PARAM}", name):
        return f"stem.{found[1]}.{found[2]}"
    if found := re.fullmatch(rf"features\.([246])\.([01])\.{_PARAM}", name):
        return f"stages.{int(found[1]) // 2}.downsample.{found[2]}.{found[3]}"
    if found := re.fullmatch(r"features\.([1357])\.(\d+)\.layer_scale", name):
        return f"stages.{int(found[1]) // 2}.blocks.{found[2]}.gamma"
    if found := re.fullmatch(rf"features\.([1357])\.(\d+)\.block\.([0235])\.{_PARAM}", name):
        return f"stages.{int(found[1]) // 2}.blocks.{found[2]}.{_BLOCK_PARTS[found[3]]}.{found[4]}"
    if found := re.fullmatch(rf"classifier\.0\.{_PARAM}", name):
        return f"head.norm.{found[1]}"
    return None


def timm_name_to_torchvision(name: str) -> str | None:
    """Backbone-relative timm key -> torchvision key; None if it has no counterpart."""
    if found := re.fullmatch(rf"stem\.([01])\.{_PARAM}", name):
        return f"features.0.{found[1]}.{found[2]}"
    if found := re.fullmatch(rf"stages\.([123])\.downsample\.([01])\.{_PARAM}", name):
        return f"features.{2 * int(found[1])}.{found[2]}.{found[3]}"
    if found := re.fullmatch(r"stages\.([0-3])\.blocks\.(\d+)\.gamma", name):
        return f"features.{2 * int(found[1]) + 1}.{found[2]}.layer_scale"
    if found := re.fullmatch(rf"stages\.([0-3])\.blocks\.(\d+)\.(conv_dw|norm|mlp\.fc1|mlp\.fc2)\.{_PARAM}", name):
        return f"features.{2 * int(found[1]) + 1}.{found[2]}.block.{_BLOCK_INDICES[found[3]]}.{found[4]}"
    if found := re.fullmatch(rf"head\.norm\.{_PARAM}", name):
        return f"classifier.0.{found[1]}"
    return None


def torchvision_to_timm(
    state: Mapping[str, Tensor], architecture: str = "convnext_tiny", *, fill_head_norm: bool = False
) -> dict[str, Tensor]:
    """Map an original-system state_dict onto ``MultiTaskNet(architecture, ...)`` keys.

    Without ``backbone.classifier.0.*`` in ``state`` the result has no ``backbone.head.norm.*``
    (see :func:`needs_identity_head_norm`), unless ``fill_head_norm`` asks for an identity-affine
    norm (weight 1, bias 0) that loads into an unmodified ``MultiTaskNet`` (approximate; see
    the module docstring).
    """
    shapes = _timm_shapes(architecture)
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        if not key.startswith(PREFIX):
            out[key] = tensor
            continue
        target = torchvision_name_to_timm(key.removeprefix(PREFIX))
        if target is None or target not in shapes:
            raise UserError(f"torchvision checkpoint: no {architecture} counterpart for {key!r}")
        out[PREFIX + target] = _reshaped(tensor, shapes[target], key, architecture)
    if fill_head_norm and not has_final_norm(state) and "head.norm.weight" in shapes:
        dtype = next((t.dtype for k, t in state.items() if k.startswith(PREFIX)), torch.float32)
        out[TIMM_NORM + "weight"] = torch.ones(shapes["head.norm.weight"], dtype=dtype)
        out[TIMM_NORM + "bias"] = torch.zeros(shapes["head.norm.bias"], dtype=dtype)
    _check_complete(out, shapes, architecture, "torchvision checkpoint", _as_torchvision)
    return out


def timm_to_torchvision(state: Mapping[str, Tensor], architecture: str = "convnext_tiny") -> dict[str, Tensor]:
    """Map a ``MultiTaskNet`` ConvNeXt state_dict back onto the original system's keys.

    ``backbone.head.norm.*`` becomes ``backbone.classifier.0.*`` (a network that kept
    ``LayerNorm2d`` in its classifier); a dict without it maps to the original design.
    """
    shapes = _timm_shapes(architecture)
    _check_complete(state, shapes, architecture, "timm checkpoint", _as_timm)
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        if not key.startswith(PREFIX):
            out[key] = tensor
            continue
        name = key.removeprefix(PREFIX)
        target = timm_name_to_torchvision(name)
        if target is None:
            raise UserError(f"timm checkpoint: no torchvision counterpart for {key!r}")
        out[PREFIX + target] = _torchvision_shape(tensor, target)
    return out


class TorchvisionMultiTask(nn.Module):
    """The original system's network (SPEC section 10), for tests and for checking conversions.

    ``classifier_norm=False`` is the original design: ``backbone.classifier = nn.Identity()``,
    so the backbone ends in average pooling ([B, F, 1, 1], flattened here). ``True`` keeps
    torchvision's ``LayerNorm2d`` (``classifier[2] = nn.Identity()``): keys
    ``backbone.classifier.0.*``.
    """

    def __init__(
        self,
        n_magnitude: int,
        n_azimuth: int,
        *,
        architecture: str = "convnext_tiny",
        classifier_norm: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        import torchvision

        from models.network import head

        self.backbone = getattr(torchvision.models, architecture)(weights=None)
        features = int(self.backbone.classifier[2].in_features)
        if classifier_norm:
            self.backbone.classifier[2] = nn.Identity()
        else:
            self.backbone.classifier = nn.Identity()
        self.mag_head = head(features, n_magnitude, dropout)
        self.azi_head = head(features, n_azimuth, dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features: Tensor = self.backbone(x)
        if features.dim() == 4:
            features = features.flatten(1)
        return self.mag_head(features), self.azi_head(features)


@lru_cache(maxsize=8)
def _timm_shapes(architecture: str) -> dict[str, tuple[int, ...]]:
    """Backbone-relative key -> shape of ``timm.create_model(architecture, num_classes=0)``."""
    import timm

    try:
        with torch.device("meta"):
            model = timm.create_model(architecture, pretrained=False, num_classes=0)
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        raise UserError(f"unknown architecture {architecture!r}: {exc}") from None
    shapes = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    if "stem.0.weight" not in shapes or not any(key.endswith(".conv_dw.weight") for key in shapes):
        raise UserError(f"torchvision-layout checkpoints convert only to ConvNeXt, not {architecture!r}")
    return shapes


def _reshaped(tensor: Tensor, shape: tuple[int, ...], key: str, architecture: str) -> Tensor:
    """Only the two layout differences of the table (``[C,1,1]`` <-> ``[C]``, ``[o,i]`` <->
    ``[o,i,1,1]``): the shapes may differ by trailing ones, never otherwise (a permuted
    tensor with the same number of values is refused, not reshaped)."""
    if tuple(tensor.shape) == shape:
        return tensor
    if _without_trailing_ones(tuple(tensor.shape)) != _without_trailing_ones(shape):
        raise UserError(f"torchvision checkpoint: {key!r} has shape {tuple(tensor.shape)}, which does not fit "
                        f"{architecture} ({shape}); pass the right --architecture")
    return tensor.reshape(shape)


def _torchvision_shape(tensor: Tensor, target: str) -> Tensor:
    if target.endswith(".layer_scale"):
        return tensor.reshape(-1, 1, 1)
    if re.search(r"\.block\.[35]\.weight$", target):
        return tensor.reshape(tensor.shape[0], -1)
    return tensor


def _check_complete(
    state: Mapping[str, Tensor],
    shapes: Mapping[str, tuple[int, ...]],
    architecture: str,
    what: str,
    describe: Callable[[str], str],
) -> None:
    """Every backbone key of ``architecture`` present with its shape (``head.norm`` optional).

    ``describe`` turns a backbone-relative timm name into the key the user's file uses.
    """
    have = {key.removeprefix(PREFIX): tensor for key, tensor in state.items() if key.startswith(PREFIX)}
    extra = sorted(set(have) - set(shapes))
    if extra:
        raise UserError(f"{what}: {describe(extra[0])!r} is not part of {architecture}")
    for name, shape in shapes.items():
        if name not in have:
            if name.startswith("head.norm."):
                continue
            raise UserError(f"{what}: {describe(name)!r} is missing for {architecture}")
        got = tuple(have[name].shape)
        if got != shape:
            raise UserError(f"{what}: {describe(name)!r} has shape {got}, {architecture} needs {shape}; "
                            "pass the right --architecture")
    if ("head.norm.weight" in have) != ("head.norm.bias" in have):
        raise UserError(f"{what}: the final norm has only one of weight and bias")


def _as_torchvision(name: str) -> str:
    return PREFIX + (timm_name_to_torchvision(name) or name)


def _as_timm(name: str) -> str:
    return PREFIX + name


def _without_trailing_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    while shape and shape[-1] == 1:
        shape = shape[:-1]
    return shape
