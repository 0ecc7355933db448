"""Hypothesis strategies and payload builders for ``tests/unit/test_state_machine.py``.

Fake blobs only (a sha256 of a label, a small size): the lifecycle decides on digests, it
never opens a file, so no store is needed.
"""

from __future__ import annotations

import hashlib
from datetime import date as Date
from typing import Any

from hypothesis import strategies as st

from lifecycle.commands import AddData
from lifecycle.labels import labels
from lifecycle.policy import Policy
from models.classes import default_classes
from models.stations import STATIONS

# A small id space, so that adds collide with earlier adds and with training data.
EVENT_IDS = tuple(f"EV_{n:03d}" for n in range(10))
IMPORT_STATUSES = ("champion", "archived", "pre_rollback", "rejected")
# A champion and a former champion first, more often than not: what a rollback needs.
USUAL_START = [["champion", "archived"], ["archived", "champion"], []]

percent = st.floats(min_value=40.0, max_value=100.0, allow_nan=False).map(lambda x: round(x, 2))
rate = st.floats(0, 30).map(lambda x: round(x, 2))
# With a false-positive rate two times in three: production alerts are judged against it.
metrics = st.one_of(
    st.fixed_dictionaries({"magnitude_accuracy": percent, "azimuth_accuracy": percent},
                          optional={"large_recall": percent, "false_positive_rate": rate}),
    *[st.fixed_dictionaries({"magnitude_accuracy": percent, "azimuth_accuracy": percent,
                             "false_positive_rate": rate}, optional={"large_recall": percent})] * 2,
)
events_included = st.lists(st.sampled_from(EVENT_IDS), unique=True, max_size=3)


def blob(label: str, size: int = 1) -> dict[str, Any]:
    return {"digest": hashlib.sha256(label.encode()).hexdigest(), "size": size}


@st.composite
def imported_model(draw: st.DrawFn, status: str, usual: bool = False) -> dict[str, Any]:
    """One model of an installation, as ``service.importer._model`` builds it; a ``usual``
    one has its weights (and mostly an evaluation)."""
    version = ".".join(str(draw(st.integers(0, 4))) for _ in range(3))
    values = draw(st.sampled_from([None, *[metrics] * (4 if usual else 2)]).flatmap(
        lambda strategy: st.none() if strategy is None else strategy))
    weights = blob(f"import {version}", 2)
    return {
        "model_id": f"convnext_v{version}", "version": version, "family": "convnext",
        "architecture": "convnext_atto", "status": status,
        "weights": weights if usual else draw(st.sampled_from([None, weights, weights])),
        "classes": default_classes(),
        "evaluation": None if values is None else {
            "dataset": "benchmark", "metrics": values, "composite": Policy().composite(values)},
        "training_data": {"events_included": draw(events_included)},
        "reason": "imported",
    }


@st.composite
def installations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1-4 models, at most one challenger; two champions or a repeated version (both
    refused) are left to chance."""
    start = draw(st.sampled_from(USUAL_START))
    more = st.sampled_from(IMPORT_STATUSES[1:] if start else IMPORT_STATUSES)
    statuses = start + draw(st.lists(more, min_size=0 if start else 1, max_size=4 - len(start)))
    if draw(st.booleans()):
        statuses[draw(st.integers(0, len(statuses) - 1))] = "challenger"
    return [draw(imported_model(status, usual=n < len(start))) for n, status in enumerate(statuses)]


@st.composite
def add_data_commands(draw: st.DrawFn) -> AddData:
    """What ``service.pool.build_add_data`` builds: classes from the values, fake images
    (none at all, which the schema refuses, now and then)."""
    event_id = draw(st.sampled_from(EVENT_IDS))
    magnitude = round(draw(st.floats(3.0, 8.0)), 1)
    azimuth = round(draw(st.floats(0.0, 359.9)), 1)
    mag, azi = labels(magnitude, None, azimuth, None)
    n_images = draw(st.sampled_from([0, 1, 1, 2, 2, 3]))
    images = tuple({"name": f"{event_id}_{n}.png", **blob(f"{event_id}/{n}", n)}
                   for n in range(1, n_images + 1))
    return AddData(event_id=event_id, station=draw(st.sampled_from(STATIONS)),
                   date=draw(st.dates(Date(2020, 1, 1), Date(2026, 1, 1))).isoformat(),
                   magnitude_class=mag, azimuth_class=azi, images=images,
                   magnitude_value=magnitude, azimuth_value=azimuth if mag != "Normal" else None)
