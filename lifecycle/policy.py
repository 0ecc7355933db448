"""The champion-vs-challenger decision rule of SPEC section 8, as a policy object.

Guarantees:
1. ``composite`` uses only the metrics present; missing terms are dropped and the
   remaining weights rescaled to sum 1; the weights used are returned with the score.
2. ``judge`` compares two evaluations on the same data only (the caller checks the data
   set), over the metrics both have, and returns every check with its inputs, so the
   decision can be stored and explained later.
3. Promotion requires every check to pass: minimum composite gain, a significant
   paired improvement (when per-sample predictions exist; otherwise "not tested",
   which does not block), no regression beyond tolerance, and, in strict mode, no
   metric worse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lifecycle.checks import flag, number, table
from lifecycle.errors import UserError
from lifecycle.stats import mcnemar

FORMULA = (
    "0.35*mag_acc + 0.15*azi_acc + 0.20*mag_macro_f1 + 0.15*(MCC+1)/2 "
    "+ 0.10*stability + 0.05*(1-FPR)"
)
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "magnitude_accuracy": 0.35,
    "azimuth_accuracy": 0.15,
    "magnitude_macro_f1": 0.20,
    "magnitude_mcc": 0.15,
    "stability": 0.10,
    "false_positive_rate": 0.05,
}
LOWER_IS_BETTER = frozenset({"false_positive_rate"})


def _term(metric: str, value: float) -> float:
    """Map a metric onto [0, 1], higher is better."""
    if metric == "magnitude_mcc":
        return (value + 1.0) / 2.0
    if metric in LOWER_IS_BETTER:
        return 1.0 - value / 100.0
    return value / 100.0


@dataclass(frozen=True)
class Tolerances:
    magnitude_accuracy_drop: float = 1.0
    large_recall_drop: float = 2.0
    false_positive_rate_rise: float = 1.0


@dataclass(frozen=True)
class Policy:
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    min_gain: float = 0.005
    significance_level: float = 0.05
    tolerances: Tolerances = Tolerances()
    strict: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policy:
        """Build from a parsed TOML table; unknown keys, wrong types and values that are
        not finite numbers are refused (``UserError``)."""
        data = table(data, "policy")
        known = {"weights", "min_gain", "significance_level", "tolerances", "strict"}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"unknown policy keys: {sorted(unknown)}; known: {sorted(known)}")
        weights = data.get("weights", DEFAULT_WEIGHTS)
        if not isinstance(weights, Mapping) or set(weights) - set(DEFAULT_WEIGHTS):
            raise UserError(f"policy weights must be a table over {list(DEFAULT_WEIGHTS)}")
        parsed = {k: number(v, f"weights.{k}", minimum=0.0) for k, v in weights.items()}
        if not 0 < sum(parsed.values()) < math.inf:
            raise UserError("policy weights must not all be zero, nor add up past the largest float")
        return cls(
            weights=parsed,
            min_gain=number(data.get("min_gain", 0.005), "min_gain"),
            significance_level=number(data.get("significance_level", 0.05), "significance_level",
                                      minimum=0.0),
            tolerances=_tolerances(data.get("tolerances", {})),
            strict=flag(data.get("strict", False), "strict"),
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["weights"] = dict(self.weights)
        return out

    def composite(self, metrics: Mapping[str, Any], only: set[str] | None = None) -> dict[str, Any]:
        present = {
            name: float(metrics[name])
            for name in self.weights
            if metrics.get(name) is not None and (only is None or name in only)
        }
        total = sum(self.weights[name] for name in present)
        if total <= 0:
            raise UserError("no metric with a non-zero weight; cannot compute a composite score")
        used = {name: round(self.weights[name] / total, 6) for name in present}
        score = sum(self.weights[n] / total * _term(n, v) for n, v in present.items())
        return {"score": round(min(1.0, max(0.0, score)), 6), "weights": used}

    def judge(
        self,
        champion: Mapping[str, Any],
        challenger: Mapping[str, Any],
        paired: tuple[int, int] | None,
    ) -> dict[str, Any]:
        """Decide between two metric sets measured on the same data."""
        common = {k for k, v in champion.items() if v is not None and challenger.get(k) is not None}
        old = self.composite(champion, only=common & set(self.weights))
        new = self.composite(challenger, only=common & set(self.weights))
        checks = [
            self._gain_check(old["score"], new["score"]),
            self._significance_check(paired),
            *self._tolerance_checks(champion, challenger),
        ]
        if self.strict:
            checks.append(_strict_check(champion, challenger, common))
        failed = [c for c in checks if not c["passed"]]
        return {
            "outcome": "reject" if failed else "promote",
            "reason": failed[0]["detail"] if failed else _promotion_reason(checks),
            "rule": failed[0]["name"] if failed else "all checks passed",
            "checks": checks,
            "composite": {"champion": old["score"], "challenger": new["score"],
                          "weights": new["weights"], "formula": FORMULA},
            "champion_metrics": dict(champion),
            "challenger_metrics": dict(challenger),
            "policy": self.to_dict(),
        }

    def _gain_check(self, old: float, new: float) -> dict[str, Any]:
        gain = round(new - old, 6)
        if new < old:
            detail = f"lower composite score ({new:.4f} vs champion {old:.4f})"
        elif gain < self.min_gain:
            detail = f"composite gain {gain:+.4f} below the minimum {self.min_gain}"
        else:
            detail = f"higher composite score ({new:.4f} vs {old:.4f}, {gain:+.4f})"
        return {"name": "min_gain", "passed": gain >= self.min_gain, "detail": detail,
                "gain": gain, "minimum": self.min_gain}

    def _significance_check(self, paired: tuple[int, int] | None) -> dict[str, Any]:
        if paired is None:
            return {"name": "significance", "passed": True, "tested": False,
                    "detail": "significance not tested (no per-sample predictions)"}
        result = mcnemar(*paired)
        significant = result.p_value < self.significance_level
        passed = significant and result.c > result.b
        verdict = ("significant" if passed else
                   "reversed: the challenger is significantly worse" if significant else "not significant")
        return {
            "name": "significance", "passed": passed, "tested": True,
            "b": result.b, "c": result.c, "p_value": result.p_value, "method": result.method,
            "detail": (f"improvement {verdict} (McNemar p={result.p_value:.4g}, "
                       f"b={result.b}, c={result.c}, level {self.significance_level})"),
        }

    def _tolerance_checks(
        self, champion: Mapping[str, Any], challenger: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        t = self.tolerances
        limits = [("magnitude_accuracy", -t.magnitude_accuracy_drop),
                  ("large_recall", -t.large_recall_drop),
                  ("false_positive_rate", t.false_positive_rate_rise)]
        checks = []
        for metric, limit in limits:
            if champion.get(metric) is None or challenger.get(metric) is None:
                continue
            change = round(float(challenger[metric]) - float(champion[metric]), 6)
            passed = change <= limit if metric in LOWER_IS_BETTER else change >= limit
            word = "rose" if change > 0 else "dropped"
            checks.append({
                "name": f"tolerance:{metric}", "passed": passed, "change": change, "limit": limit,
                "detail": f"{metric.replace('_', ' ')} {word} {abs(change):.2f} points "
                          f"(tolerance {abs(limit)})",
            })
        return checks


def _tolerances(table: Any) -> Tolerances:
    names = {"magnitude_accuracy_drop", "large_recall_drop", "false_positive_rate_rise"}
    if not isinstance(table, Mapping) or set(table) - names:
        raise UserError(f"[tolerances] takes {sorted(names)}")
    return Tolerances(**{k: number(v, f"tolerances.{k}", minimum=0.0) for k, v in table.items()})


def _strict_check(
    champion: Mapping[str, Any], challenger: Mapping[str, Any], common: set[str]
) -> dict[str, Any]:
    worse = sorted(
        m for m in common
        if (challenger[m] > champion[m] if m in LOWER_IS_BETTER else challenger[m] < champion[m])
    )
    detail = f"strict mode: worse on {', '.join(worse)}" if worse else "strict mode: no metric worse"
    return {"name": "strict", "passed": not worse, "worse": worse, "detail": detail}


def _promotion_reason(checks: list[dict[str, Any]]) -> str:
    gain = checks[0]["detail"]
    significance = checks[1]
    if significance.get("tested"):
        return f"{gain}; McNemar p={significance['p_value']:.4g}"
    return f"{gain}; {significance['detail']}"
