"""The champion-vs-challenger decision rule of SPEC section 8, as a policy object.

Guarantees:
1. ``composite`` uses only the metrics present; missing terms are dropped and the
   remaining weights rescaled to sum 1; the weights used are returned with the score.
2. ``judge`` compares two evaluations on the same data only (the caller checks the data
   set), over the metrics both have, and returns every check with its inputs, so the
   decision can be stored and explained later.
3. Promotion requires every check to pass: minimum composite gain, a significant
   paired improvement with events as the unit (when per-sample predictions exist;
   otherwise "not tested", which does not block), no regression beyond tolerance, and,
   in strict mode, no metric worse. A check that cannot be made is recorded as such
   (``lifecycle.gate``), never dropped.
4. Every decision states the power of its data (``power``) and lists its ``warnings``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lifecycle.checks import flag, number, table
from lifecycle.errors import UserError
from lifecycle.gate import (
    LOWER_IS_BETTER,
    gain_check,
    power,
    promotion_reason,
    significance_check,
    strict_check,
    tolerance_checks,
)
from lifecycle.stats import EventPair

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
                                      minimum=0.0, maximum=1.0),
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
        paired: Sequence[EventPair] | None,
    ) -> dict[str, Any]:
        """Decide between two metric sets measured on the same data; ``paired`` holds the
        per-event counts of the two models' per-sample predictions (None: not available)."""
        common = {k for k, v in champion.items() if v is not None and challenger.get(k) is not None}
        old = self.composite(champion, only=common & set(self.weights))
        new = self.composite(challenger, only=common & set(self.weights))
        t = self.tolerances
        checks = [
            gain_check(old["score"], new["score"], self.min_gain),
            significance_check(paired, self.significance_level),
            *tolerance_checks(champion, challenger, [
                ("magnitude_accuracy", -t.magnitude_accuracy_drop),
                ("large_recall", -t.large_recall_drop),
                ("false_positive_rate", t.false_positive_rate_rise)]),
        ]
        if self.strict:
            checks.append(strict_check(champion, challenger))
        failed = [c for c in checks if not c["passed"]]
        evidence = power(paired, self.significance_level, self.min_gain)
        return {
            "outcome": "reject" if failed else "promote",
            "reason": failed[0]["detail"] if failed else promotion_reason(checks),
            "rule": failed[0]["name"] if failed else "all checks passed",
            "checks": checks,
            "power": evidence,
            "warnings": [w for w in [evidence["warning"]] if w],
            "composite": {"champion": old["score"], "challenger": new["score"],
                          "weights": new["weights"], "formula": FORMULA},
            "champion_metrics": dict(champion),
            "challenger_metrics": dict(challenger),
            "policy": self.to_dict(),
        }


def _tolerances(table: Any) -> Tolerances:
    names = {"magnitude_accuracy_drop", "large_recall_drop", "false_positive_rate_rise"}
    if not isinstance(table, Mapping) or set(table) - names:
        raise UserError(f"[tolerances] takes {sorted(names)}")
    return Tolerances(**{k: number(v, f"tolerances.{k}", minimum=0.0) for k, v in table.items()})
