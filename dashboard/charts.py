"""Vega-Lite charts (Altair, which Streamlit ships with): versions over time, confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import altair as alt

SHAPES = {"champion": "diamond", "archived": "circle", "pre-rollback": "triangle-down",
          "rejected": "cross", "challenger": "square"}
COLOURS = {"Magnitude accuracy": "#1f77b4", "Azimuth accuracy": "#ff7f0e", "Composite score": "#2ca02c"}


def _data(rows: list[dict[str, Any]]) -> Any:
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _status_shape() -> alt.Shape:
    return alt.Shape("status:N", title="Status",
                     scale=alt.Scale(domain=list(SHAPES), range=list(SHAPES.values())))


def _metric_colour() -> alt.Color:
    return alt.Color("metric:N", title="Metric",
                     scale=alt.Scale(domain=list(COLOURS), range=list(COLOURS.values())))


def _long(points: Sequence[Mapping[str, Any]], fields: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for point in points:
        for field, name in fields.items():
            if point.get(field) is not None:
                rows.append({"version": point["version"], "time": point["time"], "status": point["status"],
                             "champion": point["champion"], "metric": name, "value": point[field]})
    return rows


def _layer(rows: list[dict[str, Any]], title: str, orient: Literal["left", "right"], dash: list[int]) -> Any:
    base = alt.Chart(_data(rows)).encode(
        x=alt.X("time:T", title="Registered (UTC)", scale=alt.Scale(padding=40),
                axis=alt.Axis(format="%Y-%m-%d %H:%M", labelAngle=-30, labelOverlap=True)),
        y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=False), axis=alt.Axis(orient=orient)),
        color=_metric_colour(),
        tooltip=["version:N", "status:N", "metric:N", alt.Tooltip("value:Q", format=".4~f"), "time:T"],
    )
    lines = base.mark_line(opacity=0.6, strokeWidth=1.5, strokeDash=dash)
    points = base.mark_point(size=60, filled=True).encode(shape=_status_shape())
    champion = base.transform_filter("datum.champion").mark_point(
        size=420, shape="circle", filled=False, strokeWidth=2, color="black")
    only = "datum.champion && datum.metric == 'Magnitude accuracy'"
    label = base.transform_filter(only).mark_text(dy=-16, fontWeight="bold").encode(
        text=alt.value("champion"), color=alt.value("black"))
    return alt.layer(lines, points, champion, label)


def versions_chart(points: Sequence[Mapping[str, Any]], rollbacks: list[dict[str, Any]]) -> Any:
    """Accuracies (percent, left axis) and the composite score (0-1, right axis) of every
    evaluated version over time; a point's shape is the model's status (rejections are
    crosses), the current champion is circled and labelled, rollbacks are red dashed rules."""
    accuracy = _long(points, {"magnitude_accuracy": "Magnitude accuracy",
                              "azimuth_accuracy": "Azimuth accuracy"})
    composite = _long(points, {"composite_score": "Composite score"})
    layers = [_layer(accuracy, "Accuracy (%)", "left", []),
              _layer(composite, "Composite score (0-1, dashed)", "right", [4, 3])]
    chart = alt.layer(*layers).resolve_scale(y="independent")
    if rollbacks:
        rules = alt.Chart(_data(rollbacks)).mark_rule(color="#d62728", strokeDash=[5, 4], strokeWidth=2).encode(
            x="time:T", tooltip=["to:N", "from:N", "severity:N", "reason:N", "actor:N", "time:T"])
        chart = alt.layer(chart, rules)
    return chart.properties(height=460)


def confusion_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> Any:
    """Counts per (true, predicted) class, darker = more."""
    rows: list[dict[str, Any]] = [{"true": labels[i], "predicted": labels[j], "count": int(count)}
                                  for i, row in enumerate(matrix) for j, count in enumerate(row)]
    order = list(labels)
    base = alt.Chart(_data(rows), title=title).encode(
        x=alt.X("predicted:N", sort=order, title="Predicted"),
        y=alt.Y("true:N", sort=order, title="True"),
    )
    cells = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                    tooltip=["true:N", "predicted:N", "count:Q"])
    peak = max((int(r["count"]) for r in rows), default=0)
    text = base.mark_text().encode(
        text="count:Q",
        color=alt.condition(f"datum.count > {peak / 2}", alt.value("white"), alt.value("black")))
    return alt.layer(cells, text).properties(height=40 * len(labels) + 40)
