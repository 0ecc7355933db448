"""``decide`` of an import refuses an installation the fold could not apply, before any append."""

from __future__ import annotations

import pytest

from lifecycle.commands import Import
from lifecycle.errors import UserError
from lifecycle.state import State
from models.classes import default_classes
from service.engine import decide_events
from tests.helpers.machine_data import blob


def _model(version: str, status: str) -> dict[str, object]:
    return {"model_id": f"convnext_v{version}", "version": version, "family": "convnext",
            "architecture": "convnext_atto", "status": status, "weights": blob(version),
            "classes": default_classes(), "training_data": {"events_included": []}, "reason": "imported"}


@pytest.mark.parametrize("status", ["champion", "challenger"])
def test_two_models_in_one_role_are_refused(status: str) -> None:
    cmd = Import(source="/old", models=[_model("1.0.0", status), _model("1.0.1", status)])
    with pytest.raises(UserError, match=f"more than one {status}"):
        decide_events(State(), cmd)


def test_one_of_each_role_is_imported() -> None:
    cmd = Import(source="/old", models=[_model("1.0.0", "champion"), _model("1.0.1", "challenger")])
    assert [e["status"] for e in decide_events(State(), cmd)] == ["champion", "challenger"]
