"""``lifecycle decide``, ``approve`` and ``decline``: pair the two evaluations'
predictions by event, then decide; settle a verdict awaiting approval.

Guarantees: the per-event counts of the paired test are computed from the per-sample
predictions of exactly the two evaluations the rule compares (the command names their
digests, and the domain refuses a mismatch); ``[decide] require_approval`` in
``config/lifecycle.toml`` is read on every decision, so the CLI, the API and the daemon
follow the same setting; a concurrent change makes the attempt fail cleanly and it is
retried on the new state, a few times at most.
"""

from __future__ import annotations

from typing import Any

from lifecycle.commands import Approve, DecideChallenger, Decline
from lifecycle.errors import Conflict
from lifecycle.policy import Policy
from lifecycle.state import State
from lifecycle.stats import EventPair, event_pairs
from service.daemon_config import load as load_settings
from service.engine import Engine, Outcome
from service.modelling import read_predictions
from service.paired import on_same_rows

ATTEMPTS = 3


def decide_command(engine: Engine, state: State, policy: Policy, dataset: str, *,
                   same_data: bool = False, require_approval: bool = False) -> DecideChallenger:
    paired: tuple[EventPair, ...] | None = None
    used: tuple[str, str] | None = None
    rows: dict[str, Any] | None = None
    challenger, champion = state.challenger_record(), state.champion_record()
    new = challenger.latest_on(dataset) if challenger else None
    old = champion.evaluation_on(dataset, new.get("dataset_digest")) if champion and new else None
    if challenger and champion and new is not None and old is not None:
        rows_new, rows_old = read_predictions(engine, new), read_predictions(engine, old)
        if rows_new is not None and rows_old is not None:
            kept_old, kept_new, rows = on_same_rows(rows_old, champion.classes or {}, rows_new,
                                                    challenger.classes or {})
            paired = event_pairs(kept_old, kept_new)
            used = (old["predictions"]["digest"], new["predictions"]["digest"])
    return DecideChallenger(policy=policy, dataset=dataset, paired=paired, paired_predictions=used,
                            same_data=same_data, require_approval=require_approval, same_rows=rows)


def decide(engine: Engine, policy: Policy, dataset: str, dry_run: bool = False,
           expected_seq: int | None = None, same_data: bool = False) -> Outcome | list[Any]:
    """With ``expected_seq`` (a script's own view) a change meanwhile is reported, not retried."""
    approval = load_settings(engine.root).require_approval
    for attempt in range(ATTEMPTS):
        state = engine.state()
        command = decide_command(engine, state, policy, dataset, same_data=same_data,
                                 require_approval=approval)
        if dry_run:
            return engine.preview(command)
        try:
            return engine.execute(command, expected_seq=state.seq if expected_seq is None else expected_seq)
        except Conflict:
            if expected_seq is not None or attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def settle(engine: Engine, ref: str, reason: str, *, approve: bool,
           expected_seq: int | None = None) -> Outcome:
    """Approve (carry out) or decline the verdict awaiting approval, as ``engine.actor``."""
    command = Approve(ref, reason) if approve else Decline(ref, reason)
    return engine.execute(command, expected_seq=expected_seq, reason=reason)
