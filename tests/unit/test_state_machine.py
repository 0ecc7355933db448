"""Property-based tests of the lifecycle: Hypothesis drives random command sequences.

Commands: import of an installation (empty log only), submit, evaluate, decide (at once,
or with the verdict awaiting approval), approve and decline (live or stale), promote,
reject, rollback (by hand, by an applied CRITICAL observation, by the daemon's answer to an
alert, and with a stale observation), data added to the pool, production observations.

After every step: at most one champion and one challenger, roles agree with statuses,
nothing ever leaves the registry, versions are never reused, every status change follows
the transition table, every data event stays recorded, the pool is what the adds, the
promotions and the rejections made it, an alert is about the champion and a promotion or
rollback clears it; a verdict awaiting approval is about the challenger, changes no
champion, and can be settled only while nothing it was drawn from changed. At the end:
``lifecycle.evolve.fold`` over the log (whole, and in two halves) gives the same state
and the same registry and folder-tree bytes as the incrementally maintained state.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from events.log import Draft
from events.memory import MemoryLog
from lifecycle.alerts import RollbackRules
from lifecycle.approval import describe
from lifecycle.commands import (
    AddData,
    Approve,
    CorrectData,
    DecideChallenger,
    Decline,
    Import,
    Promote,
    RecordEvaluation,
    RecordObservation,
    Reject,
    RemoveData,
    Rollback,
    Submit,
)
from lifecycle.errors import Conflict, UserError
from lifecycle.evolve import apply_commit, fold
from lifecycle.state import State
from lifecycle.transitions import TRANSITIONS
from models.classes import default_classes
from projections.layout import desired_tree
from projections.registry import registry_bytes
from service.engine import decide_events
from tests.helpers.machine_data import (
    add_data_commands,
    events_included,
    installations,
    metrics,
    percent,
)


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.log = MemoryLog()
        self.state = State()
        self.ever_seen: dict[str, str] = {}
        self.versions_in_order: list[tuple[int, int, int]] = []
        self.clock = itertools.count()
        self.weights = itertools.count()
        self.refused: UserError | None = None  # why the last command was refused
        self.events: list[dict[str, Any]] = []  # the last accepted command's events
        self.data_added: dict[str, Any] = {}  # event id -> its state.data entry when added
        self.pool: set[str] = set()  # the pool as the adds, promotions and rejections made it
        self.alerts_handled: list[int] = []  # observation seqs a rollback answered

    def run(self, command: object) -> bool:
        before = self.state
        self.refused = None
        try:
            events = decide_events(self.state, command)
        except UserError as exc:
            self.refused = exc
            return False
        with self.log.writing():
            time = f"2026-01-01T00:00:{next(self.clock):06d}Z"
            record = self.log.append(Draft(time, "prop@test", "cmd", None, events), before.seq)
        self.state = apply_commit(before, record)
        self.events = events
        event(f"applied {type(command).__name__}")
        self._check_transitions(before, imported=isinstance(command, Import))
        self._follow_pool(before, events)
        if any(e["type"] in ("promoted", "rolled_back") for e in events):
            assert self.state.alert is None, "a new champion clears the alert"
        return True

    def _check_transitions(self, before: State, imported: bool) -> None:
        for model_id, record in self.state.models.items():
            old = before.models.get(model_id)
            if old is None:
                assert imported or record.status == "challenger"
            elif old.status != record.status:
                assert any(k[0] == old.status and v == record.status
                           for k, v in TRANSITIONS.items()), (old.status, record.status)

    def _follow_pool(self, before: State, events: list[dict[str, Any]]) -> None:
        for e in events:
            if e["type"] == "data_added":
                self.data_added[e["event_id"]] = self.state.data[e["event_id"]]
                self.pool.add(e["event_id"])
            elif e["type"] == "promoted":
                trained_on = set(self.state.models[e["model_id"]].training_data.get("events_included", ()))
                assert not trained_on & set(self.state.pool), "a champion's training events left the pool"
                self.pool -= trained_on
            elif e["type"] == "rejected":
                champion = before.champion_record()
                known = set(champion.training_data.get("events_included", ())) if champion else set()
                mine = before.models[e["model_id"]].training_data.get("events_included", ())
                assert e.get("returned_to_pool", []) == sorted(set(mine) - known)
                self.pool |= set(mine) - known

    @initialize(models=st.none() | installations())
    def maybe_start_from_installation(self, models: list[dict[str, Any]] | None) -> None:
        """Half the runs start from an installation: the one way to reach some states
        (weightless or pre_rollback models, a champion with a predecessor) at once."""
        if models is not None:
            self.import_installation(models)

    @precondition(lambda self: self.state.seq == 0)
    @rule(models=installations())
    def import_installation(self, models: list[dict[str, Any]]) -> None:
        versions = [m["version"] for m in models]
        valid = (len(set(versions)) == len(versions)
                 and [m["status"] for m in models].count("champion") <= 1)
        ok = self.run(Import(models=models, source="/srv/old-installation"))
        assert ok == valid, self.refused
        if not ok:
            assert self.state.seq == 0 and not list(self.log.read())
            return
        for m in models:
            assert self.state.models[m["model_id"]].status == m["status"]
            self.ever_seen[m["model_id"]] = m["version"]
        self.versions_in_order = sorted(tuple(self.state.models[m["model_id"]].parsed_version)  # type: ignore[misc]
                                        for m in models)

    @rule(cmd=add_data_commands())
    def add_data(self, cmd: AddData) -> None:
        champion = self.state.champion_record()
        taken = {*self.state.data, *self.state.pool,
                 *(champion.training_data.get("events_included", ()) if champion else ())}
        live = [e for e in self.state.data.values() if not e.get("removed")]
        same_day = any((e["station"], e["date"]) == (cmd.station, cmd.date) for e in live)
        ok = self.run(cmd)
        assert ok == (cmd.event_id not in taken and bool(cmd.images) and not same_day), self.refused

    @precondition(lambda self: len(self.state.pool) > 0 or len(self.state.data) > 0)
    @rule(data=st.data(), correct=st.booleans())
    def curate(self, data: st.DataObject, correct: bool) -> None:
        """``data correct`` / ``data remove``: only an event still in the pool; the pool
        follows and the data entry stays (marked removed, or with its corrections)."""
        event_id = data.draw(st.sampled_from(sorted({*self.state.data, *self.state.pool})))
        entry = self.state.data.get(event_id) or self.state.pool.get(event_id) or {}
        live = event_id in self.state.pool and not entry.get("removed")
        if correct:
            change = {"magnitude_class": "Large", "azimuth_class": "N"}
            changes = live and "magnitude_class" in entry and any(entry.get(k) != v for k, v in change.items())
            ok = self.run(CorrectData(event_id, change, "prop"))
            assert ok == changes, self.refused
            if ok:
                assert self.state.pool[event_id]["magnitude_class"] == "Large"
                event("curate: corrected")
        else:
            ok = self.run(RemoveData(event_id, "prop"))
            assert ok == live, self.refused
            if ok:
                assert event_id not in self.state.pool
                self.pool.discard(event_id)
                event("curate: removed")
        if ok and event_id in self.data_added:
            self.data_added[event_id] = self.state.data[event_id]

    @precondition(lambda self: self.state.champion is not None)
    @rule(data=st.data(), rise=st.floats(-5.0, 25.0), limit=st.sampled_from([2.0, 5.0]),
          apply=st.sampled_from([True, False, False]), accuracy=st.none() | percent,
          evaluated=st.none() | metrics,
          then_daemon=st.sampled_from([True, True, True, False]))
    def observe(self, data: st.DataObject, rise: float, limit: float, apply: bool,
                accuracy: float | None, evaluated: dict[str, float] | None, then_daemon: bool) -> None:
        if evaluated is not None and not self.state.champion_record().metrics:  # type: ignore[union-attr]
            assert self.run(RecordEvaluation(ref="champion", dataset="benchmark", metrics=evaluated))
        before = self.state
        ref = data.draw(st.sampled_from(["champion"] * 3 + sorted(before.models)))
        record = before.resolve(ref)
        latest = record.evaluations.get(record.latest_evaluation) if record.latest_evaluation else None
        base = latest["metrics"].get("false_positive_rate") if latest else None
        fpr = min(100.0, max(0.0, round((10.0 if base is None else base) + rise, 2)))
        on_champion, target = record.model_id == before.champion, before.previous_champion()
        judged = base is not None or (accuracy is not None and latest is not None
                                      and latest["metrics"].get("magnitude_accuracy") is not None)
        ok = self.run(RecordObservation(ref=record.model_id, false_positive_rate=fpr, apply=apply,
                                        rules=RollbackRules(fpr_rise_critical=limit), accuracy=accuracy))
        if not judged:
            assert not ok and "cannot judge" in str(self.refused)
            event("observe: nothing to judge against, refused")
            return
        assert ok, self.refused
        critical = base is not None and fpr - base > limit
        assert (self.events[0]["severity"] == "CRITICAL") == critical
        if critical and on_champion:
            event("observe: CRITICAL on the champion" + (", applied" if apply else ""))
        if critical and on_champion and apply and target is not None:
            event("observe: CRITICAL applied, rolled back")
            assert self.state.champion == target.model_id
            assert self.state.models[record.model_id].status == "pre_rollback"
            return
        assert self.state.champion == before.champion
        if critical and on_champion:
            assert self.state.alert is not None and self.state.alert["seq"] == self.state.seq
        elif self.events[0]["action"] == "none" or not on_champion:
            assert self.state.alert == before.alert
        if then_daemon and self.state.alert is not None:
            self.rollback_by_alert()

    @precondition(lambda self: self.state.alert is not None)
    @rule()
    def rollback_by_alert(self) -> None:
        """What the daemon does (service/daemon.py ``handle_alert``)."""
        alert, target, old = self.state.alert, self.state.previous_champion(), self.state.champion
        assert alert is not None and old is not None
        if alert["action"] != "rollback" or target is None:
            return
        reason = f"{alert['severity']} in production: {'; '.join(alert['findings'])}"
        assert self.run(Rollback(reason=reason, severity=alert["severity"],
                                 observation_seq=alert["seq"])), self.refused
        event("rollback by alert")
        assert self.state.champion == target.model_id
        assert self.state.models[old].status == "pre_rollback" and self.state.alert is None
        self.alerts_handled.append(alert["seq"])

    @precondition(lambda self: self.state.champion is not None)
    @rule(data=st.data())
    def stale_alert_rollback(self, data: st.DataObject) -> None:
        seqs = st.integers(1, self.state.seq + 1)
        seq = data.draw(st.sampled_from(self.alerts_handled) | seqs if self.alerts_handled else seqs)
        if seq == (self.state.alert or {}).get("seq"):
            seq = self.state.seq + 1
        before = self.state
        assert not self.run(Rollback(reason="stale alert", severity="CRITICAL", observation_seq=seq))
        assert isinstance(self.refused, Conflict), self.refused
        assert self.state is before
        event("stale observation refused")

    @rule(explicit=st.booleans(), step=st.integers(1, 3),
          bump=st.sampled_from(["patch", "minor", "major"]), trained_on=events_included)
    def submit(self, explicit: bool, step: int, bump: str, trained_on: list[str]) -> None:
        version = None
        if explicit:
            top = self.state.max_version
            base = (top.major, top.minor, top.patch) if top else (1, 0, 0)
            version = f"{base[0]}.{base[1]}.{base[2] + step - 2}"  # sometimes not greater
        digest = hashlib.sha256(str(next(self.weights)).encode()).hexdigest()
        had_challenger = self.state.challenger is not None
        ok = self.run(Submit(weights={"digest": digest, "size": 1}, classes=default_classes(),
                             architecture="convnext_atto", version=version, bump=bump,  # type: ignore[arg-type]
                             training_data={"events_included": trained_on}))
        if had_challenger:
            assert not ok, "a second challenger was accepted"
        if ok:
            new = self.state.challenger_record()
            assert new is not None
            self.ever_seen[new.model_id] = new.version
            self.versions_in_order.append(tuple(new.parsed_version))  # type: ignore[arg-type]

    @precondition(lambda self: len(self.state.models) > 0)
    @rule(data=st.data(), values=metrics)
    def evaluate(self, data: st.DataObject, values: dict[str, float]) -> None:
        ref = data.draw(st.sampled_from(sorted(self.state.models)))
        assert self.run(RecordEvaluation(ref=ref, dataset="benchmark", metrics=values))

    @precondition(lambda self: self.state.challenger is not None)
    @rule(new=metrics, old=metrics, then_decide=st.booleans(), strict=st.booleans())
    def evaluate_both(
        self, new: dict[str, float], old: dict[str, float], then_decide: bool, strict: bool
    ) -> None:
        assert self.run(RecordEvaluation(ref="challenger", dataset="benchmark", metrics=new))
        if self.state.champion is not None:
            assert self.run(RecordEvaluation(ref="champion", dataset="benchmark", metrics=old))
        if then_decide:
            challenger = self.state.challenger
            self.decide(strict)
            assert self.state.challenger is None, "a decision always ends the challenge"
            assert self.state.models[challenger].status in ("champion", "rejected")  # type: ignore[index]

    @rule(strict=st.booleans(), approval=st.sampled_from([False, True, True]),
          then=st.sampled_from(["approve", "decline", "evaluate", "nothing"]))
    def decide(self, strict: bool, approval: bool = False, then: str = "nothing") -> None:
        from lifecycle.policy import Policy

        champion_before, challenger = self.state.champion, self.state.challenger
        pending = describe(self.state)
        ok = self.run(DecideChallenger(policy=Policy(strict=strict), same_data=True,
                                       require_approval=approval))
        if ok and approval:
            event("decide: the verdict awaits approval")
            assert self.state.champion == champion_before and self.state.challenger == challenger
            assert self.state.pending is not None and self.state.pending["model_id"] == challenger
            assert self.state.pending["seq"] == self.state.seq and describe(self.state)["stale"] is None  # type: ignore[index]
        elif ok and champion_before is None:
            assert self.state.champion is not None
        if approval and pending is not None and pending["stale"] is None:
            assert not ok and "awaits approval" in str(self.refused), "a live verdict was asked twice"
        if ok and approval and then == "evaluate":  # the verdict goes stale
            assert self.run(RecordEvaluation(ref="challenger", dataset="benchmark",
                                             metrics={"magnitude_accuracy": 50.0, "azimuth_accuracy": 50.0}))
            assert describe(self.state)["stale"] is not None  # type: ignore[index]
        if ok and approval and then != "nothing":
            self.settle(then == "approve", "challenger")

    @rule(approve=st.booleans(), ref=st.sampled_from(["challenger", "challenger", "champion"]))
    def settle(self, approve: bool, ref: str) -> None:
        """A person approves or declines the verdict awaiting approval."""
        before, pending = self.state, describe(self.state)
        named = {"challenger": before.challenger, "champion": before.champion}[ref]
        ok = self.run((Approve if approve else Decline)(ref, "a person decided"))
        live = pending is not None and pending["stale"] is None and named == pending["model_id"]
        assert ok == live, (self.refused, pending)
        if pending is not None and pending["stale"] and named == pending["model_id"]:
            assert "stale" in str(self.refused)
            event("settle: stale verdict refused")
        if not ok:
            assert self.state is before
            return
        assert pending is not None and self.state.pending is None
        event(f"settle: {pending['verdict']} {'approved' if approve else 'declined'}")
        model, verdict = pending["model_id"], pending["verdict"]
        if approve and verdict == "promote":
            assert self.state.champion == model
        elif approve or verdict == "promote":
            assert self.state.models[model].status == "rejected" and self.state.champion == before.champion
        else:
            assert self.state.challenger == model and self.state.champion == before.champion
            assert self.state.models[model].decision["declined"] == "a person decided"  # type: ignore[index]

    @rule(reason=st.sampled_from(["manual", "operator override"]))
    def promote(self, reason: str) -> None:
        old, challenger = self.state.champion, self.state.challenger
        ok = self.run(Promote("challenger", reason))
        assert ok == (challenger is not None)
        if ok:
            assert self.state.champion == challenger and self.state.challenger is None
        if ok and old is not None:
            assert self.state.models[old].status == "archived"

    @rule()
    def reject(self) -> None:
        challenger = self.state.challenger
        ok = self.run(Reject("challenger", "manual rejection"))
        assert ok == (challenger is not None)
        if ok:
            assert self.state.models[challenger].status == "rejected"  # type: ignore[index]

    @rule(data=st.data())
    def rollback(self, data: st.DataObject) -> None:
        choices = [None, *sorted(self.state.models)]
        ref = data.draw(st.sampled_from(choices))
        old = self.state.champion
        expected = self.state.previous_champion() if ref is None else None
        ok = self.run(Rollback(ref=ref, reason="prop"))
        if ok:
            assert old is not None and self.state.models[old].status == "pre_rollback"
            if expected is not None:
                assert self.state.champion == expected.model_id
            assert self.state.champion_record().rollback_from == self.state.models[old].version  # type: ignore[union-attr]
        elif ref is None and old is not None:
            assert expected is None

    @invariant()
    def one_champion_one_challenger(self) -> None:
        statuses = [m.status for m in self.state.models.values()]
        assert statuses.count("champion") <= 1
        assert statuses.count("challenger") <= 1
        champion = [k for k, m in self.state.models.items() if m.status == "champion"]
        challenger = [k for k, m in self.state.models.items() if m.status == "challenger"]
        assert champion == ([self.state.champion] if self.state.champion else [])
        assert challenger == ([self.state.challenger] if self.state.challenger else [])

    @invariant()
    def nothing_ever_leaves(self) -> None:
        for model_id, version in self.ever_seen.items():
            assert self.state.models[model_id].version == version

    @invariant()
    def versions_never_reused(self) -> None:
        assert self.versions_in_order == sorted(set(self.versions_in_order))

    @invariant()
    def data_stays_and_pool_follows(self) -> None:
        for event_id, entry in self.data_added.items():
            assert self.state.data.get(event_id) == entry
        assert set(self.state.data) == set(self.data_added)
        assert set(self.state.pool) == self.pool

    @invariant()
    def pending_is_about_the_challenger(self) -> None:
        pending = self.state.pending
        assert pending is None or pending["model_id"] == self.state.challenger

    @invariant()
    def alert_is_about_the_champion(self) -> None:
        alert = self.state.alert
        if alert is not None:
            assert alert["model_id"] == self.state.champion and alert["action"] != "none"
            assert alert["seq"] <= self.state.seq

    def teardown(self) -> None:
        records = list(self.log.read())
        replayed = fold(records)
        assert replayed == self.state
        assert fold(records[len(records) // 2:], fold(records[:len(records) // 2])) == self.state
        assert registry_bytes(replayed) == registry_bytes(self.state)
        assert desired_tree(replayed) == desired_tree(self.state)


LifecycleMachine.TestCase.settings = settings(
    max_examples=400, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = LifecycleMachine.TestCase
