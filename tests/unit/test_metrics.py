"""Metrics against a hand-computed confusion matrix."""

from __future__ import annotations

import math

import pytest

from lifecycle.stats import EventPair, event_pairs
from models.metrics import confusion, evaluation_metrics, mcc

MAG = ["Large", "Medium", "Moderate", "Normal"]
AZI = ["E", "N", "NE", "NW", "Normal", "S", "SE", "SW", "W"]
TRUTH = [0, 0, 0, 1, 1, 2, 3, 3]
PRED = [0, 0, 1, 1, 2, 2, 3, 0]


def test_confusion_matrix_rows_are_truth_columns_predictions() -> None:
    assert confusion(TRUTH, PRED, 4).tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [1, 0, 0, 1]]


def test_metrics_by_hand() -> None:
    azi_truth = [1, 1, 1, 5, 5, 5, 4, 4]
    azi_pred = [1, 1, 5, 5, 5, 1, 4, 4]
    metrics, details = evaluation_metrics(TRUTH, PRED, MAG, azi_truth, azi_pred, AZI)
    assert metrics["magnitude_accuracy"] == 62.5
    assert metrics["azimuth_accuracy"] == 75.0
    # F1: Large 2/3, Medium 1/2, Moderate 2/3, Normal 2/3
    assert metrics["magnitude_macro_f1"] == pytest.approx(100 * (2 / 3 * 3 + 0.5) / 4, abs=1e-3)
    assert metrics["magnitude_mcc"] == pytest.approx(23 / 46)
    assert metrics["large_recall"] == pytest.approx(200 / 3, abs=1e-3)
    assert metrics["false_positive_rate"] == 50.0  # one of two Normal samples flagged
    large = details["magnitude"]["per_class"]["Large"]
    assert large == {"precision": pytest.approx(66.6667, abs=1e-3), "recall": pytest.approx(66.6667, abs=1e-3),
                     "f1": pytest.approx(66.6667, abs=1e-3), "support": 3}
    assert details["magnitude"]["confusion_matrix"]["labels"] == MAG


def test_mcc_binary_matches_the_textbook_formula() -> None:
    tp, tn, fp, fn = 6, 3, 1, 2
    truth = [1] * tp + [0] * tn + [0] * fp + [1] * fn
    pred = [1] * tp + [0] * tn + [1] * fp + [0] * fn
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert mcc(confusion(truth, pred, 2)) == pytest.approx(expected)


def test_macro_f1_ignores_classes_absent_from_truth_and_predictions() -> None:
    metrics, _ = evaluation_metrics([1, 1], [1, 1], MAG, [1, 1], [1, 1], AZI)
    assert metrics["magnitude_macro_f1"] == 100.0
    assert "large_recall" not in metrics and "false_positive_rate" not in metrics


def test_event_pairs_group_images_by_event() -> None:
    def rows(preds: list[str]) -> list[dict[str, object]]:
        return [{"row": i, "event_id": "AAA_1" if i < 3 else "BBB_2", "magnitude_true": "Large",
                 "magnitude_pred": p} for i, p in enumerate(preds)]

    champion = rows(["Large", "Large", "Normal", "Normal", "Large"])
    challenger = rows(["Large", "Normal", "Large", "Large", "Large"])
    assert event_pairs(champion, challenger) == (EventPair(3, 1, 1), EventPair(2, 0, 1))
    with pytest.raises(ValueError, match="same samples"):
        event_pairs(champion, challenger[:4])


def test_an_image_without_an_event_id_is_its_own_event() -> None:
    champion = [{"row": i, "magnitude_true": "Large", "magnitude_pred": "Normal"} for i in range(3)]
    challenger = [{"row": i, "magnitude_true": "Large", "magnitude_pred": "Large"} for i in range(3)]
    assert event_pairs(champion, challenger) == (EventPair(1, 0, 1),) * 3
