"""Issue 19 (2): the Versions page people would rather look at (MLflow's registry as the model).

One sortable, typed table of every version with its status label; the details (metadata as
a key/value table, lineage, evaluations) of any version, not only the champion; and a chart
in version order whose lines join only the versions that were champion.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest

from bootstrap import open_engine
from dashboard import snapshot
from lifecycle.commands import Promote, Reject, Rollback
from service.engine import Engine
from tests.integration.test_dashboard import app, build_root, evaluation, goto, submit, texts

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def built(tmp_path: Path) -> Engine:
    snapshot.forget()
    return build_root(tmp_path / "root")


def versions_table(at: AppTest) -> Any:
    return next(d for d in at.dataframe if "composite_score" in d.value.columns)


def versions_chart(at: AppTest) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """(the spec, its named data sets as rows) of the versions chart."""
    import pyarrow as pa

    [chart] = [c for c in at.get("vega_lite_chart") if c.proto.datasets]
    data = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pylist() for d in chart.proto.datasets}
    return json.loads(chart.proto.spec), data


def leaves(spec: dict[str, Any]) -> list[dict[str, Any]]:
    layers = spec.get("layer")
    return [leaf for layer in layers for leaf in leaves(layer)] if layers else [spec]


def test_the_table_lists_every_version_with_its_status_and_composite(built: Engine) -> None:
    at = goto(app(built.root).run(), "Versions chart")
    table = versions_table(at)
    frame = table.value
    assert list(frame["version"]) == ["1.0.4", "1.0.3", "1.0.2", "1.0.1", "1.0.0"]  # newest first
    assert dict(zip(frame["version"], frame["status"], strict=True)) == {
        "1.0.4": "challenger", "1.0.3": "champion", "1.0.2": "rejected", "1.0.1": "archived", "1.0.0": "archived"}
    row = frame[frame["version"] == "1.0.3"].iloc[0]
    state = built.state()
    champion = state.champion_record()
    assert champion is not None
    composite = champion.metrics["composite_score"]
    assert row["composite_score"] == pytest.approx(composite) and 0 < composite < 1
    assert row["magnitude_accuracy"] == pytest.approx(97.0) and row["azimuth_accuracy"] == pytest.approx(72.0)
    assert bool(row["was_champion"]) and not bool(frame[frame["version"] == "1.0.2"].iloc[0]["was_champion"])
    assert "promoted by hand" in row["reason"]
    rejected = frame[frame["version"] == "1.0.2"].iloc[0]
    assert "not significant" in rejected["reason"] and rejected["archived"] is not None
    assert frame["composite_score"].isna().iloc[0], "the challenger is not evaluated: no composite"
    # typed columns (sortable as numbers and dates, shown with 2 and 4 decimals)
    assert str(frame["composite_score"].dtype) == "float64" and str(frame["order"].dtype) == "int64"
    assert str(frame["created"].dtype).startswith("datetime64")
    config = json.loads(table.proto.columns)
    assert config["magnitude_accuracy"]["type_config"]["format"] == "%.2f%%"
    assert config["composite_score"]["type_config"]["format"] == "%.4f"
    assert config["created"]["type_config"]["type"] == "datetime"
    assert "model_id" not in list(table.proto.column_order)


def test_a_rollback_shows_pre_rollback_in_the_table(built: Engine) -> None:
    built.execute(Rollback(ref="1.0.1", reason="alarm in production"))
    at = goto(app(built.root).run(), "Versions chart")
    frame = versions_table(at).value
    status = dict(zip(frame["version"], frame["status"], strict=True))
    assert status["1.0.3"] == "pre-rollback" and status["1.0.1"] == "champion"


def test_the_details_of_any_version(built: Engine) -> None:
    at = goto(app(built.root).run(), "Versions chart")
    box = at.selectbox(key="lcm_ver_details")
    assert box.value == "convnext_v1.0.3", "the champion by default"
    box.set_value("convnext_v1.0.2").run()  # a rejected model, never champion
    assert not at.exception
    shown = texts(at)
    assert "Metadata of v1.0.2" in shown and "On **benchmark** (100 samples" in shown
    meta = next(d.value for d in at.dataframe if list(d.value.columns) == ["key", "value"])
    values = dict(zip(meta["key"], meta["value"], strict=True))
    assert values["version"] == "1.0.2" and values["status"] == "rejected"
    assert values["path"] == "models/archive/convnext_v1.0.2_rejected"
    assert values["metrics.magnitude_accuracy"] == "96.00%"
    assert values["training_data.total_samples"] == "2004"
    digest = str(built.state().models["convnext_v1.0.2"].weights["digest"])  # type: ignore[index]
    assert values["weights.sha256"] == digest[:12] + "…"
    assert digest not in "".join(meta["value"]), "digests are shortened in the table"
    assert digest in json.dumps([e.value for e in at.get("json")]), "the full value is in the JSON"
    lineage = next(d.value for d in at.dataframe if "parent" in d.value.columns)
    assert list(lineage["model"]) == ["convnext_v1.0.2"]
    assert len([c for c in at.get("vega_lite_chart") if not c.proto.datasets]) == 1, "its confusion matrix"
    at.selectbox(key="lcm_ver_details").set_value("convnext_v1.0.4").run()  # the challenger, never evaluated
    assert "Not evaluated yet" in texts(at) and not at.exception


def test_the_chart_is_in_version_order_and_its_lines_join_only_champions(built: Engine) -> None:
    at = goto(app(built.root).run(), "Versions chart")
    spec, data = versions_chart(at)
    layers = leaves(spec)
    versions = ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]  # v1.0.4 has no evaluation
    for layer in layers:
        x = layer["encoding"]["x"]
        assert x["type"] == "ordinal" and x["sort"] == versions, "the version on x, not the time"
    [line] = [layer for layer in layers if layer["mark"]["type"] == "line"]
    assert line["data"] == {"name": "line"}
    assert {row["version"] for row in data["line"]} == {"1.0.0", "1.0.1", "1.0.3"}, "champions only"
    assert {row["version"] for row in data["points"]} == set(versions), "the rejected one is a mark"
    rejected = [row for row in data["points"] if row["version"] == "1.0.2"]
    assert {row["status"] for row in rejected} == {"rejected"}
    assert "resolve" not in json.dumps(spec), "one y-axis"
    [y_title] = {layer["encoding"]["y"]["title"] for layer in layers if "y" in layer["encoding"]}
    assert "Percent" in y_title
    composite = [row for row in data["points"] if row["metric"].startswith("Composite")]
    assert all(row["value"] == pytest.approx(100 * row["composite"]) for row in composite)
    assert all(10 < row["value"] <= 100 for row in data["points"])
    tooltip = {t["field"] for t in next(layer for layer in layers if layer["mark"]["type"] == "point")
               ["encoding"]["tooltip"]}
    assert {"version", "status", "magnitude", "azimuth", "composite"} <= tooltip


def test_a_burst_of_versions_spreads_along_the_axis_in_version_order(tmp_path: Path) -> None:
    engine = open_engine(tmp_path / "root", actor="bob@lab")
    engine.init()
    for n in range(12):  # registered within a second: one blob on a time axis
        submit(engine, f"m{n}")
        engine.execute(evaluation(engine, "challenger", 50 + n, 50.0 + n, 40.0))
        if n % 3 == 0:
            engine.execute(Promote(ref="challenger", reason=f"round {n}"))
        else:
            engine.execute(Reject(ref="challenger", reason=f"round {n}"))
    snapshot.forget()
    at = goto(app(engine.root).run(), "Versions chart")
    spec, data = versions_chart(at)
    assert leaves(spec)[0]["encoding"]["x"]["sort"] == [f"1.0.{n}" for n in range(12)]  # 1.0.10 after 1.0.9
    assert {row["version"] for row in data["line"]} == {"1.0.0", "1.0.3", "1.0.6", "1.0.9"}
    frame = versions_table(at).value
    assert len(frame) == 12 and list(frame["order"]) == list(range(12, 0, -1))
