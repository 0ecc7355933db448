"""The checks of the decision rule (SPEC section 8), each returned with its inputs.

Guarantees:
1. Every check the policy names is in the decision, passed or not; a check that cannot
   be made is recorded as not made and says why (``"not checked: large_recall missing
   (champion)"``), it is never dropped.
2. The significance check is the clustered paired test over events
   (``lifecycle.stats.clustered``); it passes only for a significant improvement. It
   records the test, the number of events and images, the statistic and the p-value.
3. ``power`` states the smallest magnitude accuracy gain (points) the data could detect
   with 80% power at the policy's level, and, when that exceeds the gain the policy
   requires (``min_gain`` read on the accuracy's 0-1 scale: 0.005 is 0.5 points), a
   warning saying how many events in all would be needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lifecycle.stats import EventPair, clustered, detectable_gain, events_needed

LOWER_IS_BETTER = frozenset({"false_positive_rate"})


def better_of(metric: str, a: Any, b: Any) -> str | None:
    """Which of two values of ``metric`` is the better one: "a", "b" or "same" (None when one
    is not a number); for a lower-is-better metric (the false-positive rate) the lower. The
    one rule every comparison shows (CLI, API, dashboard)."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b)):
        return None
    difference = round(float(b) - float(a), 6)
    if difference == 0:
        return "same"
    return "b" if (difference < 0) == (metric in LOWER_IS_BETTER) else "a"
POWER = 0.8


def gain_check(old: float, new: float, minimum: float) -> dict[str, Any]:
    gain = round(new - old, 6)
    if new < old:
        detail = f"lower composite score ({new:.4f} vs champion {old:.4f})"
    elif gain < minimum:
        detail = f"composite gain {gain:+.4f} below the minimum {minimum}"
    else:
        detail = f"higher composite score ({new:.4f} vs {old:.4f}, {gain:+.4f})"
    return {"name": "min_gain", "passed": gain >= minimum, "detail": detail,
            "gain": gain, "minimum": minimum}


def significance_check(pairs: Sequence[EventPair] | None, level: float) -> dict[str, Any]:
    if pairs is None:
        return {"name": "significance", "passed": True, "tested": False,
                "detail": "significance not tested (no per-sample predictions)"}
    result = clustered(pairs)
    significant = result.p_value < level
    passed = significant and result.c > result.b
    verdict = ("significant" if passed else
               "reversed: the challenger is significantly worse" if significant else "not significant")
    return {
        "name": "significance", "passed": passed, "tested": True, **result._asdict(),
        "detail": (f"improvement {verdict} ({result.method}: p={result.p_value:.4g}, "
                   f"{result.events} events, {result.images} images, b={result.b}, c={result.c}, "
                   f"level {level})"),
    }


def tolerance_checks(
    champion: Mapping[str, Any], challenger: Mapping[str, Any], limits: Sequence[tuple[str, float]]
) -> list[dict[str, Any]]:
    checks = []
    for metric, limit in limits:
        name, label = f"tolerance:{metric}", metric.replace("_", " ")
        missing = [side for side, m in (("champion", champion), ("challenger", challenger))
                   if m.get(metric) is None]
        if missing:
            checks.append({"name": name, "passed": True, "checked": False, "limit": limit,
                           "missing": missing,
                           "detail": f"not checked: {metric} missing ({' and '.join(missing)})"})
            continue
        change = round(float(challenger[metric]) - float(champion[metric]), 6)
        passed = change <= limit if metric in LOWER_IS_BETTER else change >= limit
        word = "rose" if change > 0 else "dropped"
        checks.append({
            "name": name, "passed": passed, "checked": True, "change": change, "limit": limit,
            "detail": f"{label} {word} {abs(change):.2f} points (tolerance {abs(limit)})",
        })
    return checks


def strict_check(champion: Mapping[str, Any], challenger: Mapping[str, Any]) -> dict[str, Any]:
    names = sorted(set(champion) | set(challenger))
    common = [m for m in names if champion.get(m) is not None and challenger.get(m) is not None]
    unseen = [m for m in names if m not in common]
    worse = [m for m in common
             if (challenger[m] > champion[m] if m in LOWER_IS_BETTER else challenger[m] < champion[m])]
    detail = f"strict mode: worse on {', '.join(worse)}" if worse else "strict mode: no metric worse"
    if unseen:
        detail += f"; not checked: {', '.join(unseen)} missing on one side"
    return {"name": "strict", "passed": not worse, "worse": worse, "not_checked": unseen,
            "detail": detail}


def power(pairs: Sequence[EventPair] | None, level: float, min_gain: float) -> dict[str, Any]:
    """Guarantee 3 (a record, with ``warning`` set when the holdout is too small)."""
    required = round(min_gain * 100.0, 6)
    base: dict[str, Any] = {"power": POWER, "level": level, "required_gain": required,
                            "detectable_gain": None, "warning": None}
    if pairs is None:
        return {**base, "detail": "power not estimated (no per-sample predictions)"}
    events, images = len(pairs), sum(p.images for p in pairs)
    found = detectable_gain(pairs, level, POWER)
    base |= {"events": events, "images": images}
    if found is None:
        return {**base, "detail": f"power not estimated ({_why_not(pairs, level)})"}
    gain = round(found * 100.0, 2)
    detail = (f"this holdout ({events} events, {images} images) detects a magnitude accuracy gain "
              f"of {gain:.2f} points with {POWER:.0%} power at level {level:g}")
    if required <= 0 or gain <= required:
        return {**base, "detectable_gain": gain, "detail": detail}
    total = events_needed(events, gain, required)
    warning = (f"the holdout is too small to see the gain the policy requires: it detects "
               f"{gain:.2f} points, the policy's min_gain asks for {required:g}; about "
               f"{total - events:,} more events ({total:,} in all) would be needed")
    return {**base, "detectable_gain": gain, "events_needed": total, "detail": detail,
            "warning": warning}


def _why_not(pairs: Sequence[EventPair], level: float) -> str:
    if not 0.0 < level < 1.0:
        return f"the significance level {level:g} is not between 0 and 1"
    if not any(p.b or p.c for p in pairs):
        return "the two models disagree on no image"
    return "in every event the two models got as many images right as each other"


def promotion_reason(checks: Sequence[Mapping[str, Any]]) -> str:
    gain = checks[0]["detail"]
    significance = checks[1]
    if significance.get("tested"):
        return f"{gain}; clustered McNemar p={significance['p_value']:.4g}"
    return f"{gain}; {significance['detail']}"
