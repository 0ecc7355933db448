"""Property-based tests of the lifecycle: Hypothesis drives random command sequences.

After every step: at most one champion and one challenger, roles agree with statuses,
nothing ever leaves the registry, versions are never reused, every status change follows
the transition table. At the end: replaying the log gives the same state and the same
registry and folder-tree bytes as the incrementally maintained state.
"""

from __future__ import annotations

import hashlib
import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from events.log import Draft
from events.memory import MemoryLog
from lifecycle.commands import (
    DecideChallenger,
    Promote,
    RecordEvaluation,
    Reject,
    Rollback,
    Submit,
)
from lifecycle.errors import UserError
from lifecycle.evolve import apply_commit
from lifecycle.state import State
from lifecycle.transitions import TRANSITIONS
from models.classes import default_classes
from projections.layout import desired_tree
from projections.registry import registry_bytes
from service.engine import decide_events

percent = st.floats(min_value=40.0, max_value=100.0, allow_nan=False).map(lambda x: round(x, 2))
metrics = st.fixed_dictionaries(
    {"magnitude_accuracy": percent, "azimuth_accuracy": percent},
    optional={"large_recall": percent,
              "false_positive_rate": st.floats(0, 30).map(lambda x: round(x, 2))},
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

    def run(self, command: object) -> bool:
        from hypothesis import event

        before = self.state
        try:
            events = decide_events(self.state, command)
        except UserError:
            return False
        with self.log.writing():
            time = f"2026-01-01T00:00:{next(self.clock):06d}Z"
            record = self.log.append(Draft(time, "prop@test", "cmd", None, events), before.seq)
        self.state = apply_commit(before, record)
        event(f"applied {type(command).__name__}")
        self._check_transitions(before)
        return True

    def _check_transitions(self, before: State) -> None:
        for model_id, record in self.state.models.items():
            old = before.models.get(model_id)
            if old is None:
                assert record.status in ("challenger", "champion", "archived")
            elif old.status != record.status:
                assert any(k[0] == old.status and v == record.status
                           for k, v in TRANSITIONS.items()), (old.status, record.status)

    @rule(explicit=st.booleans(), step=st.integers(1, 3),
          bump=st.sampled_from(["patch", "minor", "major"]))
    def submit(self, explicit: bool, step: int, bump: str) -> None:
        version = None
        if explicit:
            top = self.state.max_version
            base = (top.major, top.minor, top.patch) if top else (1, 0, 0)
            version = f"{base[0]}.{base[1]}.{base[2] + step - 2}"  # sometimes not greater
        digest = hashlib.sha256(str(next(self.weights)).encode()).hexdigest()
        had_challenger = self.state.challenger is not None
        ok = self.run(Submit(weights={"digest": digest, "size": 1}, classes=default_classes(),
                             architecture="convnext_atto", version=version, bump=bump))  # type: ignore[arg-type]
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

    @rule(strict=st.booleans())
    def decide(self, strict: bool) -> None:
        from lifecycle.policy import Policy

        champion_before = self.state.champion
        ok = self.run(DecideChallenger(policy=Policy(strict=strict)))
        if ok and champion_before is None:
            assert self.state.champion is not None

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

    def teardown(self) -> None:
        replayed = State()
        for record in self.log.read():
            replayed = apply_commit(replayed, record)
        assert replayed == self.state
        assert registry_bytes(replayed) == registry_bytes(self.state)
        assert desired_tree(replayed) == desired_tree(self.state)


LifecycleMachine.TestCase.settings = settings(
    max_examples=120, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = LifecycleMachine.TestCase
