"""The Model Management dashboard (Streamlit; the optional ``dashboard`` extra).

``render_model_management(root)`` draws the view into any Streamlit app (e.g. as a tab);
``lifecycle dashboard`` serves it as an app of its own. Streamlit is imported only when
the view is used, so the CLI starts without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dashboard.view import render_model_management

__all__ = ["render_model_management"]


def __getattr__(name: str) -> Any:
    if name == "render_model_management":
        from dashboard.view import render_model_management

        return render_model_management
    raise AttributeError(f"module 'dashboard' has no attribute {name!r}")
