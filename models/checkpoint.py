"""Reading and checking model files (``.pth``) without ever unpickling code.

Guarantees:
1. ``torch.load(..., weights_only=True)`` only: a pickle that would build arbitrary
   objects (and so could run code) is refused before anything in it runs.
2. The zip container is checked with ``zipfile`` before torch reads a byte of it, through
   the same open file (no swap between check and load): a malformed zip, an entry whose
   name has ``..``, a leading ``/`` or control characters, a compressed or
   encrypted entry (``torch.save`` stores entries uncompressed, so compression is how a
   decompression bomb would come), entries declaring more bytes than the file holds
   (overlapping entries) or more than ``MAX_UNPACKED_BYTES`` in all, or more than
   ``MAX_ENTRIES`` entries: refused, with the reason.
3. Only the zip format (``torch.save`` since PyTorch 1.6) is read. Legacy files (a bare
   pickle stream) are refused: they have no container to check, and declare storage sizes
   that torch allocates before reading any data, so their memory use is not bounded by
   their size. Re-save such a file with a current ``torch.save``.
4. Accepted shapes: ``{"model_state_dict": {...}, ...}`` or a raw state_dict of dense
   tensors; anything else is refused with a message that says what was found. Every
   floating-point tensor must be finite: NaN or infinity is refused, naming the tensor.
5. Before any tensor's values are read (the finiteness check of 4 included), every tensor's
   logical size is bounded by the bytes stored for it: a tensor with a zero stride on a
   dimension longer than 1 (an expanded view), or whose values (``numel * element_size``)
   take more bytes than its storage holds (overlapping strides), is refused, naming it; so
   are tensors whose values take more than ``MAX_UNPACKED_BYTES`` in all. (A 1.6 KB file
   can otherwise describe a 10**6 x 10**6 tensor that a check would materialise.)
6. A checkpoint is accepted only if it loads strictly into the network of its
   architecture (same keys, same shapes) and its head sizes match the class mappings.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any

import torch

from lifecycle.errors import UserError
from models.classes import check_against_heads

HEAD_NORM = "backbone.head.norm.weight"
HEAD_KEYS = {"magnitude": "mag_head.5.weight", "azimuth": "azi_head.5.weight"}


MAX_UNPACKED_BYTES = 8 * 2**30  # all zip entries together; also all tensors' values together
MAX_ENTRIES = 100_000
_ZIP_MAGIC = b"PK\x03\x04"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The checked state_dict of a model file (guarantees 1 to 5); ``UserError`` otherwise."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, also when a check fails
    except OSError as exc:
        raise UserError(f"{path.name}: cannot read the model file ({exc.strerror})") from None
    with handle:
        check_container(handle, path.name)
        handle.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = torch.load(handle, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for unreadable files
            raise UserError(_load_error(path, exc)) from None
    if isinstance(obj, Mapping) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise UserError(f"{path.name}: expected a state_dict or {{'model_state_dict': ...}}, "
                        f"found {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UserError(f"{path.name}: the state_dict holds non-tensor entries, e.g. {bad[0]!r}")
    state = dict(obj)
    check_tensors(state, path.name)
    return state


def check_container(handle: IO[bytes], name: str) -> None:
    """Refuse a file that is not a sound, uncompressed zip (guarantees 2 and 3)."""
    head = handle.read(len(_ZIP_MAGIC))
    if head != _ZIP_MAGIC:
        raise UserError(f"{name}: not a readable PyTorch checkpoint ({_not_zip(head)})")
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            NotImplementedError) as exc:
        raise UserError(f"{name}: not a readable PyTorch checkpoint "
                        f"(malformed zip container: {str(exc)[:120]!r})") from None
    if len(entries) > MAX_ENTRIES:
        raise UserError(f"{name}: refused: {len(entries)} zip entries, more than the "
                        f"{MAX_ENTRIES} a checkpoint may hold")
    for info in entries:
        problem = _entry_problem(info)
        if problem:
            raise UserError(f"{name}: refused: zip entry {info.filename!r} {problem}")
    _check_sizes(sum(info.file_size for info in entries), os.fstat(handle.fileno()).st_size, name)


def _not_zip(head: bytes) -> str:
    if head[:1] == b"\x80":
        return ("a bare pickle or a legacy pre-1.6 torch.save file; only the zip format of "
                "torch.save is read: re-save it with a current PyTorch")
    return "not a zip archive, as torch.save writes"


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if _CONTROL.search(name) or name.startswith(("/", "\\")) or ".." in parts:
        return "has an unsafe name (absolute, '..' or control characters)"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type != zipfile.ZIP_STORED:
        return (f"is compressed ({_size(info.compress_size)} unpacking to {_size(info.file_size)}); "
                "torch.save stores entries uncompressed, so this may be a decompression bomb")
    if info.file_size != info.compress_size:
        return (f"declares {_size(info.file_size)} but stores {_size(info.compress_size)} "
                "(a forged header)")
    return None


def _check_sizes(unpacked: int, file_size: int, name: str) -> None:
    if unpacked > file_size:
        raise UserError(f"{name}: refused: its zip entries declare {_size(unpacked)}, more than the "
                        f"file's {_size(file_size)} (overlapping entries: a decompression bomb)")
    if unpacked > MAX_UNPACKED_BYTES:
        raise UserError(f"{name}: refused: it would unpack to {_size(unpacked)}, above the "
                        f"{_size(MAX_UNPACKED_BYTES)} limit for a checkpoint (a decompression bomb?)")


def _size(n: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def check_tensors(state: Mapping[str, torch.Tensor], name: str) -> None:
    """Every tensor dense and bounded by its storage (guarantee 5); then every floating-point
    (or complex) value finite. No value is read before every tensor's size is checked."""
    logical = sum(_bounded_bytes(key, tensor, name) for key, tensor in state.items())
    if logical > MAX_UNPACKED_BYTES:
        raise UserError(f"{name}: refused: its tensors hold {_size(logical)} of values, above the "
                        f"{_size(MAX_UNPACKED_BYTES)} limit for a checkpoint")
    for key, tensor in state.items():
        _check_finite(key, tensor, name)


def _bounded_bytes(key: str, tensor: torch.Tensor, name: str) -> int:
    """The bytes of the tensor's values, from its metadata only; ``UserError`` for a tensor
    that is not plain and dense or that shows more values than its storage holds."""
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type == "meta":
        raise UserError(f"{name}: tensor {key!r} is not a plain dense tensor "
                        f"({tensor.layout}, {tensor.dtype}); only plain weights are accepted")
    shape = " x ".join(str(n) for n in tensor.shape) or "scalar"
    if any(stride == 0 and size > 1 for size, stride in zip(tensor.shape, tensor.stride(), strict=True)):
        raise UserError(f"{name}: refused: tensor {key!r} ({shape}) is an expanded view (stride 0) "
                        "that repeats its stored values; save plain weights (tensor.contiguous())")
    logical = tensor.numel() * tensor.element_size()
    stored = tensor.untyped_storage().nbytes()
    if logical > stored:
        raise UserError(f"{name}: refused: tensor {key!r} ({shape}) shows {_size(logical)} of values "
                        f"from {_size(stored)} stored (overlapping strides); save plain weights "
                        "(tensor.contiguous())")
    return logical


def _check_finite(key: str, tensor: torch.Tensor, name: str) -> None:
    if not (tensor.is_floating_point() or tensor.is_complex()):
        return
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        nan = int(torch.isnan(tensor).sum())
        infinite = int(finite.numel() - int(finite.sum()) - nan)
        raise UserError(f"{name}: tensor {key!r} holds {nan} NaN and {infinite} infinite "
                        "values; refused (weights must be finite numbers)")


def _load_error(path: Path, exc: Exception) -> str:
    text = str(exc)
    found = re.search(r"unsupported GLOBAL (\S+)|Unsupported global: GLOBAL (\S+)", text)
    if found:
        name = found[1] or found[2]
        return (f"{path.name}: refused: the file asks to unpickle {name} (it could run code); "
                "only plain weights are accepted")
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if detail:
        return f"{path.name}: not a readable PyTorch checkpoint ({detail[1].strip()[:120]})"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{path.name}: not a readable PyTorch checkpoint ({first[:120]})"


def head_sizes(state: Mapping[str, torch.Tensor], source: str) -> dict[str, int]:
    sizes = {}
    for task, key in HEAD_KEYS.items():
        if key not in state or state[key].ndim != 2:
            raise UserError(f"{source}: no {task} head ('{key}'); not a multi-task checkpoint")
        sizes[task] = int(state[key].shape[0])
    return sizes


def inspect(path: Path, architecture: str, classes: Mapping[str, list[str]]) -> dict[str, Any]:
    """Check that the file is a loadable network of ``architecture`` for ``classes``."""
    state = load_state_dict(path)
    heads = head_sizes(state, path.name)
    check_against_heads(classes, heads, "class_mappings.json")
    _load_into_network(path, state, architecture, heads)
    return {"architecture": architecture, "heads": heads,
            "parameters": sum(int(t.numel()) for t in state.values())}


def load_network_file(path: Path, architecture: str, classes: Mapping[str, list[str]]) -> Any:
    """The network of a checked model file, weights loaded strictly, in eval mode."""
    state = load_state_dict(path)
    heads = head_sizes(state, path.name)
    if classes:
        check_against_heads(classes, heads, "class_mappings.json")
    return _load_into_network(path, state, architecture, heads).eval()


def _load_into_network(path: Path, state: dict[str, torch.Tensor], architecture: str,
                       heads: Mapping[str, int]) -> Any:
    """Original (torchvision) checkpoints are mapped onto timm first (``models.convert``);
    a checkpoint without the backbone's final norm loads into a network without one."""
    from models.convert import is_torchvision_layout, torchvision_to_timm
    from models.network import build

    if is_torchvision_layout(state):
        state = torchvision_to_timm(state, architecture)
    network = build(architecture, heads["magnitude"], heads["azimuth"])
    if HEAD_NORM in network.state_dict() and HEAD_NORM not in state:
        network = build(architecture, heads["magnitude"], heads["azimuth"], head_norm=False)
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        mismatch = re.search(r"size mismatch for (\S+):", str(exc))
        where = mismatch[1] if mismatch else "a parameter"
        raise UserError(f"{path.name}: weights do not fit architecture {architecture!r} "
                        f"(shape mismatch at {where}); pass the right --architecture") from None
    problems = [*result.missing_keys, *result.unexpected_keys]
    if problems:
        raise UserError(
            f"{path.name}: weights do not fit architecture {architecture!r} "
            f"({len(result.missing_keys)} missing, {len(result.unexpected_keys)} unexpected, "
            f"e.g. {problems[0]!r}); pass the right --architecture"
        )
    return network


def save(network: torch.nn.Module, path: Path, **extra: Any) -> None:
    torch.save({"model_state_dict": network.state_dict(), **extra}, path)
