"""Paired significance tests on magnitude correctness, with events as the unit (pure math).

Guarantees:
1. ``b`` counts images the champion got right and the challenger wrong, ``c`` the
   reverse; only discordant images matter. ``event_pairs`` groups them by the data set's
   ``event_id`` (an image without one is its own event) and requires both prediction sets
   to cover exactly the same images.
2. ``clustered`` tests the events, not the images: the images of one event (the hourly
   spectrograms of one station-day) are not independent, and a per-image test then
   promotes an equal challenger several times as often as its level says. Each event
   contributes ``d = c_k - b_k``; under "the two models are equally good" the two are
   exchangeable within each event, so the sign of each ``d`` is a fair coin:
   - fewer than ``EXACT_BELOW`` discordant events: the exact sign-flip (randomisation)
     test over events, p = P(|T*| >= |T|) with T = sum of d, enumerated exactly;
   - otherwise the clustered McNemar of Durkalski et al. (2003, Stat Med 22:2417),
     chi-square = (|sum d| - 1)^2 / sum d^2 with one degree of freedom (continuity
     corrected), the normal approximation of the same randomisation distribution.
   With one image per event (d in {-1, 0, 1}) these are exactly McNemar's exact binomial
   and continuity-corrected chi-square, so ``clustered`` gives ``mcnemar``'s answer.
3. ``detectable_gain`` is the smallest accuracy gain (a fraction) that the same data
   would detect with the given power at the given two-sided level (normal approximation):
   (z(1 - level/2) * sqrt(sum d^2) + z(power) * sqrt(K * var(d))) / images, for K events:
   the test's threshold is set by the spread of the differences around zero, its power by
   their spread around their mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from statistics import NormalDist
from typing import Any, NamedTuple

EXACT_BELOW = 25
TEST_NAME = "clustered McNemar over events (exact sign-flip below 25 discordant events)"


class McNemar(NamedTuple):
    b: int
    c: int
    p_value: float
    method: str


class EventPair(NamedTuple):
    """One event's images, and how many of them only the champion (b) or only the
    challenger (c) got right."""

    images: int
    b: int
    c: int


class PairedTest(NamedTuple):
    events: int
    images: int
    discordant_events: int
    b: int
    c: int
    statistic: float
    p_value: float
    method: str
    test: str = TEST_NAME


def _chi_square(difference: int, variance: int) -> float:
    return max(0, abs(difference) - 1) ** 2 / variance


def _chi_square_p(statistic: float) -> float:
    return math.erfc(math.sqrt(statistic / 2.0))


def mcnemar(b: int, c: int) -> McNemar:
    """McNemar's test on per-image counts (every image its own unit)."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0, "exact binomial")
    if n < EXACT_BELOW:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
        return McNemar(b, c, min(1.0, 2.0 * tail), "exact binomial")
    return McNemar(b, c, _chi_square_p(_chi_square(b - c, n)), "chi-square, continuity corrected")


def clustered(pairs: Iterable[EventPair]) -> PairedTest:
    """The paired test with events as the unit (guarantee 2)."""
    pairs = list(pairs)
    if any(p.b < 0 or p.c < 0 or p.b + p.c > p.images for p in pairs):
        raise ValueError("an event's discordant counts must be non-negative and within its images")
    differences = [p.c - p.b for p in pairs if p.c != p.b]
    b, c = sum(p.b for p in pairs), sum(p.c for p in pairs)
    variance = sum(d * d for d in differences)
    statistic = _chi_square(c - b, variance) if variance else 0.0
    if len(differences) < EXACT_BELOW:
        p_value, method = _sign_flip_p(differences), "exact sign-flip over events"
    else:
        p_value, method = _chi_square_p(statistic), "chi-square over events, continuity corrected"
    return PairedTest(events=len(pairs), images=sum(p.images for p in pairs),
                      discordant_events=len(differences), b=b, c=c,
                      statistic=round(statistic, 6), p_value=p_value, method=method)


def _sign_flip_p(differences: Sequence[int]) -> float:
    """P(|T*| >= |T|) over the 2^m equally likely sign patterns, counted exactly."""
    counts: dict[int, int] = {0: 1}
    for d in differences:
        shifted: dict[int, int] = {}
        for total, ways in counts.items():
            shifted[total + d] = shifted.get(total + d, 0) + ways
            shifted[total - d] = shifted.get(total - d, 0) + ways
        counts = shifted
    observed = abs(sum(differences))
    extreme = sum(ways for total, ways in counts.items() if abs(total) >= observed)
    return min(1.0, extreme / (1 << len(differences)))


def detectable_gain(pairs: Sequence[EventPair], level: float, power: float = 0.8) -> float | None:
    """Guarantee 3; None when it cannot be estimated (no event differs, or the level or
    power is not strictly between 0 and 1)."""
    differences = [p.c - p.b for p in pairs]
    images, events = sum(p.images for p in pairs), len(differences)
    if not any(differences) or not images or not 0.0 < level < 1.0 or not 0.0 < power < 1.0:
        return None
    null = sum(d * d for d in differences)  # sets the test's threshold
    mean = sum(differences) / events
    spread = sum((d - mean) ** 2 for d in differences) * events / max(1, events - 1)  # under the gain
    normal = NormalDist()
    return float((normal.inv_cdf(1.0 - level / 2.0) * math.sqrt(null)
                  + normal.inv_cdf(power) * math.sqrt(spread)) / images)


def events_needed(events: int, detectable: float, required: float) -> int:
    """How many events in all would bring the detectable gain down to ``required``: the
    detectable gain shrinks with the square root of the number of events."""
    return math.ceil(events * (detectable / required) ** 2)


def event_pairs(
    champion: Sequence[Mapping[str, Any]], challenger: Sequence[Mapping[str, Any]]
) -> tuple[EventPair, ...]:
    """Per-event counts from two prediction sets over the same images (matched by
    ``row``), in event-id order."""
    by_row = {r["row"]: r for r in challenger}
    if len(by_row) != len(champion) or any(r["row"] not in by_row for r in champion):
        raise ValueError("the two prediction sets do not cover the same samples")
    events: dict[str, list[int]] = {}
    for old in champion:
        new = by_row[old["row"]]
        key = str(old.get("event_id") or f"row {old['row']}")
        counts = events.setdefault(key, [0, 0, 0])
        old_ok = old["magnitude_pred"] == old["magnitude_true"]
        new_ok = new["magnitude_pred"] == new["magnitude_true"]
        counts[0] += 1
        counts[1] += old_ok and not new_ok
        counts[2] += new_ok and not old_ok
    return tuple(EventPair(*events[key]) for key in sorted(events))
