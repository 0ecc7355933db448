"""Synthetic spectrogram data sets shaped like the real one (numpy + Pillow, no torch).

Backs ``lifecycle data synth OUT --samples N [--seed S] [--image-size PX] [--events K]``.

Each image is RGB: three spectrogram panels stacked top to bottom (H, D, Z), time on x,
frequency on y (low at the bottom), 1-px white separators, values mapped through a
viridis-like colormap (its green channel rises with the value). The labels are learnable:

- magnitude: energy of a horizontal band in the lower-middle frequencies (the PC3 band):
  ``Large`` strongest, then ``Medium``, then ``Moderate``; ``Normal`` has no band;
- azimuth: the band's amplitude in H is proportional to ``(1 + cos t)/2`` and in D to
  ``(1 + sin t)/2`` (t the compass bearing, sector centre +- 10 degrees), Z is constant, so
  the H:Z and D:Z ratios tell the 8 directions apart;
- realism/noise: 1/f-like background, per-event and per-image gain (log-normal, so
  neighbouring magnitude classes overlap), smooth blotches, pixel noise that grows by day,
  broadband transients common to all three components, and decoy narrow bands at higher
  frequencies in every class.

Events are ``<STATION>_<YYYYMMDD>`` (real station codes, dates 2018-2025), each with several
images at distinct hours sharing the event's labels. Label shares follow the real benchmark
(magnitude Medium ~44%, Normal ~40%, Large and Moderate 8% each; azimuth mostly N, then NW, S,
W, SW, SE, E, NE with a 5% floor), allocated per event by largest remainder, so they hold
closely even for small sets. Same arguments, same bytes (PNG without timestamps or metadata).
The folder is written beside OUT and renamed into place: it appears whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from lifecycle.errors import UserError
from models.data import DataSet, read_dataset
from models.stations import BENCHMARK_ROWS, STATIONS

GENERATOR_VERSION = 1
PANELS = ("H", "D", "Z")
CSV_COLUMNS = ("path", "event_id", "station", "date", "hour", "magnitude_class", "azimuth_class")

MAGNITUDE_SHARE: dict[str, float] = {"Medium": 0.44, "Normal": 0.40, "Large": 0.08, "Moderate": 0.08}
AZIMUTH_SHARE: dict[str, float] = {
    "N": 0.36, "NW": 0.14, "S": 0.13, "W": 0.10, "SW": 0.09, "SE": 0.08, "E": 0.05, "NE": 0.05,
}
SECTOR_CENTRE: dict[str, float] = {
    "N": 0.0, "NE": 45.0, "E": 90.0, "SE": 135.0, "S": 180.0, "SW": 225.0, "W": 270.0, "NW": 315.0,
}
BAND_STRENGTH: dict[str, float] = {"Large": 0.40, "Medium": 0.26, "Moderate": 0.16, "Normal": 0.0}
Z_FACTOR = 0.6
PC3_BAND = (0.30, 0.45)  # where the band's centre energy lies, as a fraction of panel height from the bottom
FIRST_DAY, LAST_DAY = Date(2018, 1, 1), Date(2025, 12, 31)
MIN_SIZE, MAX_SIZE = 32, 1024
MAX_PER_EVENT = 24  # one image per hour of the day

_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)
Floats = npt.NDArray[np.float64]


def colormap() -> npt.NDArray[np.uint8]:
    """The 256x3 RGB lookup table (viridis-like; green rises monotonically)."""
    x = np.linspace(0.0, 1.0, 256)
    knots = np.linspace(0.0, 1.0, len(_ANCHORS))
    lut: Floats = np.stack([np.interp(x, knots, _ANCHORS[:, ch]) for ch in range(3)], axis=1)
    result: npt.NDArray[np.uint8] = np.rint(lut).astype(np.uint8)
    return result


_LUT = colormap()


def panel_height(image_size: int) -> int:
    return (image_size - 2) // 3


def panel_rows(image_size: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of the H, D and Z panels (separator rows between them)."""
    h = panel_height(image_size)
    return [(i * (h + 1), i * (h + 1) + h) for i in range(3)]


def frequency_axis(image_size: int) -> Floats:
    """Normalised frequency (0 bottom .. 1 top) of each row inside a panel, top row first."""
    h = panel_height(image_size)
    return 1.0 - (np.arange(h) + 0.5) / h


def band_rows(image_size: int) -> npt.NDArray[np.intp]:
    """Rows inside a panel whose frequency lies in ``PC3_BAND``."""
    f = frequency_axis(image_size)
    return np.flatnonzero((f >= PC3_BAND[0]) & (f <= PC3_BAND[1]))


def intensity(rgb: npt.NDArray[np.uint8]) -> Floats:
    """Invert the colormap: value 0..1 per pixel of an (..., 3) array; NaN where not a colormap colour."""
    keys = (_LUT[:, 0].astype(np.int64) << 16) | (_LUT[:, 1].astype(np.int64) << 8) | _LUT[:, 2]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    px = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    pos = np.clip(np.searchsorted(sorted_keys, px), 0, len(keys) - 1)
    found = sorted_keys[pos] == px
    return np.where(found, order[pos] / 255.0, np.nan)


def write_synthetic(
    out: Path, samples: int, seed: int = 0, image_size: int = 224, events: int | None = None,
    first_day: Date = FIRST_DAY, last_day: Date = LAST_DAY,
) -> DataSet:
    """Write a synthetic data set to ``out`` (must not exist or be empty) and return it read back.

    Events fall between ``first_day`` and ``last_day``: give data sets disjoint periods (e.g.
    training data before a holdout) so that no event id appears in two of them.
    """
    out = Path(out)
    n_events = _check_args(out, samples, seed, image_size, events)
    if last_day < first_day or ((last_day - first_day).days + 1) * len(STATIONS) < 2 * n_events:
        raise UserError(f"the period {first_day}..{last_day} is too short for {n_events} distinct events")
    plan = _plan(samples, seed, n_events, first_day, last_day)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        (tmp / "spectrograms").mkdir()
        rows: list[tuple[str, ...]] = []
        for k, event in enumerate(plan):
            images = _render_event(event, image_size, np.random.default_rng([seed, 7, k]))
            for hour, image in zip(event.hours, images, strict=True):
                rel = f"spectrograms/{event.event_id}_H{hour:02d}_3comp_spec.png"
                Image.fromarray(image).save(tmp / rel, format="PNG", compress_level=1)
                rows.append((rel, event.event_id, event.station, event.date, str(hour),
                             event.magnitude, event.azimuth))
        rows.sort(key=lambda r: r[0])
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
        (tmp / "labels.csv").write_text(buf.getvalue(), encoding="utf-8", newline="")
        meta = {"generator": "models.synth", "version": GENERATOR_VERSION, "samples": samples, "seed": seed,
                "image_size": image_size, "events": n_events}
        (tmp / "synth.json").write_text(json.dumps(meta, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, out)  # replaces an empty directory; fails on a non-empty one
        except OSError as exc:
            raise UserError(f"cannot create {out} ({exc.strerror}); choose a new or empty folder") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return read_dataset(out, check_images=False)


# ----------------------------------------------------------------------------- labels


def _check_args(out: Path, samples: int, seed: int, image_size: int, events: int | None) -> int:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not an empty folder; choose a new output folder")
    if samples < 1:
        raise UserError(f"--samples must be at least 1, got {samples}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    if not MIN_SIZE <= image_size <= MAX_SIZE:
        raise UserError(f"--image-size must be {MIN_SIZE}-{MAX_SIZE} pixels, got {image_size}")
    n_events = max(1, round(samples / 6)) if events is None else events
    low = -(-samples // MAX_PER_EVENT)
    if not low <= n_events <= samples:
        raise UserError(
            f"--events must be between {low} and {samples} for {samples} samples "
            f"(each event has 1-{MAX_PER_EVENT} hourly images), got {n_events}"
        )
    return n_events


def _quota(shares: Mapping[str, float], n: int) -> list[str]:
    """``n`` labels in the given shares, by largest remainder (ties: listed order)."""
    names = list(shares)
    exact = [shares[c] * n for c in names]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(names)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return [c for c, k in zip(names, counts, strict=True) for _ in range(k)]


def _sizes(samples: int, n_events: int, rng: np.random.Generator) -> list[int]:
    base, rem = divmod(samples, n_events)
    sizes = [base] * n_events
    for i in rng.permutation(n_events)[:rem]:
        sizes[int(i)] += 1
    floor = max(1, min(base, 3))
    for i, j in enumerate(rng.permutation(n_events)):
        j = int(j)
        if i == j:
            continue
        t = min(int(rng.integers(0, base // 2 + 1)), sizes[i] - floor, MAX_PER_EVENT - sizes[j])
        if t > 0:
            sizes[i] -= t
            sizes[j] += t
    return sizes


@dataclass(frozen=True)
class _Event:
    event_id: str
    station: str
    date: str
    hours: tuple[int, ...]
    magnitude: str
    azimuth: str


def _plan(samples: int, seed: int, n_events: int, first_day: Date, last_day: Date) -> list[_Event]:
    rng = np.random.default_rng([seed, 1])
    sizes = _sizes(samples, n_events, rng)
    magnitudes = [str(m) for m in rng.permutation(_quota(MAGNITUDE_SHARE, n_events))]
    n_quake = sum(m != "Normal" for m in magnitudes)
    azimuths = iter(str(a) for a in rng.permutation(_quota(AZIMUTH_SHARE, n_quake)))
    weights = np.array([BENCHMARK_ROWS.get(s, 0) + 3.0 for s in STATIONS])
    weights /= weights.sum()
    span = (last_day - first_day).days + 1
    used: set[str] = set()
    plan: list[_Event] = []
    for k in range(n_events):
        while True:
            station = STATIONS[int(rng.choice(len(STATIONS), p=weights))]
            day = first_day + timedelta(days=int(rng.integers(0, span)))
            event_id = f"{station}_{day.strftime('%Y%m%d')}"
            if event_id not in used:
                used.add(event_id)
                break
        magnitude = magnitudes[k]
        hours = tuple(sorted(int(h) for h in rng.choice(24, size=sizes[k], replace=False)))
        azimuth = "Normal" if magnitude == "Normal" else next(azimuths)
        plan.append(_Event(event_id, station, day.isoformat(), hours, magnitude, azimuth))
    return plan


# ----------------------------------------------------------------------------- pixels


def _interp_matrix(n_out: int, n_in: int) -> Floats:
    """(n_out, n_in) linear interpolation from a coarse grid to a fine one."""
    x = np.linspace(0.0, n_in - 1.0, n_out)
    lo = np.clip(np.floor(x).astype(int), 0, n_in - 2)
    frac = x - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] = 1.0 - frac
    m[np.arange(n_out), lo + 1] = frac
    return m


def _render_event(event: _Event, size: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """(n, size, size, 3) uint8 images of one event, one per hour."""
    hours = np.asarray(event.hours, dtype=float)
    n, h, w = len(hours), panel_height(size), size
    f = frequency_axis(size)[None, None, :, None]  # (1,1,h,1)

    # Background: 1/f-like slope, per-component offset, per-image level, smooth blotches.
    v = np.broadcast_to(0.50 - 0.28 * f, (n, 3, h, 1)) + np.array([0.0, -0.02, 0.02])[None, :, None, None]
    v = v + rng.normal(0.0, 0.035, (n, 1, 1, 1)) + rng.normal(0.0, 0.015, (n, 3, 1, 1))
    coarse = rng.normal(0.0, 0.04, (n, 3, 4, 8))
    v = v + _interp_matrix(h, 4) @ coarse @ _interp_matrix(w, 8).T
    # Pixel noise, stronger by day (peak at 12 h).
    daytime = 0.5 * (1.0 - np.cos(2.0 * np.pi * hours / 24.0))
    v = v + rng.normal(0.0, 1.0, (n, 3, h, w)) * (0.045 + 0.035 * daytime)[:, None, None, None]
    # Broadband transients shared by the three components (decaying towards high frequencies).
    spikes = (rng.random((n, w)) < 0.04) * rng.uniform(0.05, 0.25, (n, w))
    spikes = spikes + 0.5 * (np.roll(spikes, 1, axis=1) + np.roll(spikes, -1, axis=1))
    comp = rng.uniform(0.6, 1.0, (n, 3))
    v = v + comp[:, :, None, None] * spikes[:, None, None, :] * (1.0 - 0.6 * f)
    # Decoy narrow bands at higher frequencies, in every class.
    decoy_on = rng.random(n) < 0.5
    decoy_fc = rng.uniform(0.70, 0.90, n)[:, None, None, None]
    decoy_amp = (decoy_on * rng.uniform(0.04, 0.14, n))[:, None, None, None] * rng.uniform(0.5, 1.0, (n, 3, 1, 1))
    v = v + decoy_amp * np.exp(-0.5 * ((f - decoy_fc) / 0.04) ** 2)

    # The PC3 band: strength by magnitude, split over components by azimuth, gated in time.
    strength = BAND_STRENGTH[event.magnitude]
    if strength > 0.0:
        bearing = np.deg2rad(SECTOR_CENTRE[event.azimuth] + rng.uniform(-10.0, 10.0))
        factors = np.array([(1.0 + np.cos(bearing)) / 2.0, (1.0 + np.sin(bearing)) / 2.0, Z_FACTOR])
        gain = strength * rng.lognormal(0.0, 0.25) * rng.lognormal(0.0, 0.12, n)
        fc = rng.uniform(0.33, 0.42) + rng.normal(0.0, 0.01, n)
        bw = rng.uniform(0.06, 0.09)
        profile = np.exp(-0.5 * ((f - fc[:, None, None, None]) / bw) ** 2)  # (n,1,h,1)
        envelope = np.clip(0.55 + 0.6 * (rng.normal(0.0, 1.0, (n, 6)) @ _interp_matrix(w, 6).T), 0.0, 1.0)
        amp = gain[:, None] * factors[None, :]  # (n,3)
        v = v + amp[:, :, None, None] * profile * envelope[:, None, None, :]

    q = np.rint(np.clip(v, 0.0, 1.0) * 255.0).astype(np.uint8)
    panels = _LUT[q]  # (n,3,h,w,3)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    images[:] = _LUT[0]
    for i, (start, stop) in enumerate(panel_rows(size)):
        images[:, start:stop] = panels[:, i]
        if i < 2:
            images[:, stop] = 255
    return images

