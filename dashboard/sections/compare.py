"""Compare two models: stored metrics side by side, differences, better/worse marks, the
McNemar p-value when both were evaluated on the same data; or both run now on a data set."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.charts import Spec, confusion_heatmap
from dashboard.context import BASELINE, KEY, SELECTED, Context, analysis_pair
from dashboard.metrics_display import comparison_rows, short_digest, styled
from dashboard.shaping import stored_paired_test
from lifecycle.errors import UserError
from lifecycle.state import Json, ModelRecord
from projections.compare import compare, shared_evaluations

LOWER_IS_BETTER_NOTE = "False-positive rate: lower is better (a fall is marked better)"
MANY = KEY + "cmp_many"  # the versions shown side by side
MANY_SEED = KEY + "cmp_many_seed"  # the (A, B) pair the multiselect was last defaulted from
MAX_MANY = 4
ROW_PX = 32  # a confusion-matrix row, at least (~28 px asked for)


def pick_two(ctx: Context, prefix: str) -> tuple[str, str] | None:
    """The Model A and Model B boxes (the champion is A unless another is chosen); None with
    fewer than two models.

    The pair lives in ``BASELINE`` / ``SELECTED`` (``context.analysis_pair``), not in the
    boxes: each box is set from it before it is drawn and writes a choice back to it, so
    the header, both pages' boxes and what they compute always name the same models,
    whichever page was drawn in between."""
    labels = ctx.model_labels()
    ids = list(labels)
    if len(ids) < 2:
        st.info("Comparing needs at least two models in the registry.")
        return None
    a, b = analysis_pair(ids)
    left, right = st.columns(2)
    _box(left, "Model A", KEY + prefix + "_a", BASELINE, a, labels)
    _box(right, "Model B", KEY + prefix + "_b", SELECTED, b, labels)
    return a, b


def _box(column: Any, label: str, key: str, truth: str, value: str, labels: dict[str, str]) -> None:
    st.session_state[key] = value  # what the box shows is the pair, whatever the browser kept
    column.selectbox(label, list(labels), key=key, format_func=labels.__getitem__,
                     on_change=_chosen, args=(key, truth))


def _chosen(key: str, truth: str) -> None:
    """A choice in a box (before the run that follows it, so the header already knows)."""
    if isinstance(st.session_state.get(key), str):
        st.session_state[truth] = st.session_state[key]


def render(ctx: Context) -> None:
    chosen = pick_two(ctx, "cmp")
    if chosen is None:
        return
    a, b = chosen
    result = compare(ctx.state, a, b)
    va, vb = result["a"]["version"], result["b"]["version"]
    if a == b:
        st.info("The same model is chosen twice.")
    _data_note(result, _digest(ctx, a, b))
    if result["metrics"]:
        st.dataframe(styled(metric_table(result["metrics"], va, vb)), hide_index=True, key=KEY + "cmp_table")
        st.caption(f"Difference = v{vb} - v{va}; {LOWER_IS_BETTER_NOTE}.")
    else:
        st.info("Neither model has been evaluated yet.")
    _paired_test(ctx, a, b, result)
    _several(ctx, a, b)
    _on_data(ctx, a, b)


def _digest(ctx: Context, a: str, b: str) -> str | None:
    """The content digest of the data both were evaluated on (None: not the same data)."""
    shared = shared_evaluations(ctx.state.resolve(a), ctx.state.resolve(b))
    found = shared[0].get("dataset_digest") if shared else None
    return found if isinstance(found, str) and found else None


def _data_note(result: dict[str, Any], digest: str | None = None) -> None:
    da, db = short_digest(result["a"]["dataset"]), short_digest(result["b"]["dataset"])
    if result["same_data"]:
        st.write(f"Both evaluated on the same data: **{da}**"
                 + (f" (digest `{digest[:12]}`)" if digest else "") + ".")
    elif da and db:
        st.warning(f"Measured on different data (v{result['a']['version']} on {da}, "
                   f"v{result['b']['version']} on {db}): the numbers are not comparable.")


def metric_table(rows: Sequence[dict[str, Any]], va: str, vb: str) -> list[dict[str, str]]:
    """The A/B table: display names in a fixed order, units, signed differences, verdicts
    (``dashboard.metrics_display``)."""
    return comparison_rows(rows, va, vb)


def _paired_test(ctx: Context, a: str, b: str, result: dict[str, Any]) -> None:
    if not result["same_data"] or a == b:
        return
    test = stored_paired_test(ctx.root, ctx.state.resolve(a), ctx.state.resolve(b))
    if test is None:
        st.caption("Paired test: not available (no per-sample predictions stored for both on the same data).")
        return
    st.write(f"Paired test over events on {short_digest(str(test['dataset']))}: p = **{test['p_value']:.4g}** "
             f"({_summary(test)})")


def _summary(test: dict[str, Any]) -> str:
    return (f"{test['events']} events, {test['images']} images; b={test['b']} only A right, "
            f"c={test['c']} only B right; {test['method']}")


RESULT = KEY + "cmp_result"
RUN_ERRORS = (UserError, OSError, RuntimeError, ValueError)


def _on_data(ctx: Context, a: str, b: str) -> None:
    with st.expander("Run both models now on a data set (nothing is recorded)"):
        folder = st.text_input("Data set folder (labels.csv and images)", key=KEY + "cmp_data").strip()
        wanted = (a, b, folder)
        if st.button("Compare on this data", key=KEY + "cmp_run"):
            _run_on_data(ctx, wanted)
        kept = st.session_state.get(RESULT)
        if kept is not None and kept["key"] == wanted:
            _show_on_data(kept["result"])


def _run_on_data(ctx: Context, wanted: tuple[str, str, str]) -> None:
    a, b, folder = wanted
    if not folder:
        st.error("Give a data set folder first.")
        return
    try:
        with st.spinner("Running both models on the data set..."):
            from service.modelling import compare_on_data

            result = compare_on_data(ctx.engine(), a, b, Path(folder).expanduser())
    except RUN_ERRORS as exc:
        st.error(f"Could not compare on {folder}: {exc}")
        return
    st.session_state[RESULT] = {"key": wanted, "result": result}


def _show_on_data(result: dict[str, Any]) -> None:
    st.dataframe(styled(metric_table(result["metrics"], result["a"]["version"], result["b"]["version"])),
                 hide_index=True)
    test = result["paired_test"]
    digest = result.get("dataset_digest")
    st.write(f"Paired test over events on {short_digest(str(result['a']['dataset']))}"
             + (f" (digest `{digest[:12]}`)" if isinstance(digest, str) and digest else "")
             + f": p = **{test['p_value']:.4g}** ({_summary(test)})")


# -- several versions side by side -----------------------------------------------------------
def _several(ctx: Context, a: str, b: str) -> None:
    """Up to four versions (by default the two compared): magnitude confusion matrices side
    by side and the recall per magnitude class, one bar per version."""
    labels = ctx.model_labels()
    pair = [a] if a == b else [a, b]
    if st.session_state.get(MANY_SEED) != pair or not _valid(st.session_state.get(MANY), labels):
        st.session_state[MANY] = pair  # the default follows the pair chosen above
        st.session_state[MANY_SEED] = pair
    st.subheader("Several versions side by side")
    chosen = st.multiselect(f"Versions (up to {MAX_MANY})", list(labels), key=MANY,
                            format_func=labels.__getitem__, max_selections=MAX_MANY)
    records = [ctx.state.resolve(model_id) for model_id in chosen]
    if not records:
        st.caption("Choose versions to see their confusion matrices.")
        return
    recalls: list[dict[str, Any]] = []
    for column, record in zip(st.columns(len(records)), records, strict=True):
        with column:
            recalls += _matrix(record)
    if recalls:
        st.vega_lite_chart(spec=recall_bars(recalls), width="stretch")
    else:
        st.caption("No per-class figures stored for these versions.")


def _valid(value: Any, labels: dict[str, str]) -> bool:
    return isinstance(value, list) and len(value) <= MAX_MANY and all(v in labels for v in value)


def magnitude_figures(record: ModelRecord) -> tuple[Json, Json] | None:
    """(evaluation, magnitude figures) of the newest evaluation with a magnitude confusion
    matrix (the latest evaluation first), or None."""
    keys = sorted(record.evaluations, key=lambda k: (k != record.latest_evaluation,
                                                     -int(record.evaluations[k]["seq"])))
    for key in keys:
        evaluation = record.evaluations[key]
        figures = ((evaluation.get("details") or {}).get("magnitude")) or {}
        matrix = figures.get("confusion_matrix") or {}
        if matrix.get("labels") and matrix.get("matrix"):
            return evaluation, figures
    return None


def _matrix(record: ModelRecord) -> list[dict[str, Any]]:
    """One version's heatmap (in its column); its recall per class, for the bars."""
    found = magnitude_figures(record)
    if found is None:
        st.markdown(f"**v{record.version}**")
        st.caption("No magnitude confusion matrix (not evaluated, or without per-sample details).")
        return []
    evaluation, figures = found
    matrix = figures["confusion_matrix"]
    st.vega_lite_chart(spec=readable_heatmap(matrix["labels"], matrix["matrix"], f"v{record.version}"),
                       width="stretch")
    digest = evaluation.get("dataset_digest")
    st.caption(f"On {short_digest(str(evaluation['dataset']))}"
               + (f" (digest `{digest[:12]}`)" if isinstance(digest, str) and digest else ""))
    return [{"version": f"v{record.version}", "class": label, "recall": value}
            for label, value in class_recalls(matrix["labels"], matrix["matrix"],
                                              figures.get("per_class") or {}).items()]


def readable_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> Spec:
    """``charts.confusion_heatmap`` with a row height of ``ROW_PX`` and axis labels that are
    neither cut nor dropped, for a narrow column."""
    spec = confusion_heatmap(labels, matrix, title)
    axis = {"labelLimit": 0, "labelOverlap": False, "labelFontSize": 11}
    encoding = spec["encoding"]
    spec["encoding"] = {"x": {**encoding["x"], "axis": {**axis, "labelAngle": -40}},
                        "y": {**encoding["y"], "axis": axis}}
    spec["height"] = ROW_PX * len(labels)
    return spec


def class_recalls(labels: Sequence[str], matrix: Sequence[Sequence[int]],
                  per_class: Any) -> dict[str, float]:
    """Recall (%) per class: from the confusion matrix's rows (a class with no true sample
    has none), else from the stored per-class figures."""
    found: dict[str, float] = {}
    for label, row in zip(labels, matrix, strict=False):
        total = sum(int(count) for count in row)
        if total:
            found[label] = round(100.0 * int(row[list(labels).index(label)]) / total, 4)
        elif isinstance(per_class, dict) and isinstance((per_class.get(label) or {}).get("recall"), int | float):
            found[label] = float(per_class[label]["recall"])
    return found


def recall_bars(rows: Sequence[dict[str, Any]]) -> Spec:
    """Recall per magnitude class, one bar per version in each class's group."""
    order = list(dict.fromkeys(row["class"] for row in rows))
    versions = list(dict.fromkeys(row["version"] for row in rows))
    return {
        "title": "Recall per magnitude class", "height": 260, "data": {"values": list(rows)},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "class", "type": "nominal", "sort": order, "title": "True magnitude class",
                  "axis": {"labelAngle": 0}},
            "xOffset": {"field": "version", "type": "nominal", "sort": versions},
            "y": {"field": "recall", "type": "quantitative", "title": "Recall (%)",
                  "scale": {"domain": [0, 100]}},
            "color": {"field": "version", "type": "nominal", "sort": versions, "title": "Version"},
            "tooltip": [{"field": "version"}, {"field": "class"},
                        {"field": "recall", "type": "quantitative", "format": ".2f"}],
        },
    }
