"""Turn a candidate folder or a ``.pth`` into a ``Submit`` command.

Guarantees:
1. The checkpoint is read with ``weights_only=True`` and must load strictly into the
   network of its architecture; class mappings must match the head sizes.
2. Files are copied into the content-addressed store before the command is decided,
   so an appended ``trained`` event never names a blob that is not there.
3. Only known file names are taken from a folder (other files are ignored); a known file
   that is a symlink is refused (it could point anywhere), as is a path whose name holds
   control characters (a newline would forge lines wherever the path is shown).
4. The production file is exported here, when the model is registered, never at projection
   time (``models.export``): for the effective ``[production] format`` "torchvision" a
   timm-layout checkpoint becomes a torchvision-layout file whose blob (digest -> bytes) is
   stored with the others and recorded in the command's ``production``; a checkpoint with
   timm's final head norm is refused. Weights already in torchvision layout, and the
   "native" format, record no export (production is the weights themselves).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from events.store import BlobStore
from lifecycle.commands import Submit
from lifecycle.errors import UserError
from lifecycle.versions import Bump, family_of
from service.inputs import read_json

WEIGHTS = "best_model.pth"
KEPT_FILES = ("class_mappings.json", "training_config.json", "training_history.csv", "config.json")
DEFAULT_ARCHITECTURE = "convnext_tiny"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _architecture(config: dict[str, Any], explicit: str | None) -> str:
    if explicit:
        return explicit
    if isinstance(config.get("architecture"), str):
        return str(config["architecture"])
    if isinstance(config.get("model_variant"), str):
        return f"convnext_{config['model_variant']}"
    return DEFAULT_ARCHITECTURE


def candidate_files(path: Path) -> tuple[Path, dict[str, Path]]:
    """The weights file and the kept side files of a folder (or a lone .pth)."""
    if _CONTROL.search(str(path.resolve())):
        raise UserError(f"refused: the path {str(path)!r} holds control characters (a newline?); rename it")
    if not path.exists():
        raise UserError(f"no such file or folder: {path}")
    if path.is_file():
        if path.suffix != ".pth":
            raise UserError(f"{path} is not a .pth file or a candidate folder")
        return path, {}
    for name in (WEIGHTS, *KEPT_FILES, "metadata.json"):
        if (path / name).is_symlink():
            raise UserError(f"{path / name} is a symlink (to {os.readlink(path / name)!r}); a candidate "
                            "folder must hold real files: copy the file in")
    weights = path / WEIGHTS
    if not weights.is_file():
        raise UserError(f"{path} has no {WEIGHTS}; a candidate folder needs one")
    return weights, {n: path / n for n in KEPT_FILES if (path / n).is_file()}


def build_submit(
    path: Path, *, architecture: str | None = None, family: str | None = None,
    version: str | None = None, bump: Bump = "patch", reason: str | None = None,
    production_format: str = "auto", lineage: dict[str, Any] | None = None,
) -> tuple[Submit, dict[str, Path | bytes]]:
    """The command and the files (digest -> path, or the export's bytes) to store once it is
    accepted. ``production_format`` is the ``[production] format`` setting
    (``service.daemon_config.Settings.production_format``); the family defaults to the
    architecture's (``lifecycle.versions.family_of``)."""
    from models.checkpoint import inspect
    from models.classes import default_classes, parse_class_mappings

    weights, files = candidate_files(path)
    config = read_json(files["training_config.json"], "training config") \
        if "training_config.json" in files else {}
    if not isinstance(config, dict):
        raise UserError(f"{files['training_config.json']}: expected a JSON object")
    if "class_mappings.json" in files:
        classes = parse_class_mappings(read_json(files["class_mappings.json"], "class mappings"))
    else:
        classes = default_classes()
    arch = _architecture(config, architecture)
    inspect(weights, arch, classes)
    metadata = _metadata(path)
    pending: dict[str, Path | bytes] = {}
    command = Submit(
        weights=_pending(weights, pending), classes=classes, architecture=arch,
        family=family_of(arch) if family is None else family, lineage=lineage,
        files={name: _pending(p, pending) for name, p in sorted(files.items())},
        version=version, bump=bump, training_config=config,
        training_data=_training_data(metadata), created_at=None,
        source=str(path.resolve()), reason=reason,
        production=_production(weights, arch, production_format, pending),
    )
    return command, pending


def _pending(path: Path, pending: dict[str, Path | bytes]) -> dict[str, Any]:
    stored = BlobStore.digest_file(path)
    pending[stored["digest"]] = path
    return stored


def _production(weights: Path, architecture: str, setting: str,
                pending: dict[str, Path | bytes]) -> dict[str, Any] | None:
    """The export for the scanner (guarantee 4), or None when production is the weights."""
    from models.export import TORCHVISION, effective_format, export_torchvision

    if effective_format(setting, architecture) != TORCHVISION:
        return None
    data = export_torchvision(weights, architecture)
    if data is None:
        return None
    stored = BlobStore.digest_bytes(data)
    pending[stored["digest"]] = data
    return {**stored, "format": TORCHVISION}


def _metadata(path: Path) -> dict[str, Any]:
    meta = path / "metadata.json" if path.is_dir() else None
    if meta is None or not meta.is_file():
        return {}
    data = read_json(meta, "metadata")
    return data if isinstance(data, dict) else {}


def _training_data(metadata: dict[str, Any]) -> dict[str, Any]:
    data = metadata.get("training_data", {})
    return data if isinstance(data, dict) else {}
