"""A verdict awaiting a person's approval (``require_approval``): pending, approved,
declined, stale.

Guarantees:
1. While a verdict awaits approval the champion does not change; ``state.pending`` names
   the challenger, the verdict, the decision and the commit that requested it.
2. A pending verdict is stale once the facts it was drawn from changed: the challenger
   is no longer the one it judged, the champion changed (any promotion or rollback since,
   even one that came back to the same model), or either model was evaluated again. A
   stale verdict cannot be approved or declined; deciding again replaces it.
3. ``settleable`` refuses (``UserError``, one line saying what to do) anything that does
   not name the one live pending verdict.
"""

from __future__ import annotations

from lifecycle.errors import UserError
from lifecycle.state import Json, ModelRecord, State


def stale_reason(state: State, pending: Json) -> str | None:
    """Why the pending verdict no longer holds (None: it still does)."""
    model_id, seq = pending["model_id"], pending["seq"]
    if state.challenger != model_id:
        return f"{model_id} is no longer the challenger"
    if state.champion != pending.get("champion") or len(state.reigns) != pending.get("reign"):
        return f"the champion changed since commit {seq} (now {state.champion or 'none'})"
    for record in (state.challenger_record(), state.champion_record()):
        newer = [e["seq"] for e in (record.evaluations.values() if record else ()) if e["seq"] > seq]
        if record is not None and newer:
            return f"{record.model_id} was evaluated again at commit {max(newer)}"
    return None


def describe(state: State) -> Json | None:
    """The pending verdict with its staleness (``stale``: the reason, or None)."""
    if state.pending is None:
        return None
    return {**state.pending, "stale": stale_reason(state, state.pending)}


def settleable(state: State, ref: str, action: str) -> tuple[ModelRecord, Json]:
    """The challenger named by ``ref`` and its live pending verdict, or a ``UserError``."""
    record = state.resolve(ref)
    pending = state.pending
    if pending is None:
        raise UserError(f"nothing awaits approval, so there is nothing to {action}; "
                        "'lifecycle status' shows the registry")
    if pending["model_id"] != record.model_id:
        raise UserError(f"{record.model_id} has no verdict awaiting approval; "
                        f"{pending['model_id']}'s does (see 'lifecycle status')")
    stale = stale_reason(state, pending)
    if stale is not None:
        raise UserError(f"the verdict awaiting approval for {record.model_id} (commit {pending['seq']}) "
                        f"is stale: {stale}; run 'lifecycle decide' again")
    return record, pending


def refuse_if_pending(state: State) -> None:
    """Deciding again while a live verdict awaits approval would ask twice."""
    pending = state.pending
    if pending is not None and stale_reason(state, pending) is None:
        raise UserError(f"{pending['model_id']}'s verdict ({pending['verdict']}) awaits approval since "
                        f"commit {pending['seq']}; settle it with 'lifecycle approve "
                        f"{pending['model_id']} --reason ...' or 'lifecycle decline ...'")
