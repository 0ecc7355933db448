"""Issue 3 benchmarks: evaluation throughput and memory, a training epoch's overhead.

1. ``models.evaluate.predict`` (decode PNGs, batch, forward under inference_mode, collect
   predictions) vs a bare timm forward over the same tensors, pre-decoded, same batch size.
2. Peak RSS of evaluation on N vs 4N images (fresh processes): flat means it streams.
3. One epoch of ``models.train`` (our loop: both heads, class weights, accuracy counting)
   vs a plain PyTorch loop over the same loader, model and optimiser settings.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ARCH, SIZE, BATCH = "convnext_atto", 96, 32
PRODUCTION = ("convnext_tiny", 224)  # the architecture and input size the scanner runs


def _data(base: Path, samples: int, seed: int = 3, size: int = SIZE) -> Any:
    from models.synth import write_synthetic

    return write_synthetic(base / f"d{samples}-{seed}-{size}", samples=samples, seed=seed, image_size=size)


def _alternate(runs: dict[str, Callable[[], None]], rounds: int) -> dict[str, list[float]]:
    """Wall times of each function, alternating ABBA so both see the same machine and order."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    pairs = list(runs.items())
    for n in range(rounds):
        for name, fn in (pairs if n % 2 == 0 else pairs[::-1]):
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return times


def evaluation_throughput(base: Path, samples: int, rounds: int, arch: str = ARCH,
                          size: int = SIZE) -> dict[str, Any]:
    import torch

    from models.classes import default_classes
    from models.evaluate import predict
    from models.loader import image_tensor
    from models.network import build

    torch.manual_seed(0)
    data, classes = _data(base, samples, size=size), default_classes()
    network = build(arch, 4, 9).eval()
    tensors = [image_tensor(s.path, size) for s in data.samples]
    batches = [torch.stack(tensors[i:i + BATCH]) for i in range(0, len(tensors), BATCH)]

    def bare() -> None:
        with torch.inference_mode():
            for batch in batches:
                network(batch)

    def ours() -> None:
        predict(network, data.samples, classes, size, BATCH)

    bare()  # warm up
    times = _alternate({"bare": bare, "ours": ours}, rounds)
    bare_s, ours_s = statistics.median(times["bare"]), statistics.median(times["ours"])
    return {"images": samples, "batch": BATCH, "image_size": size, "architecture": arch,
            "bare_images_per_s": samples / bare_s, "ours_images_per_s": samples / ours_s,
            "ratio": bare_s / ours_s, "runs": times}


_MEMORY_CHILD = """
import json, resource, sys
from pathlib import Path
import torch
from models.classes import default_classes
from models.data import read_dataset
from models.evaluate import predict
from models.metrics import metrics_of
from models.network import build
data = read_dataset(Path(sys.argv[1]))
torch.manual_seed(0)
rows = predict(build(sys.argv[2], 4, 9).eval(), data.samples, default_classes(), int(sys.argv[3]), 32)
metrics_of(rows, default_classes())
print(json.dumps({"max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def evaluation_memory(base: Path, small: int) -> dict[str, Any]:
    out = {}
    for samples in (small, 4 * small):
        folder = _data(base, samples, seed=5).root
        result = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(folder), ARCH, str(SIZE)],
                                capture_output=True, text=True, check=True)
        out[samples] = json.loads(result.stdout.strip().splitlines()[-1])["max_rss_mib"]
    low, high = out[small], out[4 * small]
    return {"images": list(out), "max_rss_mib": list(out.values()), "growth": high / low}


def training_epoch(base: Path, samples: int, rounds: int) -> dict[str, Any]:
    import torch
    from torch import nn

    from models.classes import default_classes
    from models.data import split_by_event
    from models.loader import label_indices, make_loader
    from models.network import build
    from models.train import TrainConfig, _train_epoch, class_weights

    data, classes = _data(base, samples, seed=7), default_classes()
    train_set, _ = split_by_event(data.samples, 0.2, 0)
    config = TrainConfig(architecture=ARCH, image_size=SIZE, batch_size=BATCH, lr=1e-3)
    mags, azis = label_indices(train_set, classes)
    mag_loss = nn.CrossEntropyLoss(weight=class_weights(mags, 4))
    azi_loss = nn.CrossEntropyLoss(weight=class_weights(azis, 9))

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer, Any]:
        torch.manual_seed(0)
        network = build(ARCH, 4, 9)
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        return network, optimizer, make_loader(train_set, classes, SIZE, BATCH, shuffle=True, seed=0)

    def plain() -> None:
        network, optimizer, loader = fresh()
        network.train()
        for images, m, a in loader:
            mag_logits, azi_logits = network(images)
            loss = mag_loss(mag_logits, m) + azi_loss(azi_logits, a)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def ours() -> None:
        network, optimizer, loader = fresh()
        _train_epoch(network, loader, optimizer, mag_loss, azi_loss, "cpu", lambda n: None)

    plain()  # warm up (first-call allocations, thread pools)
    times = _alternate({"plain": plain, "ours": ours}, rounds)
    plain_s, ours_s = statistics.median(times["plain"]), statistics.median(times["ours"])
    return {"train_images": len(train_set), "plain_s": plain_s, "ours_s": ours_s, "ratio": ours_s / plain_s,
            "runs": times}


def run(quick: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-models-") as tmp:
        base = Path(tmp)
        return {
            "evaluation": evaluation_throughput(base, 128 if quick else 512, 2 if quick else 6),
            "evaluation_production": evaluation_throughput(base, 32 if quick else 128, 2 if quick else 4,
                                                           *PRODUCTION),
            "memory": evaluation_memory(base, 64 if quick else 256),
            "training": training_epoch(base, 128 if quick else 384, 2 if quick else 4),
        }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=str))
