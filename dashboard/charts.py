"""Vega-Lite chart specifications as plain dictionaries (drawn with ``st.vega_lite_chart``).

Written by hand rather than with Altair: Altair deep-copies and validates inline data per
layer, which costs seconds for a few hundred versions; a dictionary costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Spec = dict[str, Any]
SHAPES = {"champion": "diamond", "archived": "circle", "pre-rollback": "triangle-down",
          "rejected": "cross", "challenger": "square"}
COLOURS = {"Magnitude accuracy": "#1f77b4", "Azimuth accuracy": "#ff7f0e", "Composite score": "#2ca02c"}
TIME: Spec = {"field": "time", "type": "temporal", "title": "Registered (UTC)", "scale": {"padding": 40},
              "axis": {"format": "%Y-%m-%d %H:%M", "labelAngle": -30, "labelOverlap": True}}
COLOUR: Spec = {"field": "metric", "type": "nominal", "title": "Metric",
                "scale": {"domain": list(COLOURS), "range": list(COLOURS.values())}}
SHAPE: Spec = {"field": "status", "type": "nominal", "title": "Status",
               "scale": {"domain": list(SHAPES), "range": list(SHAPES.values())}}
TOOLTIP = [{"field": "version", "type": "nominal"}, {"field": "status", "type": "nominal"},
           {"field": "metric", "type": "nominal"}, {"field": "value", "type": "quantitative", "format": ".4~f"},
           {"field": "time", "type": "temporal", "format": "%Y-%m-%d %H:%M:%S"}]
ROLLBACK_TOOLTIP = [{"field": k, "type": "nominal"} for k in ("to", "from", "severity", "reason", "actor")]


def _long(points: Sequence[Mapping[str, Any]], fields: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for point in points:
        for field, name in fields.items():
            if point.get(field) is not None:
                rows.append({"version": point["version"], "time": point["time"], "status": point["status"],
                             "champion": point["champion"], "metric": name, "value": point[field]})
    return rows


def _series(data: str, title: str, orient: str, dash: list[int]) -> Spec:
    y = {"field": "value", "type": "quantitative", "title": title, "scale": {"zero": False},
         "axis": {"orient": orient}}
    label = "datum.champion && datum.metric == 'Magnitude accuracy'"
    return {"data": {"name": data}, "encoding": {"x": TIME, "y": y, "color": COLOUR, "tooltip": TOOLTIP},
            "layer": [
                {"mark": {"type": "line", "opacity": 0.6, "strokeWidth": 1.5, "strokeDash": dash}},
                {"mark": {"type": "point", "size": 60, "filled": True}, "encoding": {"shape": SHAPE}},
                {"transform": [{"filter": "datum.champion"}],
                 "mark": {"type": "point", "shape": "circle", "size": 420, "filled": False, "strokeWidth": 2}},
                {"transform": [{"filter": label}], "mark": {"type": "text", "dy": -18, "fontWeight": "bold"},
                 "encoding": {"text": {"value": "champion"}, "color": {"value": "black"}}},
            ]}


def versions_chart(points: Sequence[Mapping[str, Any]], rollbacks: list[dict[str, Any]],
                   series: Sequence[str] = tuple(COLOURS)) -> Spec:
    """Accuracies (percent, left axis) and the composite score (0-1, right axis, dashed) of
    every evaluated version over time; a point's shape is the model's status (rejections are
    crosses), the current champion is circled and labelled, rollbacks are red dashed rules."""
    names = {"magnitude_accuracy": "Magnitude accuracy", "azimuth_accuracy": "Azimuth accuracy"}
    accuracy = _long(points, {k: v for k, v in names.items() if v in series})
    composite = _long(points, {"composite_score": "Composite score"} if "Composite score" in series else {})
    layers: list[Spec] = [{"layer": [_series("accuracy", "Accuracy (%)", "left", []),
                                     _series("composite", "Composite score (0-1, dashed)", "right", [4, 3])],
                           "resolve": {"scale": {"y": "independent"}}}]
    if rollbacks:
        layers.append({"data": {"name": "rollbacks"},
                       "mark": {"type": "rule", "color": "#d62728", "strokeDash": [5, 4], "strokeWidth": 2},
                       "encoding": {"x": {"field": "time", "type": "temporal"}, "tooltip": ROLLBACK_TOOLTIP}})
    return {"height": 460, "datasets": {"accuracy": accuracy, "composite": composite, "rollbacks": rollbacks},
            "layer": layers}


def confusion_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> Spec:
    """Counts per (true, predicted) class, darker = more."""
    rows = [{"true": labels[i], "predicted": labels[j], "count": int(count)}
            for i, row in enumerate(matrix) for j, count in enumerate(row)]
    peak = max((int(count) for row in matrix for count in row), default=0)
    order = list(labels)
    shade = {"field": "count", "type": "quantitative", "scale": {"scheme": "blues"}, "legend": None}
    ink = {"condition": {"test": f"datum.count > {peak / 2}", "value": "white"}, "value": "black"}
    tooltip = [{"field": "true"}, {"field": "predicted"}, {"field": "count", "type": "quantitative"}]
    return {
        "title": title, "height": 40 * len(labels) + 40, "data": {"values": rows},
        "encoding": {"x": {"field": "predicted", "type": "nominal", "sort": order, "title": "Predicted"},
                     "y": {"field": "true", "type": "nominal", "sort": order, "title": "True"}},
        "layer": [
            {"mark": "rect", "encoding": {"color": shade, "tooltip": tooltip}},
            {"mark": "text", "encoding": {"text": {"field": "count", "type": "quantitative"}, "color": ink}},
        ],
    }
