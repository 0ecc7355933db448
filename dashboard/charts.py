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
COLOURS = {"Magnitude accuracy": "#1f77b4", "Azimuth accuracy": "#ff7f0e", "Composite score x100": "#2ca02c"}
FIELDS = {"magnitude_accuracy": "Magnitude accuracy", "azimuth_accuracy": "Azimuth accuracy",
          "composite_score": "Composite score x100"}
COLOUR: Spec = {"field": "metric", "type": "nominal", "title": "Metric",
                "scale": {"domain": list(COLOURS), "range": list(COLOURS.values())}}
SHAPE: Spec = {"field": "status", "type": "nominal", "title": "Status",
               "scale": {"domain": list(SHAPES), "range": list(SHAPES.values())}}
TOOLTIP = [{"field": "version", "type": "ordinal", "title": "Version"},
           {"field": "status", "type": "nominal", "title": "Status"},
           {"field": "was_champion", "type": "nominal", "title": "Was champion"},
           {"field": "magnitude", "type": "quantitative", "format": ".2f", "title": "Magnitude accuracy (%)"},
           {"field": "azimuth", "type": "quantitative", "format": ".2f", "title": "Azimuth accuracy (%)"},
           {"field": "composite", "type": "quantitative", "format": ".4f", "title": "Composite score (0-1)"},
           {"field": "registered", "type": "nominal", "title": "Registered (UTC)"}]
ROLLBACK_TOOLTIP = [{"field": k, "type": "nominal"} for k in ("to", "from", "severity", "reason", "actor", "time")]


def _long(points: Sequence[Mapping[str, Any]], series: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (version, metric), in percent (the composite x100), each row carrying
    all of its version's figures for the tooltip."""
    rows = []
    for point in points:
        for field, name in FIELDS.items():
            value = point.get(field)
            if name not in series or value is None:
                continue
            rows.append({"version": point["version"], "status": point["status"],
                         "champion": bool(point["champion"]), "reigned": bool(point["reigned"]),
                         "was_champion": "yes" if point["reigned"] else "no",
                         "metric": name, "value": 100 * value if field == "composite_score" else value,
                         "magnitude": point.get("magnitude_accuracy"), "azimuth": point.get("azimuth_accuracy"),
                         "composite": point.get("composite_score"),
                         "registered": str(point.get("time") or "").replace("T", " ").split(".")[0]})
    return rows


def versions_chart(points: Sequence[Mapping[str, Any]], rollbacks: list[dict[str, Any]],
                   series: Sequence[str] = tuple(COLOURS)) -> Spec:
    """Every evaluated version on an ordinal x-axis in version order (``points`` come
    sorted by version), one y-axis in percent (accuracies; the composite score x100).

    The lines join only the versions that were champion at some time (``reigned``), so a
    rejected model or the challenger is a separate mark, never a dip in the line; a
    point's shape is its status, the current champion is circled and labelled, every
    point's tooltip gives its version, status and figures, and a rollback is a red dashed
    rule at the version it removed."""
    versions = list(dict.fromkeys(str(p["version"]) for p in points))
    x: Spec = {"field": "version", "type": "ordinal", "title": "Version", "sort": versions,
               "scale": {"domain": versions},
               "axis": {"labelAngle": -45 if len(versions) > 12 else 0, "labelOverlap": True}}
    y: Spec = {"field": "value", "type": "quantitative", "title": "Percent (composite score x100)",
               "scale": {"zero": False}}
    data = _long(points, series)
    line = [row for row in data if row["reigned"]]
    label = "datum.champion && datum.metric == '" + next(iter(s for s in FIELDS.values() if s in series), "") + "'"
    layers: list[Spec] = [
        {"data": {"name": "line"}, "mark": {"type": "line", "strokeWidth": 2, "opacity": 0.7},
         "encoding": {"x": x, "y": y, "color": COLOUR}},
        {"data": {"name": "points"}, "mark": {"type": "point", "size": 80, "filled": True, "opacity": 0.9},
         "encoding": {"x": x, "y": y, "color": COLOUR, "shape": SHAPE, "tooltip": TOOLTIP}},
        {"data": {"name": "points"}, "transform": [{"filter": "datum.champion"}],
         "mark": {"type": "point", "shape": "circle", "size": 420, "filled": False, "strokeWidth": 2},
         "encoding": {"x": x, "y": y, "color": COLOUR, "tooltip": TOOLTIP}},
        {"data": {"name": "points"}, "transform": [{"filter": label}],
         "mark": {"type": "text", "dy": -20, "fontWeight": "bold"},
         "encoding": {"x": x, "y": y, "text": {"value": "champion"}, "color": {"value": "black"}}},
    ]
    marks = [{**r, "at": r["from"]} for r in rollbacks if r.get("from") in versions]
    if marks:
        layers.append({"data": {"name": "rollbacks"},
                       "mark": {"type": "rule", "color": "#d62728", "strokeDash": [5, 4], "strokeWidth": 2},
                       "encoding": {"x": {**x, "field": "at"}, "tooltip": ROLLBACK_TOOLTIP}})
    return {"height": 460, "datasets": {"points": data, "line": line, "rollbacks": marks}, "layer": layers}


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
