"""The Streamlit script that ``lifecycle dashboard`` runs.

``streamlit run dashboard/app.py -- --root ROOT [--allow-actions]``; the token (when one
is needed) comes in ``$LIFECYCLE_DASHBOARD_TOKEN``, the refresh interval in seconds in
``$LIFECYCLE_DASHBOARD_REFRESH`` (default 5; 0 turns it off).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from dashboard.access import TOKEN_ENV
from dashboard.launch import REFRESH_ENV
from dashboard.view import DEFAULT_REFRESH_SECONDS, render_model_management


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dashboard/app.py")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("LIFECYCLE_ROOT", ".")))
    parser.add_argument("--allow-actions", action="store_true")
    return parser.parse_args(argv)


def _refresh() -> float | None:
    try:
        seconds = float(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH_SECONDS))
    except ValueError:
        seconds = DEFAULT_REFRESH_SECONDS
    return seconds if seconds > 0 else None


def main() -> None:
    options = _options(sys.argv[1:])
    st.set_page_config(page_title="lifecycle: Model Management", layout="wide")
    render_model_management(options.root, allow_actions=options.allow_actions,
                            token=os.environ.get(TOKEN_ENV) or None, refresh_seconds=_refresh())


main()
