"""lifecycle: an event-sourced model lifecycle engine.

This package is the pure domain (state, commands, ``decide``, ``evolve``, policy,
transitions); none of its modules do I/O. ``ModelDeployer``, the Python API, is
re-exported here lazily (it lives in ``service.api``) so that ``from lifecycle import
ModelDeployer`` works without the domain importing any I/O code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.api import ModelDeployer

__all__ = ["ModelDeployer"]


def __getattr__(name: str) -> Any:
    if name == "ModelDeployer":
        from service.api import ModelDeployer

        return ModelDeployer
    raise AttributeError(f"module 'lifecycle' has no attribute {name!r}")
