"""Evaluate a network on a data set: batched, under ``torch.inference_mode()``.

Guarantees:
1. Memory is flat in the number of images: images stream batch by batch; only the
   per-sample predictions (a few numbers each) are kept.
2. Metrics come from ``models.metrics`` on the full confusion matrices.
3. ``scorable`` splits a data set into the samples a model can score (both labels among
   its classes) and the ones it cannot, with why; only the first are predicted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from models.data import Sample, unreadable_image
from models.loader import image_tensor, make_loader

Progress = Callable[[int], None]


def _outputs(
    network: torch.nn.Module, images: torch.Tensor, classes: Mapping[str, Sequence[str]], device: str
) -> list[dict[str, Any]]:
    mag_logits, azi_logits = network(images.to(device))
    mag_conf, mag_pred = torch.softmax(mag_logits.float(), dim=1).cpu().max(dim=1)
    azi_conf, azi_pred = torch.softmax(azi_logits.float(), dim=1).cpu().max(dim=1)
    return [{
        "magnitude_pred": classes["magnitude"][int(mag_pred[j])],
        "magnitude_confidence": round(float(mag_conf[j]), 6),
        "azimuth_pred": classes["azimuth"][int(azi_pred[j])],
        "azimuth_confidence": round(float(azi_conf[j]), 6),
    } for j in range(len(mag_pred))]


def predict(
    network: torch.nn.Module, samples: Sequence[Sample], classes: Mapping[str, Sequence[str]],
    image_size: int, batch_size: int = 32, device: str = "cpu", progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Per-sample predictions (class and softmax confidence) beside the true labels."""
    network.eval().to(device)
    rows: list[dict[str, Any]] = []
    loader = make_loader(samples, classes, image_size, batch_size)
    with torch.inference_mode():
        for images, _, _ in loader:
            for out in _outputs(network, images, classes, device):
                sample = samples[len(rows)]
                rows.append({"row": sample.row, "event_id": sample.event_id,
                             "magnitude_true": sample.magnitude, "azimuth_true": sample.azimuth, **out})
            if progress:
                progress(len(images))
    return rows


def classify(
    network: torch.nn.Module, paths: Iterable[Path], classes: Mapping[str, Sequence[str]],
    image_size: int, batch_size: int = 32, device: str = "cpu",
) -> list[dict[str, Any]]:
    """Predictions for unlabelled images."""
    network.eval().to(device)
    paths = list(paths)
    rows: list[dict[str, Any]] = []
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            batch = torch.stack([_image(p, image_size) for p in paths[start:start + batch_size]])
            rows += _outputs(network, batch, classes, device)
    return rows


def _image(path: Path, size: int) -> torch.Tensor:
    try:
        return image_tensor(path, size)
    except Exception as exc:  # Pillow raises many types (the file may have changed since it was checked)
        raise unreadable_image(path, exc) from None


def scorable(
    samples: Sequence[Sample], classes: Mapping[str, Sequence[str]]
) -> tuple[list[Sample], dict[str, Any] | None]:
    """The samples whose labels are among the model's classes, and a report of the others
    (None when every sample can be scored): a champion of the original system has 8
    azimuth classes (no NE), and is scored on what it can score."""
    mag, azi = set(classes.get("magnitude", ())), set(classes.get("azimuth", ()))
    kept: list[Sample] = []
    left: list[Sample] = []
    why: dict[str, int] = {}
    for sample in samples:
        missing = [f"{task} label {label}" for task, label, known in
                   (("magnitude", sample.magnitude, mag), ("azimuth", sample.azimuth, azi)) if label not in known]
        if not missing:
            kept.append(sample)
            continue
        left.append(sample)
        for reason in missing:
            why[reason] = why.get(reason, 0) + 1
    if not left:
        return kept, None
    return kept, {"count": len(left), "rows": [s.row for s in left], "events": sorted({s.event_id for s in left}),
                  "why": {f"{k} is not among the model's classes": v for k, v in sorted(why.items())}}
