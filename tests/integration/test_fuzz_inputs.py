"""Property-based fuzzing of data-set and candidate inputs: ``labels.csv`` and its images
(``models.data.read_dataset``, what ``lifecycle evaluate --data`` and ``train`` read), and
a candidate folder's ``class_mappings.json`` and ``training_config.json``
(``lifecycle submit``).

Each is accepted or a ``UserError`` (CLI: exit 2, one ``error:`` line, nothing changed),
never another exception. The parsers are fuzzed directly; ``submit`` goes through the CLI
with one real candidate (the only place here that imports torch).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lifecycle.errors import UserError
from models.classes import AZIMUTH_CLASSES, KNOWN, MAGNITUDE_CLASSES, parse_class_mappings
from models.data import LABELS, read_dataset
from tests.helpers.workload import prepare
from tests.unit.test_fuzz_parsers import CLI_FUZZ, FUZZ, assert_refused, fingerprint, run, values, verdict

# -- class mappings --------------------------------------------------------------------

names = st.sampled_from([*MAGNITUDE_CLASSES, *AZIMUTH_CLASSES, "Up", "", "large", True, 0, None])
indices = st.one_of(st.integers(-1, 12), st.booleans(), st.sampled_from([10**30, 1.0, "0"]))
index_keys = st.one_of(st.integers(0, 12).map(str),
                       st.sampled_from(["00", "1_0", " 1", "+1", "-1", "x", "\u0661"]))
task_value = st.one_of(
    st.lists(names, max_size=10),
    st.dictionaries(index_keys, names, max_size=10),
    st.dictionaries(names.map(str), indices, max_size=10),
    values,
)
mapping_docs = st.one_of(
    st.fixed_dictionaries({}, optional={
        key: task_value for key in ("magnitude", "azimuth", "magnitude_to_idx", "azimuth_classes", "x")}),
    values,
)


@FUZZ
@given(doc=mapping_docs)
def test_class_mapping_parser(doc: Any) -> None:
    accepted, _ = verdict(parse_class_mappings, doc)
    if accepted:
        classes = parse_class_mappings(doc)
        for task in ("magnitude", "azimuth"):
            assert all(isinstance(n, str) and n in KNOWN[task] for n in classes[task]), classes
            assert len(set(classes[task])) == len(classes[task])


@pytest.mark.parametrize("doc", [
    {"magnitude_to_idx": {"Large": True, "Medium": False}, "azimuth": ["N"]},
    {"magnitude_to_idx": {"Large": 0, "Medium": 0}, "azimuth": ["N"]},
    {"magnitude": {"0": "Large", "00": "Medium"}, "azimuth": ["N"]},
    {"magnitude": {"0": "Large", "1_0": "Medium"}, "azimuth": ["N"]},
])
def test_class_mappings_that_used_to_be_silently_collapsed(doc: Any) -> None:
    with pytest.raises(UserError):
        parse_class_mappings(doc)


@pytest.fixture(scope="module")
def submit_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a root with a champion and no challenger, a real convnext_atto candidate folder)."""
    from models.candidate import write_candidate

    base = tmp_path_factory.mktemp("submit")
    prepare(base / "root", champions=1)
    return base / "root", write_candidate(base / "candidate", architecture="convnext_atto", seed=1)


def _submit(setup: tuple[Path, Path], tmp_path: Path, name: str, content: bytes) -> tuple[Path, Path]:
    template, candidate = setup
    root, folder = tmp_path / "root", tmp_path / "candidate"
    for path in (root, folder):
        shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(template, root, symlinks=True)
    shutil.copytree(candidate, folder)
    (folder / name).write_bytes(content)
    return root, folder


@CLI_FUZZ
@given(content=st.one_of(st.binary(max_size=100), mapping_docs.map(lambda d: json.dumps(d).encode())))
def test_submit_with_fuzzed_class_mappings(submit_setup: tuple[Path, Path], tmp_path: Path,
                                           content: bytes) -> None:
    root, folder = _submit(submit_setup, tmp_path, "class_mappings.json", content)
    before = fingerprint(root)
    result = run(root, "submit", str(folder))
    if result.exit_code != 0:  # valid mappings that do not fit the heads are refused too
        assert_refused(result)
        assert fingerprint(root) == before


@pytest.mark.parametrize(("content", "match"), [
    (b'{"a": ' * 300 + b"1" + b"}" * 300, "nested deeper than 64"),
    (b"[1, 2]", "expected a JSON object"),
    (b"\xff", "not valid JSON"),
])
def test_submit_with_a_bad_training_config(submit_setup: tuple[Path, Path], tmp_path: Path,
                                           content: bytes, match: str) -> None:
    root, folder = _submit(submit_setup, tmp_path, "training_config.json", content)
    before = fingerprint(root)
    result = run(root, "submit", str(folder))
    assert_refused(result)
    assert match in result.stderr
    assert fingerprint(root) == before


# -- labels.csv and its images ---------------------------------------------------------

COLUMNS = ["path", "unified_path", "filename", "event_id", "station", "date", "magnitude_class",
           "mag_class", "azimuth_class", "hour", "split", ""]
cells = st.one_of(
    st.sampled_from(["a.png", "b.png", "../a.png", "/etc/passwd", "sub/../a.png", "x" * 300 + ".png",
                     "TRD", "trd", "2020-02-29", "2021-02-29", "٢٠٢٠-01-01", "Large", "Normal", "N",
                     "NE", "7", "23", "24", "٣", "7.0", "", " ", "a\x00b"]),
    st.text(max_size=12),
)
rows = st.lists(st.lists(cells, max_size=10), max_size=5)


def _csv(header: list[str], body: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue().encode("utf-8", "surrogatepass")


labels_files = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.lists(st.sampled_from(COLUMNS), max_size=8), rows).map(lambda hb: _csv(*hb)),
    rows.map(lambda body: _csv(["path", "station", "date", "magnitude_class", "azimuth_class"], body)),
    rows.map(lambda body: b"\xef\xbb\xbf" + _csv(["filename", "station", "date", "mag_class", "azi_class",
                                                  "hour"], body)),
)


def _image(path: Path) -> None:
    Image.new("RGB", (4, 4), (200, 10, 10)).save(path, format="PNG")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    _image(folder / "a.png")
    _image(folder / "b.png")
    return folder


def _dataset(images: Path, where: Path, labels: bytes) -> Path:
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(images, where)
    (where / LABELS).write_bytes(labels)
    return where


@FUZZ
@given(labels=labels_files)
def test_labels_csv_parser(images: Path, tmp_path: Path, labels: bytes) -> None:
    folder = _dataset(images, tmp_path / "data", labels)
    before = fingerprint(folder)
    accepted, _ = verdict(read_dataset, folder)
    if accepted:
        data = read_dataset(folder)
        assert data.samples and all(s.path.is_relative_to(folder.resolve()) for s in data.samples)
        assert all(s.magnitude in MAGNITUDE_CLASSES and s.azimuth in AZIMUTH_CLASSES for s in data.samples)
    assert fingerprint(folder) == before


SIGNATURES = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"RIFF"]


@FUZZ
@given(head=st.sampled_from(SIGNATURES), body=st.binary(max_size=200))
def test_image_bytes_in_a_data_set(images: Path, tmp_path: Path, head: bytes, body: bytes) -> None:
    labels = _csv(["path", "station", "date", "magnitude_class", "azimuth_class"],
                  [["a.png", "TRD", "2020-01-01", "Large", "N"]])
    folder = _dataset(images, tmp_path / "data", labels)
    (folder / "a.png").write_bytes(head + body)
    accepted, message = verdict(read_dataset, folder)
    assert accepted or "a.png is not a readable image" in message, message


@pytest.mark.parametrize(("row", "match"), [
    (["x" * 300 + ".png", "TRD", "2020-01-01", "Large", "N", ""], "image not found"),
    (["a.png", "TRD", "2020-01-01", "Large", "N", "٣"], "not a whole hour"),
    (["a.png", "TRD", "٢٠٢٠-01-01", "Large", "N", ""], "not a date"),
])
def test_labels_near_misses(images: Path, tmp_path: Path, row: list[str], match: str) -> None:
    labels = _csv(["path", "station", "date", "magnitude_class", "azimuth_class", "hour"], [row])
    with pytest.raises(UserError, match=match):
        read_dataset(_dataset(images, tmp_path / "data", labels))


def test_a_decompression_bomb_is_a_user_error(images: Path, tmp_path: Path) -> None:
    folder = _dataset(images, tmp_path / "data", _csv(
        ["path", "station", "date", "magnitude_class", "azimuth_class"],
        [["a.png", "TRD", "2020-01-01", "Large", "N"]]))
    Image.new("1", (20000, 20000)).save(folder / "a.png", format="PNG")  # 400 Mpx, a few KB
    with pytest.raises(UserError, match="not a readable image"):
        read_dataset(folder)
