"""The pool: validated events waiting for the next training, and progress toward the trigger.

With actions allowed, an event can be corrected or removed (``data correct`` / ``data
remove``) behind the same rules as a rollback: a reason, a confirmation, the token when
one is set (the action is recorded as the token's name), and the commit the page showed
(``expected_seq``: a change meanwhile is refused, nothing half done)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard.context import KEY, Context, flash
from dashboard.sections.rollback import actor_now, check_token, needs_token
from dashboard.shaping import last_training, pool_rows, short_time, triggers
from lifecycle.errors import UserError
from lifecycle.labels import AZIMUTH_CLASSES, MAGNITUDE_CLASSES


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
    if ctx.allow_actions:
        _curate(ctx, [str(r["event_id"]) for r in rows])


def _curate(ctx: Context, events: list[str]) -> None:
    """Correct or remove one event (the same commands as the CLI)."""
    with st.expander("Correct or remove an event"), st.form(KEY + "pool_form"):
        event_id = st.selectbox("Event", events, key=KEY + "pool_event")
        action = st.radio("Action", ["Correct its labels", "Remove it from the pool"], key=KEY + "pool_action")
        magnitude = st.selectbox("Magnitude class", ["(keep)", *MAGNITUDE_CLASSES], key=KEY + "pool_mag")
        azimuth = st.selectbox("Azimuth class", ["(keep)", *AZIMUTH_CLASSES], key=KEY + "pool_azi")
        reason = st.text_input("Reason", key=KEY + "pool_reason", max_chars=2000)
        given = st.text_input("Access token", type="password", key=KEY + "pool_token") \
            if needs_token(ctx) else None
        confirmed = st.checkbox("I confirm this change to the pool", key=KEY + "pool_confirm")
        submitted = st.form_submit_button("Apply", type="primary", key=KEY + "pool_submit")
    if not submitted or event_id is None:
        return
    problem = (None if confirmed else "Tick the confirmation box.") or \
        (None if reason.strip() else "Give a reason (it is kept in the log).") or check_token(ctx, given)
    if problem:
        st.error(f"{problem} Nothing was changed.")
        return
    _apply(ctx, event_id, action or "", magnitude, azimuth, reason.strip())


def _apply(ctx: Context, event_id: str, action: str, magnitude: str | None, azimuth: str | None,
           reason: str) -> None:
    from lifecycle.commands import RemoveData
    from service.pool import build_correction

    try:
        if action.startswith("Remove"):
            command: object = RemoveData(event_id, reason)
        else:
            command = build_correction(event_id, reason,
                                       magnitude_class=None if magnitude == "(keep)" else magnitude,
                                       azimuth_class=None if azimuth == "(keep)" else azimuth)
        outcome = ctx.engine(actor_now(ctx)).execute(command, expected_seq=ctx.state.seq, reason=reason)
    except (UserError, OSError) as exc:
        flash("error", f"Not changed: {exc}")
    else:
        flash("success", f"{outcome.record['events'][0]['type']}: {event_id} (commit {outcome.record['seq']})")
    st.session_state.pop(KEY + "pool_confirm", None)
    st.rerun()


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
