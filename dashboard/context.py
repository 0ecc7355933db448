"""What every section of one page run shares: the snapshot, the rights, small helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.access import ACTOR
from dashboard.snapshot import Snapshot, engine
from lifecycle.state import State
from projections.views import selection_list
from service.engine import Engine

KEY = "lcm_"  # prefix of every widget and session key (the view can be a tab of another app)
# The models under analysis: plain session keys (not widget keys, which Streamlit drops when
# their page is not drawn), the one source of truth for the header and the Model A / Model B
# boxes of Compare and Test an event (their boxes are set from these before each is drawn).
SELECTED = KEY + "selected"  # Model B: the archive's "Use", or a choice in a Model B box
BASELINE = KEY + "baseline"  # Model A: the champion unless chosen in a Model A box
FLASH = KEY + "flash"


@dataclass(frozen=True)
class Context:
    snapshot: Snapshot
    allow_actions: bool = False
    token: str | None = None

    @property
    def root(self) -> Path:
        return self.snapshot.root

    @property
    def state(self) -> State:
        return self.snapshot.state

    def engine(self, actor: str = ACTOR) -> Engine:
        """The engine to read or act through; ``actor``: who the page's action is recorded as."""
        return engine(self.root, actor)

    def model_labels(self) -> dict[str, str]:
        """Model id -> label, champion first (the default), then the archive, then the challenger."""
        return {row["model_id"]: _label(row) for row in selection_list(self.state)}


def _label(row: dict[str, Any]) -> str:
    accuracy = row["magnitude_accuracy"]
    shown = f", mag {accuracy:.2f}%" if accuracy is not None else ""
    role = str(row["role"]).replace("pre_rollback", "pre-rollback")
    return f"v{row['version']} ({role}{shown})" + (" - default" if row["default"] else "")


def flash(kind: str, text: str) -> None:
    """A message shown at the top of the next run (after an action and its rerun)."""
    st.session_state.setdefault(FLASH, []).append((kind, text))


def show_flashes() -> None:
    for kind, text in st.session_state.pop(FLASH, []):
        {"success": st.success, "error": st.error, "warning": st.warning}.get(kind, st.info)(text)


def select_for_analysis(model_id: str, version: str) -> None:
    """The archive's "Use": the model becomes Model B of Compare and Test an event."""
    st.session_state[SELECTED] = model_id
    flash("info", f"v{version} selected for analysis: see Compare and Test an event")


def selected_model(state: State) -> str | None:
    """The model selected for analysis (Model B), if one was chosen and is in the registry."""
    chosen = st.session_state.get(SELECTED)
    return chosen if isinstance(chosen, str) and chosen in state.models else None


def analysis_pair(ids: Sequence[str]) -> tuple[str, str]:
    """(Model A, Model B) among ``ids`` (at least two, the champion first): the chosen ones
    (``BASELINE``, ``SELECTED``) while they exist, else the first and the second."""
    def chosen(key: str, default: str) -> str:
        found = st.session_state.get(key)
        return found if isinstance(found, str) and found in ids else default

    return chosen(BASELINE, ids[0]), chosen(SELECTED, ids[1])


def keep_choice(key: str, options: Sequence[str], default: str) -> None:
    """Reset a selector whose remembered choice no longer exists (before it is drawn)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def pct(value: Any) -> str:
    return f"{value:.2f}%" if isinstance(value, int | float) else "-"


def score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def safe_key(text: str) -> str:
    """A widget key usable as a CSS class (``st-key-...``): letters, digits, ``_``."""
    return "".join(c if c.isalnum() else "_" for c in text)
