"""The decision rule (SPEC section 8): composite score, McNemar, every branch of judge."""

from __future__ import annotations

import pytest

from lifecycle.errors import UserError
from lifecycle.policy import Policy, Tolerances
from lifecycle.stats import EventPair, mcnemar


def singles(b: int, c: int) -> tuple[EventPair, ...]:
    """Per-event counts for events of one image each (b champion-only, c challenger-only)."""
    return (EventPair(1, 1, 0),) * b + (EventPair(1, 0, 1),) * c


@pytest.mark.parametrize(("b", "c", "p", "method"), [
    (10, 3, 0.09228515625, "exact binomial"),          # scipy binomtest(3, 13)
    (0, 5, 0.0625, "exact binomial"),
    (12, 12, 1.0, "exact binomial"),
    (0, 0, 1.0, "exact binomial"),
    (30, 10, 0.002663119259138558, "chi-square, continuity corrected"),  # scipy chi2.sf
])
def test_mcnemar_known_values(b: int, c: int, p: float, method: str) -> None:
    result = mcnemar(b, c)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.method == method


def test_mcnemar_switches_to_chi_square_at_25() -> None:
    assert mcnemar(12, 12).method == "exact binomial"
    assert mcnemar(12, 13).method.startswith("chi-square")


def test_composite_full_formula() -> None:
    metrics = {"magnitude_accuracy": 90.0, "azimuth_accuracy": 60.0, "magnitude_macro_f1": 80.0,
               "magnitude_mcc": 0.5, "stability": 70.0, "false_positive_rate": 10.0}
    expected = (0.35 * 0.9 + 0.15 * 0.6 + 0.20 * 0.8 + 0.15 * 0.75 + 0.10 * 0.7 + 0.05 * 0.9)
    assert Policy().composite(metrics)["score"] == pytest.approx(expected, abs=1e-6)


def test_composite_drops_missing_terms_and_rescales() -> None:
    result = Policy().composite({"magnitude_accuracy": 90.0, "azimuth_accuracy": 60.0})
    assert result["weights"] == {"magnitude_accuracy": 0.7, "azimuth_accuracy": 0.3}
    assert result["score"] == pytest.approx(0.7 * 0.9 + 0.3 * 0.6)


CHAMPION = {"magnitude_accuracy": 97.63, "azimuth_accuracy": 71.28, "large_recall": 90.0,
            "false_positive_rate": 5.0}


def judge(policy: Policy, **changes: float) -> dict:  # type: ignore[type-arg]
    return policy.judge(CHAMPION, {**CHAMPION, **changes}, None)


def test_promotes_a_clear_improvement_with_significance_not_tested() -> None:
    decision = judge(Policy(), magnitude_accuracy=98.5, azimuth_accuracy=72.3)
    assert decision["outcome"] == "promote"
    significance = next(c for c in decision["checks"] if c["name"] == "significance")
    assert significance == {"name": "significance", "passed": True, "tested": False,
                            "detail": "significance not tested (no per-sample predictions)"}


def test_rejects_a_lower_composite() -> None:
    decision = judge(Policy(), magnitude_accuracy=96.5)
    assert decision["outcome"] == "reject"
    assert decision["reason"].startswith("lower composite score")
    assert decision["rule"] == "min_gain"


def test_rejects_a_gain_below_the_minimum() -> None:
    decision = judge(Policy(), azimuth_accuracy=71.5)
    assert decision["outcome"] == "reject"
    assert "below the minimum 0.005" in decision["reason"]


def test_rejects_when_the_paired_test_is_not_significant() -> None:
    decision = Policy().judge(CHAMPION, {**CHAMPION, "azimuth_accuracy": 80.0}, singles(10, 14))
    assert decision["outcome"] == "reject"
    assert decision["rule"] == "significance"
    assert "b=10, c=14" in decision["reason"]


def test_promotes_when_the_paired_test_is_significant() -> None:
    decision = Policy().judge(CHAMPION, {**CHAMPION, "azimuth_accuracy": 80.0}, singles(2, 20))
    assert decision["outcome"] == "promote"
    assert "clustered McNemar p=" in decision["reason"]


def test_significance_must_favour_the_challenger() -> None:
    decision = Policy().judge(CHAMPION, {**CHAMPION, "azimuth_accuracy": 80.0}, singles(20, 2))
    assert decision["outcome"] == "reject"


@pytest.mark.parametrize(("change", "rule"), [
    ({"magnitude_accuracy": 96.5, "azimuth_accuracy": 90.0}, "tolerance:magnitude_accuracy"),
    ({"large_recall": 87.5, "azimuth_accuracy": 90.0}, "tolerance:large_recall"),
    ({"false_positive_rate": 6.5, "azimuth_accuracy": 90.0}, "tolerance:false_positive_rate"),
])
def test_regression_beyond_tolerance_rejects(change: dict, rule: str) -> None:  # type: ignore[type-arg]
    decision = judge(Policy(), **change)
    assert decision["outcome"] == "reject"
    assert decision["rule"] == rule


def test_regression_within_tolerance_is_allowed() -> None:
    decision = judge(Policy(), magnitude_accuracy=96.9, azimuth_accuracy=90.0)
    assert decision["outcome"] == "promote"


def test_strict_mode_rejects_any_worse_metric() -> None:
    assert judge(Policy(), large_recall=89.0, azimuth_accuracy=90.0)["outcome"] == "promote"
    decision = judge(Policy(strict=True), large_recall=89.0, azimuth_accuracy=90.0)
    assert decision["outcome"] == "reject"
    assert decision["reason"] == "strict mode: worse on large_recall"


def test_thresholds_are_configurable() -> None:
    lenient = Policy(min_gain=0.0, tolerances=Tolerances(magnitude_accuracy_drop=5.0))
    assert judge(lenient, magnitude_accuracy=94.0, azimuth_accuracy=95.0)["outcome"] == "promote"


def test_policy_from_toml_mapping() -> None:
    policy = Policy.from_mapping({"min_gain": 0.01, "strict": True,
                                  "weights": {"magnitude_accuracy": 1.0},
                                  "tolerances": {"large_recall_drop": 3.0}})
    assert policy.min_gain == 0.01 and policy.strict
    assert policy.tolerances.large_recall_drop == 3.0
    assert policy.composite({"magnitude_accuracy": 90.0, "azimuth_accuracy": 10.0})["score"] == 0.9
    with pytest.raises(UserError, match="unknown policy keys"):
        Policy.from_mapping({"strickt": True})
    with pytest.raises(UserError, match="weights"):
        Policy.from_mapping({"weights": {"accuracy": 1.0}})


def test_decision_records_inputs_and_policy() -> None:
    decision = judge(Policy(), magnitude_accuracy=98.5, azimuth_accuracy=72.3)
    assert decision["champion_metrics"] == CHAMPION
    assert decision["challenger_metrics"]["magnitude_accuracy"] == 98.5
    assert decision["policy"]["min_gain"] == 0.005
    assert decision["composite"]["challenger"] > decision["composite"]["champion"]
