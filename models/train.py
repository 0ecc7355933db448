"""Training the multi-task network: both heads, class weights, best epoch, early stop.

Guarantees:
1. Deterministic on the CPU: the same seed, data and configuration give the same
   weights (seeded initialisation, shuffling and dropout; no data-loader workers).
2. The weights returned are those of the epoch with the best validation score
   (``0.7 * magnitude accuracy + 0.3 * azimuth accuracy``, the composite score's balance of
   the two tasks; ties go to the lower validation loss); training stops after ``patience``
   epochs without improvement.
3. Nothing is written here: the caller decides where the result goes.
4. ``head_norm=False`` builds the network without timm's final head norm (the original
   scanner's network has none, so the weights export exactly: ``models.export``). Starting
   from weights that have one, it is left out (the heads' own LayerNorm follows it);
   starting from weights without one, the network is built without it whatever the flag.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from lifecycle.errors import UserError
from models.data import Sample
from models.loader import label_indices, make_loader
from models.metrics import confusion, macro_f1
from models.network import MultiTaskNet, build

HEAD_NORM = "backbone.head.norm."
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_mag_acc", "val_mag_acc", "train_azi_acc",
                   "val_azi_acc", "val_mag_f1", "val_azi_f1", "lr")


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = "convnext_tiny"
    epochs: int = 10
    batch_size: int = 32
    image_size: int = 224
    lr: float = 1e-4
    weight_decay: float = 0.05
    seed: int = 0
    patience: int = 5
    val_fraction: float = 0.2
    device: str = "cpu"
    head_norm: bool = True  # timm's final norm after pooling (guarantee 4)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    network: MultiTaskNet
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


EpochHook = Callable[[dict[str, float]], None]
BatchHook = Callable[[int], None]


def class_weights(indices: Sequence[int], n: int) -> torch.Tensor:
    """Inverse class frequency over the classes present (absent classes weigh 0)."""
    counts = torch.bincount(torch.tensor(list(indices), dtype=torch.long), minlength=n).float()
    present = counts > 0
    weights = torch.zeros(n)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def validation_score(row: Mapping[str, float]) -> float:
    """What "best epoch" means: mostly magnitude, as in the composite score (0.35 vs 0.15)."""
    return 0.7 * row["val_mag_acc"] + 0.3 * row["val_azi_acc"]


def train(
    train_set: Sequence[Sample], val_set: Sequence[Sample], classes: Mapping[str, Sequence[str]],
    config: TrainConfig, init_state: Mapping[str, torch.Tensor] | None = None,
    on_epoch: EpochHook | None = None, on_batch: BatchHook | None = None,
) -> TrainResult:
    if not train_set or not val_set:
        raise UserError("training needs samples on both sides of the train/validation split")
    torch.manual_seed(config.seed)
    network = _network(config, classes, init_state)
    network.to(config.device)
    mags, azis = label_indices(train_set, classes)
    mag_loss = nn.CrossEntropyLoss(weight=class_weights(mags, len(classes["magnitude"])).to(config.device))
    azi_loss = nn.CrossEntropyLoss(weight=class_weights(azis, len(classes["azimuth"])).to(config.device))
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs))
    train_loader = make_loader(train_set, classes, config.image_size, config.batch_size,
                               shuffle=True, seed=config.seed)
    val_loader = make_loader(val_set, classes, config.image_size, config.batch_size)
    result = TrainResult(network=network)
    best, best_state, waited = (-math.inf, 0.0), copy.deepcopy(network.state_dict()), 0
    for epoch in range(1, config.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        fit = _train_epoch(network, train_loader, optimizer, mag_loss, azi_loss, config.device, on_batch)
        check = _validate(network, val_loader, mag_loss, azi_loss, config.device, classes)
        scheduler.step()
        row = {"epoch": epoch, **fit, **check, "lr": lr}
        result.history.append(row)
        if on_epoch:
            on_epoch(row)
        score = (validation_score(check), -check["val_loss"])
        if score > best:
            best, best_state, waited = score, copy.deepcopy(network.state_dict()), 0
            result.best_epoch = epoch
        else:
            waited += 1
            if waited >= config.patience:
                result.stopped_early = epoch < config.epochs
                break
    network.load_state_dict(best_state)
    return result


def _network(config: TrainConfig, classes: Mapping[str, Sequence[str]],
             init_state: Mapping[str, torch.Tensor] | None) -> MultiTaskNet:
    """The network to train, with ``init_state`` loaded strictly (guarantee 4)."""
    head_norm = config.head_norm
    if init_state is not None:
        if head_norm and not any(k.startswith(HEAD_NORM) for k in init_state):
            head_norm = False
        if not head_norm:
            init_state = {k: v for k, v in init_state.items() if not k.startswith(HEAD_NORM)}
    network = build(config.architecture, len(classes["magnitude"]), len(classes["azimuth"]), head_norm=head_norm)
    if init_state is not None:
        network.load_state_dict(init_state)
    return network


def _train_epoch(
    network: nn.Module, loader: Any, optimizer: torch.optim.Optimizer, mag_loss: nn.Module,
    azi_loss: nn.Module, device: str, on_batch: BatchHook | None,
) -> dict[str, float]:
    network.train()
    total = loss_sum = mag_right = azi_right = 0.0
    for images, mags, azis in loader:
        images, mags, azis = images.to(device), mags.to(device), azis.to(device)
        mag_logits, azi_logits = network(images)
        loss = mag_loss(mag_logits, mags) + azi_loss(azi_logits, azis)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = len(mags)
        total += n
        loss_sum += float(loss.detach()) * n
        mag_right += int((mag_logits.argmax(1) == mags).sum())
        azi_right += int((azi_logits.argmax(1) == azis).sum())
        if on_batch:
            on_batch(n)
    return {"train_loss": loss_sum / total, "train_mag_acc": 100 * mag_right / total,
            "train_azi_acc": 100 * azi_right / total}


def _validate(
    network: nn.Module, loader: Any, mag_loss: nn.Module, azi_loss: nn.Module, device: str,
    classes: Mapping[str, Sequence[str]],
) -> dict[str, float]:
    network.eval()
    total = loss_sum = 0.0
    truth: dict[str, list[int]] = {"mag": [], "azi": []}
    preds: dict[str, list[int]] = {"mag": [], "azi": []}
    with torch.inference_mode():
        for images, mags, azis in loader:
            images, mags, azis = images.to(device), mags.to(device), azis.to(device)
            mag_logits, azi_logits = network(images)
            loss = mag_loss(mag_logits, mags) + azi_loss(azi_logits, azis)
            total += len(mags)
            loss_sum += float(loss) * len(mags)
            truth["mag"] += mags.tolist()
            truth["azi"] += azis.tolist()
            preds["mag"] += mag_logits.argmax(1).tolist()
            preds["azi"] += azi_logits.argmax(1).tolist()
    mag_cm = confusion(truth["mag"], preds["mag"], len(classes["magnitude"]))
    azi_cm = confusion(truth["azi"], preds["azi"], len(classes["azimuth"]))
    return {
        "val_loss": loss_sum / total,
        "val_mag_acc": 100 * float(mag_cm.trace()) / total,
        "val_azi_acc": 100 * float(azi_cm.trace()) / total,
        "val_mag_f1": macro_f1(mag_cm, list(classes["magnitude"])),
        "val_azi_f1": macro_f1(azi_cm, list(classes["azimuth"])),
    }
