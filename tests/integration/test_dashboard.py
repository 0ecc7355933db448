"""The Model Management dashboard, page by page, with Streamlit's ``AppTest``.

Roots are built through ``Engine.execute`` with fake weight blobs (no torch), except the
"Test an event" page, which runs two real (untrained) networks on a synthetic event.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from bootstrap import open_engine

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest

from dashboard import access, snapshot
from dashboard.launch import prepare, streamlit_command
from lifecycle.commands import AddData, Promote, RecordEvaluation, RecordEvaluations, Rollback, Submit
from lifecycle.errors import UserError
from lifecycle.policy import Policy
from service.deciding import decide
from service.engine import Engine

CLASSES = {"magnitude": ["Large", "Medium", "Moderate", "Normal"],
           "azimuth": ["E", "N", "NE", "NW", "Normal", "S", "SE", "SW", "W"]}
DIGEST = hashlib.sha256(b"benchmark").hexdigest()
N = 100
TOKEN = "s3cret-token-for-tests-0123456789"


# -- building roots (no torch) ----------------------------------------------------------
def submit(engine: Engine, tag: str, events: tuple[str, ...] = ()) -> None:
    weights = engine.store.put_bytes(f"fake weights {tag}".encode())
    mappings = engine.store.put_bytes(json.dumps(CLASSES, sort_keys=True).encode())
    engine.execute(Submit(weights=weights, classes=CLASSES, architecture="convnext_tiny",
                          files={"class_mappings.json": mappings},
                          training_config={"epochs": 30, "image_size": 224},
                          training_data={"total_samples": 2000 + len(events), "events_included": list(events)}))


def evaluation(engine: Engine, ref: str, right: int, mag: float, azi: float) -> RecordEvaluation:
    """An evaluation on the benchmark whose first ``right`` of ``N`` samples are right."""
    rows = [{"row": i + 1, "event_id": f"GTO_2024{i % 12 + 1:02d}01", "magnitude_true": "Large",
             "azimuth_true": "N", "magnitude_pred": "Large" if i < right else "Normal",
             "azimuth_pred": "N", "magnitude_confidence": 0.9, "azimuth_confidence": 0.8} for i in range(N)]
    blob = orjson.dumps({"dataset_digest": DIGEST, "rows": rows}, option=orjson.OPT_SORT_KEYS)
    matrix = [[right, 0, 0, N - right], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    details = {"magnitude": {"confusion_matrix": {"labels": CLASSES["magnitude"], "matrix": matrix},
                             "per_class": {"Large": {"precision": 100.0, "recall": float(right), "f1": 90.0,
                                                     "support": N}}}}
    return RecordEvaluation(ref=ref, dataset="benchmark", dataset_digest=DIGEST, n_samples=N,
                            metrics={"magnitude_accuracy": mag, "azimuth_accuracy": azi},
                            predictions=engine.store.put_bytes(blob), details=details)


def build_root(path: Path) -> Engine:
    """Champion v1.0.3 (promoted by hand); archive: v1.0.2 rejected (McNemar), v1.0.1 and
    v1.0.0 former champions; challenger v1.0.4 waiting; two events in the pool."""
    engine = open_engine(path, actor="alice@lab")
    engine.init()
    submit(engine, "a", ("GTO_20240101",))
    engine.execute(evaluation(engine, "challenger", 80, 80.0, 60.0))
    decide(engine, Policy(), "benchmark")  # first model: promoted
    submit(engine, "b", ("GTO_20240101", "SCN_20240102"))
    engine.execute(RecordEvaluations((evaluation(engine, "challenger", 95, 95.0, 70.0),
                                      evaluation(engine, "champion", 80, 80.0, 60.0))))
    decide(engine, Policy(), "benchmark")  # significant: promoted
    submit(engine, "c", ("GTO_20240101", "SCN_20240102", "MLB_20240103", "TRD_20240104"))
    engine.execute(RecordEvaluations((evaluation(engine, "challenger", 96, 96.0, 71.0),
                                      evaluation(engine, "champion", 95, 95.0, 70.0))))
    decide(engine, Policy(), "benchmark")  # not significant: rejected, two events back to the pool
    submit(engine, "d", ("GTO_20240101", "SCN_20240102"))
    engine.execute(evaluation(engine, "challenger", 97, 97.0, 72.0))
    engine.execute(Promote(ref="challenger", reason="promoted by hand for the test"))
    submit(engine, "e")
    return engine


@pytest.fixture
def built(tmp_path: Path) -> Engine:
    snapshot.forget()
    return build_root(tmp_path / "root")


def app(root: Path, *, allow: bool = False, token: str | None = None, refresh: float | None = None) -> AppTest:
    def script(root: str, allow: bool, token: str | None, refresh: float | None) -> None:
        from dashboard import render_model_management

        render_model_management(root, allow_actions=allow, token=token, refresh_seconds=refresh)

    return AppTest.from_function(script, args=(str(root), allow, token, refresh), default_timeout=60)


def texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("markdown", "caption", "subheader", "title", "info", "warning", "error", "success", "metric"):
        for element in at.get(kind):
            parts.append(str(getattr(element, "value", "")))
            parts.append(str(getattr(element, "label", "")))
    parts += [bar.proto.text for bar in at.get("progress")]
    return "\n".join(parts)


def goto(at: AppTest, page: str) -> AppTest:
    at.radio(key="lcm_page").set_value(page).run()
    assert not at.exception, at.exception
    return at


def records(root: Path) -> list[dict[str, Any]]:
    return list(open_engine(root).records())


# -- pages -------------------------------------------------------------------------------
def test_champion_card_challenger_decision_and_pool(built: Engine) -> None:
    at = app(built.root).run()
    assert not at.exception
    shown = texts(at)
    assert "Champion v1.0.3" in shown and "97.00%" in shown and "72.00%" in shown
    assert "Training samples: **2002**" in shown and "events included: **2**" in shown
    assert "v1.0.4" in shown and "waiting for evaluation" in shown
    assert "convnext_v1.0.3" in shown and "promoted by hand" in shown  # the last decision
    assert "2 of 5 validated events" in shown
    at.toggle(key="lcm_scanner").set_value(True).run()
    code = "\n".join(c.value for c in at.code)
    assert "production/models/earthquake_model.pth" in code and 'load_model("champion")' in code
    at.toggle(key="lcm_details").set_value(True).run()
    assert not at.exception
    assert at.get("vega_lite_chart"), "the confusion matrix heatmap"
    assert "json" in {e.type for e in at.main}
    figures = next(d.value for d in at.dataframe if list(d.value.columns) == ["metric", "value"])
    assert list(figures["metric"])[:2] == ["Magnitude accuracy", "Azimuth accuracy"]  # names, not keys
    assert next(iter(figures["value"])).endswith(" %") and "Composite score" in list(figures["metric"])
    lineage = next(d.value for d in at.dataframe if "parent" in d.value.columns)
    assert list(lineage["model"]) == ["convnext_v1.0.3"] and list(lineage["parent"]) == ["not recorded"]


def test_champion_card_says_whether_production_is_intact(built: Engine) -> None:
    at = app(built.root).run()
    assert "Production file intact" in texts(at)
    weights = built.root / "models" / "champion" / "best_model.pth"
    os.chmod(weights, 0o644)
    weights.write_bytes(b"damaged in place")  # the store's only copy: nothing can heal it
    snapshot.forget()
    at = app(built.root).run()
    assert not at.exception
    assert "Production file NOT OK (damaged)" in texts(at)


def test_rejection_shows_reason_and_p_value(tmp_path: Path) -> None:
    engine = build_root(tmp_path / "root")
    engine.execute(evaluation(engine, "challenger", 96, 96.0, 71.0))  # v1.0.4, champion had 97
    decide(engine, Policy(), "benchmark")
    at = app(engine.root).run()
    shown = texts(at)
    assert "convnext_v1.0.4 **rejected**" in shown and "lower composite score" in shown
    assert "Paired test over events, p-value: 1" in shown and "None waiting" in shown
    assert "Power: this holdout (12 events, " in shown  # the rows' events, not the images


def test_a_verdict_awaiting_approval_is_shown_and_goes_stale(tmp_path: Path) -> None:
    engine = build_root(tmp_path / "root")
    (engine.root / "config" / "lifecycle.toml").write_text("[decide]\nrequire_approval = true\n")
    engine.execute(evaluation(engine, "challenger", 99, 99.0, 80.0))
    decide(engine, Policy(), "benchmark")
    shown = texts(app(engine.root).run())
    assert "Awaiting approval: the rule's verdict on convnext_v1.0.4 is **" in shown
    assert "lifecycle approve convnext_v1.0.4 --reason" in shown and "verdict awaiting approval" in shown
    engine.execute(evaluation(engine, "champion", 97, 97.0, 71.0))
    shown = texts(app(engine.root).run())
    assert "This verdict is stale (convnext_v1.0.3 was evaluated again" in shown


def test_archive_table_and_use(built: Engine) -> None:
    at = goto(app(built.root).run(), "Archive")
    shown = texts(at)
    for version, status in (("v1.0.2", "rejected"), ("v1.0.1", "archived"), ("v1.0.0", "archived")):
        assert version in shown and status in shown
    assert at.button(key="lcm_rb_convnext_v1_0_1").disabled, "read-only by default"
    at.button(key="lcm_use_convnext_v1_0_0").click().run()
    assert "v1.0.0 selected for analysis" in texts(at)
    goto(at, "Compare")
    assert at.selectbox(key="lcm_cmp_b").value == "convnext_v1.0.0"


def test_rollback_through_the_page(built: Engine) -> None:
    root = built.root
    at = goto(app(root, allow=True).run(), "Archive")
    assert at.button(key="lcm_rb_convnext_v1_0_2").disabled, "a rejected model was never champion"
    at.button(key="lcm_rb_convnext_v1_0_1").click().run()
    before = len(records(root))
    at.button(key="lcm_rb_submit").click().run()  # no confirmation ticked
    assert "Tick the confirmation box" in texts(at) and len(records(root)) == before
    at.checkbox(key="lcm_rb_confirm").check()
    at.button(key="lcm_rb_submit").click().run()  # no reason
    assert "Give a reason" in texts(at) and len(records(root)) == before
    at.text_input(key="lcm_rb_reason").input("false positives rose sharply")
    at.selectbox(key="lcm_rb_severity").set_value("CRITICAL")
    at.button(key="lcm_rb_submit").click().run()
    assert not at.exception
    assert "Rolled back: v1.0.1 is the champion again" in texts(at)
    last = records(root)[-1]
    assert last["actor"] == "dashboard" and last["command"] == "rollback"
    assert last["reason"] == "false positives rose sharply"
    rolled = [e for e in last["events"] if e["type"] == "rolled_back"]
    assert rolled[0]["model_id"] == "convnext_v1.0.1" and rolled[0]["severity"] == "CRITICAL"
    goto(at, "Champion")
    assert "Champion v1.0.1" in texts(at) and "rollback from v1.0.3" in texts(at)


def test_concurrent_change_is_refused_and_said(built: Engine) -> None:
    root = built.root
    at = goto(app(root, allow=True).run(), "Archive")
    at.button(key="lcm_rb_convnext_v1_0_1").click().run()
    built.execute(RecordEvaluation(ref="champion", dataset="field", metrics={
        "magnitude_accuracy": 90.0, "azimuth_accuracy": 60.0}))  # someone else writes
    at.text_input(key="lcm_rb_reason").input("production alarm")
    at.checkbox(key="lcm_rb_confirm").check()
    at.button(key="lcm_rb_submit").click().run()
    assert not at.exception
    shown = texts(at)
    assert "Not rolled back" in shown and "changed meanwhile" in shown and "retry" in shown
    assert records(root)[-1]["command"] == "record_evaluation"
    assert open_engine(root).state().champion_record().version == "1.0.3"  # type: ignore[union-attr]


def test_token_is_asked_before_the_action(built: Engine) -> None:
    root = built.root
    at = goto(app(root, allow=True, token=TOKEN).run(), "Archive")
    at.button(key="lcm_rb_convnext_v1_0_0").click().run()
    at.text_input(key="lcm_rb_reason").input("bug in the new model")
    at.checkbox(key="lcm_rb_confirm").check()
    at.text_input(key="lcm_rb_token").input("wrong-token-wrong-token")
    at.button(key="lcm_rb_submit").click().run()
    assert "Wrong access token" in texts(at)
    assert records(root)[-1]["command"] != "rollback"
    at.text_input(key="lcm_rb_token").input(TOKEN)
    at.button(key="lcm_rb_submit").click().run()
    assert "Rolled back: v1.0.0" in texts(at)
    assert records(root)[-1]["actor"] == "dashboard"


def test_cancel_leaves_everything(built: Engine) -> None:
    at = goto(app(built.root, allow=True).run(), "Archive")
    at.button(key="lcm_rb_convnext_v1_0_1").click().run()
    before = len(records(built.root))
    at.button(key="lcm_rb_cancel").click().run()
    assert not at.get("form") and len(records(built.root)) == before


def test_versions_chart(built: Engine) -> None:
    at = goto(app(built.root).run(), "Versions chart")
    [chart] = [c for c in at.get("vega_lite_chart") if c.proto.datasets]  # not the details' heatmaps
    data = b"".join(d.data.data for d in chart.proto.datasets) + chart.proto.data.data  # Arrow, or
    text = chart.proto.spec + data.decode("latin-1")  # values inline in the spec
    assert "rejected" in text and "1.0.3" in text and "Composite score" in text and "champion" in text
    assert "4 evaluated versions; 1 rejected" in texts(at)


def test_compare_with_the_stored_paired_test(built: Engine) -> None:
    at = goto(app(built.root).run(), "Compare")
    assert at.selectbox(key="lcm_cmp_a").value == "convnext_v1.0.3"  # the champion first
    at.selectbox(key="lcm_cmp_a").set_value("convnext_v1.0.0")
    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.1").run()
    table = at.dataframe[0].value
    mag = table[table["Metric"] == "Magnitude accuracy"].iloc[0]  # issue 19: display names, units
    assert mag["Difference"] == "+15.00 pts" and "better" in mag["B vs A"]
    shown = texts(at)
    assert "same data: **benchmark**" in shown and "Paired test over events on benchmark" in shown
    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.4").run()  # never evaluated
    assert "Paired test" not in texts(at) and at.dataframe[0].value.iloc[0]["v1.0.4 (B)"] == "\u2013"


def test_history_filters_and_time_travel(built: Engine) -> None:
    root = built.root
    at = goto(app(root).run(), "History")
    all_rows = len(at.dataframe[0].value)
    at.multiselect(key="lcm_hist_types").select("rejected").run()
    table = at.dataframe[0].value
    assert list(table["type"]) == ["rejected"] and table.iloc[0]["p_value"] != ""
    at.multiselect(key="lcm_hist_types").unselect("rejected")
    at.selectbox(key="lcm_hist_model").set_value("convnext_v1.0.1").run()
    assert set(at.dataframe[0].value["model_id"]) == {"convnext_v1.0.1"}
    at.selectbox(key="lcm_hist_model").set_value("(all)")
    at.selectbox(key="lcm_hist_actor").set_value("alice@lab").run()
    assert len(at.dataframe[0].value) == all_rows
    last = records(root)[-1]
    day = date.fromisoformat(last["time"][:10])  # the day every commit was made
    at.date_input(key="lcm_hist_since").set_value(day).run()  # dates are picked, not typed
    assert len(at.dataframe[0].value) == all_rows and not at.exception
    at.date_input(key="lcm_asof").set_value(day).run()  # no time: the end of that day
    shown = texts(at)
    assert f"commit {last['seq']}" in shown and "Champion: **v1.0.3**" in shown
    # an exact moment (a date and a time of day): tests/integration/test_dashboard_reading.py


def test_pool_progress_uses_the_trigger_config(built: Engine) -> None:
    (built.root / "config" / "lifecycle.toml").write_text("[triggers]\nmin_new_events = 4\n")
    image = built.store.put_bytes(b"\x89PNG fake spectrogram")
    built.execute(AddData(event_id="KPY_20240105", station="KPY", date="2024-01-05", magnitude_class="Large",
                          azimuth_class="NE", images=({"name": "a.png", **image},)))
    at = goto(app(built.root).run(), "Pool")
    assert "3 of 4 new events" in texts(at)
    assert set(at.dataframe[0].value["event_id"]) == {"MLB_20240103", "TRD_20240104", "KPY_20240105"}


def test_empty_and_missing_roots_are_friendly(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    open_engine(root).init()
    at = app(root).run()
    assert "no model yet" in texts(at)
    for page in ("Archive", "Versions chart", "Compare", "Test an event", "History", "Pool"):
        goto(at, page)
    missing = app(tmp_path / "nowhere").run()
    assert not missing.exception and "not a lifecycle registry" in texts(missing)


def test_corrupt_log_is_a_message_not_a_traceback(built: Engine) -> None:
    log = built.root / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"alice", b"mallory")
    log.write_bytes(b"".join(lines))
    at = app(built.root).run()
    assert not at.exception and "corrupt" in texts(at)


def test_many_versions_are_paginated(tmp_path: Path) -> None:
    engine = open_engine(tmp_path / "root", actor="bob@lab")
    engine.init()
    for n in range(55):
        submit(engine, f"m{n}")
        engine.execute(evaluation(engine, "challenger", 50 + n % 40, 50.0 + n % 40, 40.0))
        engine.execute(Promote(ref="challenger", reason=f"round {n}"))
    at = goto(app(engine.root).run(), "Archive")
    assert at.get("pagination") and "54 archived models" in texts(at)
    assert "v1.0.53" in texts(at) and "v1.0.0" not in texts(at)
    at.get("pagination")[0].set_value(3).run()
    assert "v1.0.0" in texts(at)


# -- consistency and refresh ---------------------------------------------------------------
def test_snapshot_is_cached_and_follows_appends(built: Engine) -> None:
    first = snapshot.load(built.root)
    assert snapshot.load(built.root) is first
    built.execute(Rollback(reason="user request"))
    second = snapshot.load(built.root)
    assert second is not first and second.seq == first.seq + 1
    with open(built.root / "events.jsonl", "ab") as log:  # a writer's torn tail
        log.write(b'{"seq": 99, "half a line')
    third = snapshot.load(built.root)
    assert third.seq == second.seq and third.state == second.state


def test_page_follows_writes_between_runs(built: Engine) -> None:
    at = app(built.root, refresh=5).run()  # with the auto-refresh fragment
    assert not at.exception and "checks for changes every 5 s" in texts(at)
    assert "Champion v1.0.3" in texts(at)
    built.execute(Rollback(ref="1.0.1", reason="daemon rule"))
    at.run()
    assert "Champion v1.0.1" in texts(at)


# -- launch and token -------------------------------------------------------------------------
def test_launch_refuses_actions_on_a_public_host_without_token(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    monkeypatch.delenv(access.TOKEN_FILE_ENV, raising=False)
    root = tmp_path / "root"
    open_engine(root).init()
    with pytest.raises(UserError, match="needs a token"):
        prepare(root, host="0.0.0.0", port=8501, allow_actions=True)
    command, env = prepare(root, host="0.0.0.0", port=8501, allow_actions=False)  # read-only: fine
    assert access.TOKEN_ENV not in env and "--allow-actions" not in command
    with pytest.raises(UserError, match="needs a token"):  # loopback too, unless --no-token says so
        prepare(root, host="127.0.0.1", port=8501, allow_actions=True)
    command, env = prepare(root, host="127.0.0.1", port=8501, allow_actions=True, no_token=True)
    assert access.TOKEN_ENV not in env and command[-2:] == ["--allow-actions", "--no-token"]
    with pytest.raises(UserError, match="for this machine only"):
        prepare(root, host="0.0.0.0", port=8501, allow_actions=True, no_token=True)
    token_file = root / "config" / "dashboard.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    with pytest.raises(UserError, match="chmod 600"):
        prepare(root, host="0.0.0.0", port=8501, allow_actions=True)
    token_file.chmod(0o600)
    command, env = prepare(root, host="0.0.0.0", port=8501, allow_actions=True)
    assert env[access.TOKEN_ENV] == TOKEN and TOKEN not in " ".join(command)
    monkeypatch.setenv(access.TOKEN_ENV, "short")
    with pytest.raises(UserError, match="too short"):
        prepare(root, host="10.0.0.5", port=8501, allow_actions=True)


def test_streamlit_command_binds_where_asked() -> None:
    command = streamlit_command(Path("/r"), host="127.0.0.1", port=8600, allow_actions=True)
    flags = dict(zip(command[5::2], command[6::2], strict=False))
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8600"
    assert flags["--server.headless"] == "true" and flags["--browser.gatherUsageStats"] == "false"
    assert command[-3:] == ["--root", "/r", "--allow-actions"]
    assert access.is_loopback("localhost") and access.is_loopback("::1") and not access.is_loopback("0.0.0.0")


def test_serve_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard.launch import serve

    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    root = tmp_path / "root"
    open_engine(root).init()
    assert serve(root, host="192.168.1.10", port=8501, allow_actions=True) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_page_import_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, dashboard.view, dashboard.sections.event, dashboard.sections.compare; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert out.stdout.strip() == "False"


# -- running real (untrained) networks -----------------------------------------------------------
def test_event_page_runs_both_models(cli: Any, root: Path, candidates: list[Path]) -> None:
    from models.synth import write_synthetic

    write_synthetic(root / "data" / "holdout", samples=12, seed=2, image_size=32)
    cli("submit", str(candidates[0]))
    cli("promote", "challenger", "--reason", "first")
    cli("submit", str(candidates[1]))
    snapshot.forget()
    at = goto(app(root).run(), "Test an event")
    assert at.text_input(key="lcm_evt_data").value == str(root / "data" / "holdout")
    event = at.selectbox(key="lcm_evt_event").value
    at.button(key="lcm_evt_run").click().run(timeout=120)
    assert not at.exception
    shown = texts(at)
    assert f"**{event}** → v1.0.0: " in shown and "| v1.0.1: " in shown and "[true: " in shown
    assert "%)" in shown and ("✓" in shown or "✗" in shown)
    at.text_input(key="lcm_evt_data").input(str(root / "nowhere")).run()
    assert "Cannot read the data set" in texts(at) and not at.exception


def test_never_a_torn_state_while_another_process_writes(tmp_path: Path) -> None:
    """A child promotes and rolls back without pause; every run shows one commit's state."""
    import re
    import subprocess
    import sys
    import time

    from tests.helpers.workload import prepare

    root = tmp_path / "root"
    prepare(root, champions=3)
    child = subprocess.Popen([sys.executable, "-m", "tests.helpers.workload", "promote", str(root), "dash"],
                             cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        at = app(root).run()
        seen = set()
        deadline = time.monotonic() + 20
        while len(seen) < 5 and time.monotonic() < deadline:
            for page in ("Champion", "Archive"):
                goto(at, page)
                shown = texts(at)
                seq = int(re.search(r"at commit (\d+)", shown).group(1))  # type: ignore[union-attr]
                state = open_engine(root).state(at_seq=seq)
                seen.add(seq)
                if page == "Champion":
                    assert f"Champion v{state.champion_record().version}" in shown  # type: ignore[union-attr]
                else:
                    assert f"{len(state.archived())} archived models" in shown
    finally:
        child.kill()
        child.wait()
    assert len(seen) >= 2, "the writer should have moved the log between runs"


def test_time_travel_after_the_last_commit_shows_the_current_registry(built: Engine) -> None:
    from dashboard.snapshot import load

    snapshot = load(built.root)
    last = records(built.root)[-1]
    commit, state = snapshot.at_time("2999-01-01")
    assert commit == last and state == snapshot.state
    earlier = records(built.root)[2]
    commit, state = snapshot.at_time(earlier["time"])
    assert commit == earlier and state == built.state(at_seq=earlier["seq"])
