"""The pool page's actions (issue 18): correct or remove an event, behind the same rules
as a rollback (flag, reason, confirmation, token; the token's name is the actor)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from dashboard import snapshot
from service.engine import Engine
from tests.integration.test_dashboard import TOKEN, app, build_root, goto, records, texts


@pytest.fixture
def built(tmp_path: Path) -> Engine:
    snapshot.forget()
    return build_root(tmp_path / "root")


def fill(at, event: str, action: str, magnitude: str = "(keep)", reason: str = "checked the catalogue",  # type: ignore[no-untyped-def]
         token: str | None = None, confirm: bool = True):
    at.selectbox(key="lcm_pool_event").set_value(event)
    at.radio(key="lcm_pool_action").set_value(action)
    at.selectbox(key="lcm_pool_mag").set_value(magnitude)
    at.text_input(key="lcm_pool_reason").input(reason)
    if token is not None:
        at.text_input(key="lcm_pool_token").input(token)
    at.checkbox(key="lcm_pool_confirm").set_value(confirm)
    return at.button(key="lcm_pool_submit").click().run()


def test_a_read_only_page_offers_no_pool_action(built: Engine) -> None:
    at = goto(app(built.root).run(), "Pool")
    assert not [b for b in at.button if b.key == "lcm_pool_submit"]


def test_correct_then_remove_from_the_page_with_the_token(built: Engine) -> None:
    from lifecycle.commands import AddData

    image = built.store.put_bytes(b"\x89PNG fake spectrogram")
    built.execute(AddData(event_id="KPY_20240105", station="KPY", date="2024-01-05", magnitude_class="Medium",
                          azimuth_class="NE", images=({"name": "a.png", **image},)))
    at = goto(app(built.root, allow=True, token=TOKEN).run(), "Pool")
    before = len(records(built.root))
    fill(at, "KPY_20240105", "Correct its labels", magnitude="Large", token="wrong token, long enough")
    assert "Wrong access token" in texts(at) and len(records(built.root)) == before
    fill(at, "KPY_20240105", "Correct its labels", magnitude="Large", confirm=False, token=TOKEN)
    assert "Tick the confirmation box" in texts(at) and len(records(built.root)) == before
    fill(at, "KPY_20240105", "Correct its labels", magnitude="Large", token=TOKEN)
    last = records(built.root)[-1]
    assert last["events"][0]["type"] == "data_corrected" and last["actor"] == "dashboard"
    assert last["events"][0]["changes"] == {"magnitude_class": "Large"}
    at = goto(app(built.root, allow=True).run(), "Pool")
    fill(at, "TRD_20240104", "Remove it from the pool")
    last = records(built.root)[-1]
    assert last["events"][0] == {"type": "data_removed", "event_id": "TRD_20240104",
                                 "reason": "checked the catalogue"}
    at = goto(app(built.root).run(), "Pool")
    assert set(at.dataframe[0].value["event_id"]) == {"MLB_20240103", "KPY_20240105"}
    assert "KPY_20240105" in {r["event_id"] for r in records(built.root)[-2]["events"]}
