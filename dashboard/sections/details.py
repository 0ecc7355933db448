"""A model's details: its metadata and its evaluations (confusion matrices as heatmaps)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard.charts import confusion_heatmap
from dashboard.context import KEY, Context, pct, safe_key
from dashboard.metrics_display import display_name, format_value, ordered
from dashboard.shaping import short_time
from lifecycle.state import ModelRecord
from projections.registry import archive_entry, champion_entry, folder


def metadata(record: ModelRecord) -> dict[str, Any]:
    entry = champion_entry(record) if record.status == "champion" else archive_entry(record)
    return {**entry, "path": folder(record), "created_at": record.created_at,
            "training_config": dict(record.training_config),
            "files": {name: dict(blob) for name, blob in record.files.items()},
            "classes": {k: list(v) for k, v in (record.classes or {}).items()},
            "warnings": list(record.warnings)}


def metadata_rows(found: Mapping[str, Any]) -> list[dict[str, str]]:
    """``metadata`` as readable key/value rows: nested keys dotted (``metrics.composite_score``),
    lists of plain values joined, digests shortened to 12 characters (the full values are
    in the JSON)."""
    rows: list[dict[str, str]] = []

    def walk(key: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for name, inner in value.items():
                walk(f"{key}.{name}" if key else str(name), inner)
        elif isinstance(value, list | tuple) and any(isinstance(v, Mapping | list | tuple) for v in value):
            for i, inner in enumerate(value):
                walk(f"{key}[{i}]", inner)
        elif isinstance(value, list | tuple):
            rows.append({"key": key, "value": ", ".join(_shown(key, v) for v in value) or "-"})
        else:
            rows.append({"key": key, "value": _shown(key, value)})

    walk("", found)
    return rows


def _shown(key: str, value: Any) -> str:
    if value is None or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return pct(value) if key.endswith("accuracy") else f"{value:.4f}".rstrip("0").rstrip(".")
    text = str(value)
    last = key.rsplit(".", 1)[-1]
    if len(text) > 12 and (last in ("digest", "sha256", "dataset_digest") or _is_digest(text)):
        return text[:12] + "…"
    return text


def _is_digest(text: str) -> bool:
    return len(text) in (40, 64, 128) and all(c in "0123456789abcdef" for c in text)


def render(ctx: Context, record: ModelRecord) -> None:
    st.markdown(f"**Metadata of v{record.version}** ({record.model_id})")
    found = metadata(record)
    rows = metadata_rows(found)
    st.dataframe(rows, hide_index=True, width="stretch", height=min(35 * (len(rows) + 1) + 3, 900),
                 key=KEY + "meta_" + safe_key(record.model_id),
                 column_config={"key": st.column_config.TextColumn("Key"),
                                "value": st.column_config.TextColumn("Value", width="large")})
    with st.expander("Full metadata (JSON, digests in full)"):
        st.json(found, expanded=True)
    _lineage(ctx, record)
    if not record.evaluations:
        st.info("Not evaluated yet.")
        return
    names = sorted(record.evaluations, key=lambda k: -int(record.evaluations[k]["seq"]))
    key = KEY + "eval_" + safe_key(record.model_id)
    chosen = st.selectbox("Evaluation", names, key=key, help="Data set name @ content digest; newest first")
    _evaluation(record.evaluations[chosen or names[0]])


def _lineage(ctx: Context, record: ModelRecord) -> None:
    """The chain of parents (``lifecycle lineage``): data, code and decisions."""
    from service.lineage import chain

    st.markdown("**Lineage**")
    rows = [{"model": link["model_id"], "status": link["status"],
             "parent": link["parent"] or ("none" if link["recorded"] else "not recorded"),
             "data": "; ".join(f"{d.get('total_samples')} samples, sha256 {str(d.get('digest'))[:12]}"
                               for d in link["data"]) or "-",
             "code": (link.get("code") or {}).get("version") or "-",
             "torch": (link.get("runtime") or {}).get("torch") or "-", "device": link.get("device") or "-",
             "decision": (link.get("decision") or {}).get("reason") or "-"}
            for link in chain(ctx.state, record.model_id)]
    st.dataframe(rows, hide_index=True, key=KEY + "lineage_" + safe_key(record.model_id))


def _evaluation(evaluation: Mapping[str, Any]) -> None:
    m = evaluation["metrics"]
    digest = evaluation.get("dataset_digest")
    st.write(f"On **{evaluation['dataset']}** ({evaluation.get('n_samples', '?')} samples"
             + (f", digest {digest[:12]}…" if digest else "") + f"), commit {evaluation['seq']}, "
             f"{short_time(evaluation.get('at'))} UTC")
    figures = {**m, "composite_score": evaluation["composite"]["score"]}
    if evaluation.get("original_composite_score") is not None:
        figures["original_composite_score"] = evaluation["original_composite_score"]
    st.dataframe([{"metric": display_name(k), "value": format_value(k, figures[k])} for k in ordered(figures)],
                 hide_index=True)
    tasks = (evaluation.get("details") or {})
    shown = [t for t in ("magnitude", "azimuth") if isinstance(tasks.get(t), Mapping)]
    if not shown:
        st.caption("No confusion matrices (metrics were recorded without per-sample details).")
        return
    for column, task in zip(st.columns(len(shown)), shown, strict=True):
        with column:
            _task(task, tasks[task])


def _task(task: str, figures: Mapping[str, Any]) -> None:
    matrix = figures.get("confusion_matrix") or {}
    if matrix.get("labels") and matrix.get("matrix"):
        spec = confusion_heatmap(matrix["labels"], matrix["matrix"], f"{task.title()}: confusion matrix")
        st.vega_lite_chart(spec=spec, width="stretch")
    per_class = figures.get("per_class") or {}
    if per_class:
        st.dataframe([{"class": name, **{k: (pct(v) if k != "support" else v) for k, v in row.items()}}
                      for name, row in per_class.items()], hide_index=True)
