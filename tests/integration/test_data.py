"""Data sets: the original benchmark's columns, every bad row named, the digest, event splits."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from lifecycle.errors import UserError
from models.data import DataSet, Sample, read_dataset, split_by_event, summary

BENCHMARK = (Path(__file__).resolve().parents[1] / "fixtures" / "seed_registry"
             / "data" / "benchmark" / "benchmark_test.csv")
CANONICAL = "path,event_id,station,date,hour,magnitude_class,azimuth_class,split\n"


def tiny_png(value: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (value, 100, 200)).save(buf, format="PNG")
    return buf.getvalue()


def benchmark_copy(folder: Path, rows: int | None = 20) -> Path:
    """labels.csv = the real benchmark's header + its first ``rows`` rows; a tiny PNG at each unified_path."""
    if not BENCHMARK.is_file():
        pytest.skip(f"real benchmark fixture not found at {BENCHMARK}")
    lines = BENCHMARK.read_text(encoding="utf-8").splitlines(keepends=True)
    body = lines[1:] if rows is None else lines[1 : rows + 1]
    folder.mkdir(parents=True)
    (folder / "labels.csv").write_text("".join([lines[0], *body]), encoding="utf-8", newline="")
    header = lines[0].rstrip("\n").split(",")
    col = header.index("unified_path")
    for n, line in enumerate(body):
        target = folder / line.rstrip("\n").split(",")[col]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(tiny_png(n % 256))
    return folder


def canonical(folder: Path, rows: list[str], images: bool = True) -> Path:
    """labels.csv with the canonical columns; ``rows`` are CSV lines; each row's image written."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.csv").write_text(CANONICAL + "".join(r + "\n" for r in rows), encoding="utf-8")
    if images:
        for n, row in enumerate(rows):
            path = folder / row.split(",")[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tiny_png(n))
    return folder


def rewrite_row(folder: Path, row: int, column: str, value: str) -> None:
    """Set one field of data row ``row`` (1-based) in labels.csv (fixture rows have no quoted commas)."""
    labels = folder / "labels.csv"
    lines = labels.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")


def error(folder: Path, check_images: bool = True) -> str:
    with pytest.raises(UserError) as info:
        read_dataset(folder, check_images=check_images)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ----------------------------------------------------------------------------- the real columns


def test_benchmark_aliases_and_derived_event_ids(tmp_path: Path) -> None:
    folder = benchmark_copy(tmp_path / "bench")
    data = read_dataset(folder)
    assert len(data.samples) == 20
    first = data.samples[0]
    assert first.row == 1
    assert (first.event_id, first.station, first.date, first.hour) == ("TRD_20210101", "TRD", "2021-01-01", 12)
    assert (first.magnitude, first.azimuth, first.split) == ("Normal", "Normal", None)
    assert first.path == folder / "spectrograms/normal/TRD_20210101_H12_normal_3comp_spec.png"
    second = data.samples[1]  # magnitude_class given, mag_class present but empty
    assert (second.event_id, second.magnitude, second.azimuth, second.hour) == ("KPY_20230412", "Medium", "N", 5)
    assert all(s.path.is_file() and s.path.is_absolute() for s in data.samples)
    assert data.events == sorted({f"{s.station}_{s.date.replace('-', '')}" for s in data.samples})


def test_whole_benchmark_reads_with_its_real_class_counts(tmp_path: Path) -> None:
    data = read_dataset(benchmark_copy(tmp_path / "bench", rows=None))
    info = summary(data)
    assert info["total_samples"] == 296
    assert info["class_counts"] == {
        "magnitude": {"Large": 4, "Medium": 156, "Moderate": 3, "Normal": 133},
        "azimuth": {"E": 4, "N": 78, "NE": 1, "NW": 22, "Normal": 133, "S": 21, "SE": 11, "SW": 12, "W": 14},
    }
    assert info["events_included"] == data.events and len(data.events) == 159


def test_image_falls_back_to_the_bare_file_name(tmp_path: Path) -> None:
    folder = benchmark_copy(tmp_path / "bench")
    moved = folder / "spectrograms/normal/TRD_20210101_H12_normal_3comp_spec.png"
    moved.rename(folder / "TRD_20210101_H12_normal_3comp_spec.png")
    data = read_dataset(folder)
    assert data.samples[0].path == folder / "TRD_20210101_H12_normal_3comp_spec.png"


def test_short_class_column_aliases(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "labels.csv").write_text(
        "filename,station,date,mag_class,azi_class\na.png,scn,2019-02-03,Large,SW\n"
    )
    (folder / "a.png").write_bytes(tiny_png())
    (sample,) = read_dataset(folder).samples
    got = (sample.event_id, sample.station, sample.magnitude, sample.azimuth)
    assert got == ("SCN_20190203", "SCN", "Large", "SW")
    assert sample.hour is None


def test_canonical_columns_keep_given_event_ids_and_splits(tmp_path: Path) -> None:
    folder = canonical(tmp_path / "d", [
        "img/a.png,EV1,GTO,2026-02-10,3,Medium,N,train",
        "img/b.png,EV1,GTO,2026-02-10,4,Medium,N,val",
        "img/c.png,,PLU,2026-02-11,,Normal,Normal,",
    ])
    data = read_dataset(folder)
    assert [s.event_id for s in data.samples] == ["EV1", "EV1", "PLU_20260211"]
    assert [s.split for s in data.samples] == ["train", "val", None]
    assert [s.hour for s in data.samples] == [3, 4, None]
    assert data.events == ["EV1", "PLU_20260211"]
    assert [s.row for s in data.by_event("EV1")] == [1, 2]
    with pytest.raises(UserError, match="no event 'NOPE'"):
        data.by_event("NOPE")


# ----------------------------------------------------------------------------- errors name the row


def test_missing_folder_labels_and_columns(tmp_path: Path) -> None:
    assert "does not exist" in error(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "labels.csv not found" in error(tmp_path / "empty")
    folder = canonical(tmp_path / "d", ["a.png,E,GTO,2026-02-10,3,Medium,N,"])
    (folder / "labels.csv").write_text(
        "path,event_id,date,magnitude_class,azimuth_class\na.png,E,2026-02-10,Medium,N\n"
    )
    assert "missing column station" in error(folder)
    (folder / "labels.csv").write_text("station,date,magnitude_class,azimuth_class\nGTO,2026-02-10,Medium,N\n")
    assert "missing column an image path" in error(folder)
    (folder / "labels.csv").write_text(CANONICAL)
    assert "empty data set" in error(folder)
    (folder / "labels.csv").write_text("")
    assert "empty file" in error(folder)


@pytest.mark.parametrize(
    ("row", "column", "value", "expected"),
    [
        (3, "magnitude_class", "Huge", "magnitude class 'Huge' is not one of"),
        (4, "azimuth_class", "NNE", "azimuth class 'NNE' is not one of"),
        (5, "magnitude_class", "", "magnitude class '' is not one of"),
        (6, "date", "2021-13-01", "date '2021-13-01' is not a date"),
        (7, "date", "20210101", "date '20210101' is not a date"),
        (8, "hour", "25.0", "hour '25.0' is not a whole hour"),
        (9, "station", "", "station '' is not a station code"),
        (2, "azimuth_class", "Normal", "magnitude Medium with azimuth Normal"),
        (10, "unified_path", "../../outside.png", "outside the data folder"),
    ],
)
def test_bad_row_is_named(tmp_path: Path, row: int, column: str, value: str, expected: str) -> None:
    folder = benchmark_copy(tmp_path / "bench")
    rewrite_row(folder, row, column, value)
    message = error(folder)
    assert f"labels.csv: row {row}:" in message and expected in message, message


def test_missing_image_is_named(tmp_path: Path) -> None:
    folder = benchmark_copy(tmp_path / "bench")
    data = read_dataset(folder)
    data.samples[4].path.unlink()
    message = error(folder)
    assert "labels.csv: row 5: image not found" in message and "unified_path=spectrograms/" in message
    assert "put the image there" in message


def test_no_image_path_at_all_is_named(tmp_path: Path) -> None:
    folder = benchmark_copy(tmp_path / "bench")
    for column in ("unified_path", "spectrogram_file", "filename"):
        rewrite_row(folder, 6, column, "")
    assert "labels.csv: row 6: no image path" in error(folder)


def test_unreadable_images_are_named(tmp_path: Path) -> None:
    folder = benchmark_copy(tmp_path / "bench")
    samples = read_dataset(folder).samples
    samples[6].path.write_bytes(b"not an image at all")
    message = error(folder)
    assert "labels.csv: row 7: image spectrograms/" in message and "not a readable image" in message
    read_dataset(folder, check_images=False)  # only existence is checked then
    samples[6].path.write_bytes(tiny_png())
    samples[2].path.write_bytes(tiny_png()[:-20])  # truncated
    assert "labels.csv: row 3: image" in error(folder)


def test_duplicate_image_and_split_event_labels(tmp_path: Path) -> None:
    first = "a.png,E1,GTO,2026-02-10,3,Medium,N,"
    folder = canonical(tmp_path / "d", [first, "b.png,E1,GTO,2026-02-10,4,Large,N,"])
    message = error(folder)
    assert "row 2: event E1 is labelled Large/N here but Medium/N at row 1" in message
    folder = canonical(tmp_path / "e", [first, "./a.png,E1,GTO,2026-02-10,4,Medium,N,"])
    assert "row 2: image a.png is already listed at row 1" in error(folder)


def test_blank_lines_keep_row_numbers(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    canonical(folder, ["a.png,E1,GTO,2026-02-10,3,Medium,N,", "b.png,E2,GTO,2026-02-11,4,Medium,N,"])
    text = (folder / "labels.csv").read_text().replace("\nb.png", "\n\nb.png").replace("2026-02-11", "2026-02-30")
    (folder / "labels.csv").write_text(text)
    assert "labels.csv: row 3: date '2026-02-30'" in error(folder)


# ----------------------------------------------------------------------------- digest


def test_digest_covers_labels_and_every_image_byte(tmp_path: Path) -> None:
    folder = benchmark_copy(tmp_path / "bench")
    base = read_dataset(folder).digest
    assert read_dataset(folder).digest == base
    assert read_dataset(folder, check_images=False).digest == base
    moved = tmp_path / "elsewhere" / "bench"
    shutil.copytree(folder, moved)
    assert read_dataset(moved).digest == base  # the location is not part of the content

    image = read_dataset(folder).samples[11].path
    original = image.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    image.write_bytes(bytes(flipped))
    assert read_dataset(folder, check_images=False).digest != base
    image.write_bytes(original)
    assert read_dataset(folder).digest == base

    labels = folder / "labels.csv"
    text = labels.read_bytes()
    labels.write_bytes(text + b"\n")  # one more (blank) line: same rows, other bytes
    assert read_dataset(folder).digest != base
    labels.write_bytes(text)
    assert read_dataset(folder).digest == base


# ----------------------------------------------------------------------------- splits


def make_samples(per_class: dict[str, int], images: int = 3) -> list[Sample]:
    azimuth = {"Large": "N", "Medium": "S", "Moderate": "W", "Normal": "Normal"}
    out: list[Sample] = []
    for cls, events in per_class.items():
        for e in range(events):
            for h in range(images):
                out.append(Sample(
                    row=len(out) + 1, path=Path(f"/x/{cls}{e}_{h}.png"), event_id=f"{cls[:3]}_{e:04d}",
                    station="TRD", date="2020-01-01", hour=h, magnitude=cls, azimuth=azimuth[cls], split=None,
                ))
    return out


def test_split_by_event_is_disjoint_deterministic_and_stratified() -> None:
    samples = make_samples({"Large": 5, "Medium": 20, "Moderate": 5, "Normal": 10})
    train, val = split_by_event(samples, 0.2, seed=1)
    assert len(train) + len(val) == len(samples)
    assert not {s.event_id for s in train} & {s.event_id for s in val}
    assert split_by_event(samples, 0.2, seed=1) == (train, val)
    assert split_by_event(list(reversed(samples)), 0.2, seed=1)[1] == list(reversed(val))
    val_events = {s.event_id for s in val}
    assert len(val_events) == 8
    classes = ("Large", "Medium", "Moderate", "Normal")
    by_class = {c: sum(1 for e in val_events if e.startswith(c[:3])) for c in classes}
    assert by_class == {"Large": 1, "Medium": 4, "Moderate": 1, "Normal": 2}
    others = {frozenset(s.event_id for s in split_by_event(samples, 0.2, seed=k)[1]) for k in range(2, 8)}
    assert len(others) > 1  # the seed matters
    assert [s.row for s in train] == sorted(s.row for s in train)


def test_split_edges() -> None:
    two = make_samples({"Medium": 2})
    train, val = split_by_event(two, 0.01, seed=0)
    assert train and val
    train, val = split_by_event(two, 0.99, seed=0)
    assert train and val
    one = make_samples({"Large": 1})
    assert split_by_event(one, 0.5, seed=0) == (one, [])
    assert split_by_event([], 0.5, seed=0) == ([], [])
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(UserError, match="between 0 and 1"):
            split_by_event(two, bad, seed=0)


def test_split_of_the_real_benchmark(tmp_path: Path) -> None:
    data: DataSet = read_dataset(benchmark_copy(tmp_path / "bench", rows=None), check_images=False)
    train, val = split_by_event(data.samples, 0.2, seed=42)
    assert not {s.event_id for s in train} & {s.event_id for s in val}
    assert len({s.event_id for s in val}) == round(159 * 0.2)
    assert {s.magnitude for s in val} >= {"Medium", "Normal"}
