"""``lifecycle dashboard``: start the Streamlit server for one registry root.

The checks (Streamlit installed, the token when actions are allowed on a non-loopback
host) run here, before anything listens; then this process becomes ``streamlit run``
(``exec``), so a signal to it reaches the server directly and nothing is left behind.
The token travels to the page in the environment, never on the command line.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from dashboard.access import TOKEN_ENV, required_token
from lifecycle.errors import UserError

APP = Path(__file__).resolve().parent / "app.py"
REFRESH_ENV = "LIFECYCLE_DASHBOARD_REFRESH"


def streamlit_command(root: Path, *, host: str, port: int, allow_actions: bool) -> list[str]:
    """The ``streamlit run`` command line (the page's own arguments after ``--``)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none", "--server.runOnSave", "false",
        "--client.toolbarMode", "viewer", "--client.showErrorDetails", "type",
        "--", "--root", str(root), *(["--allow-actions"] if allow_actions else []),
    ]


def prepare(root: Path, *, host: str, port: int, allow_actions: bool) -> tuple[list[str], dict[str, str]]:
    """(command, environment) for the server; ``UserError`` when it must not start."""
    if importlib.util.find_spec("streamlit") is None:
        raise UserError("the dashboard needs Streamlit: pip install '.[dashboard]' (or run 'make install')")
    token = required_token(root, host, allow_actions)
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    return streamlit_command(root, host=host, port=port, allow_actions=allow_actions), env


def serve(root: Path, *, host: str, port: int, allow_actions: bool) -> int:
    """Run the dashboard until it is stopped; returns an exit status (2: refused)."""
    try:
        command, env = prepare(root, host=host, port=port, allow_actions=allow_actions)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mode = "actions allowed" if allow_actions else "read-only"
    shown = f"[{host}]" if ":" in host else host
    print(f"Model Management for {root}: http://{shown}:{port} ({mode}); Ctrl-C stops it", flush=True)
    sys.stderr.flush()
    try:
        os.execve(command[0], command, env)
    except OSError as exc:
        print(f"error: cannot start Streamlit ({exc})", file=sys.stderr)
        return 1
    return 0  # pragma: no cover - execve does not return
