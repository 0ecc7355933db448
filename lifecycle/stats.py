"""Paired significance test: McNemar on per-sample correctness (pure math, no scipy).

Guarantees:
1. ``b`` counts samples the champion got right and the challenger wrong, ``c`` the
   reverse; only discordant pairs matter.
2. When ``b + c < 25`` the exact two-sided binomial test is used (``p = min(1, 2 *
   P[X <= min(b, c)])`` with ``X ~ Bin(b + c, 1/2)``); otherwise the chi-square test
   with continuity correction, one degree of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

EXACT_BELOW = 25


class McNemar(NamedTuple):
    b: int
    c: int
    p_value: float
    method: str


def mcnemar(b: int, c: int) -> McNemar:
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0, "exact binomial")
    if n < EXACT_BELOW:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
        return McNemar(b, c, min(1.0, 2.0 * tail), "exact binomial")
    statistic = (abs(b - c) - 1) ** 2 / n
    return McNemar(b, c, math.erfc(math.sqrt(statistic / 2.0)), "chi-square, continuity corrected")


def paired_counts(
    champion: Sequence[Mapping[str, Any]], challenger: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """McNemar's b (champion right, challenger wrong) and c (the reverse), sample by sample.

    Both prediction sets must cover exactly the same samples (matched by ``row``).
    """
    by_row = {r["row"]: r for r in challenger}
    if len(by_row) != len(champion) or any(r["row"] not in by_row for r in champion):
        raise ValueError("the two prediction sets do not cover the same samples")
    b = c = 0
    for old in champion:
        new = by_row[old["row"]]
        old_ok = old["magnitude_pred"] == old["magnitude_true"]
        new_ok = new["magnitude_pred"] == new["magnitude_true"]
        b += old_ok and not new_ok
        c += new_ok and not old_ok
    return b, c
