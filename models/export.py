"""The production file in the layout of the users' unchanged scanner (SPEC section 10).

The scanner loads ``production/models/earthquake_model.pth`` into the original network:
torchvision's ConvNeXt with ``backbone.classifier = nn.Identity()`` (no norm after
pooling), then ``mag_head``/``azi_head``. This product trains timm networks, so a model it
trained is exported to that layout when it is registered (``service.submission``).

Guarantees:
1. ``effective_format`` is pure (no torch): ``"torchvision"`` or ``"native"`` for a setting
   (``auto``, ``torchvision``, ``native``) and an architecture. ``auto`` exports exactly the
   architectures torchvision has (``TORCHVISION_ARCHITECTURES``); ``torchvision`` for any
   other architecture is a ``UserError``.
2. ``export_torchvision`` reads the file with the checked loader (``weights_only=True``),
   refuses (one-line ``UserError``) a timm checkpoint that has timm's final head norm (the
   original network has none, so no export could compute the same function), and returns
   the bytes of ``torch.save({"model_state_dict": ...})`` written in memory: the same
   weights always give the same bytes. A checkpoint already in torchvision layout needs no
   export (``None``): production is the weights themselves.
3. torch is imported only when a file is exported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lifecycle.errors import UserError

TORCHVISION = "torchvision"
NATIVE = "native"
FORMATS = ("auto", TORCHVISION, NATIVE)
TORCHVISION_ARCHITECTURES = ("convnext_tiny", "convnext_small", "convnext_base", "convnext_large")
TIMM_HEAD_NORM = "backbone.head.norm."


def effective_format(setting: str, architecture: str) -> str:
    """``torchvision`` or ``native``: the layout of the production file for this architecture."""
    if setting not in FORMATS:
        raise UserError(f"[production] format must be one of {list(FORMATS)}, not {setting!r}")
    if setting == NATIVE:
        return NATIVE
    if architecture in TORCHVISION_ARCHITECTURES:
        return TORCHVISION
    if setting == TORCHVISION:
        raise UserError(f"[production] format = \"torchvision\", but {architecture} has no torchvision "
                        f"counterpart (only {', '.join(TORCHVISION_ARCHITECTURES)}); "
                        "set [production] format = \"auto\" or \"native\" in config/lifecycle.toml")
    return NATIVE


def head_norm_refused(name: str, architecture: str) -> str:
    return (f"{name}: refused: this {architecture} has timm's final head norm (backbone.head.norm.*), "
            "which the original scanner's network does not have, so production/models/earthquake_model.pth "
            "could not be exported for it; train it for the original scanner (without the head norm, as "
            "'lifecycle train' does) or set [production] format = \"native\" in config/lifecycle.toml")


def export_torchvision(weights: Path, architecture: str) -> bytes | None:
    """The production file's bytes for a checkpoint (see guarantee 2); None: no export needed."""
    from models.checkpoint import load_state_dict
    from models.convert import is_torchvision_layout, timm_to_torchvision

    state = load_state_dict(weights)
    if is_torchvision_layout(state):
        return None
    if any(key.startswith(TIMM_HEAD_NORM) for key in state):
        raise UserError(head_norm_refused(weights.name, architecture))
    return saved_bytes({"model_state_dict": timm_to_torchvision(state, architecture)})


def saved_bytes(obj: Any) -> bytes:
    """``torch.save`` into memory (a file's name would become part of the archive's bytes)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def lacks_head_norm(network: Any) -> bool:
    """True for a network whose timm backbone had its final head norm removed
    (``models.network.build(..., head_norm=False)``)."""
    from torch import nn

    head = getattr(getattr(network, "backbone", None), "head", None)
    return isinstance(getattr(head, "norm", None), nn.Identity)
