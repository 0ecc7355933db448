"""The pool: validated events waiting for the next training, and progress toward the trigger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard.context import KEY, Context
from dashboard.shaping import last_training, pool_rows, short_time, triggers


def render(ctx: Context) -> None:
    minimum, max_days, problem = triggers(ctx.root)
    if problem:
        st.warning(f"{problem}; showing the default triggers.")
    rows = pool_rows(ctx.state)
    count = len(rows)
    st.metric("Validated events in the pool", count)
    st.progress(min(1.0, count / minimum) if minimum else 1.0,
                text=f"{count} of {minimum} new events needed to trigger the next training")
    _time_trigger(ctx, max_days)
    if not rows:
        st.info("The pool is empty. Validated events join it with 'lifecycle data add'; a rejected "
                "challenger's new training events come back to it.")
        return
    st.dataframe(rows, hide_index=True, key=KEY + "pool_table")


def _time_trigger(ctx: Context, max_days: float) -> None:
    last = last_training(ctx.snapshot.commits_of_type("trained"))
    if last is None:
        st.caption(f"No model trained yet; the time trigger is {max_days:g} days after a training.")
        return
    trained = datetime.fromisoformat(last.replace("Z", "+00:00"))
    due = trained + timedelta(days=max_days)
    days = (datetime.now(UTC) - trained).total_seconds() / 86400
    st.caption(f"Last model registered {short_time(last)} UTC ({days:.0f} days ago); the time trigger "
               f"({max_days:g} days) falls due {due.strftime('%Y-%m-%d')}.")
