"""Labelled spectrogram data sets: a folder with ``labels.csv`` and the images it names.

No torch here (numpy-free too: stdlib and Pillow). Guarantees:
1. Every row is checked; nothing is skipped or mapped to a default. A bad row is a
   ``UserError`` (one line) naming ``labels.csv``, the 1-based data row and what to do.
2. Canonical columns: ``path, event_id, station, date, magnitude_class, azimuth_class``,
   optional ``hour, split``. The original system's benchmark columns are accepted:
   the image is the first of ``path, unified_path, spectrogram_file, filename`` that is
   non-empty *and exists* (relative to the folder); ``mag_class``/``azi_class`` stand for the
   class columns (the first present and non-empty wins); a missing ``event_id`` is derived
   as ``<STATION>_<YYYYMMDD>``.
3. One event has one label, ``Normal`` magnitude goes with ``Normal`` azimuth, and no image
   is listed twice.
4. ``digest`` is a sha256 over labels.csv and every image, in row order (each part length-
   prefixed), so any changed byte changes it and nothing else does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from lifecycle.errors import UserError
from models.classes import AZIMUTH_CLASSES, MAGNITUDE_CLASSES

LABELS = "labels.csv"
PATH_COLUMNS = ("path", "unified_path", "spectrogram_file", "filename")
MAGNITUDE_COLUMNS = ("magnitude_class", "mag_class")
AZIMUTH_COLUMNS = ("azimuth_class", "azi_class")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only (\d takes Arabic-Indic too)
_STATION = re.compile(r"[A-Za-z0-9]+")
_HOUR = re.compile(r"[0-9]{1,2}(\.0*)?")


@dataclass(frozen=True)
class Sample:
    row: int  # 1-based data row number in labels.csv (the header is row 0)
    path: Path  # absolute path of the image
    event_id: str
    station: str
    date: str
    hour: int | None
    magnitude: str
    azimuth: str
    split: str | None


@dataclass(frozen=True)
class DataSet:
    root: Path
    samples: tuple[Sample, ...]
    digest: str

    @property
    def events(self) -> list[str]:
        """Sorted unique event ids."""
        return sorted({s.event_id for s in self.samples})

    def by_event(self, event_id: str) -> list[Sample]:
        found = [s for s in self.samples if s.event_id == event_id]
        if not found:
            raise UserError(
                f"{self.root / LABELS}: no event '{event_id}' in this data set "
                f"({len(self.events)} events, e.g. {', '.join(self.events[:3])})"
            )
        return found


def read_dataset(folder: Path, *, check_images: bool = True) -> DataSet:
    """Read and check ``folder/labels.csv`` and its images.

    Images must exist in every case (the digest covers their bytes); with ``check_images``
    each is also decoded with Pillow, so a truncated or corrupt file is reported.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"data folder {root} does not exist; give a folder holding {LABELS} and the images")
    root = root.resolve()
    labels = root / LABELS
    if not labels.is_file():
        raise UserError(f"{labels} not found; a data set folder needs {LABELS} (one row per image)")
    try:
        raw = labels.read_bytes()
    except OSError as exc:
        raise UserError(f"{labels} cannot be read ({exc.strerror or exc}); check the file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{labels}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UserError(f"{labels}: not a readable CSV ({exc}); fix the file") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise UserError(f"{labels}: empty file; it needs a header row and one row per image")
    header = [h.strip() for h in rows[0]]
    columns = _columns(header, labels)
    body = [(n, cells) for n, cells in enumerate(rows[1:], start=1) if any(c.strip() for c in cells)]
    if not body:
        raise UserError(f"{labels}: no data rows (empty data set); add one row per image")

    hasher = hashlib.sha256()
    _feed(hasher, raw)
    samples: list[Sample] = []
    seen_paths: dict[Path, int] = {}
    event_labels: dict[str, tuple[int, str, str]] = {}
    for n, cells in body:
        if len(cells) > len(header):
            raise UserError(
                f"{labels}: row {n} has {len(cells)} fields but the header has {len(header)}; "
                "fix the row (quote values that contain commas)"
            )
        record = {name: (cells[i].strip() if i < len(cells) else "") for name, i in columns.items()}
        sample = _sample(record, n, root, labels)
        if sample.path in seen_paths:
            raise UserError(
                f"{labels}: row {n}: image {_rel(sample.path, root)} is already listed at row "
                f"{seen_paths[sample.path]}; list each image once"
            )
        seen_paths[sample.path] = n
        first = event_labels.setdefault(sample.event_id, (n, sample.magnitude, sample.azimuth))
        if first[1:] != (sample.magnitude, sample.azimuth):
            raise UserError(
                f"{labels}: row {n}: event {sample.event_id} is labelled {sample.magnitude}/{sample.azimuth} "
                f"here but {first[1]}/{first[2]} at row {first[0]}; one event has one label, fix one of them"
            )
        data = _image_bytes(sample.path, n, root, labels, check_images)
        _feed(hasher, data)
        samples.append(sample)
    return DataSet(root=root, samples=tuple(samples), digest=hasher.hexdigest())


def split_by_event(
    samples: Sequence[Sample], val_fraction: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Split into (train, validation) by whole events, deterministically for ``seed``.

    About ``val_fraction`` of the events go to validation, allocated across magnitude
    classes in proportion (each event counts under its label). With >= 2 events both sides
    are non-empty; with one event everything is training. Each side keeps the input order.
    """
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"validation fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    groups: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[s.event_id].append(s)
    total = len(groups)
    if total < 2:
        return list(samples), []
    want = min(max(round(total * val_fraction), 1), total - 1)
    strata: dict[str, list[str]] = defaultdict(list)
    for event in sorted(groups):
        strata[_event_class(groups[event])].append(event)
    order = sorted(strata, key=_class_rank)
    # Largest-remainder allocation of `want` validation events across the strata.
    quota = {c: len(strata[c]) * want // total for c in order}
    remainder = sorted(order, key=lambda c: (-(len(strata[c]) * want % total), _class_rank(c)))
    for c in remainder[: want - sum(quota.values())]:
        quota[c] += 1
    rng = random.Random(seed)
    val_events: set[str] = set()
    for c in order:
        events = list(strata[c])
        rng.shuffle(events)
        val_events.update(events[: quota[c]])
    train = [s for s in samples if s.event_id not in val_events]
    val = [s for s in samples if s.event_id in val_events]
    return train, val


def summary(data: DataSet) -> dict[str, object]:
    """Training-data summary in the registry's shape, plus class counts (all classes listed)."""
    mag = Counter(s.magnitude for s in data.samples)
    azi = Counter(s.azimuth for s in data.samples)
    return {
        "total_samples": len(data.samples),
        "events_included": data.events,
        "class_counts": {
            "magnitude": {c: mag.get(c, 0) for c in MAGNITUDE_CLASSES},
            "azimuth": {c: azi.get(c, 0) for c in AZIMUTH_CLASSES},
        },
    }


# ----------------------------------------------------------------------------- helpers


def _columns(header: list[str], labels: Path) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        if not name:
            continue
        if name in index:
            raise UserError(f"{labels}: column '{name}' appears twice in the header; keep one")
        index[name] = i
    required = {
        "an image path (path, unified_path, spectrogram_file or filename)": PATH_COLUMNS,
        "station": ("station",),
        "date": ("date",),
        "magnitude_class (or mag_class)": MAGNITUDE_COLUMNS,
        "azimuth_class (or azi_class)": AZIMUTH_COLUMNS,
    }
    for what, names in required.items():
        if not any(n in index for n in names):
            raise UserError(f"{labels}: missing column {what}; header is: {', '.join(header)}")
    return index


def _first(record: Mapping[str, str], names: Sequence[str]) -> str:
    for name in names:
        value = record.get(name, "")
        if value:
            return value
    return ""


def _sample(record: Mapping[str, str], n: int, root: Path, labels: Path) -> Sample:
    where = f"{labels}: row {n}"
    station = record.get("station", "")
    if not _STATION.fullmatch(station):
        raise UserError(
            f"{where}: station '{station}' is not a station code (letters/digits, e.g. TRD); fix the row"
        )
    station = station.upper()
    day = record.get("date", "")
    if not _valid_date(day):
        raise UserError(f"{where}: date '{day}' is not a date YYYY-MM-DD; fix the row")
    magnitude = _first(record, MAGNITUDE_COLUMNS)
    if magnitude not in MAGNITUDE_CLASSES:
        raise UserError(
            f"{where}: magnitude class '{magnitude}' is not one of {', '.join(MAGNITUDE_CLASSES)}; fix the label"
        )
    azimuth = _first(record, AZIMUTH_COLUMNS)
    if azimuth not in AZIMUTH_CLASSES:
        raise UserError(
            f"{where}: azimuth class '{azimuth}' is not one of {', '.join(AZIMUTH_CLASSES)}; fix the label"
        )
    if (magnitude == "Normal") != (azimuth == "Normal"):
        raise UserError(
            f"{where}: magnitude {magnitude} with azimuth {azimuth}; a Normal (no event) row has "
            "magnitude and azimuth both Normal, an event row neither; fix the labels"
        )
    hour_text = record.get("hour", "")
    hour: int | None = None
    if hour_text:
        if not _HOUR.fullmatch(hour_text) or int(float(hour_text)) > 23:
            raise UserError(f"{where}: hour '{hour_text}' is not a whole hour 0-23; fix the row or leave it empty")
        hour = int(float(hour_text))
    event_id = record.get("event_id", "") or f"{station}_{day.replace('-', '')}"
    split = record.get("split", "") or None
    return Sample(
        row=n, path=_image_path(record, where, root), event_id=event_id, station=station, date=day,
        hour=hour, magnitude=magnitude, azimuth=azimuth, split=split,
    )


def _valid_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        Date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _image_path(record: Mapping[str, str], where: str, root: Path) -> Path:
    tried: list[str] = []
    for name in PATH_COLUMNS:
        value = record.get(name, "")
        if not value:
            continue
        rel = Path(value.replace("\\", "/"))
        candidate = Path(os.path.normpath(root / rel))  # lexical: images may be symlinks
        if rel.is_absolute() or not candidate.is_relative_to(root):
            raise UserError(f"{where}: image path '{value}' ({name}) is outside the data folder; "
                            "give it relative to the folder holding labels.csv")
        if _is_file(candidate):
            return candidate
        tried.append(f"{name}={value}")
    if not tried:
        raise UserError(f"{where}: no image path (path, unified_path, spectrogram_file, filename are empty); "
                        "fill one in")
    raise UserError(f"{where}: image not found ({'; '.join(tried)}) under {root}; "
                    "put the image there or fix the path")


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that answers False for names the system refuses (too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _image_bytes(path: Path, n: int, root: Path, labels: Path, check: bool) -> bytes:
    rel = _rel(path, root)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(
            f"{labels}: row {n}: image {rel} cannot be read ({exc.strerror}); fix or replace it"
        ) from None
    why = _decode_problem(data) if check else None
    if why:
        raise UserError(
            f"{labels}: row {n}: image {rel} is not a readable image ({why}); replace it or remove the row"
        )
    return data


def check_image(path: Path) -> None:
    """``UserError`` naming ``path`` unless it is a regular file that Pillow decodes and
    converts to RGB (as prediction does). Nothing but regular files is opened (a FIFO
    would block)."""
    if not os.path.isfile(path):
        if not os.path.exists(path):
            raise UserError(f"no such image: {path}")
        raise unreadable_image(path, "not a regular file")
    why = _decode_problem(path, rgb=True)
    if why:
        raise unreadable_image(path, why)


def unreadable_image(path: Path, why: str | Exception) -> UserError:
    """The one-line error for an image that cannot be used: "<path>: not a readable image (why)"."""
    return UserError(f"{path}: not a readable image ({why if isinstance(why, str) else image_problem(why)})")


def image_problem(exc: Exception) -> str:
    """What an exception raised while opening or decoding an image says, in one short line."""
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format Pillow recognises"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _decode_problem(source: bytes | Path, *, rgb: bool = False) -> str | None:
    """Why Pillow cannot verify and fully decode ``source`` (and convert it to RGB when
    ``rgb``), or None."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            im.verify()
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            im.load()
            if rgb:
                im.convert("RGB")
    except Exception as exc:  # Pillow's decoders raise many exception types on malformed bytes
        return image_problem(exc)
    return None


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _feed(hasher: Any, data: bytes) -> None:
    hasher.update(len(data).to_bytes(8, "big"))
    hasher.update(data)


def _event_class(group: Sequence[Sample]) -> str:
    return Counter(s.magnitude for s in group).most_common(1)[0][0]


def _class_rank(name: str) -> tuple[int, str]:
    return (MAGNITUDE_CLASSES.index(name), name) if name in MAGNITUDE_CLASSES else (len(MAGNITUDE_CLASSES), name)
