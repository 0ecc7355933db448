"""The Archive page: every archived model, 20 per page, with Use and Rollback per row."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.context import KEY, Context, pct, safe_key, score, select_for_analysis
from dashboard.sections import rollback
from dashboard.shaping import archive_rows
from projections.registry import metrics

PAGE_SIZE = 20
WIDTHS = [0.8, 1.0, 1.5, 0.8, 0.8, 0.9, 2.2, 1.0, 1.4]  # the buttons keep their labels at 800 px
HEADINGS = ["Version", "Status", "Archived at (UTC)", "Mag %", "Azi %", "Composite", "Reason", "", ""]
STATUSES = ["archived", "rejected", "pre-rollback"]


def render(ctx: Context) -> None:
    rollback.render_pending(ctx)
    rows = archive_rows(ctx.state)
    if not rows:
        st.info("The archive is empty: models land here when a challenger is promoted over them, "
                "is rejected, or when a rollback removes a champion.")
        return
    shown = st.multiselect("Status", STATUSES, default=STATUSES, key=KEY + "arc_status")
    rows = [r for r in rows if r["status"] in shown]
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    st.caption(f"{len(rows)} archived models, most recently archived first"
               + ("" if ctx.allow_actions else "; read-only (start with --allow-actions to roll back)")
               + ". Every version in one sortable table, and any version's details: the Versions chart page.")
    page = st.pagination(pages, key=KEY + "arc_page") if pages > 1 else 1
    _heading()
    for row in rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
        _row(ctx, row)


def _heading() -> None:
    for column, text in zip(st.columns(WIDTHS), HEADINGS, strict=True):
        column.markdown(f"**{text}**" if text else "")


def _row(ctx: Context, row: dict[str, Any]) -> None:
    cells = st.columns(WIDTHS, vertical_alignment="center")
    cells[0].markdown(f"v{row['version']}")
    cells[1].markdown(row["status"])
    cells[2].markdown(row["archived_at"] or "-")
    cells[3].markdown(pct(row["magnitude_accuracy"]).rstrip("%"))
    cells[4].markdown(pct(row["azimuth_accuracy"]).rstrip("%"))
    cells[5].markdown(score(metrics(ctx.state.models[row["model_id"]]).get("composite_score")))
    cells[6].markdown(row["reason"] or "-")
    key = safe_key(row["model_id"])
    cells[7].button("Use", key=f"{KEY}use_{key}", help="Select for Compare and Test an event",
                    on_click=select_for_analysis, args=(row["model_id"], row["version"]))
    allowed = ctx.allow_actions and row["can_rollback"]
    why = row["why_not"] or ("read-only dashboard" if not ctx.allow_actions else "")
    cells[8].button("Rollback", key=f"{KEY}rb_{key}", disabled=not allowed,
                    help=f"Make v{row['version']} the champion again" if allowed else f"Not available: {why}",
                    on_click=rollback.choose, args=(row["model_id"], row["version"], ctx.state.seq))
