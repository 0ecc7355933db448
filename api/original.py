"""The original system's ``ModelDeployer``, its names and shapes, over this product's engine.

Scripts written for the original pipeline (``from autoupdate_pipeline.src.deployer import
ModelDeployer``) keep working: the shim package ``autoupdate_pipeline`` re-exports
:class:`OriginalModelDeployer` under that name. Every read is a view of the folded log
(``projections.registry``) and ``rollback`` is the product's real rollback command,
recorded in the log with the caller as actor. Nothing here writes a file itself.

The product's own API, with its own shapes, is ``api.ModelDeployer``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bootstrap import open_engine
from lifecycle.commands import Rollback
from lifecycle.errors import UserError
from lifecycle.gate import better_of
from lifecycle.state import ARCHIVE_STATUSES, ModelRecord, State
from projections.registry import archive_entry, champion_entry, registry
from service.engine import LOG_NAME, ProjectionFailed

ROLLBACK_REASON = "rollback requested through the original ModelDeployer API"
DEPLOY_MESSAGE = ("deploy_challenger does not deploy from a comparison here: use 'lifecycle decide' "
                  "(the decision rule) or 'lifecycle promote'")
ORIGINAL_FOLDER = "autoupdate_pipeline"


def is_registry_root(path: Path) -> bool:
    """A root with an embedded log, or one whose configuration names a shared log."""
    from service.backend import read

    if (path / LOG_NAME).is_file():
        return True
    try:
        return read(path).configured
    except UserError:  # a configuration that cannot be read names no log
        return False


def find_root(root: str | os.PathLike[str] | None = None,
              config: Mapping[str, Any] | None = None) -> Path:
    """The registry root, in this order: ``root``, ``config["root"]``, ``LIFECYCLE_ROOT``,
    the current folder, ``./autoupdate_pipeline``, the nearest parent of the current folder
    that holds a registry. A root named explicitly (the first three) must be a registry."""
    named: Any = root if root is not None else (config or {}).get("root")
    if named is None and os.environ.get("LIFECYCLE_ROOT"):
        named = os.environ["LIFECYCLE_ROOT"]
    if named is not None:
        path = Path(named).expanduser().resolve()
        if not is_registry_root(path):
            raise UserError(f"{path} is not a lifecycle registry (no {LOG_NAME}); pass the root of "
                            "one made by 'lifecycle init' or 'lifecycle import'")
        return path
    cwd = Path.cwd().resolve()
    for candidate in (cwd, cwd / ORIGINAL_FOLDER, *cwd.parents):
        if is_registry_root(candidate):
            return candidate
    raise UserError(f"no lifecycle registry found in {cwd}, ./{ORIGINAL_FOLDER} or a parent folder "
                    f"(none has {LOG_NAME}); pass ModelDeployer(root=PATH) or set LIFECYCLE_ROOT")


class OriginalModelDeployer:
    """The original ``ModelDeployer``: same method names, same result shapes.

    Root: ``ModelDeployer(root=PATH)``, or ``ModelDeployer({"root": PATH})`` (the original
    took a config dict: its other keys are ignored; a path given in its place is taken as
    the root), else the ``LIFECYCLE_ROOT`` environment variable, else the current folder
    when it is a registry root (holds ``events.jsonl``), else ``./autoupdate_pipeline``
    when that is one, else the nearest parent of the current folder that is one. When
    none is found, or a named root is not a registry, it raises ``lifecycle.errors.UserError``
    saying what to do. (The original took the folder of its own package.)

    Differences from the original, on purpose:
    - versions match exactly (``1.0.1``, ``v1.0.1`` or a model id such as
      ``convnext_v1.0.1``): the original matched any model id containing the text, so
      ``"1.0.1"`` could find ``convnext_v1.0.10``;
    - ``compare_models`` compares only metrics both models have (the others are listed
      under ``not_compared``; the original counted a missing metric as 0), and for
      ``false_positive_rate`` a lower value is the better one;
    - ``rollback`` runs the product's rollback (recorded in the log, production switched
      after its weights are checked), and reports refusals in ``message`` instead of raising;
    - ``deploy_challenger`` deploys nothing: promotion goes through ``lifecycle decide`` or
      ``lifecycle promote``.
    """

    def __init__(self, config: Mapping[str, Any] | str | os.PathLike[str] | None = None, *,
                 root: str | os.PathLike[str] | None = None, actor: str | None = None) -> None:
        if isinstance(config, str | os.PathLike):
            root, config = (root if root is not None else config), None
        self.config: dict[str, Any] = dict(config or {})
        self.engine = open_engine(find_root(root, self.config), actor=actor)

    @property
    def root(self) -> Path:
        return self.engine.root

    @property
    def registry_path(self) -> Path:
        """``config/model_registry.json``: the projection of the log in the original's shape."""
        return self.root / "config" / "model_registry.json"

    # -- reading ----------------------------------------------------------------------
    def get_current_champion(self) -> dict[str, Any]:
        """The champion's registry entry, or ``{}`` when there is no champion."""
        record = self.engine.state().champion_record()
        return champion_entry(record) if record else {}

    def list_archived_models(self) -> list[dict[str, Any]]:
        """The registry's ``archive`` entries, most recently archived first."""
        return [archive_entry(m) for m in self.engine.state().archived()]

    def get_model_by_version(self, version: str) -> dict[str, Any] | None:
        """The champion's entry (``status`` "champion") or an archived model's entry (``status``
        "archived"; ``archive_status`` keeps archived/rejected/pre_rollback), matched exactly;
        None when no champion or archived model has that version."""
        found = _find(self.engine.state(), version)
        return found[1] if found else None

    def get_all_versions(self) -> list[dict[str, Any]]:
        """The champion first, then the archive: version, model_id, status, when, metrics."""
        state = self.engine.state()
        rows: list[dict[str, Any]] = []
        champion = state.champion_record()
        if champion:
            entry = champion_entry(champion)
            rows.append({"version": entry["version"], "model_id": entry["model_id"], "status": "champion",
                         "deployed_at": entry["deployed_at"], "metrics": entry["metrics"]})
        for record in state.archived():
            entry = archive_entry(record)
            rows.append({"version": entry["version"], "model_id": entry["model_id"], "status": "archived",
                         "archived_at": entry["archived_at"], "metrics": entry["metrics"]})
        return rows

    def compare_models(self, version1: str, version2: str) -> dict[str, Any]:
        """Stored metrics side by side with differences (model2 - model1); never raises for a
        model that is not found (``success`` False)."""
        state = self.engine.state()
        first, second = _find(state, version1), _find(state, version2)
        if first is None or second is None:
            return {"success": False, "message": f"Model not found: {version1 if first is None else version2}"}
        m1, m2 = first[1]["metrics"], second[1]["metrics"]
        differences: dict[str, Any] = {}
        not_compared: list[str] = []
        for name in [*m1, *(k for k in m2 if k not in m1)]:
            v1, v2 = m1.get(name), m2.get(name)
            if not isinstance(v1, int | float) or not isinstance(v2, int | float):
                not_compared.append(name)
                continue
            difference = round(v2 - v1, 6)
            better = {"a": "model1", "b": "model2"}.get(str(better_of(name, v1, v2)), "equal")
            differences[name] = {"model1": v1, "model2": v2, "difference": difference, "better": better}
        return {"success": True, "model1": _side(*first), "model2": _side(*second),
                "differences": differences, "not_compared": not_compared}

    def get_registry_summary(self) -> dict[str, Any]:
        """Champion headline, archive size, validated events and pipeline run counts."""
        state = self.engine.state()
        document = registry(state)
        champion = document.get("champion") or {}
        found = champion.get("metrics") or {}
        validated = document.get("validated_events")
        history = document.get("pipeline_history") or {}
        return {
            "champion": {
                "model_id": champion.get("model_id", "N/A"),
                "version": champion.get("version", "N/A"),
                "magnitude_accuracy": found.get("magnitude_accuracy", 0),
                "azimuth_accuracy": found.get("azimuth_accuracy", 0),
                "composite_score": found.get("composite_score", 0),
            },
            "archive_count": len(document.get("archive") or []),
            "validated_events_count": len(validated) if validated is not None else len(state.pool),
            "total_runs": history.get("total_runs", 0),
            "successful_updates": history.get("successful_updates", 0),
            "failed_updates": history.get("failed_updates", 0),
            "last_run": history.get("last_run") or "Never",
        }

    # -- writing ----------------------------------------------------------------------
    def rollback(self, version: str | None = None) -> dict[str, Any]:
        """Roll back to ``version`` (default: the previous champion) with the product's rollback.

        ``{"success", "message", "rolled_back_to"}`` (plus ``commit``, the log's sequence
        number); a refusal (unknown version, nothing to roll back to, damaged weights, ...)
        comes back as ``success`` False with the reason in ``message``, nothing changed."""
        command = Rollback(ref=version, reason=ROLLBACK_REASON, severity="MEDIUM")
        try:
            outcome = self.engine.execute(command, reason=ROLLBACK_REASON)
        except ProjectionFailed as exc:  # in the log (the truth); only the folders lag behind
            target = self.engine.state().champion
            return {"success": True, "message": f"Rollback recorded to {target}, but {exc}",
                    "rolled_back_to": target, "commit": None}
        except UserError as exc:
            return {"success": False, "message": str(exc), "rolled_back_to": None, "commit": None}
        target = outcome.state.champion
        return {"success": True, "message": f"Rollback successful to {target}", "rolled_back_to": target,
                "commit": outcome.record["seq"]}

    def deploy_challenger(self, comparison_results: Mapping[str, Any] | None = None,
                          force: bool = False) -> dict[str, Any]:
        """Deploys nothing: a promotion goes through the decision rule or a recorded promote."""
        return {"success": False, "message": DEPLOY_MESSAGE, "old_champion": None, "new_champion": None,
                "archived_to": None}


def _find(state: State, version: str) -> tuple[ModelRecord, dict[str, Any]] | None:
    """The champion or an archived model with exactly this version (or model id), and its entry."""
    try:
        record = state.resolve(version)
    except (UserError, TypeError):
        return None
    if record.status == "champion":
        return record, {**champion_entry(record), "status": "champion"}
    if record.status in ARCHIVE_STATUSES:
        return record, {**archive_entry(record), "status": "archived", "archive_status": record.status}
    return None


def _side(record: ModelRecord, entry: dict[str, Any]) -> dict[str, Any]:
    latest = record.evaluations.get(record.latest_evaluation) if record.latest_evaluation else None
    return {"version": entry["version"], "model_id": entry["model_id"], "status": entry["status"],
            "metrics": entry["metrics"], "dataset": latest["dataset"] if latest else None}
