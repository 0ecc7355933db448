"""A model's details: its metadata and its evaluations (confusion matrices as heatmaps)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard.charts import confusion_heatmap
from dashboard.context import KEY, Context, pct, safe_key
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


def render(ctx: Context, record: ModelRecord) -> None:
    st.markdown("**Metadata**")
    st.json(metadata(record), expanded=1)
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
    st.dataframe([{"metric": k, "value": v} for k, v in m.items()]
                 + [{"metric": "composite_score", "value": evaluation["composite"]["score"]}], hide_index=True)
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
