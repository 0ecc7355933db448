"""Classification metrics from label indices (numpy only, no torch).

Guarantees:
1. Everything is derived from the confusion matrix (rows = true class, columns =
   predicted), so each figure can be checked by hand.
2. Rates are percentages (0-100); MCC is in [-1, 1] (Gorodkin's multi-class form).
3. Macro-F1 averages over the classes that occur in the truth or the predictions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]


def confusion(truth: Sequence[int], predicted: Sequence[int], n: int) -> IntArray:
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def accuracy(matrix: IntArray) -> float:
    total = int(matrix.sum())
    return 100.0 * float(np.trace(matrix)) / total if total else 0.0


def per_class(matrix: IntArray, names: Sequence[str]) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for i, name in enumerate(names):
        tp = int(matrix[i, i])
        support = int(matrix[i].sum())
        predicted = int(matrix[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[name] = {"precision": round(100 * precision, 4), "recall": round(100 * recall, 4),
                     "f1": round(100 * f1, 4), "support": support}
    return out


def macro_f1(matrix: IntArray, names: Sequence[str]) -> float:
    table = per_class(matrix, names)
    present = [i for i in range(len(names)) if matrix[i].sum() or matrix[:, i].sum()]
    if not present:
        return 0.0
    return float(np.mean([table[names[i]]["f1"] for i in present]))


def mcc(matrix: IntArray) -> float:
    """Matthews correlation coefficient for K classes (equals the binary MCC for K = 2)."""
    m = matrix.astype(np.float64)
    s = m.sum()
    c = np.trace(m)
    t = m.sum(axis=1)  # true counts
    p = m.sum(axis=0)  # predicted counts
    numerator = c * s - float(t @ p)
    denominator = np.sqrt((s * s - float(p @ p)) * (s * s - float(t @ t)))
    return float(numerator / denominator) if denominator else 0.0


def recall_of(matrix: IntArray, names: Sequence[str], name: str) -> float | None:
    if name not in names:
        return None
    i = list(names).index(name)
    support = int(matrix[i].sum())
    return 100.0 * int(matrix[i, i]) / support if support else None


def false_positive_rate(matrix: IntArray, names: Sequence[str], normal: str = "Normal") -> float | None:
    """Share of truly ``Normal`` samples predicted as an event (any other class)."""
    if normal not in names:
        return None
    i = list(names).index(normal)
    support = int(matrix[i].sum())
    return 100.0 * (support - int(matrix[i, i])) / support if support else None


def task_metrics(truth: Sequence[int], predicted: Sequence[int], names: Sequence[str]) -> dict[str, Any]:
    matrix = confusion(truth, predicted, len(names))
    return {
        "accuracy": accuracy(matrix),
        "macro_f1": macro_f1(matrix, names),
        "mcc": mcc(matrix),
        "per_class": per_class(matrix, names),
        "confusion_matrix": {"labels": list(names), "matrix": matrix.tolist()},
    }


def evaluation_metrics(
    mag_truth: Sequence[int], mag_pred: Sequence[int], mag_names: Sequence[str],
    azi_truth: Sequence[int], azi_pred: Sequence[int], azi_names: Sequence[str],
) -> tuple[dict[str, float], dict[str, Any]]:
    """(registry metrics, details with per-class figures and confusion matrices)."""
    magnitude = task_metrics(mag_truth, mag_pred, mag_names)
    azimuth = task_metrics(azi_truth, azi_pred, azi_names)
    matrix = confusion(mag_truth, mag_pred, len(mag_names))
    metrics: dict[str, float] = {
        "magnitude_accuracy": round(magnitude["accuracy"], 4),
        "azimuth_accuracy": round(azimuth["accuracy"], 4),
        "magnitude_macro_f1": round(magnitude["macro_f1"], 4),
        "magnitude_mcc": round(magnitude["mcc"], 6),
    }
    large = recall_of(matrix, mag_names, "Large")
    if large is not None:
        metrics["large_recall"] = round(large, 4)
    fpr = false_positive_rate(matrix, mag_names)
    if fpr is not None:
        metrics["false_positive_rate"] = round(fpr, 4)
    return metrics, {"magnitude": magnitude, "azimuth": azimuth}


def metrics_of(
    rows: Sequence[Mapping[str, Any]], classes: Mapping[str, Sequence[str]]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics of per-sample prediction rows (``*_true`` and ``*_pred`` class names)."""
    mag, azi = list(classes["magnitude"]), list(classes["azimuth"])
    return evaluation_metrics(
        [mag.index(r["magnitude_true"]) for r in rows], [mag.index(r["magnitude_pred"]) for r in rows], mag,
        [azi.index(r["azimuth_true"]) for r in rows], [azi.index(r["azimuth_pred"]) for r in rows], azi,
    )
