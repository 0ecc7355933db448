"""Every version in one sortable table (the registry at a glance), and any version's details.

The table is a typed ``st.dataframe`` (click a heading to sort): numbers stay numbers
(accuracies in percent with 2 decimals, the composite 0-1 with 4), dates stay dates; the
details selector shows ``details.render`` for any version, not only the champion.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from dashboard.context import KEY, Context, keep_choice
from dashboard.sections import details
from dashboard.shaping import STATUS_LABEL
from lifecycle.state import State
from projections.registry import metrics

DETAILS = KEY + "ver_details"
DATES = ("created", "deployed", "archived")
NUMBERS = ("magnitude_accuracy", "azimuth_accuracy", "composite_score")
SHOWN = ["order", "version", "status", "was_champion", *NUMBERS, *DATES, "reason"]


def _when(text: str | None) -> datetime | None:
    """An ISO time (UTC) as a naive datetime, so the column sorts and shows as a date."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def version_rows(state: State) -> list[dict[str, Any]]:
    """One row per version, newest version first; ``order`` is the version's rank (1: the
    oldest), the column to sort by for version order (``1.0.10`` after ``1.0.9``)."""
    rows = []
    for order, record in enumerate(state.by_version(), start=1):
        found = metrics(record)
        rows.append({
            "order": order, "version": record.version, "model_id": record.model_id,
            "status": STATUS_LABEL[record.status], "was_champion": record.model_id in state.reigns,
            **{name: found.get(name) for name in NUMBERS},
            "created": _when(record.created_at), "deployed": _when(record.deployed_at),
            "archived": _when(record.archived_at), "reason": record.reason or "",
        })
    return rows[::-1]


def _frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=[*SHOWN, "model_id"])
    for name in NUMBERS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in DATES:
        frame[name] = pd.to_datetime(frame[name])
    frame["order"] = frame["order"].astype("int64")
    frame["was_champion"] = frame["was_champion"].astype("bool")
    return frame


def _columns() -> dict[str, Any]:
    column = st.column_config
    when = "YYYY-MM-DD HH:mm"
    return {
        "order": column.NumberColumn("#", format="%d", width="small",
                                     help="The version's rank (1: the oldest); sort by it for version order"),
        "version": column.TextColumn("Version", width="small"),
        "status": column.TextColumn("Status", width="small",
                                    help="champion, challenger, archived, rejected or pre-rollback"),
        "was_champion": column.CheckboxColumn("Was champion", width="small"),
        "magnitude_accuracy": column.NumberColumn("Magnitude acc.", format="%.2f%%"),
        "azimuth_accuracy": column.NumberColumn("Azimuth acc.", format="%.2f%%"),
        "composite_score": column.ProgressColumn("Composite", format="%.4f", min_value=0.0, max_value=1.0,
                                                 help="Composite score, 0-1 (higher is better)"),
        "created": column.DatetimeColumn("Created (UTC)", format=when),
        "deployed": column.DatetimeColumn("Deployed (UTC)", format=when),
        "archived": column.DatetimeColumn("Archived (UTC)", format=when),
        "reason": column.TextColumn("Reason", width="large"),
    }


def render_table(ctx: Context) -> None:
    """Every version of the registry, newest first; click a heading to sort."""
    rows = version_rows(ctx.state)
    if not rows:
        return
    st.subheader("All versions")
    st.caption(f"{len(rows)} versions, newest first; click a column heading to sort "
               "(# sorts by version). Accuracies in percent, the composite score 0-1.")
    st.dataframe(_frame(rows), hide_index=True, column_order=SHOWN, column_config=_columns(),
                 width="stretch", key=KEY + "ver_table")


def render_details(ctx: Context) -> None:
    """A selector of any version, and its details (metadata, lineage, evaluations)."""
    state = ctx.state
    ordered = [record.model_id for record in reversed(state.by_version())]
    if not ordered:
        return
    labels = {m: f"v{state.models[m].version} ({STATUS_LABEL[state.models[m].status]})" for m in ordered}
    keep_choice(DETAILS, ordered, state.champion or ordered[0])
    st.subheader("Details of a version")
    chosen = st.selectbox("Version", ordered, format_func=labels.__getitem__, key=DETAILS,
                          help="Any version: metadata, lineage, evaluations with confusion matrices")
    details.render(ctx, state.models[chosen or ordered[0]])
