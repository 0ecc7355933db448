"""``lifecycle decide``: pair the two evaluations' predictions, then decide.

Guarantees: the McNemar counts are computed from the per-sample predictions of exactly
the two evaluations the rule compares (the command names their digests, and the domain
refuses a mismatch); a concurrent change makes the attempt fail cleanly and it is retried
on the new state, a few times at most.
"""

from __future__ import annotations

from typing import Any

from lifecycle.commands import DecideChallenger
from lifecycle.errors import Conflict
from lifecycle.policy import Policy
from lifecycle.state import State
from lifecycle.stats import paired_counts
from service.engine import Engine, Outcome
from service.modelling import read_predictions

ATTEMPTS = 3


def decide_command(engine: Engine, state: State, policy: Policy, dataset: str) -> DecideChallenger:
    paired: tuple[int, int] | None = None
    used: tuple[str, str] | None = None
    challenger, champion = state.challenger_record(), state.champion_record()
    new = challenger.latest_on(dataset) if challenger else None
    old = champion.evaluation_on(dataset, new.get("dataset_digest")) if champion and new else None
    if new is not None and old is not None:
        rows_new, rows_old = read_predictions(engine, new), read_predictions(engine, old)
        if rows_new is not None and rows_old is not None:
            paired = paired_counts(rows_old, rows_new)
            used = (old["predictions"]["digest"], new["predictions"]["digest"])
    return DecideChallenger(policy=policy, dataset=dataset, paired=paired, paired_predictions=used)


def decide(engine: Engine, policy: Policy, dataset: str, dry_run: bool = False,
           expected_seq: int | None = None) -> Outcome | list[Any]:
    """With ``expected_seq`` (a script's own view) a change meanwhile is reported, not retried."""
    for attempt in range(ATTEMPTS):
        state = engine.state()
        command = decide_command(engine, state, policy, dataset)
        if dry_run:
            return engine.preview(command)
        try:
            return engine.execute(command, expected_seq=state.seq if expected_seq is None else expected_seq)
        except Conflict:
            if expected_seq is not None or attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
