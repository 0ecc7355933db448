"""Typed values from configuration files (TOML): a wrong type is a one-line user error."""

from __future__ import annotations

from typing import Any

from lifecycle.errors import UserError


def number(value: Any, name: str, *, minimum: float | None = None) -> float:
    """A real number (TOML int or float; not a string, not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{name} must be a number, not {value!r}")
    if minimum is not None and value < minimum:
        raise UserError(f"{name} must be at least {minimum}, not {value!r}")
    return float(value)


def flag(value: Any, name: str) -> bool:
    """A TOML boolean (true/false); "false" as a string is refused, not read as true."""
    if not isinstance(value, bool):
        raise UserError(f"{name} must be true or false, not {value!r}")
    return value
