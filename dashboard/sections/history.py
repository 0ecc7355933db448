"""History: the audit trail (filter by model, type, actor, time) and time travel ("state as of")."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from dashboard.context import KEY, Context, pct
from dashboard.shaping import archive_rows, filter_history, short_time
from lifecycle.state import State
from projections.views import status_view

PAGE_SIZE = 50
MAX_COMMITS = 2000  # the newest matching commits shown ('lifecycle history --json' lists all)
ALL = "(all)"


def render(ctx: Context) -> None:
    if ctx.state.seq == 0:
        st.info("The log is empty: every command (submit, evaluate, decide, rollback, ...) will appear here.")
        return
    bounds = _bounds(ctx)
    rows = _filtered(ctx, bounds)
    if rows is not None:
        _table(rows)
    st.divider()
    time_travel(ctx, bounds)


def _bounds(ctx: Context) -> tuple[date, date]:
    """The dates a picker offers: from the first commit's day to today (UTC)."""
    today = datetime.now(UTC).date()
    first = ctx.snapshot.first_time()
    start = date.fromisoformat(first[:10]) if first else today
    return min(start, today), max(today, date.fromisoformat((ctx.state.last_time or today.isoformat())[:10]))


def _moment(bounds: tuple[date, date], label: str, key: str, *, end: bool) -> str | None:
    """A date picked (and, optionally, a time of day), as the log's canonical UTC time; None
    when no date is picked. Without a time: the start of the day (``end``: its end); with
    one: that minute (``end``: to its last microsecond, so the whole minute is in)."""
    first, last = bounds
    day_box, time_box = st.columns([3, 2])
    day = day_box.date_input(label, value=None, min_value=first, max_value=last, key=key, format="YYYY-MM-DD")
    clock = time_box.time_input("Time (UTC, optional)", value=None, step=60, key=key + "_time")
    if not isinstance(day, date):
        return None
    if clock is None:
        moment = datetime.combine(day, time.max if end else time.min)
    else:
        moment = datetime.combine(day, clock.replace(second=0, microsecond=0))
        moment += timedelta(seconds=59, microseconds=999_999) if end else timedelta(0)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _filtered(ctx: Context, bounds: tuple[date, date]) -> list[dict[str, Any]] | None:
    types, actors = ctx.snapshot.choices()
    models = [m.model_id for m in reversed(ctx.state.by_version())]
    a, b, c = st.columns(3)
    model = a.selectbox("Model", [ALL, *models], key=KEY + "hist_model")
    chosen = b.multiselect("Event type", types, key=KEY + "hist_types")
    actor = c.selectbox("Actor", [ALL, *actors], key=KEY + "hist_actor")
    d, e = st.columns(2)
    with d:
        since = _moment(bounds, "From (UTC)", KEY + "hist_since", end=False)
    with e:
        until = _moment(bounds, "Until (UTC)", KEY + "hist_until", end=True)
    if since is not None and until is not None and since > until:
        st.error("'From' is after 'Until': no event can match.")
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


def time_travel(ctx: Context, bounds: tuple[date, date] | None = None) -> None:
    st.subheader("State as of")
    moment = _moment(bounds or _bounds(ctx), "Show the registry as it was at (UTC)", KEY + "asof", end=True)
    if moment is None:
        st.caption("Pick a date (and a time, or the end of that day) to see the champion, challenger "
                   "and archive at that moment.")
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
