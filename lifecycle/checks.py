"""Typed values from configuration files (TOML): a wrong type is a one-line user error.

Guarantees: ``number`` returns a finite float (never nan or infinity, never an
overflow), ``whole`` an int, ``flag`` a bool, ``table`` a mapping; anything else is a
``UserError`` naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lifecycle.errors import UserError


def shown(value: Any, limit: int = 40) -> str:
    """A short ``repr`` for messages (a 4000-digit integer is not spelled out)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"an integer of more than {limit} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite real number (TOML int or float; not a string, not a boolean, not nan/inf)
    within ``minimum`` and ``maximum`` when given."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{name} must be a number, not {shown(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise UserError(f"{name} must be a finite number, not {shown(value)}")
    if minimum is not None and result < minimum:
        raise UserError(f"{name} must be at least {minimum}, not {shown(value)}")
    if maximum is not None and result > maximum:
        raise UserError(f"{name} must be at most {maximum:g}, not {shown(value)}")
    return result


def whole(value: Any, name: str, *, minimum: int | None = None) -> int:
    """A whole number (``5`` or ``5.0``; not ``2.5``), finite, at least ``minimum``."""
    result = number(value, name, minimum=minimum)
    if not result.is_integer():
        raise UserError(f"{name} must be a whole number, not {shown(value)}")
    return int(result)


def flag(value: Any, name: str) -> bool:
    """A TOML boolean (true/false); "false" as a string is refused, not read as true."""
    if not isinstance(value, bool):
        raise UserError(f"{name} must be true or false, not {shown(value)}")
    return value


def table(value: Any, name: str) -> Mapping[str, Any]:
    """A TOML table (``[name]`` or ``name = {...}``), not a value or a list."""
    if not isinstance(value, Mapping):
        raise UserError(f"{name} must be a table, not {shown(value)}")
    return value
