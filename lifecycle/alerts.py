"""Production observations -> severity and action (SPEC section 6, "when to roll back"). Pure.

Guarantees:
1. CRITICAL: the observed false-positive rate exceeds the model's evaluated one by more
   than ``fpr_rise_critical`` points -> roll back at once.
2. HIGH: the observed accuracy is more than ``accuracy_drop_high`` points below the
   evaluated magnitude accuracy -> reported; rolled back only if ``rollback_on_high``.
3. Without an evaluated baseline nothing can be judged: severity OK, with that finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lifecycle.checks import flag, number
from lifecycle.errors import UserError


@dataclass(frozen=True)
class RollbackRules:
    fpr_rise_critical: float = 5.0
    accuracy_drop_high: float = 3.0
    rollback_on_high: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RollbackRules:
        unknown = set(data) - {"fpr_rise_critical", "accuracy_drop_high", "rollback_on_high"}
        if unknown:
            raise UserError(f"unknown [rollback] keys: {sorted(unknown)}")
        return cls(
            fpr_rise_critical=number(data.get("fpr_rise_critical", 5.0), "rollback.fpr_rise_critical", minimum=0),
            accuracy_drop_high=number(data.get("accuracy_drop_high", 3.0), "rollback.accuracy_drop_high",
                                      minimum=0),
            rollback_on_high=flag(data.get("rollback_on_high", False), "rollback.rollback_on_high"))


def assess(
    rules: RollbackRules, evaluated: Mapping[str, Any], fpr: float, accuracy: float | None
) -> dict[str, Any]:
    """Severity, findings, the baseline used and the action the rules call for."""
    findings: list[str] = []
    baseline = {k: float(evaluated[k]) for k in ("false_positive_rate", "magnitude_accuracy")
                if evaluated.get(k) is not None}
    severity = "OK"
    if "false_positive_rate" in baseline:
        rise = fpr - baseline["false_positive_rate"]
        if rise > rules.fpr_rise_critical:
            severity = "CRITICAL"
            findings.append(f"false-positive rate {fpr:.2f}% is {rise:.2f} points above the evaluated "
                            f"{baseline['false_positive_rate']:.2f}% (limit {rules.fpr_rise_critical})")
    else:
        findings.append("no evaluated false-positive rate to compare with")
    if accuracy is not None and "magnitude_accuracy" in baseline:
        drop = baseline["magnitude_accuracy"] - accuracy
        if drop > rules.accuracy_drop_high:
            severity = "CRITICAL" if severity == "CRITICAL" else "HIGH"
            findings.append(f"accuracy {accuracy:.2f}% is {drop:.2f} points below the evaluated "
                            f"{baseline['magnitude_accuracy']:.2f}% (limit {rules.accuracy_drop_high})")
    action = "none"
    if severity == "CRITICAL" or (severity == "HIGH" and rules.rollback_on_high):
        action = "rollback"
    elif severity == "HIGH":
        action = "report"
    return {"severity": severity, "findings": findings, "baseline": baseline, "action": action}
