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

_MEAN = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(3, 1, 1)
_STD = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(3, 1, 1)


def image_tensor(path: Any, size: int) -> torch.Tensor:
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return torch.from_numpy((array - _MEAN) / _STD)


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
        return image_tensor(self.samples[i].path, self.image_size), self.mag[i], self.azi[i]


def make_loader(
    samples: Sequence[Sample], classes: Mapping[str, Sequence[str]], image_size: int,
    batch_size: int, *, shuffle: bool = False, seed: int = 0,
) -> DataLoader[tuple[torch.Tensor, int, int]]:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(ImageDataset(samples, classes, image_size), batch_size=batch_size,
                      shuffle=shuffle, generator=generator, num_workers=0)
