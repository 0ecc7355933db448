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
from typing import NamedTuple

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
