"""Vega-Lite charts (Altair, which Streamlit ships with): versions over time, confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def _layer(rows: list[dict[str, Any]], title: str, rollbacks: list[dict[str, Any]],
           zero: bool) -> Any:
    base = alt.Chart(_data(rows)).encode(
        x=alt.X("time:T", title="Registered"),
        y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=zero)),
        color=_metric_colour(),
        tooltip=["version:N", "status:N", "metric:N", alt.Tooltip("value:Q", format=".4~f"), "time:T"],
    )
    lines = base.mark_line(opacity=0.5, strokeWidth=1)
    points = base.mark_point(size=60, filled=True).encode(shape=_status_shape())
    champion = base.transform_filter("datum.champion").mark_point(
        size=420, shape="diamond", filled=False, strokeWidth=2, color="black")
    label = base.transform_filter("datum.champion").mark_text(dy=-16, fontWeight="bold").encode(
        text=alt.value("champion"), color=alt.value("black"))
    layers: list[Any] = [lines, points, champion, label]
    if rollbacks:
        layers.append(alt.Chart(_data(rollbacks)).mark_rule(
            color="#d62728", strokeDash=[5, 4], strokeWidth=2).encode(
            x="time:T", tooltip=["to:N", "from:N", "severity:N", "reason:N", "actor:N", "time:T"]))
    return alt.layer(*layers)


def versions_chart(points: Sequence[Mapping[str, Any]], rollbacks: list[dict[str, Any]]) -> Any:
    """Accuracies (percent) above, composite score (0-1) below; the shape of a point is the
    model's status (rejections are crosses), the current champion is circled and labelled,
    rollbacks are red dashed rules."""
    accuracy = _long(points, {"magnitude_accuracy": "Magnitude accuracy",
                              "azimuth_accuracy": "Azimuth accuracy"})
    composite = _long(points, {"composite_score": "Composite score"})
    top = _layer(accuracy, "Accuracy (%)", rollbacks, zero=False).properties(height=320)
    bottom = _layer(composite, "Composite score", rollbacks, zero=False).properties(height=200)
    return alt.vconcat(top, bottom).resolve_scale(x="shared", color="shared", shape="shared")


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
