"""The version comparison chart: accuracies and composite of every version over time."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import COLOURS, versions_chart
from dashboard.context import KEY, Context, pct, score
from dashboard.shaping import short_time, version_series


def render(ctx: Context) -> None:
    found = version_series(ctx.state, ctx.snapshot.commits_of_type("rolled_back"))
    points, rollbacks = found["points"], found["rollbacks"]
    if not points:
        st.info("No evaluated version yet: the chart shows each version once it has metrics "
                "('lifecycle evaluate').")
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.multiselect("Series", list(COLOURS), default=list(COLOURS), key=KEY + "versions_series")
    if not right.toggle("Show rejected versions", value=True, key=KEY + "versions_rejected"):
        points = [p for p in points if p["status"] != "rejected"]
    st.vega_lite_chart(spec=versions_chart(points, rollbacks, chosen), width="stretch", key=KEY + "versions_chart")
    rejected = sum(1 for p in points if p["status"] == "rejected")
    st.caption(f"{len(points)} evaluated versions; {rejected} rejected (crosses); {len(rollbacks)} "
               "rollbacks (red dashed lines); the current champion is circled and labelled. "
               "Hover a point for its figures.")
    if st.toggle("Show the figures as a table", key=KEY + "versions_table"):
        st.dataframe([{"version": p["version"], "registered": short_time(p["time"]), "status": p["status"],
                       "champion": "yes" if p["champion"] else "",
                       "mag %": pct(p["magnitude_accuracy"]), "azi %": pct(p["azimuth_accuracy"]),
                       "composite": score(p["composite_score"])} for p in reversed(points)],
                     hide_index=True)
