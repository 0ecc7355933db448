"""Images to tensors: a torch Dataset over data-set samples, and batch loaders.

Guarantees:
1. A sample whose label is not one of the model's classes is an error naming its row:
   never skipped, never mapped to class 0.
2. Images are decoded one batch at a time (memory does not grow with the data set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from lifecycle.errors import UserError
from models.data import Sample
from models.network import IMAGENET_MEAN, IMAGENET_STD

_MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0
_STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0


def image_bytes(path: Any, size: int) -> torch.Tensor:
    """The image as uint8 CHW, resized to ``size`` x ``size``."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
        array = np.array(rgb, dtype=np.uint8)
    return torch.from_numpy(array).permute(2, 0, 1)


def normalise(batch: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> float NCHW with ImageNet normalisation, for a whole batch at once."""
    return (batch.float() - _MEAN) / _STD


def image_tensor(path: Any, size: int) -> torch.Tensor:
    return normalise(image_bytes(path, size).unsqueeze(0))[0]


def _collate(items: list[tuple[torch.Tensor, int, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = normalise(torch.stack([item[0] for item in items]))
    return (images, torch.tensor([item[1] for item in items]), torch.tensor([item[2] for item in items]))


def label_indices(
    samples: Sequence[Sample], classes: Mapping[str, Sequence[str]]
) -> tuple[list[int], list[int]]:
    mag = {name: i for i, name in enumerate(classes["magnitude"])}
    azi = {name: i for i, name in enumerate(classes["azimuth"])}
    mags, azis = [], []
    for s in samples:
        if s.magnitude not in mag or s.azimuth not in azi:
            raise UserError(
                f"labels.csv row {s.row}: label {s.magnitude}/{s.azimuth} is not among the model's "
                f"classes (magnitude {list(mag)}, azimuth {list(azi)})"
            )
        mags.append(mag[s.magnitude])
        azis.append(azi[s.azimuth])
    return mags, azis


class ImageDataset(Dataset[tuple[torch.Tensor, int, int]]):
    def __init__(self, samples: Sequence[Sample], classes: Mapping[str, Sequence[str]],
                 image_size: int) -> None:
        self.samples = list(samples)
        self.mag, self.azi = label_indices(self.samples, classes)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        return image_bytes(self.samples[i].path, self.image_size), self.mag[i], self.azi[i]


def make_loader(
    samples: Sequence[Sample], classes: Mapping[str, Sequence[str]], image_size: int,
    batch_size: int, *, shuffle: bool = False, seed: int = 0, workers: int = 0,
) -> DataLoader[tuple[torch.Tensor, int, int]]:
    """Batches in order (or shuffled by ``seed``); ``workers`` decode ahead in other processes."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(ImageDataset(samples, classes, image_size), batch_size=batch_size,
                      shuffle=shuffle, generator=generator, num_workers=workers,
                      collate_fn=_collate)

