"""The Versions page: the chart of every evaluated version (in version order, the line
through the champions only), the table of every version, and any version's details."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import COLOURS, versions_chart
from dashboard.context import KEY, Context
from dashboard.sections import models_table
from dashboard.shaping import version_series


def render(ctx: Context) -> None:
    _chart(ctx)
    models_table.render_table(ctx)
    models_table.render_details(ctx)


def _chart(ctx: Context) -> None:
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
    reigned = sum(1 for p in points if p["reigned"])
    st.caption(f"{len(points)} evaluated versions; {rejected} rejected (crosses); {len(rollbacks)} "
               "rollbacks (red dashed lines at the version rolled back). Versions in order on the x-axis; "
               f"the lines join the {reigned} versions that were champion, other versions are separate "
               "marks (shape: status); the current champion is circled and labelled; the composite "
               "score is shown x100. Hover a point for its figures.")
