"""History: the audit trail (filter by model, type, actor, time) and time travel ("state as of")."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.context import KEY, Context, pct
from dashboard.shaping import archive_rows, filter_history, short_time
from lifecycle.errors import UserError
from lifecycle.state import State
from projections.views import parse_time, status_view

PAGE_SIZE = 50
MAX_COMMITS = 2000  # the newest matching commits shown ('lifecycle history --json' lists all)
ALL = "(all)"


def render(ctx: Context) -> None:
    if ctx.state.seq == 0:
        st.info("The log is empty: every command (submit, evaluate, decide, rollback, ...) will appear here.")
        return
    rows = _filtered(ctx)
    if rows is not None:
        _table(rows)
    st.divider()
    time_travel(ctx)


def _time(label: str, key: str) -> tuple[str | None, bool]:
    """(canonical time or None, valid) from a text field; a bad value is reported."""
    text = st.text_input(label, key=key, placeholder="2026-02-10 or 2026-02-10T15:00:00 (UTC)").strip()
    if not text:
        return None, True
    try:
        return parse_time(text), True
    except UserError as exc:
        st.error(str(exc))
        return None, False


def _filtered(ctx: Context) -> list[dict[str, Any]] | None:
    types, actors = ctx.snapshot.choices()
    models = [m.model_id for m in reversed(ctx.state.by_version())]
    a, b, c = st.columns(3)
    model = a.selectbox("Model", [ALL, *models], key=KEY + "hist_model")
    chosen = b.multiselect("Event type", types, key=KEY + "hist_types")
    actor = c.selectbox("Actor", [ALL, *actors], key=KEY + "hist_actor")
    d, e = st.columns(2)
    with d:
        since, ok_since = _time("From (UTC)", KEY + "hist_since")
    with e:
        until, ok_until = _time("Until (UTC)", KEY + "hist_until")
    if not (ok_since and ok_until):
        return None
    filters: dict[str, Any] = {"model_id": None if model in (None, ALL) else model, "types": chosen,
                               "actor": None if actor in (None, ALL) else actor, "since": since, "until": until}
    commits = ctx.snapshot.matching(MAX_COMMITS, **filters)
    if len(commits) == MAX_COMMITS:
        st.caption(f"The newest {MAX_COMMITS} matching commits; narrow the filters, or run "
                   "'lifecycle history --json' for all of them.")
    return filter_history(commits[::-1], **filters)


def _table(rows: list[dict[str, Any]]) -> None:
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    st.caption(f"{len(rows)} events, newest first")
    page = st.pagination(pages, key=KEY + "hist_page") if pages > 1 else 1
    shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    st.dataframe([{**row, "time": short_time(row["time"]), "reason": row["reason"] or "",
                   "p_value": f"{row['p_value']:.4g}" if row["p_value"] is not None else ""} for row in shown],
                 hide_index=True, key=KEY + "hist_table",
                 column_order=["seq", "time", "actor", "type", "model_id", "reason", "p_value", "detail",
                               "command"])


def time_travel(ctx: Context) -> None:
    st.subheader("State as of")
    moment, ok = _time("Show the registry as it was at (UTC)", KEY + "asof")
    if moment is None:
        if ok:
            st.caption("Give a date or time to see the champion, challenger and archive at that moment.")
        return
    commit, state = ctx.snapshot.at_time(moment)
    if commit is None:
        st.info(f"Before the first commit ({short_time(ctx.snapshot.first_time())} UTC) the registry was empty.")
        return
    st.write(f"At {short_time(moment)} UTC the registry was at commit {commit['seq']} "
             f"({commit['command']} by {commit['actor']}, {short_time(commit['time'])} UTC).")
    _registry(state)


def _registry(state: State) -> None:
    view = status_view(state)
    champion, challenger = view["champion"], view["challenger"]
    if champion:
        m = champion["metrics"]
        st.write(f"Champion: **v{champion['version']}** (deployed {short_time(champion['deployed_at'])}; "
                 f"mag {pct(m.get('magnitude_accuracy'))}, azi {pct(m.get('azimuth_accuracy'))})")
    else:
        st.write("Champion: none")
    st.write(f"Challenger: v{challenger['version']} ({challenger['status']})" if challenger
             else "Challenger: none")
    st.write(f"{view['models']} models; pool: {view['pool']} events")
    rows = archive_rows(state)
    if rows:
        st.dataframe([{k: r[k] for k in ("version", "status", "archived_at", "magnitude_accuracy",
                                         "azimuth_accuracy", "reason")} for r in rows],
                     hide_index=True, key=KEY + "asof_archive")
