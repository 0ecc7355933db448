"""Rollback from the page: choose a row, give a reason, confirm (and the token), run the
same ``Rollback`` command as ``lifecycle rollback``, as actor "dashboard", or
``dashboard:<name>`` when the token given is a named one (``access.actor_for``; the
page remembers who unlocked it for the rest of the session).

The command carries the commit the page showed when the row was chosen
(``expected_seq``): if anything was written since, it is refused ("changed meanwhile,
retry") and the page says so; nothing is half done.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from dashboard.access import ACTOR, actor_for, named_tokens
from dashboard.context import KEY, Context, flash, pct, score
from dashboard.metrics_display import display_name
from lifecycle.commands import Rollback
from lifecycle.errors import UserError
from lifecycle.gate import better_of
from lifecycle.state import ModelRecord
from projections.registry import metrics
from service.engine import ProjectionFailed

PENDING = KEY + "pending"
UNLOCKED = KEY + "unlocked"
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
# What the confirmation compares (target against the champion): the metric, percent or score.
COMPARED = [("magnitude_accuracy", True), ("azimuth_accuracy", True), ("composite_score", False),
            ("false_positive_rate", True)]


def choose(model_id: str, version: str, seq: int) -> None:
    """A row's Rollback button: remember the target and the commit the page showed."""
    st.session_state[PENDING] = {"model_id": model_id, "version": version, "seq": seq}


def cancel() -> None:
    st.session_state.pop(PENDING, None)


def needs_token(ctx: Context) -> bool:
    """Whether the page must still ask for the token (set, and not given this session)."""
    return ctx.token is not None and not isinstance(st.session_state.get(UNLOCKED), str)


def check_token(ctx: Context, given: str | None) -> str | None:
    """Unlock the session with the given token (None: fine), or say it is wrong."""
    if not needs_token(ctx):
        return None
    assert ctx.token is not None
    actor = actor_for(ctx.token, given or "")
    if actor is None:
        time.sleep(1.0)  # slows down guessing
        return "Wrong access token."
    st.session_state[UNLOCKED] = actor
    return None


def actor_now(ctx: Context) -> str:
    """The actor of an action the page allowed (after ``check_token``)."""
    actor = _actor(ctx)
    assert actor is not None, "check_token first"
    return actor


def _actor(ctx: Context) -> str | None:
    """Who the action is recorded as: "dashboard" without a token, else the actor of the
    token given this session (None: not unlocked)."""
    if ctx.token is None:
        return ACTOR
    unlocked = st.session_state.get(UNLOCKED)
    return unlocked if isinstance(unlocked, str) else None


def _shown_actor(ctx: Context) -> str:
    known = _actor(ctx)
    if known is not None:
        return known
    assert ctx.token is not None
    return f"{ACTOR}:<the name of your token>" if named_tokens(ctx.token) is not None else ACTOR


def render_pending(ctx: Context) -> None:
    """The confirmation panel of a chosen rollback (nothing unless one was chosen)."""
    pending: dict[str, Any] | None = st.session_state.get(PENDING)
    if pending is None:
        return
    if not ctx.allow_actions:
        cancel()
        return
    champion = ctx.state.champion_record()
    with st.container(border=True, key=KEY + "confirm"):
        st.subheader(f"Roll back to v{pending['version']}")
        current = f"v{champion.version}" if champion else "(none)"
        st.write(f"The champion {current} is archived as pre-rollback and v{pending['version']} becomes "
                 "the champion again; the production path switches to it. Recorded in the log as "
                 f"actor '{_shown_actor(ctx)}'.")
        target = ctx.state.models.get(pending["model_id"])
        worse = _comparison(champion, target) if target is not None else None
        if ctx.state.seq != pending["seq"]:
            st.warning(f"The registry changed since you chose this (commit {pending['seq']}, now "
                       f"{ctx.state.seq}): confirming will be refused. Cancel and choose again.")
        _form(ctx, pending, worse)


def _comparison(champion: ModelRecord | None, target: ModelRecord) -> str | None:
    """The target's metrics against the champion's, with the difference; a warning when the
    target is worse on magnitude accuracy. Returns how much worse (None: not worse)."""
    mine = metrics(target)
    theirs = metrics(champion) if champion is not None else {}
    head = f"| | v{champion.version} (champion now) | v{target.version} (after the rollback) | difference |" \
        if champion is not None else f"| | (no champion) | v{target.version} (after the rollback) | difference |"
    lines = [head, "|---|---:|---:|---|"]
    for name, percent in COMPARED:
        now, then = theirs.get(name), mine.get(name)
        if now is None and then is None:
            continue
        shown = pct if percent else score
        change = _difference(name, now, then, percent)
        lines.append(f"| {display_name(name)} | {shown(now)} | {shown(then)} | {change} |")
    st.markdown("\n".join(lines))
    if champion is not None:
        on = f"v{champion.version} on {_data(champion)}, v{target.version} on {_data(target)}"
        same = champion.latest_evaluation is not None and champion.latest_evaluation == target.latest_evaluation
        st.caption(f"Latest evaluation of each ({on})" + ("." if same else
                   "; not the same data, so the numbers are not directly comparable."))
    now, then = theirs.get("magnitude_accuracy"), mine.get("magnitude_accuracy")
    if not (isinstance(now, int | float) and isinstance(then, int | float) and then < now):
        return None
    assert champion is not None
    drop = f"{now - then:.2f} points"
    st.warning(f"**v{target.version} is worse on magnitude accuracy** than the champion v{champion.version}: "
               f"{pct(then)} against {pct(now)} ({drop} lower). Roll back only if the champion is "
               "failing in production (e.g. false positives), and say so in the reason.",
               icon=":material/warning:")
    return f"{pct(now)} to {pct(then)}"


def _data(record: ModelRecord) -> str:
    """The data set of the latest evaluation (its key is ``name@digest``)."""
    return (record.latest_evaluation or "no evaluation").split("@")[0]


def _difference(name: str, now: Any, then: Any, percent: bool) -> str:
    verdict = better_of(name, now, then)  # "b": the target is the better one
    if verdict is None:
        return "-"
    delta = then - now
    text = f"{delta:+.2f} points" if percent else f"{delta:+.4f}"
    return f"{text} ({ {'same': 'same', 'b': 'better', 'a': '**worse**'}[verdict] })"


def _form(ctx: Context, pending: dict[str, Any], worse: str | None) -> None:
    with st.form(KEY + "rollback_form"):
        reason = st.text_input("Reason", key=KEY + "rb_reason", max_chars=2000,
                               placeholder="e.g. false positives rose sharply in production")
        severity = st.selectbox("Severity", SEVERITIES, index=2, key=KEY + "rb_severity")
        given = (st.text_input("Access token", type="password", key=KEY + "rb_token")
                 if needs_token(ctx) else None)
        label = f"I confirm: make v{pending['version']} the champion now"
        if worse is not None:
            label += f", although its magnitude accuracy is lower ({worse})"
        confirmed = st.checkbox(label, key=KEY + "rb_confirm")
        left, right = st.columns(2)
        submitted = left.form_submit_button("Confirm rollback", type="primary", key=KEY + "rb_submit")
        cancelled = right.form_submit_button("Cancel", key=KEY + "rb_cancel")
    if cancelled:
        cancel()
        st.rerun()
    if submitted:
        problem = _problem(ctx, reason, confirmed, given)
        if problem:
            st.error(f"{problem} Nothing was changed.")
            return
        _run(ctx, pending, reason.strip(), severity or "MEDIUM")


def _problem(ctx: Context, reason: str, confirmed: bool, given: str | None) -> str | None:
    if not confirmed:
        return "Tick the confirmation box to roll back."
    if not reason.strip():
        return "Give a reason (it is kept in the log)."
    return check_token(ctx, given)


def _run(ctx: Context, pending: dict[str, Any], reason: str, severity: str) -> None:
    command = Rollback(ref=pending["model_id"], reason=reason, severity=severity)
    actor = _actor(ctx)
    if actor is None:  # not unlocked: _problem asks for the token first
        st.error("Wrong access token. Nothing was changed.")
        return
    try:
        outcome = ctx.engine(actor).execute(command, expected_seq=pending["seq"], reason=reason)
    except ProjectionFailed as exc:
        flash("warning", f"Rolled back, but: {exc}")
    except (UserError, OSError) as exc:  # Conflict: "changed meanwhile ... retry"
        flash("error", f"Not rolled back: {exc}")
    else:
        old = outcome.record["events"][0]["model_id"]
        flash("success", f"Rolled back: v{pending['version']} is the champion again (commit "
                         f"{outcome.record['seq']}); {old} archived as pre-rollback.")
    cancel()
    st.rerun()
