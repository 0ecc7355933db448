"""How metrics read on the pages: display names, a fixed order, units, which way is better,
and a comparison table (rows for ``st.dataframe`` and a Styler colouring better / worse).

Pure formatting, no Streamlit: ``comparison_rows`` gives plain rows, ``styled`` a pandas
Styler of them (better green, worse red). A missing value is an en dash, never 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lifecycle.gate import LOWER_IS_BETTER, better_of

MISSING = "\u2013"  # an en dash
NAMES = {
    "magnitude_accuracy": "Magnitude accuracy",
    "azimuth_accuracy": "Azimuth accuracy",
    "magnitude_macro_f1": "Magnitude macro-F1",
    "magnitude_mcc": "Magnitude MCC",
    "large_recall": "Large recall",
    "false_positive_rate": "False-positive rate",
    "stability": "Stability",
    "composite_score": "Composite score",
    "original_composite_score": "Original composite score",
}
ORDER = tuple(NAMES)  # magnitude accuracy first ... the composite scores last
# Percent figures (0-100) get two decimals and "%"; differences in percentage points.
PERCENT = frozenset({"magnitude_accuracy", "azimuth_accuracy", "magnitude_macro_f1", "large_recall",
                     "false_positive_rate", "stability"})
METRIC, DIFFERENCE, VERDICT = "Metric", "Difference", "B vs A"
GREEN, RED = "color: #1a7f37; font-weight: 600", "color: #cf222e; font-weight: 600"
DIGEST = re.compile(r"\b[0-9a-f]{64}\b")
SHORT = 12


def display_name(metric: str) -> str:
    """``magnitude_accuracy`` -> ``Magnitude accuracy`` (an unknown name: underscores as spaces)."""
    return NAMES.get(metric) or metric.replace("_", " ").capitalize()


def rank(metric: str) -> tuple[int, str]:
    """Sort key: the fixed order, unknown metrics after it, alphabetically."""
    return (ORDER.index(metric), "") if metric in NAMES else (len(ORDER), metric)


def ordered(metrics: Iterable[str]) -> list[str]:
    return sorted(metrics, key=rank)


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_value(metric: str, value: Any) -> str:
    """``97.63 %`` for a percent metric, ``0.8950`` for MCC and composite scores, an en dash if missing."""
    if not _number(value):
        return MISSING
    return f"{value:.2f} %" if metric in PERCENT else f"{value:.4f}"


def format_difference(metric: str, value: Any) -> str:
    """``+1.25 pts`` (percentage points) or ``-0.0123``; an en dash if missing."""
    if not _number(value):
        return MISSING
    return f"{value:+.2f} pts" if metric in PERCENT else f"{value:+.4f}"


def better(metric: str, a: Any, b: Any) -> str | None:
    """"b" when B is better than A, "a" when worse, "same"; None when one is missing. For a
    lower-is-better metric (false-positive rate) a fall is better."""
    return better_of(metric, a, b)


def comparison_rows(rows: Sequence[Mapping[str, Any]], va: str, vb: str) -> list[dict[str, str]]:
    """Rows of ``projections.compare.metric_rows`` (``metric``, ``a``, ``b``, ``difference``,
    ``better``) as the table shows them: display names in the fixed order, units, the
    signed difference and the verdict (``▲ v… better`` / ``▼ v… worse`` / ``= same``)."""
    table = []
    for row in sorted(rows, key=lambda r: rank(str(r["metric"]))):
        metric = str(row["metric"])
        verdict = row.get("better") or better(metric, row.get("a"), row.get("b")) or ""
        mark = {"b": f"▲ v{vb} better", "a": f"▼ v{vb} worse", "same": "= same"}.get(verdict, MISSING)
        table.append({METRIC: display_name(metric), f"v{va} (A)": format_value(metric, row.get("a")),
                      f"v{vb} (B)": format_value(metric, row.get("b")),
                      DIFFERENCE: format_difference(metric, row.get("difference")), VERDICT: mark})
    return table


def _colour(mark: str) -> str:
    if mark.startswith("▲"):
        return GREEN
    if mark.startswith("▼"):
        return RED
    return ""


def styled(table: Sequence[Mapping[str, str]]) -> Any:
    """A pandas Styler of ``comparison_rows``: the difference and the verdict green where B
    is better, red where worse."""
    import pandas as pd

    frame = pd.DataFrame(list(table))
    if frame.empty or VERDICT not in frame.columns:
        return frame

    def paint(row: Any) -> list[str]:
        colour = _colour(str(row[VERDICT]))
        return [colour if column in (DIFFERENCE, VERDICT) else "" for column in row.index]

    return frame.style.apply(paint, axis=1)


def short_digest(text: str | None, length: int = SHORT) -> str:
    """A 64-character hex digest (alone or inside a text) cut to ``length`` characters + "…"."""
    if not text:
        return ""
    return DIGEST.sub(lambda found: found[0][:length] + "…", text)
