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
from lifecycle.commands import AddData, CorrectData
from lifecycle.errors import UserError
from lifecycle.labels import AZIMUTH_CLASSES, MAGNITUDE_CLASSES, labels
from lifecycle.labels import azimuth_class as azimuth_class_of
from lifecycle.labels import magnitude_class as magnitude_class_of
from lifecycle.state import State

_EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_STATION_DAY = re.compile(r"([A-Za-z]{3})_(\d{8})")
IMAGE_SIZE = (224, 224)  # SPEC section 1: 224x224 RGB spectrograms
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
    _consistent_id(event_id, station.upper(), when)
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


def build_correction(
    event_id: str, reason: str, *, magnitude: float | None = None, magnitude_class: str | None = None,
    azimuth: float | None = None, azimuth_class: str | None = None,
) -> CorrectData:
    """What ``data correct`` changes: each label by value (class derived) or by class."""
    both = (magnitude is not None and magnitude_class is not None,
            azimuth is not None and azimuth_class is not None)
    if any(both):
        raise UserError("give a value or a class for each label, not both")
    changes: dict[str, Any] = {}
    if magnitude is not None:
        changes |= {"magnitude_value": magnitude, "magnitude_class": magnitude_class_of(magnitude)}
    if magnitude_class is not None:
        changes["magnitude_class"] = _known(magnitude_class, MAGNITUDE_CLASSES, "magnitude")
    if azimuth is not None:
        changes |= {"azimuth_value": azimuth, "azimuth_class": azimuth_class_of(azimuth)}
    if azimuth_class is not None:
        changes["azimuth_class"] = _known(azimuth_class, AZIMUTH_CLASSES, "azimuth")
    if not changes:
        raise UserError("nothing to correct: give --magnitude/--magnitude-class and/or --azimuth/--azimuth-class")
    if changes.get("magnitude_class") == "Normal":
        changes["azimuth_class"] = "Normal"
    return CorrectData(event_id=event_id, changes=changes, reason=reason)


def _known(value: str, known: tuple[str, ...], what: str) -> str:
    if value not in known:
        raise UserError(f"unknown {what} class {value!r}; known: {', '.join(known)}")
    return value


def _consistent_id(event_id: str, station: str, when: Date) -> None:
    """An id of the form STATION_YYYYMMDD must name the event's station and date."""
    match = _STATION_DAY.fullmatch(event_id)
    if match and (match[1].upper() != station or match[2] != when.strftime("%Y%m%d")):
        raise UserError(f"event id {event_id} names station {match[1].upper()} and date {match[2]}, but the "
                        f"event is at {station} on {when.isoformat()}; fix the id, --station or --date")


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
            size, mode = img.size, img.mode
            img.verify()
    except Exception as exc:  # Pillow's decoders raise many exception types on malformed bytes
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"image {path} is not a readable image ({why})") from None
    if size != IMAGE_SIZE or mode != "RGB":
        raise UserError(f"image {path} is {size[0]}x{size[1]} {mode}; spectrograms are "
                        f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} RGB (SPEC section 1)")
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
