"""Class mappings (``class_mappings.json``) in all the shapes the original system wrote.

No torch here. Guarantees:
1. Every accepted shape is normalised to two index-ordered name lists.
2. Indices must run 0..n-1 without gaps; names must be known classes and unique.
3. Nothing is patched: a mapping that does not match the network is an error
   (``check_against_heads``), never silently completed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from lifecycle.errors import UserError

MAGNITUDE_CLASSES = ("Large", "Medium", "Moderate", "Normal")
AZIMUTH_CLASSES = ("E", "N", "NE", "NW", "Normal", "S", "SE", "SW", "W")
_INDEX = re.compile(r"0|[1-9][0-9]{0,5}")
KNOWN = {"magnitude": set(MAGNITUDE_CLASSES), "azimuth": set(AZIMUTH_CLASSES)}


def default_classes() -> dict[str, list[str]]:
    """The alphabetical order the original system used."""
    return {"magnitude": list(MAGNITUDE_CLASSES), "azimuth": list(AZIMUTH_CLASSES)}


def parse_class_mappings(data: Any, source: str = "class_mappings.json") -> dict[str, list[str]]:
    if not isinstance(data, Mapping):
        raise UserError(f"{source}: expected a JSON object with 'magnitude' and 'azimuth'")
    return {task: _task(data, task, source) for task in ("magnitude", "azimuth")}


def _task(data: Mapping[str, Any], task: str, source: str) -> list[str]:
    if f"{task}_to_idx" in data:
        names = _from_index_map(data[f"{task}_to_idx"], task, source)
    elif f"{task}_classes" in data:
        names = _from_list(data[f"{task}_classes"], task, source)
    elif task in data:
        value = data[task]
        names = (_from_list(value, task, source) if isinstance(value, list)
                 else _from_idx_keys(value, task, source))
    else:
        raise UserError(f"{source}: no '{task}' classes")
    unknown = [n for n in names if n not in KNOWN[task]]
    if unknown:
        raise UserError(f"{source}: unknown {task} classes {unknown}; known: {sorted(KNOWN[task])}")
    if len(set(names)) != len(names):
        raise UserError(f"{source}: a {task} class is listed twice: {names}")
    return names


def _from_list(value: Any, task: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{source}: '{task}' must be a list of class names")
    return list(value)


def _from_idx_keys(value: Any, task: str, source: str) -> list[str]:
    """``{"0": "Large", "1": "Medium"}``: keys are plain decimal indices ("00", "1_0",
    " 1" and "+1" are refused, so two keys never name the same index)."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and _INDEX.fullmatch(k) for k in value):
        raise UserError(f"{source}: '{task}' must map indices 0..n-1 to class names")
    return _ordered({int(k): v for k, v in value.items()}, task, source)


def _from_index_map(value: Any, task: str, source: str) -> list[str]:
    """``{"Large": 0, "Medium": 1}``: integer indices (not booleans), each used once."""
    if not isinstance(value, Mapping) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value.values()
    ):
        raise UserError(f"{source}: '{task}_to_idx' must map class names to indices")
    by_index = {v: k for k, v in value.items()}
    if len(by_index) != len(value):
        raise UserError(f"{source}: '{task}_to_idx' gives two classes the same index")
    return _ordered(by_index, task, source)


def _ordered(by_index: Mapping[int, Any], task: str, source: str) -> list[str]:
    if sorted(by_index) != list(range(len(by_index))):
        raise UserError(f"{source}: {task} indices must run 0..{len(by_index) - 1} without gaps")
    names = [by_index[i] for i in range(len(by_index))]
    if not all(isinstance(n, str) for n in names):
        raise UserError(f"{source}: {task} class names must be strings")
    return names


def check_against_heads(
    classes: Mapping[str, Sequence[str]], heads: Mapping[str, int], source: str
) -> None:
    for task, size in heads.items():
        names = classes[task]
        if len(names) != size:
            missing = sorted(KNOWN[task] - set(names))
            hint = f" (missing {', '.join(missing)})" if missing and len(names) < size else ""
            raise UserError(
                f"{source}: {len(names)} {task} classes{hint} but the network's {task} head "
                f"has {size} outputs; fix the class mappings (nothing is patched)"
            )
