"""``decide(state, command) -> events``: the pure decision of every command.

Guarantees:
1. No I/O: the outcome depends only on the state and the command.
2. A command the state does not allow raises ``UserError`` (one line saying what to
   do) and produces no event, so nothing is appended.
3. Invariants hold for every returned event list: at most one champion and one
   challenger; a version is never reused (explicit versions must exceed every version
   ever seen); a promotion or rollback archives the current champion in the same list,
   so both land in one commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from lifecycle.alerts import assess
from lifecycle.commands import (
    AddData,
    Command,
    DecideChallenger,
    Import,
    Promote,
    RecordEvaluation,
    RecordEvaluations,
    RecordObservation,
    Reject,
    Rollback,
    Submit,
)
from lifecycle.errors import Conflict, UserError
from lifecycle.schema import (
    Archived,
    DataAdded,
    Evaluated,
    Imported,
    Observed,
    Promoted,
    Rejected,
    RolledBack,
    Trained,
)
from lifecycle.state import ModelRecord, State
from lifecycle.transitions import allowed
from lifecycle.versions import FIRST_VERSION, Version, check_family, model_id, parse_version

EventModel = Trained | Evaluated | Promoted | Rejected | Archived | RolledBack | Imported | DataAdded | Observed


def decide(state: State, command: Command) -> list[EventModel]:
    handler = cast(Callable[[State, Any], list[EventModel]], _DECIDERS[type(command)])
    return handler(state, command)


def _submit(state: State, cmd: Submit) -> list[EventModel]:
    if state.challenger is not None:
        raise UserError(
            f"challenger {state.challenger} is still waiting for a decision; run "
            "'lifecycle decide' or 'lifecycle reject challenger --reason ...' first"
        )
    for record in state.models.values():
        if record.weights and record.weights["digest"] == cmd.weights["digest"]:
            raise UserError(f"these weights are already registered as {record.model_id}")
    version = _next_version(state, cmd.version, cmd.bump)
    return [Trained(
        model_id=model_id(check_family(cmd.family), version), version=str(version),
        family=cmd.family, architecture=cmd.architecture, weights=cmd.weights,
        files=cmd.files, classes=cmd.classes, training_config=dict(cmd.training_config),
        training_data=cmd.training_data, created_at=cmd.created_at, source=cmd.source,
        production=cmd.production,
    )]


def _next_version(state: State, explicit: str | None, bump: str) -> Version:
    top = state.max_version
    if explicit is None:
        return top.bump(bump) if top else FIRST_VERSION  # type: ignore[arg-type]
    version = parse_version(explicit)
    if top is not None and version <= top:
        raise UserError(
            f"version {version} is not greater than every version ever registered "
            f"(highest: {top}); versions are never reused"
        )
    return version


def _record_evaluation(state: State, cmd: RecordEvaluation) -> list[EventModel]:
    record = state.resolve(cmd.ref)
    composite = cmd.policy.composite(cmd.metrics)
    return [Evaluated(
        model_id=record.model_id, dataset=cmd.dataset, dataset_digest=cmd.dataset_digest,
        metrics=cmd.metrics, composite=composite, predictions=cmd.predictions,
        n_samples=cmd.n_samples, details=cmd.details,
    )]


def _record_evaluations(state: State, cmd: RecordEvaluations) -> list[EventModel]:
    if not cmd.items:
        raise UserError("nothing to evaluate")
    return [event for item in cmd.items for event in _record_evaluation(state, item)]


def _decide_challenger(state: State, cmd: DecideChallenger) -> list[EventModel]:
    challenger = state.challenger_record()
    if challenger is None:
        raise UserError("there is no challenger to decide; submit one with 'lifecycle submit'")
    new_eval = challenger.latest_on(cmd.dataset)
    if new_eval is None:
        raise UserError(
            f"challenger {challenger.model_id} has no evaluation on data set "
            f"'{cmd.dataset}'; run 'lifecycle evaluate challenger ... --dataset {cmd.dataset}'"
        )
    champion = state.champion_record()
    if champion is None:
        reason = "first model: there is no champion yet"
        first = {"outcome": "promote", "rule": "first model", "reason": reason,
                 "challenger_metrics": dict(new_eval["metrics"]), "dataset": cmd.dataset}
        return [Promoted(model_id=challenger.model_id, reason=reason, decision=first)]
    old_eval = _champion_evaluation(champion, cmd.dataset, new_eval.get("dataset_digest"))
    _check_paired(cmd, old_eval, new_eval)
    decision: dict[str, Any] = cmd.policy.judge(old_eval["metrics"], new_eval["metrics"], cmd.paired)
    decision["dataset"] = {"name": cmd.dataset, "digest": new_eval.get("dataset_digest")}
    if decision["outcome"] == "reject":
        return [_reject_event(state, challenger, decision["reason"], decision)]
    return _promotion(state, challenger, decision["reason"], decision)


def _check_paired(cmd: DecideChallenger, old_eval: Any, new_eval: Any) -> None:
    """Paired counts must come from the very evaluations being compared."""
    if cmd.paired is None:
        return
    used = tuple((e.get("predictions") or {}).get("digest") for e in (old_eval, new_eval))
    if cmd.paired_predictions != used:
        raise Conflict("the evaluations changed meanwhile; retry 'lifecycle decide'")


def _champion_evaluation(champion: ModelRecord, dataset: str, digest: str | None) -> Any:
    evaluation = champion.evaluation_on(dataset, digest)
    if evaluation is not None:
        return evaluation
    other = champion.latest_on(dataset)
    if other is not None:
        raise UserError(
            f"champion {champion.model_id} was evaluated on other data under the name "
            f"'{dataset}' (digest {str(other.get('dataset_digest'))[:12]} vs "
            f"{str(digest)[:12]}); evaluate both models on the same data"
        )
    raise UserError(
        f"champion {champion.model_id} has no evaluation on data set '{dataset}'; "
        f"run 'lifecycle evaluate champion ... --dataset {dataset}' (both models must be "
        "measured on the same data)"
    )


def _promotion(
    state: State, challenger: ModelRecord, reason: str, decision: dict[str, Any] | None
) -> list[EventModel]:
    events: list[EventModel] = []
    if state.champion is not None:
        events.append(Archived(
            model_id=state.champion,
            reason=f"Replaced by v{challenger.version} ({reason})",
        ))
    events.append(Promoted(model_id=challenger.model_id, reason=reason, decision=decision))
    return events


def _reject_event(state: State, challenger: ModelRecord, reason: str, decision: Any) -> Rejected:
    """The challenger's training events that the champion was not trained on go back to the pool."""
    champion = state.champion_record()
    known = set(champion.training_data.get("events_included", ())) if champion else set()
    new_events = [e for e in challenger.training_data.get("events_included", ()) if e not in known]
    return Rejected(model_id=challenger.model_id, reason=reason, decision=decision,
                    returned_to_pool=sorted(new_events))


def _challenger_ref(state: State, ref: str, action: str) -> ModelRecord:
    record = state.resolve(ref)
    if not allowed(record.status, action):
        raise UserError(
            f"{record.model_id} is {record.status}; only the challenger can be {action}"
        )
    return record


def _promote(state: State, cmd: Promote) -> list[EventModel]:
    record = _challenger_ref(state, cmd.ref, "promoted")
    decision = {"outcome": "promote", "rule": "manual", "reason": cmd.reason}
    return _promotion(state, record, cmd.reason, decision)


def _reject(state: State, cmd: Reject) -> list[EventModel]:
    record = _challenger_ref(state, cmd.ref, "rejected")
    return [_reject_event(state, record, cmd.reason, {"outcome": "reject", "rule": "manual",
                                                      "reason": cmd.reason})]


def _rollback(state: State, cmd: Rollback) -> list[EventModel]:
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


def _add_data(state: State, cmd: AddData) -> list[EventModel]:
    if cmd.event_id in state.data or cmd.event_id in state.pool:
        raise UserError(f"event {cmd.event_id} is already recorded; event ids are unique")
    champion = state.champion_record()
    if champion and cmd.event_id in champion.training_data.get("events_included", ()):
        raise UserError(f"event {cmd.event_id} is already in the champion's training data")
    return [DataAdded(event_id=cmd.event_id, station=cmd.station, date=cmd.date,
                      magnitude_class=cmd.magnitude_class, azimuth_class=cmd.azimuth_class,
                      magnitude_value=cmd.magnitude_value, azimuth_value=cmd.azimuth_value,
                      images=list(cmd.images))]


def _record_observation(state: State, cmd: RecordObservation) -> list[EventModel]:
    record = state.resolve(cmd.ref)
    evaluation = record.evaluations.get(record.latest_evaluation) if record.latest_evaluation else None
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
    return [observed, *_rollback(state, Rollback(ref=target.model_id, reason=reason,
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


def _import(state: State, cmd: Import) -> list[EventModel]:
    if state.seq != 0:
        raise UserError(f"this registry already has {state.seq} commits; import into a new root")
    if not cmd.models:
        raise UserError(f"nothing to import from {cmd.source}: no model folders or registry")
    versions = [m["version"] for m in cmd.models]
    if len(set(versions)) != len(versions):
        raise UserError(f"the installation lists a version twice: {sorted(versions)}")
    if sum(1 for m in cmd.models if m["status"] == "champion") > 1:
        raise UserError("the installation names more than one champion")
    if sum(1 for m in cmd.models if m["status"] == "challenger") > 1:
        raise UserError("the installation names more than one challenger")
    return [Imported(**m, source=cmd.source) for m in cmd.models]


_DECIDERS: dict[type, Callable[..., list[EventModel]]] = {
    Submit: _submit,
    RecordEvaluation: _record_evaluation,
    RecordEvaluations: _record_evaluations,
    DecideChallenger: _decide_challenger,
    Promote: _promote,
    Reject: _reject,
    Rollback: _rollback,
    Import: _import,
    AddData: _add_data,
    RecordObservation: _record_observation,
}
