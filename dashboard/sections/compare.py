"""Compare two models: stored metrics side by side, differences, better/worse marks, the
McNemar p-value when both were evaluated on the same data; or both run now on a data set."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.context import BASELINE, KEY, SELECTED, Context, analysis_pair
from dashboard.shaping import stored_paired_test
from lifecycle.errors import UserError
from projections.compare import compare

LOWER_IS_BETTER_NOTE = "false_positive_rate: lower is better"


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
    _data_note(result)
    if result["metrics"]:
        st.dataframe(metric_table(result["metrics"], va, vb), hide_index=True, key=KEY + "cmp_table")
        st.caption(f"Difference = v{vb} - v{va}; {LOWER_IS_BETTER_NOTE}.")
    else:
        st.info("Neither model has been evaluated yet.")
    _paired_test(ctx, a, b, result)
    _on_data(ctx, a, b)


def _data_note(result: dict[str, Any]) -> None:
    da, db = result["a"]["dataset"], result["b"]["dataset"]
    if result["same_data"]:
        st.write(f"Both evaluated on the same data: **{da}**.")
    elif da and db:
        st.warning(f"Measured on different data (v{result['a']['version']} on {da}, "
                   f"v{result['b']['version']} on {db}): the numbers are not comparable.")


def metric_table(rows: Sequence[dict[str, Any]], va: str, vb: str) -> list[dict[str, Any]]:
    table = []
    for row in rows:
        mark = {"b": f"▲ v{vb} better", "a": f"▼ v{vb} worse", "same": "= same"}.get(row["better"] or "", "")
        table.append({"metric": row["metric"], f"v{va} (A)": _fmt(row["a"]), f"v{vb} (B)": _fmt(row["b"]),
                      "difference": _fmt(row["difference"], signed=True), "B vs A": mark})
    return table


def _fmt(value: Any, signed: bool = False) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _paired_test(ctx: Context, a: str, b: str, result: dict[str, Any]) -> None:
    if not result["same_data"] or a == b:
        return
    test = stored_paired_test(ctx.root, ctx.state.resolve(a), ctx.state.resolve(b))
    if test is None:
        st.caption("Paired test: not available (no per-sample predictions stored for both on the same data).")
        return
    st.write(f"Paired test over events on {test['dataset']}: p = **{test['p_value']:.4g}** "
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
    st.dataframe(metric_table(result["metrics"], result["a"]["version"], result["b"]["version"]),
                 hide_index=True)
    test = result["paired_test"]
    st.write(f"Paired test over events on {result['a']['dataset']}: p = **{test['p_value']:.4g}** "
             f"({_summary(test)})")
