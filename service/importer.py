"""``lifecycle import``: take over an installation of the original system (SPEC section 9).

Guarantees:
1. Invent nothing: a model folder without weights is imported without weights; metrics,
   dates and reasons are the original's, kept verbatim (``original_metrics``), and the
   original ``metadata.json`` is kept as ``original_metadata.json``.
2. Report every gap: missing weights, class mappings that do not match the network (or
   the other models of the family, e.g. 8 vs 9 azimuth classes), folders skipped.
3. All models land in one commit, or none (an empty registry only). One version is one
   model: its copies (the original's rollback leaves one in the archive) are imported
   once with their places noted; copies with different weights are a reported conflict.
4. Nothing is read through a symlink: a model folder or a file in one that is a link is
   reported and left out (it could point outside the installation); folder names must
   match exactly (a trailing newline is no model id), and names with control characters
   are shown escaped in the report.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from events.store import BlobStore
from lifecycle.commands import Import
from lifecycle.errors import UserError
from lifecycle.policy import Policy
from lifecycle.versions import split_model_id
from service.import_data import validated_events
from service.inputs import read_json
from service.submission import KEPT_FILES, WEIGHTS

_FOLDER = re.compile(r"^([a-z][a-z0-9]*_v\d+\.\d+\.\d+)(_rejected|_pre_rollback)?$")
_STATUS = {None: "archived", "_rejected": "rejected", "_pre_rollback": "pre_rollback"}
EXPECTED = {"magnitude": 4, "azimuth": 9}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def build_import(path: Path) -> tuple[Import, dict[str, Path], list[str]]:
    """The command, the files to store once it is accepted (digest -> path), the report."""
    if _CONTROL.search(str(path.resolve())):
        raise UserError(f"refused: the path {str(path)!r} holds control characters (a newline?); rename it")
    if not path.is_dir():
        raise UserError(f"{path} is not a folder (expected the root of an installation)")
    report: list[str] = []
    registry_file = path / "config" / "model_registry.json"
    registry = read_json(registry_file, "registry") if _plain(registry_file) else {}
    if registry_file.is_symlink():
        report.append(f"config/model_registry.json is a symlink (to {os.readlink(registry_file)!r}); not read")
    if not isinstance(registry, dict):
        raise UserError(f"{registry_file} is not a JSON object")
    store = _Pending()
    found = [*_archive(path, registry, report), *_roles(path, registry, report)]
    models = [_model(store, folder, status, entry, report) for folder, status, entry in found]
    models = _one_per_version(models, [str(f.relative_to(path)) for f, _, _ in found], report)
    _compare_classes(models, report)
    trained_on = {e for m in models if m["status"] == "champion"
                  for e in m["training_data"].get("events_included", ())}
    first = len(report)
    data, files = validated_events(path, registry.get("validated_events"), trained_on, report)
    store.files.update(files)
    installation = _installation(path, registry, report, report[first:])
    return (Import(models=models, source=str(path.resolve()), data=data, installation=installation),
            store.files, report)


class _Pending:
    """Digests now, copies later (by the engine, once the import is accepted)."""

    def __init__(self) -> None:
        self.files: dict[str, Path] = {}

    def put_file(self, path: Path) -> dict[str, Any]:
        stored = BlobStore.digest_file(path)
        self.files[stored["digest"]] = path
        return stored


def _archive(path: Path, registry: dict[str, Any], report: list[str]) -> list[Any]:
    archive = path / "models" / "archive"
    entries = {e.get("model_id"): e for e in registry.get("archive") or [] if isinstance(e, dict)}
    out = []
    for folder in sorted(archive.iterdir()) if archive.is_dir() and not archive.is_symlink() else []:
        match = _FOLDER.fullmatch(folder.name)
        if not folder.is_dir() or folder.is_symlink() or not match:
            why = f"a symlink to {os.readlink(folder)!r}" if folder.is_symlink() else "not a model folder"
            report.append(f"skipped models/archive/{_shown(folder.name)}: {why}")
            continue
        out.append((folder, _STATUS[match[2]], entries.get(match[1], {})))
    out.sort(key=lambda f: str(_meta(f[0]).get("archived_at") or f[2].get("archived_at") or ""))
    return out


def _roles(path: Path, registry: dict[str, Any], report: list[str]) -> list[Any]:
    out = []
    for role in ("champion", "challenger"):
        folder = path / "models" / role
        entry = registry.get(role) if isinstance(registry.get(role), dict) else {}
        if folder.is_symlink():
            report.append(f"skipped models/{role}: a symlink to {os.readlink(folder)!r}; not imported")
            continue
        if not folder.is_dir():
            continue
        if not _plain(folder / "metadata.json") and not _plain(folder / WEIGHTS) and not entry:
            names = ", ".join(sorted(_shown(p.name) for p in folder.iterdir())) or "nothing"
            report.append(f"models/{role}: holds {names} but no metadata or weights, and the "
                          f"registry names no {role}: nothing imported")
            continue
        out.append((folder, role, entry))
    return out


def _plain(path: Path) -> bool:
    """A regular file, not reached through a symlink."""
    return path.is_file() and not path.is_symlink()


def _shown(name: str) -> str:
    return repr(name) if _CONTROL.search(name) else name


def _links(folder: Path, where: str, report: list[str]) -> None:
    for link in sorted(p for p in folder.iterdir() if p.is_symlink()):
        report.append(f"{where}: {_shown(link.name)} is a symlink (to {os.readlink(link)!r}); not imported")


def _meta(folder: Path) -> dict[str, Any]:
    file = folder / "metadata.json"
    data = read_json(file, "metadata") if _plain(file) else {}
    return data if isinstance(data, dict) else {}


def _model(
    store: _Pending, folder: Path, status: str, entry: dict[str, Any], report: list[str]
) -> dict[str, Any]:
    meta = {**entry, **_meta(folder)}
    model_id = meta.get("model_id") or _FOLDER.sub(r"\1", folder.name)
    parsed = split_model_id(str(model_id))
    if parsed is None or str(model_id) != f"{parsed[0]}_v{parsed[1]}":  # exactly: no trailing newline
        raise UserError(f"{_shown(str(folder))}: cannot tell the model's id or version ({model_id!r})")
    family, version = parsed
    where = f"{model_id} ({folder.parent.name}/{_shown(folder.name)})"
    _links(folder, where, report)
    classes = _classes(folder, where, report)
    weights = _weights(store, folder, meta, classes, where, report)
    return {
        "model_id": model_id, "version": str(version), "family": family,
        "architecture": _architecture(folder, meta), "status": status,
        "weights": weights, "files": _files(store, folder), "classes": classes,
        "evaluation": _evaluation(meta), "original_metrics": _numbers(meta.get("metrics")),
        "training_config": meta.get("training_config") or {},
        "training_data": meta.get("training_data") or {},
        "created_at": meta.get("created_at"), "deployed_at": meta.get("deployed_at"),
        "archived_at": meta.get("archived_at"), "reason": meta.get("reason"),
        "previous_version": meta.get("previous_version"),
        "warnings": [line.split(": ", 1)[1] for line in report if line.startswith(where)],
    }


def _architecture(folder: Path, meta: dict[str, Any]) -> str:
    if isinstance(meta.get("architecture"), str):
        return str(meta["architecture"])
    config = folder / "config.json"
    variant = read_json(config, "config").get("model_variant") if _plain(config) else None
    return f"convnext_{variant}" if isinstance(variant, str) else "convnext_tiny"


def _classes(folder: Path, where: str, report: list[str]) -> dict[str, list[str]] | None:
    from models.classes import parse_class_mappings

    file = folder / "class_mappings.json"
    if not _plain(file):
        report.append(f"{where}: no class_mappings.json")
        return None
    try:
        classes = parse_class_mappings(read_json(file, "class mappings"), str(file))
    except UserError as exc:
        report.append(f"{where}: {exc}")
        return None
    for task, size in EXPECTED.items():
        if len(classes[task]) != size:
            report.append(f"{where}: class_mappings.json has {len(classes[task])} {task} "
                          f"classes, the family has {size}; recorded as is, not patched")
    return classes


def _weights(
    store: _Pending, folder: Path, meta: dict[str, Any], classes: Any, where: str,
    report: list[str],
) -> dict[str, Any] | None:
    file = folder / WEIGHTS
    if not _plain(file):
        report.append(f"{where}: no {WEIGHTS} (weights were never committed): imported "
                      "without weights; it cannot serve as champion until resubmitted")
        return None
    from models.checkpoint import inspect

    try:
        inspect(file, _architecture(folder, meta), classes or {})
    except UserError as exc:
        report.append(f"{where}: weights not imported: {exc}")
        return None
    return store.put_file(file)


def _files(store: _Pending, folder: Path) -> dict[str, Any]:
    files = {n: store.put_file(folder / n) for n in KEPT_FILES if _plain(folder / n)}
    if _plain(folder / "metadata.json"):
        files["original_metadata.json"] = store.put_file(folder / "metadata.json")
    return files


def _numbers(data: Any) -> dict[str, float]:
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}


def _evaluation(meta: dict[str, Any]) -> dict[str, Any] | None:
    found = _numbers(meta.get("metrics"))
    if "magnitude_accuracy" not in found or "azimuth_accuracy" not in found:
        return None
    metrics = {k: found[k] for k in ("magnitude_accuracy", "azimuth_accuracy")}
    return {"dataset": "original-registry", "metrics": metrics,
            "composite": Policy().composite(metrics)}


def _one_per_version(models: list[dict[str, Any]], places: list[str], report: list[str]) -> list[dict[str, Any]]:
    """One model per version. The original's rollback copies an archived folder into
    ``models/champion`` and leaves it in the archive, and archives a champion again when it
    is replaced again: the same version with the same weights is one model (imported once,
    its other places noted). The same version with different weights is a conflict: the
    copy in ``models/champion`` (else ``models/challenger``, else the one with weights,
    else the latest archived) is imported, the others are reported and left out. A copy
    kept without weights takes the weights of a left-out copy of the same version."""
    groups: dict[str, list[int]] = {}
    for i, model in enumerate(models):
        groups.setdefault(model["version"], []).append(i)
    keep = []
    for indices in groups.values():
        chosen = max(indices, key=lambda i: (models[i]["status"] == "champion",
                                             models[i]["status"] == "challenger",
                                             models[i]["weights"] is not None, i))
        keep.append(chosen)
        others = [i for i in indices if i != chosen]
        if models[chosen]["weights"] is None:
            weighted = next((i for i in others if models[i]["weights"] is not None
                             and models[i]["classes"] == models[chosen]["classes"]), None)
            if weighted is not None:
                models[chosen]["weights"] = models[weighted]["weights"]
                report.append(f"{models[chosen]['model_id']}: {places[chosen]} has no weights; "
                              f"took those of {places[weighted]} (the same version)")
        if others:
            _note_duplicates(models[chosen], places[chosen], [(models[i], places[i]) for i in others], report)
    return [models[i] for i in sorted(keep)]


def _note_duplicates(
    kept: dict[str, Any], place: str, others: list[tuple[dict[str, Any], str]], report: list[str]
) -> None:
    digest = (kept["weights"] or {}).get("digest")
    for model, where in others:
        theirs = (model["weights"] or {}).get("digest")
        if digest and theirs and theirs != digest:
            line = (f"conflict: version {kept['version']} has different weights in {place} (sha256 "
                    f"{digest[:12]}, imported) and {where} (sha256 {theirs[:12]}, left out); check "
                    "which one production ran")
        else:
            same = "the same weights" if digest and theirs else "no weights to compare"
            line = f"{kept['model_id']}: also in {where} ({same}): imported once, from {place}"
        report.append(line)
        kept["warnings"] = [*kept["warnings"], line.split(": ", 1)[1]]


def _compare_classes(models: list[dict[str, Any]], report: list[str]) -> None:
    sizes = {m["model_id"]: len(m["classes"]["azimuth"]) for m in models if m["classes"]}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        report.append(f"azimuth class counts differ between models ({detail})")


def _installation(
    path: Path, registry: dict[str, Any], report: list[str], data_lines: list[str]
) -> dict[str, Any]:
    """What the installation held beside its models: its pipeline counters (kept, so the
    registry's ``pipeline_history`` goes on from them), and what was not imported."""
    history = _table(registry.get("pipeline_history"))
    kept: dict[str, Any] = {k: int(v) for k, v in history.items()
                            if k in ("total_runs", "successful_updates", "failed_updates")
                            and isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53}
    if isinstance(history.get("last_run"), str):
        kept["last_run"] = history["last_run"][:40]
    pending = _table(registry.get("pending_events"))
    lines = list(data_lines)
    waiting = pending.get("events") or []
    if waiting:
        lines.append(f"{len(waiting)} pending (not yet validated) data events in the original registry are "
                     "not imported; validate them and add them with 'lifecycle data add'")
    report += lines[len(data_lines):]
    if (path / "logs" / "pipeline_history.json").is_file():
        report.append("logs/pipeline_history.json (the original audit log) is not replayed: "
                      "its entries are out of order and start with a reset")
    last = pending.get("last_added")
    return {"pipeline_history": kept, "pending_last_added": last[:40] if isinstance(last, str) else None,
            "not_imported": [line[:2000] for line in lines[:1000]]}


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
