"""The multi-task network: a timm backbone with a magnitude and an azimuth head.

Imports torch and timm; only code that runs a network imports this module.
Guarantees:
1. Heads match SPEC section 10: ``LayerNorm(F) -> Dropout -> Linear(F, 512) -> GELU ->
   Dropout -> Linear(512, n)``, parameterised layers at indices 0, 2 and 5.
2. Backbones are created with ``pretrained=False``: nothing is downloaded.
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from lifecycle.errors import UserError

HIDDEN = 512
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def head(features: int, classes: int, dropout: float = 0.3) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(features),
        nn.Dropout(dropout),
        nn.Linear(features, HIDDEN),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(HIDDEN, classes),
    )


class MultiTaskNet(nn.Module):
    """``head_norm=False`` drops timm's final norm after pooling, as the original system's
    torchvision network had none (see ``models.convert``)."""

    def __init__(self, architecture: str, n_magnitude: int, n_azimuth: int, *,
                 head_norm: bool = True) -> None:
        super().__init__()
        try:
            self.backbone = timm.create_model(architecture, pretrained=False, num_classes=0)
        except RuntimeError as exc:  # timm: "Unknown model (...)"
            raise UserError(f"unknown architecture {architecture!r}: {exc}") from None
        if not head_norm and hasattr(getattr(self.backbone, "head", None), "norm"):
            self.backbone.head.norm = nn.Identity()  # type: ignore[method-assign]
        features: int = self.backbone.num_features  # type: ignore[assignment]
        self.architecture = architecture
        self.mag_head = head(features, n_magnitude)
        self.azi_head = head(features, n_azimuth)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        return self.mag_head(features), self.azi_head(features)


def build(architecture: str, n_magnitude: int, n_azimuth: int, *, head_norm: bool = True) -> MultiTaskNet:
    return MultiTaskNet(architecture, n_magnitude, n_azimuth, head_norm=head_norm)


def known_architecture(name: str) -> bool:
    return bool(timm.list_models(name))
