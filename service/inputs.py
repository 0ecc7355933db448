"""Files a user hands to a command: metrics files and policy files.

Guarantees: a malformed file is a ``UserError`` naming the file and the problem; a
valid one is returned in the canonical form the events store.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import orjson

from lifecycle.errors import UserError
from lifecycle.policy import Policy


def read_json(path: Path, what: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{what} is a folder, expected a JSON file: {path}") from None
    except orjson.JSONDecodeError as exc:
        raise UserError(f"{what} {path} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def load_metrics(path: Path) -> dict[str, Any]:
    """A JSON object of registry metric names (``composite_score`` is computed, never read)."""
    from pydantic import ValidationError

    from events.schema import Metrics

    data = read_json(path, "metrics file")
    if not isinstance(data, dict):
        raise UserError(f"metrics file {path} must hold a JSON object of metric names")
    if "composite_score" in data:
        raise UserError(f"metrics file {path}: composite_score is computed by the engine; "
                        "remove it")
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
    if path is None:
        return Policy()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"policy file not found: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"policy file {path} is not valid TOML ({exc})") from None
    return Policy.from_mapping(data.get("policy", data))
