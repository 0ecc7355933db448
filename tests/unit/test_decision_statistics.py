"""The paired test with events as the unit: exact where it must be, McNemar's answer for
one image per event, calibrated for equal models, and honest about its power.

Simulations use ``tests.helpers.holdouts`` with fixed seeds, so every run sees the same
draws. Monte-Carlo tolerance: a false-promotion rate estimated from R holdouts has a
standard error of sqrt(a (1 - a) / R) at the nominal rate a; a rate is accepted up to
a + 3 standard errors (about 1 in 700 for a test that is exactly at its level).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.gate import power
from lifecycle.stats import EXACT_BELOW, EventPair, clustered, detectable_gain, events_needed, mcnemar
from tests.helpers.holdouts import Size, holdouts, per_image_promotes

LEVEL = 0.05
NOMINAL = LEVEL / 2  # a two-sided test at 5% promotes (the improving side only) at most 2.5%


def singles(b: int, c: int) -> list[EventPair]:
    return [EventPair(1, 1, 0)] * b + [EventPair(1, 0, 1)] * c + [EventPair(1, 0, 0)] * 3


@given(st.integers(0, 300), st.integers(0, 300))
def test_one_image_per_event_gives_mcnemars_answer(b: int, c: int) -> None:
    clustered_test, per_image = clustered(singles(b, c)), mcnemar(b, c)
    assert clustered_test.p_value == per_image.p_value
    assert (clustered_test.b, clustered_test.c) == (b, c)
    assert clustered_test.method.startswith("exact") == per_image.method.startswith("exact")


def test_exact_sign_flip_by_hand() -> None:
    # d = 3, 3, -1: the 8 sign patterns sum to +-7, +-5, +-1, +-1; |T*| >= 5 in 4 of them
    pairs = [EventPair(4, 0, 3), EventPair(3, 0, 3), EventPair(2, 1, 0), EventPair(6, 2, 2)]
    test = clustered(pairs)
    assert test.p_value == 0.5 and test.method == "exact sign-flip over events"
    assert (test.events, test.images, test.discordant_events, test.b, test.c) == (4, 15, 3, 3, 8)
    assert test.statistic == round((5 - 1) ** 2 / 19, 6)


def test_many_discordant_events_use_durkalskis_chi_square() -> None:
    pairs = [EventPair(6, 0, 4)] * 15 + [EventPair(6, 3, 0)] * 15
    test = clustered(pairs)
    assert test.discordant_events == 30 >= EXACT_BELOW
    statistic = (60 - 45 - 1) ** 2 / (15 * 16 + 15 * 9)  # (|C - B| - 1)^2 / sum d^2
    assert test.statistic == round(statistic, 6)
    assert test.p_value == pytest.approx(math.erfc(math.sqrt(statistic / 2)), rel=1e-12)
    assert test.method.startswith("chi-square over events")


def test_whole_events_count_once_not_per_image() -> None:
    """Six wholly discordant events of 24 images, four won by the challenger: 96 images
    against 48, yet only six coin flips; the per-image McNemar calls that overwhelming,
    the event test sees P(2 heads or fewer, or 4 or more, in 6) = 44/64."""
    pairs = [EventPair(24, 0, 24)] * 4 + [EventPair(24, 24, 0)] * 2
    assert mcnemar(48, 96).p_value < 1e-4
    assert clustered(pairs).p_value == pytest.approx(44 / 64)


def test_inconsistent_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="within its images"):
        clustered([EventPair(2, 2, 1)])


SETTINGS: list[tuple[int, Size, float]] = [
    (events, images, wholly)
    for events in (30, 100, 300) for images in (1, 6, 24, (1, 24)) for wholly in (0.0, 0.1, 0.2)
]


def false_promotions(events: int, images: Size, wholly: float, reps: int, seed: int) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    by_event = by_image = 0
    for pairs in holdouts(rng, events, images, wholly, 0.0, reps):
        test = clustered(pairs)
        by_event += test.p_value < LEVEL and test.c > test.b
        by_image += per_image_promotes(pairs, LEVEL)
    return by_event, by_image


def test_equal_models_are_promoted_at_most_at_the_nominal_rate() -> None:
    """36 settings: 30-300 events, 1-24 images each, 0-20% of events wholly discordant."""
    reps, total, worst_image = 1000, 0, 0.0
    bound = NOMINAL + 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / reps)
    for i, (events, images, wholly) in enumerate(SETTINGS):
        by_event, by_image = false_promotions(events, images, wholly, reps, seed=1000 + i)
        assert by_event / reps <= bound, (events, images, wholly, by_event / reps)
        total += by_event
        worst_image = max(worst_image, by_image / reps)
    pooled = len(SETTINGS) * reps
    assert total / pooled <= NOMINAL + 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / pooled)
    assert worst_image > 4 * NOMINAL, "the simulation must show the per-image test's inflation"


def simulated_power(events: int, images: Size, wholly: float, gain: float, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for pairs in holdouts(rng, events, images, wholly, gain, reps):
        test = clustered(pairs)
        hits += test.p_value < LEVEL and test.c > test.b
    return hits / reps


@pytest.mark.parametrize(("events", "images", "wholly"), [(100, 6, 0.1), (300, (1, 24), 0.2), (50, 1, 0.0)])
def test_the_stated_detectable_gain_is_seen_about_80_percent_of_the_time(
    events: int, images: Size, wholly: float
) -> None:
    rng = np.random.default_rng(7)
    stated = [detectable_gain(p, LEVEL) for p in holdouts(rng, events, images, wholly, 0.0, 200)]
    gain = float(np.median([g for g in stated if g is not None]))
    found = simulated_power(events, images, wholly, gain, 400, seed=8)
    assert 0.65 <= found <= 0.95, (gain, found)
    assert simulated_power(events, images, wholly, gain / 2, 400, seed=9) < 0.5


def test_power_record_warns_with_the_events_needed() -> None:
    pairs = [EventPair(6, 0, 6)] * 8 + [EventPair(6, 6, 0)] * 8 + [EventPair(6, 1, 1)] * 34
    record = power(pairs, LEVEL, 0.005)
    gain = detectable_gain(pairs, LEVEL)
    assert gain is not None and record["detectable_gain"] == round(gain * 100, 2)
    assert record["events"] == 50 and record["images"] == 300 and record["required_gain"] == 0.5
    assert record["events_needed"] == events_needed(50, record["detectable_gain"], 0.5)
    assert f"{record['events_needed'] - 50:,} more events" in record["warning"]


def test_power_without_a_warning_when_the_holdout_suffices() -> None:
    pairs = [EventPair(1, 0, 1)] * 40 + [EventPair(1, 1, 0)] * 40 + [EventPair(1, 0, 0)] * 100_000
    record = power(pairs, LEVEL, 0.005)
    assert record["detectable_gain"] < 0.5 and record["warning"] is None


@pytest.mark.parametrize(("pairs", "why"), [
    (None, "no per-sample predictions"),
    ([EventPair(6, 0, 0)] * 10, "disagree on no image"),
    ([EventPair(6, 2, 2)] * 10, "as many images right as each other"),
])
def test_power_that_cannot_be_estimated_says_why(pairs: list[EventPair] | None, why: str) -> None:
    record = power(pairs, LEVEL, 0.005)
    assert record["detectable_gain"] is None and why in record["detail"] and record["warning"] is None


def test_the_detectable_gain_moves_smoothly_with_the_data() -> None:
    """One event more or less different must not change the stated power sevenfold."""
    alike = [EventPair(6, 0, 1)] * 50
    one_off = [EventPair(6, 0, 1)] * 49 + [EventPair(6, 0, 2)]
    first, second = detectable_gain(alike, LEVEL), detectable_gain(one_off, LEVEL)
    assert first is not None and second is not None
    assert 0.9 < second / first < 1.2


def test_a_significance_level_outside_0_1_is_named() -> None:
    record = power([EventPair(6, 0, 2)] * 10, 0.0, 0.005)
    assert "significance level 0 is not between 0 and 1" in record["detail"]
