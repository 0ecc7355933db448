"""Hostile model files through ``lifecycle submit``: refused with the reason, nothing run,
nothing registered, the root byte for byte unchanged.

The files are built once per session from one real (untrained) candidate: pickles that
would run code, malformed zips, decompression bombs (a real one that declares 2 GiB in
2 MB, overlapping entries, forged headers), unsafe entry names, NaN/inf weights and
wrong shapes. Refusals of the container are also shown to happen before ``torch.load``
is called at all.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from models import checkpoint
from tests.conftest import ARCH, Cli
from tests.integration.test_bad_input import fingerprint

GiB = 2**30


class RunsCode:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class WritesFile:
    """Unpickling this writes the marker through ``Path.write_text`` (no shell)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "ran"))


# -- a zip writer that can lie -----------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes  # as stored (compressed when method is 8)
    size: int  # declared uncompressed size
    crc: int
    method: int = zipfile.ZIP_STORED


def stored(name: str, data: bytes) -> Entry:
    return Entry(name, data, len(data), zlib.crc32(data))


def raw_zip(entries: list[Entry], aliases: int = 0) -> bytes:
    """A zip of ``entries``; the last one also appears ``aliases`` more times in the central
    directory, every alias pointing at the same bytes (overlapping entries)."""
    body, central = bytearray(), bytearray()
    records = 0
    for n, entry in enumerate(entries):
        offset, name = len(body), entry.name.encode()
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, entry.method, 0, 0x21, entry.crc,
                            len(entry.data), entry.size, len(name), 0) + name + entry.data
        for alias in range(1 + (aliases if n == len(entries) - 1 else 0)):
            shown = name + (f".{alias}".encode() if alias else b"")
            central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, entry.method, 0, 0x21,
                                   entry.crc, len(entry.data), entry.size, len(shown), 0, 0, 0, 0, 0,
                                   offset) + shown
            records += 1
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, records, records, len(central), len(body), 0)
    return bytes(body + central + end)


def entries_of(path: Path) -> list[Entry]:
    with zipfile.ZipFile(path) as archive:
        return [stored(info.filename, archive.read(info)) for info in archive.infolist()]


def zeros_bomb(name: str, mib: int) -> Entry:
    """``mib`` MiB of zeros, deflated: about 1 KB per MiB (built without deflating it all)."""
    chunk = bytes(2**20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)  # every chunk packs the same
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return Entry(name, piece * mib + packer.flush(), mib * 2**20, crc, zipfile.ZIP_DEFLATED)


# -- the files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Files:
    folder: Path
    good: Path  # a real candidate's best_model.pth
    state: dict[str, torch.Tensor]
    marker: Path

    def path(self, name: str) -> Path:
        return self.folder / name

    def write(self, name: str, data: bytes) -> Path:
        self.path(name).write_bytes(data)
        return self.path(name)

    def save(self, name: str, obj: Any, **options: Any) -> Path:
        torch.save(obj, self.path(name), **options)
        return self.path(name)

    def with_tensor(self, name: str, key: str, tensor: torch.Tensor) -> Path:
        return self.save(name, {"model_state_dict": {**self.state, key: tensor}})


@pytest.fixture(scope="session")
def files(candidates: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("hostile")
    good = candidates[0] / "best_model.pth"
    state = torch.load(good, weights_only=True)["model_state_dict"]
    return Files(folder, good, state, folder / "code-ran")


@pytest.fixture
def torch_load_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every ``torch.load`` (and still loads)."""
    calls: list[object] = []
    real = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


def refused(cli: Cli, root: Path, path: Path, match: str) -> str:
    """``lifecycle submit PATH`` exits 2 with one line holding ``match``; nothing changed."""
    log = (root / "events.jsonl").read_bytes()
    before = fingerprint(root)
    result = cli("submit", str(path), "--architecture", ARCH, code=2)
    err = str(result.stderr).strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in result.stdout + result.stderr
    assert match in err, err
    assert (root / "events.jsonl").read_bytes() == log
    assert fingerprint(root) == before, "a refused submit changed files"
    assert cli.json("list") == []
    return err


# -- positive controls: the builders make files that are accepted -------------------------
def test_the_candidate_and_a_hand_built_copy_are_accepted(cli: Cli, files: Files) -> None:
    copy = files.write("rebuilt.pth", raw_zip(entries_of(files.good)))
    cli("submit", str(copy), "--architecture", ARCH)
    assert [m["model_id"] for m in cli.json("list")] == ["convnext_v1.0.0"]


def test_a_deflated_copy_loads_in_torch_but_is_refused(
    cli: Cli, root: Path, files: Files, torch_load_calls: list[object]
) -> None:
    """torch itself reads compressed entries: the container check is what refuses them."""
    path = files.path("deflated.pth")
    with zipfile.ZipFile(files.good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    assert set(torch.load(path, weights_only=True)["model_state_dict"]) == set(files.state)
    torch_load_calls.clear()
    refused(cli, root, path, "torch.save stores entries uncompressed")
    assert torch_load_calls == []


# -- code in pickles ----------------------------------------------------------------------
CODE: dict[str, Callable[[Files], Path]] = {
    "zip, os.system in the dict": lambda f: f.save("code1.pth", {"model_state_dict": f.state,
                                                                 "x": RunsCode(f.marker)}),
    "zip, Path.write_text as a tensor": lambda f: f.with_tensor("code2.pth", "mag_head.5.bias",
                                                                 WritesFile(f.marker)),  # type: ignore[arg-type]
    "zip, data.pkl replaced": lambda f: f.write("code3.pth", raw_zip([
        stored(e.name, pickle.dumps(RunsCode(f.marker), protocol=2)) if e.name.endswith("data.pkl") else e
        for e in entries_of(f.good)])),
    "bare pickle": lambda f: f.write("code4.pth", pickle.dumps(RunsCode(f.marker))),
    "legacy torch.save": lambda f: f.save("code5.pth", {"x": RunsCode(f.marker)},
                                          _use_new_zipfile_serialization=False),
}


@pytest.mark.parametrize("kind", list(CODE))
def test_pickles_that_would_run_code_are_refused_unrun(cli: Cli, root: Path, files: Files, kind: str) -> None:
    files.marker.unlink(missing_ok=True)
    path = CODE[kind](files)
    err = refused(cli, root, path, path.name)
    assert "refused" in err or "not a readable PyTorch checkpoint" in err
    if kind.startswith("zip"):
        assert "asks to unpickle" in err and ("posix.system" in err or "getattr" in err), err
    assert not files.marker.exists(), "the pickle's code ran"


# -- malformed and foreign containers ------------------------------------------------------
MALFORMED: dict[str, tuple[Callable[[Files], bytes], str]] = {
    "truncated": (lambda f: f.good.read_bytes()[: f.good.stat().st_size // 2], "malformed zip container"),
    "no central directory": (lambda f: f.good.read_bytes()[:-22] + b"\0" * 22, "malformed zip container"),
    "zip magic then junk": (lambda f: b"PK\x03\x04" + os.urandom(4000), "malformed zip container"),
    "empty file": (lambda f: b"", "not a zip archive"),
    "text": (lambda f: b"definitely not a checkpoint\n", "not a zip archive"),
    "legacy torch.save of good weights": (lambda f: legacy(f), "legacy pre-1.6 torch.save file"),
}


def legacy(files: Files) -> bytes:
    return files.save("legacy-good.pth", {"model_state_dict": files.state},
                      _use_new_zipfile_serialization=False).read_bytes()


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_containers_never_reach_torch(
    cli: Cli, root: Path, files: Files, torch_load_calls: list[object], kind: str
) -> None:
    build, match = MALFORMED[kind]
    path = files.write(f"malformed-{kind.replace(' ', '-')}.pth", build(files))
    torch_load_calls.clear()
    err = refused(cli, root, path, match)
    assert "not a readable PyTorch checkpoint" in err
    assert torch_load_calls == []


# -- decompression bombs -------------------------------------------------------------------
def test_a_real_bomb_is_refused_before_torch(
    cli: Cli, root: Path, files: Files, torch_load_calls: list[object]
) -> None:
    bomb = zeros_bomb("archive/data/99", 2048)
    path = files.write("bomb.pth", raw_zip([*entries_of(files.good), bomb]))
    assert path.stat().st_size - files.good.stat().st_size < 4 * 2**20  # 2 GiB of zeros in a few MB
    with zipfile.ZipFile(path) as archive, archive.open("archive/data/99") as inside:
        assert inside.read(8 * 2**20) == bytes(8 * 2**20)  # it really inflates
    torch_load_calls.clear()
    err = refused(cli, root, path, "decompression bomb")
    assert "archive/data/99" in err and "2.0 GB" in err
    assert torch_load_calls == []


def test_overlapping_entries_are_refused(cli: Cli, root: Path, files: Files) -> None:
    entries = entries_of(files.good)
    path = files.write("overlap.pth", raw_zip([*entries, stored("archive/data/98", bytes(2**20))],
                                              aliases=200))
    assert len(zipfile.ZipFile(path).infolist()) == len(entries) + 201
    refused(cli, root, path, "overlapping entries: a decompression bomb")


def test_a_forged_size_is_refused(cli: Cli, root: Path, files: Files) -> None:
    data = bytes(1000)
    forged = Entry("archive/data/97", data, 3 * GiB, zlib.crc32(data))
    path = files.write("forged.pth", raw_zip([*entries_of(files.good), forged]))
    refused(cli, root, path, "a forged header")


def test_the_caps_apply(cli: Cli, root: Path, files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "MAX_UNPACKED_BYTES", 2**20)
    refused(cli, root, files.good, "above the 1.0 MB limit for a checkpoint")
    monkeypatch.setattr(checkpoint, "MAX_UNPACKED_BYTES", 8 * GiB)
    monkeypatch.setattr(checkpoint, "MAX_ENTRIES", 3)
    refused(cli, root, files.good, "more than the 3 a checkpoint may hold")


@pytest.mark.parametrize("name", ["../../evil", "/abs/data.pkl", "archive/da\nta", "archive/\x1b[2J",
                                  "archive\\..\\..\\x", "archive/data/../../../x"])
def test_unsafe_entry_names_are_refused(cli: Cli, root: Path, files: Files, name: str) -> None:
    path = files.write("names.pth", raw_zip([*entries_of(files.good), stored(name, b"x")]))
    err = refused(cli, root, path, "has an unsafe name")
    assert repr(name) in err


def test_an_encrypted_entry_is_refused(cli: Cli, root: Path, files: Files) -> None:
    data = raw_zip([*entries_of(files.good)])
    at = data.index(b"PK\x01\x02")  # set the "encrypted" flag of the first central record
    data = data[: at + 8] + b"\x01\x00" + data[at + 10:]
    refused(cli, root, files.write("encrypted.pth", data), "is encrypted")


# -- the weights themselves ----------------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "counts"), [
    ("mag_head.5.weight", float("nan"), "1 NaN and 0 infinite"),
    ("backbone.stem.0.bias", float("inf"), "0 NaN and 1 infinite"),
    ("azi_head.5.bias", float("-inf"), "0 NaN and 1 infinite"),
])
def test_non_finite_weights_are_refused_by_name(
    cli: Cli, root: Path, files: Files, key: str, value: float, counts: str
) -> None:
    tensor = files.state[key].clone()
    tensor.view(-1)[0] = value
    err = refused(cli, root, files.with_tensor("nonfinite.pth", key, tensor), repr(key))
    assert counts in err and "must be finite" in err


def test_half_precision_nan_is_refused(cli: Cli, root: Path, files: Files) -> None:
    state = {k: v.half() for k, v in files.state.items()}
    state["azi_head.5.weight"][3, 3] = float("nan")
    refused(cli, root, files.save("half.pth", state), "'azi_head.5.weight' holds 1 NaN")


def test_a_sparse_tensor_is_refused(cli: Cli, root: Path, files: Files) -> None:
    path = files.with_tensor("sparse.pth", "mag_head.5.bias", files.state["mag_head.5.bias"].to_sparse())
    refused(cli, root, path, "is not a plain dense tensor")


@pytest.mark.parametrize(("change", "match"), [
    ("transposed", "shape mismatch at backbone.stem.0.weight"),
    ("smaller", "shape mismatch at backbone.stages.0.blocks.0.mlp.fc1.weight"),
    ("missing", "1 missing, 0 unexpected"),
    ("unexpected", "0 missing, 1 unexpected"),
])
def test_wrong_shapes_and_keys_are_refused(cli: Cli, root: Path, files: Files, change: str, match: str) -> None:
    state = dict(files.state)
    if change == "transposed":
        state["backbone.stem.0.weight"] = state["backbone.stem.0.weight"].transpose(0, 1).contiguous()
    elif change == "smaller":
        state["backbone.stages.0.blocks.0.mlp.fc1.weight"] = state[
            "backbone.stages.0.blocks.0.mlp.fc1.weight"][:-1].clone()
    elif change == "missing":
        del state["backbone.stages.1.blocks.0.norm.bias"]
    else:
        state["backbone.extra.weight"] = torch.zeros(3)
    refused(cli, root, files.save(f"shape-{change}.pth", {"model_state_dict": state}), match)


@pytest.fixture(scope="session")
def torchvision_state(files: Files) -> dict[str, torch.Tensor]:
    from models.convert import timm_to_torchvision

    return timm_to_torchvision(files.state, ARCH)


def test_original_layout_reshapes_only_what_the_mapping_allows(
    cli: Cli, root: Path, files: Files, torchvision_state: dict[str, torch.Tensor]
) -> None:
    """A tensor of the original (torchvision) layout with the right number of values in a
    permuted shape is refused, not silently reshaped; the unchanged one is accepted."""
    state = dict(torchvision_state)
    key = "backbone.features.0.0.weight"
    state[key] = state[key].reshape(state[key].shape[1], state[key].shape[0], *state[key].shape[2:])
    refused(cli, root, files.save("tv-permuted.pth", {"model_state_dict": state}), repr(key))
    cli("submit", str(files.save("tv-good.pth", {"model_state_dict": torchvision_state})),
        "--architecture", ARCH)


# -- other doors: a candidate folder, import -----------------------------------------------
@pytest.fixture
def folder(tmp_path: Path, candidates: list[Path]) -> Iterator[Path]:
    copy = tmp_path / "cand"
    shutil.copytree(candidates[1], copy)
    yield copy


def test_a_bomb_in_a_candidate_folder_is_refused(cli: Cli, root: Path, files: Files, folder: Path) -> None:
    (folder / "best_model.pth").write_bytes(raw_zip([*entries_of(files.good), zeros_bomb("a/data/9", 64)]))
    refused(cli, root, folder, "best_model.pth: refused: zip entry 'a/data/9' is compressed")


def test_import_keeps_a_bomb_out_of_the_store(tmp_path: Path, files: Files) -> None:
    """``lifecycle import`` reports the refused weights and stores nothing of them."""
    model = tmp_path / "original" / "models" / "archive" / "convnext_v1.0.0"
    model.mkdir(parents=True)
    bomb = raw_zip([*entries_of(files.good), zeros_bomb("archive/data/99", 64)])
    (model / "best_model.pth").write_bytes(bomb)
    (model / "metadata.json").write_text(json.dumps({"model_id": "convnext_v1.0.0", "architecture": ARCH}))
    cli = Cli(tmp_path / "new-root")
    out = cli("import", str(tmp_path / "original")).stdout
    assert "weights not imported: best_model.pth: refused: zip entry 'archive/data/99' is compressed" in out
    [model_row] = cli.json("list")
    assert model_row["model_id"] == "convnext_v1.0.0"
    stored_sizes = [p.stat().st_size for p in (tmp_path / "new-root").rglob("*") if p.is_file()]
    assert len(bomb) not in stored_sizes
