"""The Python API, in the spirit of the original ``ModelDeployer`` (SPEC section 9).

Every method goes through the same engine, commands and log as the CLI; writes are
recorded with the caller as actor (default ``user@host``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lifecycle.commands import Rollback
from projections.compare import compare
from projections.registry import archive_entry, challenger_entry, champion_entry
from projections.views import history_rows, selection_list, status_view
from service.engine import Engine


class ModelDeployer:
    def __init__(self, root: str | Path, *, actor: str | None = None) -> None:
        self.engine = Engine(Path(root).resolve(), actor=actor)
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

    def compare_models(self, v1: str, v2: str) -> dict[str, Any]:
        """Stored metrics of two models side by side, with differences."""
        return compare(self.engine.state(), v1, v2)

    def rollback(self, version: str | None = None, reason: str = "rollback requested by user",
                 severity: str = "MEDIUM") -> dict[str, Any]:
        """Roll back to ``version`` (default: the previous champion); returns the commit."""
        return self.engine.execute(Rollback(ref=version, reason=reason, severity=severity),
                                   reason=reason).record

    def status(self) -> dict[str, Any]:
        return status_view(self.engine.state())

    def history(self, model: str | None = None, event_type: str | None = None) -> list[dict[str, Any]]:
        model_id = self.engine.state().resolve(model).model_id if model else None
        return list(history_rows(self.engine.records(), model_id=model_id, event_type=event_type))

    def model_path(self, ref: str = "champion") -> Path:
        """The folder of a model in the registry layout."""
        from projections.registry import folder

        return self.root / folder(self.engine.state().resolve(ref))
