"""Issue 19: reading the dashboard (AppTest).

1. The rollback confirmation shows the target's metrics against the champion's, with the
   difference, and warns when the target is worse on magnitude accuracy.
2. After a rollback, the champion card says who rolled back, why, and how severe.
3. The page is in the URL (``?page=compare``): a link opens it, a choice is written back,
   an unknown value shows the Champion page, and a page in the URL never acts.
4. History's times are picked (a date, and optionally a time of day), not typed; "state
   as of" still finds the commit of that moment.
5. The scanner's paths wrap on the champion card.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from bootstrap import open_engine
from dashboard import snapshot
from lifecycle.commands import RecordEvaluation, Rollback
from service.engine import Engine
from tests.integration import test_dashboard
from tests.integration.test_bad_input import fingerprint
from tests.integration.test_dashboard import app, build_root, goto, records, texts
from tests.integration.test_dashboard_actions import unchanged


@pytest.fixture
def built(tmp_path: Path) -> Engine:
    snapshot.forget()
    return build_root(tmp_path / "root")


def field(engine: Engine, ref: str, mag: float, fpr: float) -> None:
    """An evaluation on the field data (the same data for every model it is given)."""
    engine.execute(RecordEvaluation(ref=ref, dataset="field", metrics={
        "magnitude_accuracy": mag, "azimuth_accuracy": 50.0, "false_positive_rate": fpr}))


# -- 1. the rollback confirmation -----------------------------------------------------------
def test_the_confirmation_compares_the_target_with_the_champion_and_warns(built: Engine) -> None:
    field(built, "champion", 66.67, 4.0)
    field(built, "1.0.1", 40.0, 1.5)
    at = goto(app(built.root, allow=True).run(), "Archive")
    at.button(key="lcm_rb_convnext_v1_0_1").click().run()
    assert not at.exception
    shown = texts(at)
    assert "| Magnitude accuracy | 66.67% | 40.00% | -26.67 points (**worse**) |" in shown
    assert "| Azimuth accuracy | 50.00% | 50.00% | +0.00 points (same) |" in shown
    assert "| False-positive rate | 4.00% | 1.50% | -2.50 points (better) |" in shown
    assert "Composite score" in shown and "v1.0.3 (champion now)" in shown
    assert "v1.0.3 on field, v1.0.1 on field" in shown
    [warning] = [w.value for w in at.warning if "worse on magnitude accuracy" in w.value]
    assert "v1.0.1 is worse on magnitude accuracy" in warning and "40.00% against 66.67%" in warning
    assert "although its magnitude accuracy is lower (66.67% to 40.00%)" in at.checkbox(key="lcm_rb_confirm").label
    before = len(records(built.root))
    at.text_input(key="lcm_rb_reason").input("false positives in production")
    at.checkbox(key="lcm_rb_confirm").check()
    at.button(key="lcm_rb_submit").click().run()  # still possible, once confirmed
    assert "Rolled back: v1.0.1 is the champion again" in texts(at)
    assert len(records(built.root)) == before + 1


def test_no_warning_when_the_target_is_better(built: Engine) -> None:
    field(built, "champion", 50.0, 4.0)
    field(built, "1.0.1", 60.0, 1.5)
    at = goto(app(built.root, allow=True).run(), "Archive")
    at.button(key="lcm_rb_convnext_v1_0_1").click().run()
    shown = texts(at)
    assert "| Magnitude accuracy | 50.00% | 60.00% | +10.00 points (better) |" in shown
    assert "worse on magnitude accuracy" not in shown
    assert at.checkbox(key="lcm_rb_confirm").label == "I confirm: make v1.0.1 the champion now"


def test_the_confirmation_says_when_the_data_differ(built: Engine) -> None:
    field(built, "champion", 66.67, 4.0)  # the target's latest evaluation is on benchmark
    at = goto(app(built.root, allow=True).run(), "Archive")
    at.button(key="lcm_rb_convnext_v1_0_0").click().run()
    shown = texts(at)
    assert "| Magnitude accuracy | 66.67% | 80.00% | +13.33 points (better) |" in shown
    assert "not the same data" in shown


# -- 2. the champion card after a rollback ------------------------------------------------------
def test_the_champion_card_says_who_rolled_back_why_and_how_severe(built: Engine) -> None:
    assert "Champion by a rollback" not in texts(app(built.root).run())
    open_engine(built.root, actor="bob@ops").execute(
        Rollback(ref="1.0.1", reason="false positives rose sharply", severity="HIGH"))
    at = app(built.root).run()
    assert not at.exception
    [card] = [w.value for w in at.warning if "Champion by a rollback" in w.value]
    assert "from v1.0.3" in card and "severity **HIGH**" in card and "by **bob@ops**" in card
    assert "Reason: false positives rose sharply" in card
    open_engine(built.root, actor="carol@ops").execute(Rollback(ref="1.0.0", reason="worse still"))
    open_engine(built.root, actor="dave@ops").execute(
        Rollback(ref="1.0.1", reason="back to the good one", severity="CRITICAL"))
    at = app(built.root).run()
    [card] = [w.value for w in at.warning if "Champion by a rollback" in w.value]
    assert "by **dave@ops**" in card and "CRITICAL" in card and "back to the good one" in card
    assert "from v1.0.0" in card


# -- 3. the page in the URL ---------------------------------------------------------------------
@pytest.mark.parametrize(("value", "page"), [("compare", "Compare"), ("versions-chart", "Versions chart"),
                                             ("History", "History"), ("test-an-event", "Test an event"),
                                             ("nonsense", "Champion"), ("", "Champion")])
def test_a_link_opens_the_page_it_names(built: Engine, value: str, page: str) -> None:
    at = app(built.root)
    at.query_params["page"] = value
    at.run()
    assert not at.exception
    assert at.radio(key="lcm_page").value == page
    assert at.query_params["page"] == page.lower().replace(" ", "-")  # an unknown value is corrected


def test_the_chosen_page_is_written_to_the_url_and_survives_a_reload(built: Engine) -> None:
    at = app(built.root).run()
    assert at.query_params["page"] == "champion"
    goto(at, "Compare")
    assert at.query_params["page"] == "compare"
    reloaded = app(built.root)
    reloaded.query_params.update(at.query_params)  # the same URL, a new session
    reloaded.run()
    assert reloaded.radio(key="lcm_page").value == "Compare"
    assert "Paired test over events on benchmark" in texts(reloaded)


def test_a_page_in_the_url_never_acts(built: Engine) -> None:
    before = fingerprint(built.root)
    at = app(built.root, allow=True)
    at.query_params.update({"page": "archive", "rollback": "1.0.1", "lcm_rb_confirm": "true",
                            "lcm_rb_reason": "via a link", "lcm_rb_submit": "true"})
    at.run()
    assert not at.exception and at.radio(key="lcm_page").value == "Archive"
    assert not at.get("form") and "lcm_pending" not in at.session_state
    unchanged(built.root, before)


# -- 4. dates picked ----------------------------------------------------------------------------
@pytest.fixture
def timed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """build_root's registry with one commit an hour from 2026-02-10 08:00 UTC."""
    moments = (datetime(2026, 2, 10, 8, tzinfo=UTC) + timedelta(hours=n) for n in range(10_000))

    def clock() -> str:
        return next(moments).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def timed_engine(path: Path, *, actor: str | None = None) -> Engine:
        return open_engine(path, actor=actor, clock=clock)

    snapshot.forget()
    with monkeypatch.context() as patch:
        patch.setattr(test_dashboard, "open_engine", timed_engine)
        engine = build_root(tmp_path / "root")
    yield engine


def test_state_as_of_a_picked_date_and_time(timed: Engine) -> None:
    third = records(timed.root)[2]  # the first promotion
    moment = datetime.fromisoformat(third["time"].replace("Z", "+00:00"))
    at = goto(app(timed.root).run(), "History")
    assert "Pick a date" in texts(at)
    at.date_input(key="lcm_asof").set_value(moment.date())
    at.time_input(key="lcm_asof_time").set_value(moment.time().replace(second=0, microsecond=0)).run()
    assert not at.exception
    shown = texts(at)
    assert "commit 3" in shown and "Champion: **v1.0.0**" in shown
    at.time_input(key="lcm_asof_time").set_value(None).run()  # no time: the end of the day
    assert f"commit {records(timed.root)[-1]['seq']}" in texts(at)
    at.date_input(key="lcm_asof").set_value(date(2026, 2, 10)).run()
    at.time_input(key="lcm_asof_time").set_value(time(7, 0)).run()  # before the first commit
    assert "the registry was empty" in texts(at)


def test_history_between_two_picked_moments(timed: Engine) -> None:
    third, fifth = records(timed.root)[2], records(timed.root)[4]
    at = goto(app(timed.root).run(), "History")
    day = date(2026, 2, 10)
    at.date_input(key="lcm_hist_since").set_value(day)
    at.time_input(key="lcm_hist_since_time").set_value(time.fromisoformat(third["time"][11:16]))
    at.date_input(key="lcm_hist_until").set_value(day)
    at.time_input(key="lcm_hist_until_time").set_value(time.fromisoformat(fifth["time"][11:16])).run()
    assert not at.exception
    assert set(at.dataframe[0].value["seq"]) == {3, 4, 5}
    at.time_input(key="lcm_hist_since_time").set_value(time(23, 0)).run()
    assert "'From' is after 'Until'" in texts(at)


# -- 5. the scanner's lines wrap ----------------------------------------------------------------
def test_the_scanner_paths_wrap(built: Engine) -> None:
    at = app(built.root).run()
    at.toggle(key="lcm_scanner").set_value(True).run()
    assert at.code and all(code.proto.wrap_lines for code in at.code)
