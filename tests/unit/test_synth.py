"""Synthetic data sets: same seed same bytes, learnable structure, real-like labels and events."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lifecycle.errors import UserError
from models.data import DataSet, read_dataset, summary
from models.stations import STATIONS
from models.synth import (
    AZIMUTH_SHARE,
    MAGNITUDE_SHARE,
    band_rows,
    intensity,
    panel_rows,
    write_synthetic,
)

SIZE = 64


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    return write_synthetic(tmp_path_factory.mktemp("synth") / "big", 600, seed=3, image_size=SIZE)


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = write_synthetic(tmp_path / "a", 60, seed=11, image_size=48)
    b = write_synthetic(tmp_path / "b", 60, seed=11, image_size=48)
    c = write_synthetic(tmp_path / "c", 60, seed=12, image_size=48)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert a.digest == b.digest and a.samples[0].path != b.samples[0].path
    assert c.digest != a.digest
    assert (tmp_path / "c" / "labels.csv").read_bytes() != (tmp_path / "a" / "labels.csv").read_bytes()
    for sample in a.samples[:5]:
        assert png_chunks(sample.path.read_bytes()) == [b"IHDR", b"IDAT", b"IEND"]  # no tIME, no text


def test_output_reads_back_checked(big: DataSet) -> None:
    again = read_dataset(big.root)  # decodes every image
    assert again == big
    header = (big.root / "labels.csv").read_text().splitlines()[0]
    assert header == "path,event_id,station,date,hour,magnitude_class,azimuth_class"
    assert len(big.samples) == 600


def test_three_stacked_panels(big: DataSet) -> None:
    image = np.asarray(Image.open(big.samples[0].path))
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    (h0, h1), (d0, d1), (z0, z1) = panel_rows(SIZE)
    assert h0 == 0 and h1 < d0 < d1 < z0 < z1 <= SIZE
    assert (image[h1] == 255).all() and (image[d1] == 255).all()  # white separators
    values = intensity(image)
    for start, stop in panel_rows(SIZE):
        panel = values[start:stop]
        assert not np.isnan(panel).any()  # every panel pixel is a colormap colour
        # 1/f-like background: the low-frequency half is brighter than the high-frequency half
        half = (stop - start) // 2
        assert panel[half:].mean() > panel[:half].mean()


def band_excess(data: DataSet) -> dict[str, dict[str, np.ndarray]]:
    """Mean PC3-band intensity per panel (H, D, Z), per class, minus the Normal class's."""
    rows = band_rows(SIZE)
    by: dict[str, dict[str, list[np.ndarray]]] = {"magnitude": defaultdict(list), "azimuth": defaultdict(list)}
    for s in data.samples:
        values = intensity(np.asarray(Image.open(s.path)))
        bands = np.array([values[a:b][rows].mean() for a, b in panel_rows(SIZE)])
        by["magnitude"][s.magnitude].append(bands)
        by["azimuth"][s.azimuth].append(bands)
    normal = np.mean(by["magnitude"]["Normal"], axis=0)
    return {task: {c: np.mean(v, axis=0) - normal for c, v in groups.items()} for task, groups in by.items()}


def test_classes_shape_the_pc3_band(big: DataSet) -> None:
    excess = band_excess(big)
    mag, azi = excess["magnitude"], excess["azimuth"]
    h, d, z = 0, 1, 2
    # magnitude: band energy in Z (constant over azimuth) orders the classes
    assert mag["Large"][z] > mag["Medium"][z] > mag["Moderate"][z] > 0.01
    assert max(abs(azi["Normal"])) < 1e-12
    # azimuth: H follows (1 + cos)/2, D follows (1 + sin)/2
    assert azi["N"][h] > azi["S"][h] + 0.04
    assert azi["E"][d] > azi["W"][d] + 0.04
    assert azi["NE"][h] > azi["SW"][h] + 0.03 and azi["NE"][d] > azi["SW"][d] + 0.03
    assert azi["NW"][h] > azi["NW"][d] + 0.03 and azi["SE"][d] > azi["SE"][h] + 0.03


def test_label_distribution_like_the_benchmark(big: DataSet) -> None:
    labels = {s.event_id: (s.magnitude, s.azimuth) for s in big.samples}
    n_events = len(labels)
    assert n_events == 100  # about samples / 6
    mag_events = Counter(m for m, _ in labels.values())
    for cls, share in MAGNITUDE_SHARE.items():
        assert abs(mag_events[cls] - share * n_events) < 1
    counts = summary(big)["class_counts"]
    assert isinstance(counts, dict)
    mag_samples = counts["magnitude"]
    assert mag_samples["Medium"] > mag_samples["Normal"] > mag_samples["Large"]
    assert min(mag_samples["Large"], mag_samples["Moderate"]) >= 0.05 * len(big.samples)
    quakes = [a for m, a in labels.values() if m != "Normal"]
    azi_events = Counter(quakes)
    assert "Normal" not in azi_events and all(a == "Normal" for m, a in labels.values() if m == "Normal")
    for cls, share in AZIMUTH_SHARE.items():
        assert abs(azi_events[cls] - share * len(quakes)) < 1
    assert azi_events.most_common(1)[0][0] == "N"
    assert all(azi_events[c] >= 1 for c in AZIMUTH_SHARE)


def test_events_group_hourly_images_with_one_label(big: DataSet) -> None:
    for event in big.events:
        samples = big.by_event(event)
        assert len(samples) >= 3
        hours = [s.hour for s in samples]
        assert len(set(hours)) == len(hours) and all(h is not None and 0 <= h <= 23 for h in hours)
        assert len({(s.station, s.date, s.magnitude, s.azimuth) for s in samples}) == 1
        first = samples[0]
        assert event == f"{first.station}_{first.date.replace('-', '')}"
        assert first.station in STATIONS
        assert date(2018, 1, 1) <= date.fromisoformat(first.date) <= date(2025, 12, 31)
        assert all(s.path.name == f"{event}_H{s.hour:02d}_3comp_spec.png" for s in samples)
    assert len({s.station for s in big.samples}) >= 10


def test_explicit_event_count(tmp_path: Path) -> None:
    data = write_synthetic(tmp_path / "d", 50, seed=1, image_size=32, events=5)
    assert len(data.events) == 5 and len(data.samples) == 50
    assert all(len(data.by_event(e)) <= 24 for e in data.events)


def test_refusals(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("keep me")
    with pytest.raises(UserError, match="not an empty folder"):
        write_synthetic(taken, 10, image_size=32)
    assert (taken / "x").read_text() == "keep me"
    for kwargs, message in [
        ({"samples": 0}, "--samples"),
        ({"samples": 10, "image_size": 8}, "--image-size"),
        ({"samples": 10, "events": 11}, "--events must be between 1 and 10"),
        ({"samples": 100, "events": 2}, "--events must be between 5 and 100"),
        ({"samples": 10, "seed": -1}, "--seed"),
    ]:
        with pytest.raises(UserError, match=message):
            write_synthetic(tmp_path / "new", **kwargs)
    assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(write_synthetic(empty, 6, image_size=32).samples) == 6  # an empty folder is fine


def test_output_appears_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_save = Image.Image.save

    def failing_save(self: Image.Image, *args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise OSError("disk full")
        real_save(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic(tmp_path / "out", 12, image_size=32)
    assert list(tmp_path.iterdir()) == []  # neither OUT nor a temporary sibling
