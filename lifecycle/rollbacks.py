"""Rollbacks: bring back a former champion, by hand or on a production observation.

Guarantees (part of ``lifecycle.decide``'s): only a former champion that still has its
weights can be rolled back to; a plain rollback restores the champion before the current
one that was archived normally, and says how to restore one a rollback removed; a
rollback archives the current champion as ``pre_rollback`` in the same event list.
"""

from __future__ import annotations

from lifecycle.alerts import assess
from lifecycle.commands import RecordObservation, Rollback
from lifecycle.errors import Conflict, UserError
from lifecycle.schema import Archived, Observed, RolledBack
from lifecycle.state import ModelRecord, State
from lifecycle.transitions import allowed


def rollback(state: State, cmd: Rollback) -> list[Archived | RolledBack]:
    current = state.champion_record()
    if current is None:
        raise UserError("there is no champion to roll back")
    if cmd.observation_seq is not None and (state.alert or {}).get("seq") != cmd.observation_seq:
        raise Conflict(f"observation {cmd.observation_seq} no longer calls for a rollback "
                       "(already handled, or the champion changed)")
    target = _rollback_target(state, cmd.ref)
    return [
        Archived(model_id=current.model_id, status="pre_rollback",
                 reason=f"Rolled back to v{target.version}: {cmd.reason}"),
        RolledBack(model_id=target.model_id, from_model_id=current.model_id,
                   reason=cmd.reason, severity=cmd.severity, observation_seq=cmd.observation_seq),
    ]


def record_observation(
    state: State, cmd: RecordObservation
) -> list[Observed | Archived | RolledBack]:
    record = state.resolve(cmd.ref)
    evaluation = record.evaluations.get(record.latest_evaluation) if record.latest_evaluation else None
    evaluated = evaluation["metrics"] if evaluation else {}
    if evaluated.get("false_positive_rate") is None and (
            cmd.accuracy is None or evaluated.get("magnitude_accuracy") is None):
        raise UserError(f"cannot judge: {record.model_id} has no evaluated false-positive rate to compare the "
                        "production figures with; evaluate it on the holdout first "
                        f"('lifecycle evaluate {record.version} --data DIR')")
    verdict = assess(cmd.rules, evaluation["metrics"] if evaluation else {}, cmd.false_positive_rate,
                     cmd.accuracy)
    observed = Observed(model_id=record.model_id, false_positive_rate=cmd.false_positive_rate,
                        accuracy=cmd.accuracy, window=cmd.window, **verdict)
    if not (cmd.apply and verdict["action"] == "rollback" and record.model_id == state.champion):
        return [observed]
    target = state.previous_champion()
    if target is None:
        return [observed]
    reason = f"{verdict['severity']} in production: {'; '.join(verdict['findings'])}"
    return [observed, *rollback(state, Rollback(ref=target.model_id, reason=reason,
                                                 severity=verdict["severity"]))]


def _rollback_target(state: State, ref: str | None) -> ModelRecord:
    if ref is None:
        target = state.previous_champion()
        if target is None:
            raise _no_previous_champion(state)
        return target
    target = state.resolve(ref)
    if target.model_id == state.champion:
        raise UserError(f"{target.model_id} is already the champion")
    if target.model_id not in state.reigns or not allowed(target.status, "rolled_back"):
        raise UserError(
            f"{target.model_id} is {target.status} and was never champion; only former "
            "champions can be rolled back to (see 'lifecycle rollback --list')"
        )
    if target.weights is None:
        raise UserError(f"{target.model_id} has no weight file (imported without one); "
                        "it cannot serve as champion")
    return target


def _no_previous_champion(state: State) -> UserError:
    """Why a plain rollback has no target. Former champions that a rollback removed are not
    restored by it (deliberately), but they are named with the command that restores one."""
    removed = [r.version for r in state.former_champions()
               if r.status == "pre_rollback" and r.weights is not None]
    if not removed:
        return UserError("no archived champion to roll back to; see 'lifecycle rollback --list'")
    head = "no archived champion that a plain rollback restores"
    if len(removed) == 1:
        return UserError(f"{head}: v{removed[0]} was removed by a rollback (pre_rollback); restore it "
                         f"explicitly with 'lifecycle rollback --version {removed[0]}'")
    names = [f"v{version}" for version in removed[:3]]
    if len(removed) > 3:
        names.append(f"{len(removed) - 3} more")
    return UserError(f"{head}: {', '.join(names[:-1])} and {names[-1]} were removed by rollbacks "
                     f"(pre_rollback); restore one explicitly, e.g. "
                     f"'lifecycle rollback --version {removed[0]}'")
