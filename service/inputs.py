"""Files a user hands to a command: JSON files (metrics, class mappings, configs), TOML files.

Guarantees: a malformed file is a ``UserError`` naming the file and the problem, never
another exception; a valid one is returned in the canonical form the events store. A
leading UTF-8 byte order mark is ignored (editors on Windows write one); JSON nested
deeper than ``MAX_DEPTH`` is refused, so whatever is read can be stored in an event.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import orjson

from lifecycle.errors import UserError
from lifecycle.policy import Policy

BOM = b"\xef\xbb\xbf"
MAX_DEPTH = 64


def read_json(path: Path, what: str) -> Any:
    """The parsed JSON of a file; a ``UserError`` for a missing, unreadable, invalid or
    too deeply nested one."""
    data = _read_bytes(path, what, "JSON")
    try:
        value = orjson.loads(data.removeprefix(BOM))
    except orjson.JSONDecodeError as exc:
        raise UserError(f"{what} {path} is not valid JSON ({exc})") from None
    if _depth(value) > MAX_DEPTH:
        raise UserError(f"{what} {path} is nested deeper than {MAX_DEPTH} levels; flatten it")
    return value


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The parsed TOML of a file; a ``UserError`` for a missing, unreadable or invalid one
    (including integers too long to convert and nesting too deep for the parser)."""
    data = _read_bytes(path, what, "TOML")
    try:
        return tomllib.loads(data.removeprefix(BOM).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {path} is not valid TOML (not UTF-8: {exc.reason} at byte "
                        f"{exc.start}); save it as UTF-8") from None
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise UserError(f"{what} {path} is not valid TOML ({str(exc)[:200]})") from None


def _read_bytes(path: Path, what: str, kind: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{what} is a folder, expected a {kind} file: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def load_metrics(path: Path) -> dict[str, Any]:
    """A JSON object of registry metric names (``composite_score`` is computed, never read).

    Values must be JSON numbers (or null for "not measured"): ``"97"`` and ``true`` are
    refused rather than converted."""
    from pydantic import ValidationError

    from lifecycle.schema import Metrics

    data = read_json(path, "metrics file")
    if not isinstance(data, dict):
        raise UserError(f"metrics file {path} must hold a JSON object of metric names")
    if "composite_score" in data:
        raise UserError(f"metrics file {path}: composite_score is computed by the engine; "
                        "remove it")
    for name, value in data.items():
        if name in Metrics.model_fields and (isinstance(value, bool | str)):
            raise UserError(f"metrics file {path}: {name}: must be a number, not {value!r:.40}")
    try:
        return Metrics.model_validate(data).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        known = ", ".join(Metrics.model_fields)
        if first["type"] == "extra_forbidden":
            raise UserError(f"metrics file {path}: unknown metric {name!r}; known: {known}") from None
        raise UserError(f"metrics file {path}: {name}: {first['msg']}") from None


def load_policy(path: Path | None) -> Policy:
    """The default policy, or the one in a TOML file (top level or a ``[policy]`` table)."""
    if path is None:
        return Policy()
    data = read_toml(path, "policy file")
    return Policy.from_mapping(data.get("policy", data))
