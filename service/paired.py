"""Two models' per-sample predictions on the same data, compared on the same rows.

Guarantees: when one model could not score some samples (their labels are not among its
classes: an original champion has no NE azimuth class), both models are compared on the
rows both scored, their metrics recomputed there from the stored predictions, and what
was left out is said (``left_out``: rows per model); when both scored the same rows
nothing is recomputed (``None``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Rows = Sequence[Mapping[str, Any]]


def same_rows(old: Rows, new: Rows) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]], dict[str, int]]:
    """Both prediction sets restricted to the rows both hold, and how many each lost."""
    shared = {r["row"] for r in old} & {r["row"] for r in new}
    kept_old = [r for r in old if r["row"] in shared]
    kept_new = [r for r in new if r["row"] in shared]
    return kept_old, kept_new, {"champion": len(old) - len(kept_old), "challenger": len(new) - len(kept_new)}


def on_same_rows(
    old: Rows, old_classes: Mapping[str, Sequence[str]], new: Rows, new_classes: Mapping[str, Sequence[str]]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]], dict[str, Any] | None]:
    """The two row sets on their common rows, and (when rows were left out) the record of
    the comparison: rows compared, left out per side, both models' metrics recomputed."""
    from models.metrics import metrics_of

    kept_old, kept_new, lost = same_rows(old, new)
    if not any(lost.values()):
        return kept_old, kept_new, None
    if not kept_old:
        from lifecycle.errors import UserError

        raise UserError("the two models scored no sample in common; they cannot be compared")
    return kept_old, kept_new, {
        "compared": len(kept_old), "left_out": lost,
        "why": "only the samples both models can score are compared (labels outside a model's classes)",
        "champion_metrics": metrics_of(kept_old, old_classes)[0],
        "challenger_metrics": metrics_of(kept_new, new_classes)[0],
    }
