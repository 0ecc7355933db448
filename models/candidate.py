"""``lifecycle candidate new``: an untrained candidate folder for smoke tests and demos.

A ConvNeXt that torchvision also has (``models.export.TORCHVISION_ARCHITECTURES``) is built
without timm's final head norm by default, as ``lifecycle train`` builds it, so that its
production file can be exported for the original scanner (``[production] format = "auto"``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

from lifecycle.errors import UserError
from models.checkpoint import save
from models.classes import default_classes
from models.network import build


def write_candidate(out_dir: Path, architecture: str = "convnext_atto", seed: int = 0, *,
                    head_norm: bool | None = None) -> Path:
    """Write ``best_model.pth``, ``class_mappings.json`` and ``training_config.json``.

    The folder appears whole or not at all (built beside it, then renamed). ``head_norm``
    None: without it exactly for the architectures torchvision has (see the module).
    """
    from models.export import TORCHVISION_ARCHITECTURES

    if out_dir.exists() and any(out_dir.iterdir()):
        raise UserError(f"{out_dir} exists and is not empty; choose a new folder")
    classes = default_classes()
    torch.manual_seed(seed)
    if head_norm is None:
        head_norm = architecture not in TORCHVISION_ARCHITECTURES
    network = build(architecture, len(classes["magnitude"]), len(classes["azimuth"]), head_norm=head_norm)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-"))
    try:
        save(network, work / "best_model.pth", epoch=0)
        mappings = {task: {str(i): n for i, n in enumerate(names)} for task, names in classes.items()}
        (work / "class_mappings.json").write_text(json.dumps(mappings, indent=2) + "\n")
        config = {"architecture": architecture, "seed": seed, "epochs": 0,
                  "note": "untrained candidate (lifecycle candidate new)"}
        (work / "training_config.json").write_text(json.dumps(config, indent=2) + "\n")
        if out_dir.exists():
            out_dir.rmdir()
        work.rename(out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out_dir
