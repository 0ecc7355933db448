"""Model-vs-model comparison from stored evaluations (SPEC section 9).

Guarantees: the two models are compared on an evaluation of the same data when they
have one (the most recent such data set); otherwise on their latest evaluations, and
the result says that the data differ.
"""

from __future__ import annotations

from typing import Any

from lifecycle.gate import better_of
from lifecycle.state import Json, ModelRecord, State

METRICS = ("magnitude_accuracy", "azimuth_accuracy", "magnitude_macro_f1", "magnitude_mcc",
           "large_recall", "false_positive_rate", "stability", "composite_score")


def _with_composite(evaluation: Json | None) -> dict[str, Any]:
    if evaluation is None:
        return {}
    return {**evaluation["metrics"], "composite_score": evaluation["composite"]["score"]}


def shared_evaluations(a: ModelRecord, b: ModelRecord) -> tuple[Json, Json] | None:
    """Both models' evaluations on the same data (the most recent such data set), if any."""
    shared = set(a.evaluations) & set(b.evaluations)
    if not shared:
        return None
    key = max(shared, key=lambda k: max(a.evaluations[k]["seq"], b.evaluations[k]["seq"]))
    return a.evaluations[key], b.evaluations[key]


def compare(state: State, ref_a: str, ref_b: str) -> dict[str, Any]:
    a, b = state.resolve(ref_a), state.resolve(ref_b)
    shared = shared_evaluations(a, b)
    eval_a: Json | None
    eval_b: Json | None
    if shared is not None:
        eval_a, eval_b = shared
    else:
        eval_a = a.evaluations.get(a.latest_evaluation) if a.latest_evaluation else None
        eval_b = b.evaluations.get(b.latest_evaluation) if b.latest_evaluation else None
    rows = metric_rows(_with_composite(eval_a), _with_composite(eval_b))
    return {
        "a": {"model_id": a.model_id, "version": a.version, "status": a.status,
              "dataset": eval_a["dataset"] if eval_a else None},
        "b": {"model_id": b.model_id, "version": b.version, "status": b.status,
              "dataset": eval_b["dataset"] if eval_b else None},
        "same_data": shared is not None,
        "metrics": rows,
    }


def metric_rows(ma: Json, mb: Json) -> list[dict[str, Any]]:
    return [_row(name, ma.get(name), mb.get(name)) for name in METRICS
            if ma.get(name) is not None or mb.get(name) is not None]


def _row(name: str, a: float | None, b: float | None) -> dict[str, Any]:
    if a is None or b is None:
        return {"metric": name, "a": a, "b": b, "difference": None, "better": None}
    return {"metric": name, "a": a, "b": b, "difference": round(b - a, 6), "better": better_of(name, a, b)}
