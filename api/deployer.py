"""The Python API, in the spirit of the original ``ModelDeployer`` (SPEC section 9).

Every method goes through the same engine, commands and log as the CLI; writes are
recorded with the caller as actor (default ``user@host``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bootstrap import open_engine
from lifecycle.commands import Rollback
from lifecycle.errors import UserError
from projections.compare import compare
from projections.registry import archive_entry, challenger_entry, champion_entry
from projections.views import history_rows, selection_list, status_view


class ModelDeployer:
    def __init__(self, root: str | Path, *, actor: str | None = None) -> None:
        self.engine = open_engine(Path(root).resolve(), actor=actor)
        self.engine.require_root()

    @property
    def root(self) -> Path:
        return self.engine.root

    def get_current_champion(self) -> dict[str, Any] | None:
        """The champion's registry entry (SPEC section 5 shape), or None."""
        record = self.engine.state().champion_record()
        return champion_entry(record) if record else None

    def get_challenger(self) -> dict[str, Any] | None:
        record = self.engine.state().challenger_record()
        return challenger_entry(record) if record else None

    def list_archived_models(self) -> list[dict[str, Any]]:
        """Archived models, most recently archived first."""
        return [archive_entry(m) for m in self.engine.state().archived()]

    def get_all_versions(self) -> list[dict[str, Any]]:
        """Every model: champion first (the default), then the archive, then the challenger."""
        return selection_list(self.engine.state())

    def compare_models(self, v1: str, v2: str, data: str | Path | None = None) -> dict[str, Any]:
        """Two models side by side, with differences: their stored metrics, or (``data``)
        both evaluated now on that data set with the paired test over events (nothing recorded)."""
        if data is not None:
            from service.modelling import compare_on_data

            return compare_on_data(self.engine, v1, v2, Path(data))
        return compare(self.engine.state(), v1, v2)

    def load_model(self, ref: str = "champion") -> tuple[Any, dict[str, list[str]]]:
        """(network in eval mode, class mappings) of any version, for analysis.

        The weights are checked against their recorded sha256 and read weights-only.
        """
        from service.modelling import load_network

        record = self.engine.state().resolve(ref)
        return load_network(self.engine, record), {k: list(v) for k, v in (record.classes or {}).items()}

    def predict(self, images: list[str | Path] | None = None, *, model: str | list[str] = "champion",
                event: str | None = None, data: str | Path | None = None) -> list[dict[str, Any]]:
        """Classes and confidences per image for one or more models (default: the champion)."""
        from service.modelling import predict_event, predict_images

        refs = [model] if isinstance(model, str) else list(model)
        if event is not None:
            if data is None:
                raise UserError("event= needs data= (the data set folder that holds the event)")
            return predict_event(self.engine, refs, event, Path(data))
        return predict_images(self.engine, refs, [Path(p) for p in images or []])

    def rollback(self, version: str | None = None, reason: str = "rollback requested by user",
                 severity: str = "MEDIUM") -> dict[str, Any]:
        """Roll back to ``version`` (default: the previous champion); returns the commit."""
        return self.engine.execute(Rollback(ref=version, reason=reason, severity=severity),
                                   reason=reason).record

    def approve(self, ref: str, reason: str) -> dict[str, Any]:
        """Approve the verdict awaiting approval (``[decide] require_approval``): it is
        carried out, with this deployer's actor recorded; returns the commit."""
        from service.deciding import settle

        return settle(self.engine, ref, reason, approve=True).record

    def decline(self, ref: str, reason: str) -> dict[str, Any]:
        """Decline the verdict awaiting approval: the champion stays; returns the commit."""
        from service.deciding import settle

        return settle(self.engine, ref, reason, approve=False).record

    def pending_approval(self) -> dict[str, Any] | None:
        """The verdict awaiting approval (``stale``: why it no longer holds), or None."""
        from projections.views import pending_view

        return pending_view(self.engine.state())

    def status(self) -> dict[str, Any]:
        """The status view, with ``production``: whether the scanner's file is intact."""
        state = self.engine.state()
        return {**status_view(state), "production": self.engine.production_health(state).as_dict()}

    def production_health(self) -> dict[str, Any]:
        """``state`` (ok, none, stale, damaged, unavailable), ``ok`` and a ``detail`` line."""
        return self.engine.production_health().as_dict()

    def history(self, model: str | None = None, event_type: str | None = None) -> list[dict[str, Any]]:
        model_id = self.engine.state().resolve(model).model_id if model else None
        return list(history_rows(self.engine.records(), model_id=model_id, event_type=event_type))

    def model_path(self, ref: str = "champion") -> Path:
        """The folder of a model in the registry layout."""
        from projections.registry import folder

        return self.root / folder(self.engine.state().resolve(ref))
