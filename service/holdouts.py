"""Registered holdouts: the data sets models are judged on never leak into what they learn.

Guarantees:
1. Every data set ``lifecycle evaluate --data`` measures on becomes a registered holdout: a
   manifest (its station-days and the sha256 of every image) is stored by digest and named
   in the ``evaluated`` event, so replay knows every holdout ever used.
2. ``data add`` refuses an event whose station-day or image belongs to a registered
   holdout, and ``train`` refuses training data that holds any, naming one of them: a
   challenger is never trained on the data it is judged on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from lifecycle.errors import UserError
from lifecycle.state import State
from service.engine import Engine


def manifest(samples: Iterable[Any]) -> bytes:
    """A data set's manifest: station-days and image digests (``models.data.Sample``s)."""
    from events.store import BlobStore

    samples = list(samples)
    return orjson.dumps({
        "station_days": sorted({f"{s.station}|{s.date}" for s in samples}),
        "images": sorted({BlobStore.digest_file(s.path)["digest"] for s in samples}),
    }, option=orjson.OPT_SORT_KEYS)


def _registered(engine: Engine, state: State) -> tuple[set[str], set[str]]:
    days: set[str] = set()
    images: set[str] = set()
    for digest in (state.holdouts or {}).values():
        if not engine.store.has(digest):
            continue  # 'lifecycle verify' reports a missing blob
        found = orjson.loads(engine.store.read_bytes(digest))
        days.update(found.get("station_days", ()))
        images.update(found.get("images", ()))
    return days, images


def refuse_pool_event(engine: Engine, state: State, station: str, date: str, digests: Iterable[str]) -> None:
    days, images = _registered(engine, state)
    if f"{station}|{date}" in days:
        raise UserError(f"{station} {date} is an event of a registered holdout (a data set models were "
                        "evaluated on); holdout data never goes into the training pool")
    if images & set(digests):
        raise UserError("an image of this event belongs to a registered holdout (a data set models were "
                        "evaluated on); holdout data never goes into the training pool")


def refuse_training_data(engine: Engine, state: State, samples: Iterable[Any]) -> None:
    from events.store import BlobStore

    days, images = _registered(engine, state)
    if not days and not images:
        return
    for sample in samples:
        if f"{sample.station}|{sample.date}" in days or BlobStore.digest_file(sample.path)["digest"] in images:
            raise UserError(f"the training data holds {sample.event_id} ({sample.station} {sample.date}, "
                            f"{sample.path.name}), which belongs to a registered holdout; a challenger must "
                            "not be trained on the data it is judged on: remove it from the training data")
