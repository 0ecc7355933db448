"""Issue 19: a readable Compare page.

The A/B table names metrics as people say them, in a fixed order (magnitude accuracy
first, the composite last), with units (percent with two decimals, differences in points),
marks a falling false-positive rate as better, shows a missing value as a dash, not 0;
digests are cut to 12 characters; several versions are shown side by side (one magnitude
confusion matrix per chosen version, rows tall enough to read, and the recall per class).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest

from dashboard import snapshot
from dashboard.metrics_display import comparison_rows, format_difference, format_value, ordered, short_digest
from lifecycle.commands import RecordEvaluation
from service.engine import Engine
from tests.integration.test_dashboard import DIGEST, app, build_root, goto, texts

pytestmark = pytest.mark.timeout(180)
FIELD = {"magnitude_accuracy": 68.6667, "azimuth_accuracy": 41.0, "magnitude_macro_f1": 55.5,
         "magnitude_mcc": 0.41234, "large_recall": 80.0, "false_positive_rate": 5.0, "stability": 90.0}


@pytest.fixture
def built(tmp_path: Path) -> Engine:
    """The dashboard tests' root, plus v1.0.3 (champion) and v1.0.1 evaluated on "field"
    with every metric; v1.0.1 has the lower (better) false-positive rate."""
    snapshot.forget()
    engine = build_root(tmp_path / "root")
    engine.execute(RecordEvaluation(ref="convnext_v1.0.3", dataset="field", metrics=FIELD))
    engine.execute(RecordEvaluation(ref="convnext_v1.0.1", dataset="field", metrics={
        **FIELD, "magnitude_accuracy": 96.3367, "false_positive_rate": 2.5, "magnitude_mcc": 0.5}))
    return engine


def table(at: AppTest) -> Any:
    return at.dataframe[0].value  # the A/B table is the first


def charts(at: AppTest) -> list[dict[str, Any]]:
    """The Vega-Lite specs drawn, each with its inline data (sent as Arrow) back in ``values``."""
    import pyarrow as pa

    specs = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        if chart.proto.data.data:
            spec["values"] = pa.ipc.open_stream(chart.proto.data.data).read_all().to_pylist()
        specs.append(spec)
    return specs


def test_display_names_order_units_and_the_falling_false_positive_rate(built: Engine) -> None:
    at = goto(app(built.root).run(), "Compare")  # A: the champion v1.0.3; B: v1.0.1
    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.1").run()
    shown = table(at)
    assert list(shown["Metric"]) == ["Magnitude accuracy", "Azimuth accuracy", "Magnitude macro-F1",
                                     "Magnitude MCC", "Large recall", "False-positive rate", "Stability",
                                     "Composite score"]
    rows = {row["Metric"]: row for row in shown.to_dict("records")}
    mag = rows["Magnitude accuracy"]
    assert (mag["v1.0.3 (A)"], mag["v1.0.1 (B)"], mag["Difference"]) == ("68.67 %", "96.34 %", "+27.67 pts")
    assert "better" in mag["B vs A"]
    fpr = rows["False-positive rate"]
    assert fpr["Difference"] == "-2.50 pts" and fpr["B vs A"] == "▲ v1.0.1 better", "a fall is better"
    mcc = rows["Magnitude MCC"]
    assert (mcc["v1.0.3 (A)"], mcc["Difference"]) == ("0.4123", "+0.0877")
    assert "%" not in rows["Composite score"]["v1.0.3 (A)"]


def test_missing_values_are_a_dash_and_the_paired_test_stays(built: Engine) -> None:
    at = goto(app(built.root).run(), "Compare")
    at.selectbox(key="lcm_cmp_a").set_value("convnext_v1.0.0")
    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.1").run()  # the benchmark is shared
    assert "Paired test over events on benchmark" in texts(at)
    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.4").run()  # never evaluated
    column = table(at)["v1.0.4 (B)"]
    assert set(column) == {"\u2013"} and set(table(at)["Difference"]) == {"\u2013"}


def test_digests_are_short(built: Engine) -> None:
    at = goto(app(built.root).run(), "Compare")
    at.selectbox(key="lcm_cmp_a").set_value("convnext_v1.0.0")
    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.1").run()
    shown = texts(at)
    assert DIGEST[:12] in shown and DIGEST not in shown and DIGEST[:13] not in shown


def test_several_versions_side_by_side(built: Engine) -> None:
    at = goto(app(built.root).run(), "Compare")
    at.selectbox(key="lcm_cmp_a").set_value("convnext_v1.0.0")
    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.1").run()
    many = at.multiselect(key="lcm_cmp_many")
    assert many.value == ["convnext_v1.0.0", "convnext_v1.0.1"], "the default is the pair compared"
    many.select("convnext_v1.0.2").run()
    specs = charts(at)
    heatmaps = [s for s in specs if str(s.get("title", "")).startswith("v")]
    assert [s["title"] for s in heatmaps] == ["v1.0.0", "v1.0.1", "v1.0.2"], "one heatmap per version"
    for spec in heatmaps:
        rows = len(spec["encoding"]["y"]["sort"])
        assert spec["height"] / rows >= 28, "rows tall enough to read"
        assert spec["encoding"]["y"]["axis"]["labelLimit"] == 0, "labels are not cut"
    [bars] = [s for s in specs if s.get("title") == "Recall per magnitude class"]
    versions = {row["version"] for row in bars["values"]}
    assert versions == {"v1.0.0", "v1.0.1", "v1.0.2"} and bars["encoding"]["xOffset"]["field"] == "version"
    large = {row["version"]: row["recall"] for row in bars["values"] if row["class"] == "Large"}
    assert large == {"v1.0.0": 80.0, "v1.0.1": 95.0, "v1.0.2": 96.0}
    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.2").run()  # another pair: a new default
    assert at.multiselect(key="lcm_cmp_many").value == ["convnext_v1.0.0", "convnext_v1.0.2"]
    assert not at.exception


def test_formatting_functions() -> None:
    assert format_value("magnitude_accuracy", 97.6349) == "97.63 %"
    assert format_value("composite_score", 0.91234) == "0.9123" and format_value("magnitude_mcc", None) == "\u2013"
    assert format_value("false_positive_rate", 0) == "0.00 %"
    assert format_difference("azimuth_accuracy", 1.25) == "+1.25 pts"
    assert format_difference("composite_score", -0.0123) == "-0.0123"
    assert ordered(["composite_score", "false_positive_rate", "azimuth_accuracy", "magnitude_accuracy",
                    "original_composite_score"]) == ["magnitude_accuracy", "azimuth_accuracy",
                                                     "false_positive_rate", "composite_score",
                                                     "original_composite_score"]
    [row] = comparison_rows([{"metric": "false_positive_rate", "a": 5.0, "b": 7.0, "difference": 2.0,
                              "better": None}], "1", "2")
    assert row["B vs A"] == "▼ v2 worse", "a rise of a lower-is-better metric is worse"
    assert short_digest(f"data@{'ab' * 32}") == "data@abababababab…"
