"""The Champion page: the champion card, the challenger, the last decision, the pool."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.context import KEY, Context, pct, score
from dashboard.sections import details
from dashboard.shaping import last_decision, short_time, triggers
from lifecycle.state import ModelRecord
from projections.registry import metrics

FIRST_RUN = """
**This registry has no model yet.** Register one from the command line, then this page
fills in by itself:

```
lifecycle --root {root} train --data DATA_DIR          # train a challenger, or
lifecycle --root {root} submit CANDIDATE_DIR           # register a trained model, or
lifecycle --root {root} import OLD_INSTALLATION        # take over the original system
lifecycle --root {root} evaluate --data HOLDOUT_DIR && lifecycle --root {root} decide
```
"""


def render(ctx: Context) -> None:
    state = ctx.state
    if not state.models:
        st.info("Welcome: nothing to manage yet.")
        st.markdown(FIRST_RUN.format(root=ctx.root))
        return
    _alert(ctx)
    _pending(ctx)
    left, right = st.columns([3, 2], gap="large")
    with left:
        champion_card(ctx)
    with right:
        challenger_panel(ctx)
        decision_panel(ctx)
        pool_summary(ctx)


def _alert(ctx: Context) -> None:
    alert = ctx.state.alert
    if not alert:
        return
    findings = "; ".join(alert.get("findings", [])) or "see History"
    st.error(f"Production alert ({alert.get('severity')}) on {alert.get('model_id')}: {findings}. "
             "A rollback is advised (Archive page or 'lifecycle rollback').")


def _pending(ctx: Context) -> None:
    """The verdict awaiting a person's approval ([decide] require_approval), if any."""
    from projections.views import pending_view

    pending = pending_view(ctx.state)
    if pending is None:
        return
    head = (f"Awaiting approval: the rule's verdict on {pending['model_id']} is **{pending['verdict']}** "
            f"(requested at commit {pending['requested_seq']}, {short_time(pending['requested_at'])} UTC): "
            f"{pending['reason']}")
    if pending["stale"]:
        st.info(f"{head}. This verdict is stale ({pending['stale']}): run 'lifecycle decide' again.",
                icon=":material/history:")
        return
    lines = [head + ".", f"Settle it: `lifecycle approve {pending['model_id']} --reason ...` or "
             f"`lifecycle decline {pending['model_id']} --reason ...`."]
    lines += [f"Power: {pending['power']}."] if pending["power"] else []
    lines += [f"Warning: {w}." for w in pending["warnings"]]
    st.warning("  \n".join(lines), icon=":material/how_to_reg:")


def champion_card(ctx: Context) -> None:
    record = ctx.state.champion_record()
    with st.container(border=True, key=KEY + "champion"):
        if record is None:
            st.warning("No champion yet: the first model that passes 'lifecycle decide' becomes champion.")
            return
        st.subheader(f"Champion v{record.version}")
        st.caption(f"{record.model_id} · {record.architecture} · deployed {short_time(record.deployed_at)} UTC"
                   + (f" · restored by a rollback from v{record.rollback_from}" if record.rollback_from else ""))
        if record.rollback_from:
            _restored_by(ctx, record)
        _production(ctx)
        found = metrics(record)
        a, b, c = st.columns(3)
        a.metric("Magnitude accuracy", pct(found.get("magnitude_accuracy")))
        b.metric("Azimuth accuracy", pct(found.get("azimuth_accuracy")))
        c.metric("Composite score", score(found.get("composite_score")))
        _training(record)
        show, use = st.columns(2)
        details_on = show.toggle("View details", key=KEY + "details")
        scanner_on = use.toggle("Use for scanner", key=KEY + "scanner")
        # drawn below the toggles, across the card's whole width (not in a narrow column)
        if details_on:
            details.render(ctx, record)
        if scanner_on:
            _scanner(ctx, record)


def _restored_by(ctx: Context, record: ModelRecord) -> None:
    """Who rolled back to the champion, why, and how severe: the last ``rolled_back`` event
    to it in the log (up to the snapshot's commit)."""
    found: tuple[dict[str, Any], dict[str, Any]] | None = None
    for commit in ctx.snapshot.commits_of_type("rolled_back"):
        for event in commit["events"]:
            if event["type"] == "rolled_back" and event["model_id"] == record.model_id:
                found = (commit, event)
    if found is None:
        return
    commit, event = found
    origin = ctx.state.models.get(event.get("from_model_id") or "")
    source = f" from v{origin.version}" if origin is not None else ""
    st.warning(f"**Champion by a rollback**{source}, severity **{event.get('severity') or '-'}**, "
               f"by **{commit['actor']}** on {short_time(commit['time'])} UTC (commit {commit['seq']})  \n"
               f"Reason: {event.get('reason') or commit.get('reason') or '-'}", icon=":material/history:")


def _production(ctx: Context) -> None:
    """Whether the file the scanner loads is the champion's intact bytes (read now)."""
    health = ctx.engine().production_health(ctx.state)
    if health.ok:
        st.success(f"Production file intact: {health.detail}", icon=":material/verified:")
    else:
        st.error(f"Production file NOT OK ({health.state}): {health.detail}", icon=":material/error:")


def _training(record: ModelRecord) -> None:
    data = record.training_data
    events = list(data.get("events_included", ()))
    samples = data.get("total_samples")
    st.markdown(f"Training samples: **{samples if samples is not None else 'unknown'}** · "
                f"events included: **{len(events)}**")
    if events:
        with st.expander(f"Events included ({len(events)})"):
            st.write(", ".join(events))


def _scanner(ctx: Context, record: ModelRecord) -> None:
    link = ctx.root / "production" / "models" / "earthquake_model.pth"
    st.markdown("The scanner loads the production path, a link that always points to the champion's "
                "weights (it switches atomically on promotion and rollback):")
    st.code(str(link), language=None, wrap_lines=True)
    st.markdown("From Python (weights checked against their sha256, loaded weights-only):")
    st.code(f'from api import ModelDeployer\nnetwork, classes = ModelDeployer("{ctx.root}")'
            '.load_model("champion")', language="python", wrap_lines=True)
    st.caption(f"Now: v{record.version}, weights sha256 "
               f"{(record.weights or {}).get('digest', 'none')[:16]}…")


def challenger_panel(ctx: Context) -> None:
    record = ctx.state.challenger_record()
    with st.container(border=True, key=KEY + "challenger"):
        st.markdown("**Challenger**")
        if record is None:
            st.write("None waiting. The next trained model becomes the challenger.")
            return
        evaluated = bool(record.evaluations)
        pending = ctx.state.pending
        status = ("verdict awaiting approval" if pending and pending["model_id"] == record.model_id
                  else "evaluated, waiting for 'lifecycle decide'" if evaluated else "waiting for evaluation")
        st.write(f"v{record.version} ({record.architecture}), registered {short_time(record.created_at)}: "
                 f"**{status}**")
        if evaluated:
            found = metrics(record)
            st.write(f"Mag {pct(found.get('magnitude_accuracy'))} · Azi {pct(found.get('azimuth_accuracy'))} · "
                     f"composite {score(found.get('composite_score'))} (on {record.latest_evaluation})")


def decision_panel(ctx: Context) -> None:
    found = last_decision(ctx.snapshot.commits_of_type("promoted", "rejected"))
    with st.container(border=True, key=KEY + "decision"):
        st.markdown("**Last decision**")
        if found is None:
            st.write("No challenger has been decided yet.")
            return
        verb = "promoted" if found["outcome"] == "promoted" else "rejected"
        st.write(f"{found['model_id']} **{verb}** on {short_time(found['time'])} by {found['actor']}")
        st.write(f"Reason: {found['reason']}")
        st.write(f"Paired test over events, p-value: {_p_value(found)}")
        if found.get("power"):
            st.caption(f"Power: {found['power']}")
        for warning in found.get("warnings", []):
            st.warning(warning)
        if found["checks"]:
            with st.expander("All checks"):
                st.dataframe(_checks(found["checks"]), hide_index=True)


def _p_value(found: dict[str, Any]) -> str:
    if found["p_value"] is not None:
        return f"{found['p_value']:.4g}"
    return "not tested (no per-sample predictions)" if found["checks"] else "not recorded"


def _checks(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"check": c["name"],
             "passed": "not checked" if c.get("checked") is False else "yes" if c["passed"] else "no",
             "detail": c.get("detail", "")} for c in checks]


def pool_summary(ctx: Context) -> None:
    minimum, _, _ = triggers(ctx.root)
    count = len(ctx.state.pool)
    with st.container(border=True, key=KEY + "pool_summary"):
        st.markdown("**Pool**")
        st.progress(min(1.0, count / minimum) if minimum else 1.0,
                    text=f"{count} of {minimum} validated events for the next training")
