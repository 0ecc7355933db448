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

from collections.abc import Callable, Sequence
from typing import Any, cast

from lifecycle.approval import refuse_if_pending, settleable
from lifecycle.commands import (
    AddData,
    Approve,
    Command,
    CorrectData,
    DecideChallenger,
    Decline,
    Import,
    Promote,
    RecordEvaluation,
    RecordEvaluations,
    RecordObservation,
    Reject,
    RemoveData,
    ReportProblem,
    Rollback,
    Submit,
)
from lifecycle.errors import Conflict, UserError
from lifecycle.pooling import add_data, correct_data, remove_data, report_problem
from lifecycle.rollbacks import record_observation, rollback
from lifecycle.schema import (
    ApprovalRequested,
    Approved,
    Archived,
    DataAdded,
    DataCorrected,
    DataRemoved,
    Declined,
    Evaluated,
    Imported,
    InstallationImported,
    Observed,
    ProblemReported,
    Promoted,
    Rejected,
    RolledBack,
    Trained,
)
from lifecycle.state import Json, ModelRecord, State
from lifecycle.transitions import allowed
from lifecycle.versions import FIRST_VERSION, Version, check_family, model_id, parse_version

EventModel = (Trained | Evaluated | Promoted | Rejected | Archived | RolledBack | Imported | DataAdded | Observed
              | ApprovalRequested | Approved | Declined | InstallationImported | DataRemoved | DataCorrected
              | ProblemReported)


def decide(state: State, command: Command) -> list[EventModel]:
    handler = cast(Callable[[State, Any], Sequence[EventModel]], _DECIDERS[type(command)])
    return list(handler(state, command))


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
        production=cmd.production, lineage=cmd.lineage,
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
        n_samples=cmd.n_samples, details=cmd.details, holdout=cmd.holdout,
    )]


def _record_evaluations(state: State, cmd: RecordEvaluations) -> list[EventModel]:
    if not cmd.items:
        raise UserError("nothing to evaluate")
    return [event for item in cmd.items for event in _record_evaluation(state, item)]


def _decide_challenger(state: State, cmd: DecideChallenger) -> list[EventModel]:
    challenger = state.challenger_record()
    if challenger is None:
        raise UserError("there is no challenger to decide; submit one with 'lifecycle submit'")
    if cmd.require_approval:
        refuse_if_pending(state)
    new_eval = challenger.latest_on(cmd.dataset)
    if new_eval is None:
        raise UserError(
            f"challenger {challenger.model_id} has no evaluation on data set "
            f"'{cmd.dataset}'; run 'lifecycle evaluate challenger ... --dataset {cmd.dataset}'"
        )
    decision = _judge(state, cmd, new_eval)
    if cmd.require_approval:
        return [ApprovalRequested(model_id=challenger.model_id, verdict=decision["outcome"],
                                  reason=decision["reason"], decision=decision)]
    return _verdict(state, challenger, decision)


def _judge(state: State, cmd: DecideChallenger, new_eval: Json) -> dict[str, Any]:
    """The rule's decision record: the first model is promoted; otherwise the policy
    compares the two evaluations on the same data."""
    champion = state.champion_record()
    if champion is None:
        return {"outcome": "promote", "rule": "first model", "reason": "first model: there is no champion yet",
                "challenger_metrics": dict(new_eval["metrics"]), "dataset": cmd.dataset}
    digest = new_eval.get("dataset_digest")
    old_eval = _champion_evaluation(champion, cmd.dataset, digest)
    if digest is None and not cmd.same_data:
        raise UserError(
            f"both evaluations on '{cmd.dataset}' were recorded without a data digest (metrics "
            "files), so nothing shows they were measured on the same data; evaluate both with "
            "'lifecycle evaluate --data DIR', or, if they were, run 'lifecycle decide --same-data'"
        )
    _check_paired(cmd, old_eval, new_eval)
    _check_same_rows(cmd, old_eval, new_eval)
    old_metrics, new_metrics = old_eval["metrics"], new_eval["metrics"]
    if cmd.same_rows is not None:
        old_metrics, new_metrics = cmd.same_rows["champion_metrics"], cmd.same_rows["challenger_metrics"]
    decision: dict[str, Any] = cmd.policy.judge(old_metrics, new_metrics, cmd.paired)
    if cmd.same_rows is not None:
        decision["same_rows"] = {k: v for k, v in cmd.same_rows.items() if not k.endswith("_metrics")}
    decision["dataset"] = {"name": cmd.dataset, "digest": digest}
    if digest is None:
        decision["dataset"]["same_data"] = "asserted by the user (--same-data)"
    return decision


def _verdict(state: State, challenger: ModelRecord, decision: dict[str, Any]) -> list[EventModel]:
    if decision["outcome"] == "reject":
        return [_reject_event(state, challenger, decision["reason"], decision)]
    return _promotion(state, challenger, decision["reason"], decision)


def _approve(state: State, cmd: Approve) -> list[EventModel]:
    record, pending = settleable(state, cmd.ref, "approve")
    approval = {"approved": cmd.reason, "requested_seq": pending["seq"]}
    decision = {**pending["decision"], "approval": approval}
    return [Approved(model_id=record.model_id, verdict=pending["verdict"], reason=cmd.reason,
                     requested_seq=pending["seq"]),
            *_verdict(state, record, decision)]


def _decline(state: State, cmd: Decline) -> list[EventModel]:
    record, pending = settleable(state, cmd.ref, "decline")
    declined = Declined(model_id=record.model_id, verdict=pending["verdict"], reason=cmd.reason,
                        requested_seq=pending["seq"])
    if pending["verdict"] == "reject":
        return [declined]
    reason = f"promotion declined: {cmd.reason}"
    decision = {"outcome": "reject", "rule": "approval declined", "reason": reason,
                "declined": pending["decision"], "requested_seq": pending["seq"]}
    return [declined, _reject_event(state, record, reason, decision)]


def _check_paired(cmd: DecideChallenger, old_eval: Any, new_eval: Any) -> None:
    """Paired counts (and metrics on the same rows) must come from the very evaluations
    being compared."""
    if cmd.paired is None:
        if cmd.same_rows is not None:
            raise Conflict("metrics on the same rows need the paired predictions; retry 'lifecycle decide'")
        return
    used = tuple((e.get("predictions") or {}).get("digest") for e in (old_eval, new_eval))
    if cmd.paired_predictions != used:
        raise Conflict("the evaluations changed meanwhile; retry 'lifecycle decide'")


def _check_same_rows(cmd: DecideChallenger, old_eval: Any, new_eval: Any) -> None:
    """Two evaluations that scored different samples are compared only on their common rows."""
    unscored = [e for e in (old_eval, new_eval) if (e.get("details") or {}).get("unscored")]
    if unscored and cmd.same_rows is None:
        raise UserError("one model scored only part of the data set (labels outside its classes) and the "
                        "per-sample predictions that would pair the rows are missing; evaluate both again "
                        "with 'lifecycle evaluate --data DIR'")
    if (cmd.same_rows is not None and cmd.paired is not None
            and cmd.same_rows.get("compared") != sum(p.images for p in cmd.paired)):
        raise Conflict("the rows compared do not match the paired predictions; retry 'lifecycle decide'")


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
    events: list[EventModel] = [Imported(**m, source=cmd.source) for m in cmd.models]
    events += [DataAdded(**d) for d in cmd.data]
    if cmd.installation is not None:
        events.append(InstallationImported(**cmd.installation, source=cmd.source))
    return events


_DECIDERS: dict[type, Callable[..., Sequence[EventModel]]] = {
    Submit: _submit,
    RecordEvaluation: _record_evaluation,
    RecordEvaluations: _record_evaluations,
    DecideChallenger: _decide_challenger,
    Promote: _promote,
    Reject: _reject,
    Rollback: rollback,
    Import: _import,
    Approve: _approve,
    Decline: _decline,
    RemoveData: remove_data,
    CorrectData: correct_data,
    ReportProblem: report_problem,
    AddData: add_data,
    RecordObservation: record_observation,
}
