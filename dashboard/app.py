"""The Streamlit script that ``lifecycle dashboard`` runs.

``streamlit run dashboard/app.py -- --root ROOT [--allow-actions [--no-token]]``; the
token (when one is needed) comes in ``$LIFECYCLE_DASHBOARD_TOKEN``, the refresh interval in
seconds in ``$LIFECYCLE_DASHBOARD_REFRESH`` (default 5; 0 turns it off).

Every run first checks the connection's ``Host`` and ``Origin`` (``access`` rule 6,
against ``server.allowedHosts``, which ``launch`` sets): a foreign one gets one line and
nothing else, neither a read of the registry nor an action. Actions without a token need
``--no-token`` (``launch`` passes it only for a loopback bind); without it the page stays
read-only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from dashboard.access import TOKEN_ENV, allowed_hosts, foreign_request
from dashboard.launch import REFRESH_ENV
from dashboard.view import DEFAULT_REFRESH_SECONDS, render_model_management


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dashboard/app.py")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("LIFECYCLE_ROOT", ".")))
    parser.add_argument("--allow-actions", action="store_true")
    parser.add_argument("--no-token", action="store_true")
    return parser.parse_args(argv)


def _refused() -> str | None:
    """Why this connection may not use the page (a foreign Host or Origin), or None."""
    names = [str(n) for n in st.get_option("server.allowedHosts") or ()]
    if not names:  # started without the launcher: the names of the bound address
        names = allowed_hosts(str(st.get_option("server.address") or ""))
    headers = st.context.headers
    return foreign_request(headers.get("Host"), headers.get("Origin"), names)


def _refresh() -> float | None:
    try:
        seconds = float(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH_SECONDS))
    except ValueError:
        seconds = DEFAULT_REFRESH_SECONDS
    return seconds if seconds > 0 else None


def main() -> None:
    options = _options(sys.argv[1:])
    st.set_page_config(page_title="lifecycle: Model Management", layout="wide")
    problem = _refused()
    if problem is not None:
        st.error(f"Refused: {problem}. Open the dashboard at the address 'lifecycle dashboard' printed.")
        st.stop()
    token = os.environ.get(TOKEN_ENV) or None
    allow = options.allow_actions and (token is not None or options.no_token)
    if options.allow_actions and not allow:
        st.warning("Read-only: actions without a token need --no-token (this machine only).")
    render_model_management(options.root, allow_actions=allow, token=token, refresh_seconds=_refresh())


main()
