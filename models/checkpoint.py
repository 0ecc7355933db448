"""Reading and checking model files (``.pth``) without ever unpickling code.

Guarantees:
1. ``torch.load(..., weights_only=True)`` only: a pickle that would build arbitrary
   objects (and so could run code) is refused before anything in it runs.
2. Accepted shapes: ``{"model_state_dict": {...}, ...}`` or a raw state_dict of tensors;
   anything else is refused with a message that says what was found.
3. A checkpoint is accepted only if it loads strictly into the network of its
   architecture and its head sizes match the class mappings.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lifecycle.errors import UserError
from models.classes import check_against_heads

HEAD_NORM = "backbone.head.norm.weight"
HEAD_KEYS = {"magnitude": "mag_head.5.weight", "azimuth": "azi_head.5.weight"}


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        raise UserError(_load_error(path, exc)) from None
    if isinstance(obj, Mapping) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise UserError(f"{path.name}: expected a state_dict or {{'model_state_dict': ...}}, "
                        f"found {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UserError(f"{path.name}: the state_dict holds non-tensor entries, e.g. {bad[0]!r}")
    return dict(obj)


def _load_error(path: Path, exc: Exception) -> str:
    text = str(exc)
    found = re.search(r"unsupported GLOBAL (\S+)|Unsupported global: GLOBAL (\S+)", text)
    if found:
        name = found[1] or found[2]
        return (f"{path.name}: refused: the file asks to unpickle {name} (it could run code); "
                "only plain weights are accepted")
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if detail:
        return f"{path.name}: not a readable PyTorch checkpoint ({detail[1].strip()[:120]})"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{path.name}: not a readable PyTorch checkpoint ({first[:120]})"


def head_sizes(state: Mapping[str, torch.Tensor], source: str) -> dict[str, int]:
    sizes = {}
    for task, key in HEAD_KEYS.items():
        if key not in state or state[key].ndim != 2:
            raise UserError(f"{source}: no {task} head ('{key}'); not a multi-task checkpoint")
        sizes[task] = int(state[key].shape[0])
    return sizes


def inspect(path: Path, architecture: str, classes: Mapping[str, list[str]]) -> dict[str, Any]:
    """Check that the file is a loadable network of ``architecture`` for ``classes``."""
    state = load_state_dict(path)
    heads = head_sizes(state, path.name)
    check_against_heads(classes, heads, "class_mappings.json")
    _load_into_network(path, state, architecture, heads)
    return {"architecture": architecture, "heads": heads,
            "parameters": sum(int(t.numel()) for t in state.values())}


def load_network_file(path: Path, architecture: str, classes: Mapping[str, list[str]]) -> Any:
    """The network of a checked model file, weights loaded strictly, in eval mode."""
    state = load_state_dict(path)
    heads = head_sizes(state, path.name)
    if classes:
        check_against_heads(classes, heads, "class_mappings.json")
    return _load_into_network(path, state, architecture, heads).eval()


def _load_into_network(path: Path, state: dict[str, torch.Tensor], architecture: str,
                       heads: Mapping[str, int]) -> Any:
    """Original (torchvision) checkpoints are mapped onto timm first (``models.convert``);
    a checkpoint without the backbone's final norm loads into a network without one."""
    from models.convert import is_torchvision_layout, torchvision_to_timm
    from models.network import build

    if is_torchvision_layout(state):
        state = torchvision_to_timm(state, architecture)
    network = build(architecture, heads["magnitude"], heads["azimuth"])
    if HEAD_NORM in network.state_dict() and HEAD_NORM not in state:
        network = build(architecture, heads["magnitude"], heads["azimuth"], head_norm=False)
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        mismatch = re.search(r"size mismatch for (\S+):", str(exc))
        where = mismatch[1] if mismatch else "a parameter"
        raise UserError(f"{path.name}: weights do not fit architecture {architecture!r} "
                        f"(shape mismatch at {where}); pass the right --architecture") from None
    problems = [*result.missing_keys, *result.unexpected_keys]
    if problems:
        raise UserError(
            f"{path.name}: weights do not fit architecture {architecture!r} "
            f"({len(result.missing_keys)} missing, {len(result.unexpected_keys)} unexpected, "
            f"e.g. {problems[0]!r}); pass the right --architecture"
        )
    return network


def save(network: torch.nn.Module, path: Path, **extra: Any) -> None:
    torch.save({"model_state_dict": network.state_dict(), **extra}, path)
