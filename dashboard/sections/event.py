"""Test with a specific event: run two models on one event's spectrograms, side by side
with the true label (SPEC section 9). Torch is imported only when "Run both models" runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.context import KEY, Context, keep_choice
from dashboard.sections.compare import RUN_ERRORS, pick_two
from dashboard.shaping import event_summary
from lifecycle.errors import UserError

DATASET = KEY + "evt_dataset"
RESULT = KEY + "evt_result"


def data_folders(root: Path) -> list[str]:
    """Data set folders inside the root (``<root>/data/*/labels.csv``)."""
    base = root / "data"
    if not base.is_dir():
        return []
    return sorted(str(p.parent) for p in base.glob("*/labels.csv"))


def events_of(folder: str) -> dict[str, int]:
    """Event id -> number of images, read once per version of ``labels.csv``."""
    from models.data import LABELS, read_dataset

    path = Path(folder).expanduser()
    info = os.stat(path / LABELS)
    stamp = (str(path), info.st_mtime_ns, info.st_size)
    kept = st.session_state.get(DATASET)
    if kept is None or kept["stamp"] != stamp:
        data = read_dataset(path, check_images=False)
        counts: dict[str, int] = {}
        for sample in data.samples:
            counts[sample.event_id] = counts.get(sample.event_id, 0) + 1
        kept = {"stamp": stamp, "events": dict(sorted(counts.items()))}
        st.session_state[DATASET] = kept
    events: dict[str, int] = kept["events"]
    return events


def render(ctx: Context) -> None:
    if not ctx.state.models:
        st.info("No model yet: register one first.")
        return
    found = data_folders(ctx.root)
    if KEY + "evt_data" not in st.session_state:
        st.session_state[KEY + "evt_data"] = found[0] if found else ""
    folder = st.text_input("Data set folder (labels.csv and images)", key=KEY + "evt_data",
                           help="Data sets under the root's data/ folder: " + (", ".join(found) or "none")).strip()
    if not folder:
        st.info("Give a data set folder, e.g. one made with 'lifecycle data synth'.")
        return
    try:
        events = events_of(folder)
    except (UserError, OSError) as exc:
        st.error(f"Cannot read the data set: {exc}")
        return
    keep_choice(KEY + "evt_event", list(events), next(iter(events)))
    event = st.selectbox("Event", list(events), key=KEY + "evt_event",
                         format_func=lambda e: f"{e} ({events[e]} images)")
    models = _models(ctx)
    if models is None or event is None:
        return
    wanted = (folder, event, *models)
    if st.button("Run both models" if len(models) > 1 else "Run the model", key=KEY + "evt_run", type="primary"):
        _run(ctx, wanted)
    kept = st.session_state.get(RESULT)
    if kept is not None and kept["key"] == wanted:
        show(ctx, event, kept["rows"])


def _models(ctx: Context) -> tuple[str, ...] | None:
    if len(ctx.state.models) == 1:
        [only] = ctx.state.models
        return (only,)
    chosen = pick_two(ctx, "evt")
    return None if chosen is None else tuple(dict.fromkeys(chosen))


def _run(ctx: Context, wanted: tuple[str, ...]) -> None:
    folder, event, *refs = wanted
    try:
        with st.spinner(f"Running {len(refs)} model(s) on {event}..."):
            from service.modelling import predict_event

            rows = predict_event(ctx.engine(), refs, event, Path(folder).expanduser())
    except RUN_ERRORS as exc:
        st.error(f"Could not run the models: {exc}")
        return
    st.session_state[RESULT] = {"key": wanted, "rows": rows}


def show(ctx: Context, event: str, rows: list[dict[str, Any]]) -> None:
    ids = list(rows[0]["models"]) if rows else []
    truth = rows[0].get("truth", {}) if rows else {}
    parts = [f"v{ctx.state.models[m].version}: {event_summary(rows, m)}" for m in ids]
    st.markdown(f"**{event}** → " + " | ".join(parts)
                + f"  [true: {truth.get('magnitude', '?')} / {truth.get('azimuth', '?')}]")
    header = st.columns([1.2, 1, *[2] * len(ids)])
    for column, text in zip(header, ["Image", "True", *[f"v{ctx.state.models[m].version}" for m in ids]],
                            strict=True):
        column.markdown(f"**{text}**")
    for row in rows:
        _image_row(row, ids)


def _image_row(row: dict[str, Any], ids: list[str]) -> None:
    cells = st.columns([1.2, 1, *[2] * len(ids)], vertical_alignment="center")
    path = Path(row["image"])
    try:
        cells[0].image(str(path), caption=path.name, width=140)
    except (OSError, ValueError):
        cells[0].write(path.name)
    truth = row.get("truth", {})
    cells[1].write(f"{truth.get('magnitude', '?')} / {truth.get('azimuth', '?')}")
    for cell, model_id in zip(cells[2:], ids, strict=True):
        cell.markdown(_prediction(row["models"][model_id], truth))


def _prediction(found: dict[str, Any], truth: dict[str, Any]) -> str:
    def one(kind: str, true: str | None) -> str:
        name, confidence = found[f"{kind}_pred"], 100 * found[f"{kind}_confidence"]
        mark = "" if true is None else (" ✓" if name == true else " ✗")
        return f"{name} ({confidence:.1f}%){mark}"

    return f"{one('magnitude', truth.get('magnitude'))}  \n{one('azimuth', truth.get('azimuth'))}"
