"""The pool of validated events: ``lifecycle data add``, and the pool as a training data set.

Guarantees:
1. An event is recorded only with a known station, a date not in the future, classes
   derived by SPEC section 1 (or given and checked), and readable images; its images are
   stored by digest and copied into the store only once the event is accepted.
2. ``write_pool_dataset`` lays out the pool's events as a data set folder (labels.csv +
   images) that ``train`` reads like any other.
"""

from __future__ import annotations

import csv
import re
from datetime import date as Date
from pathlib import Path
from typing import Any

from events.store import BlobStore
from lifecycle.commands import AddData
from lifecycle.errors import UserError
from lifecycle.labels import labels
from lifecycle.state import State

_EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_IMAGE_BYTES = 50 * 1024 * 1024


def build_add_data(
    *, event_id: str, station: str, day: str, images: list[Path], today: Date,
    magnitude: float | None = None, magnitude_class: str | None = None,
    azimuth: float | None = None, azimuth_class: str | None = None,
) -> tuple[AddData, dict[str, Path]]:
    from models.stations import STATIONS

    if not _EVENT_ID.fullmatch(event_id):
        raise UserError(f"not an event id: {event_id!r}; use e.g. GTO_20260210")
    if station.upper() not in STATIONS:
        raise UserError(f"unknown station {station!r}; known: {', '.join(sorted(STATIONS))}")
    when = _date(day, today)
    mag, azi = labels(magnitude, magnitude_class, azimuth, azimuth_class)
    if not images:
        raise UserError("give at least one --image (the event's spectrograms)")
    refs, files = [], {}
    for n, path in enumerate(images, start=1):
        stored = _checked_image(path)
        files[stored["digest"]] = path
        refs.append({"name": f"{event_id}_{n}{path.suffix.lower() or '.png'}", **stored})
    command = AddData(event_id=event_id, station=station.upper(), date=when.isoformat(),
                      magnitude_class=mag, azimuth_class=azi, images=tuple(refs),
                      magnitude_value=magnitude, azimuth_value=azimuth if mag != "Normal" else None)
    return command, files


def _date(text: str, today: Date) -> Date:
    try:
        when = Date.fromisoformat(text)
    except ValueError:
        raise UserError(f"not a date: {text!r}; use YYYY-MM-DD") from None
    if when > today:
        raise UserError(f"date {when} is in the future; only events that happened can be validated")
    return when


def _checked_image(path: Path) -> dict[str, Any]:
    from PIL import Image

    if not path.is_file():
        raise UserError(f"image not found: {path}")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise UserError(f"image {path} is larger than {MAX_IMAGE_BYTES // 2**20} MB")
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception as exc:  # Pillow's decoders raise many exception types on malformed bytes
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"image {path} is not a readable image ({why})") from None
    return BlobStore.digest_file(path)


def write_pool_dataset(state: State, store: BlobStore, out: Path) -> int:
    """Write the pool's events that carry images as a data set; returns the event count."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    rows = []
    for event_id, entry in sorted(state.pool.items()):
        for image in entry.get("images", ()):
            target = out / "images" / image["name"]
            target.write_bytes(store.read_bytes(image["digest"]))
            rows.append({"path": f"images/{image['name']}", "event_id": event_id, "station": entry["station"],
                         "date": entry["date"], "magnitude_class": entry["magnitude_class"],
                         "azimuth_class": entry["azimuth_class"]})
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "event_id", "station", "date", "magnitude_class",
                                               "azimuth_class"])
        writer.writeheader()
        writer.writerows(rows)
    return len({r["event_id"] for r in rows})
