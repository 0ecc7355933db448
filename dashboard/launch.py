"""``lifecycle dashboard``: start the Streamlit server for one registry root.

The checks (Streamlit installed, the token whenever actions are allowed: ``access``
rules 2 and 3) run here, before anything listens; then this process becomes ``streamlit
run`` (``exec``), so a signal to it reaches the server directly and nothing is left behind.
The token travels to the page in the environment, never on the command line.

Foreign hosts (DNS rebinding, ``access`` rule 6) are refused twice: Streamlit's own
``server.allowedHosts`` refuses a WebSocket whose ``Host`` is not a name of this server
(HTTP 403 before any session exists), and the page (``app.py``) refuses to draw or act
for a connection whose ``Host`` or ``Origin`` is foreign (Streamlit itself admits any
``Origin`` on localhost or this machine's addresses, whatever the port). CORS and XSRF
protection are forced on, whatever a Streamlit config file says.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dashboard.access import TOKEN_ENV, allowed_hosts, required_token
from lifecycle.errors import UserError

APP = Path(__file__).resolve().parent / "app.py"
REFRESH_ENV = "LIFECYCLE_DASHBOARD_REFRESH"


def streamlit_command(root: Path, *, host: str, port: int, allow_actions: bool, no_token: bool = False,
                      hosts: Sequence[str] = ()) -> list[str]:
    """The ``streamlit run`` command line (the page's own arguments after ``--``); ``hosts``:
    the names the page may be reached by (default: ``access.allowed_hosts(host)``)."""
    names = list(hosts) or allowed_hosts(host)
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none", "--server.runOnSave", "false",
        "--client.toolbarMode", "viewer", "--client.showErrorDetails", "type",
        "--server.enableCORS", "true", "--server.enableXsrfProtection", "true",
        *(part for name in names for part in ("--server.allowedHosts", name)),
        "--", "--root", str(root), *(["--allow-actions"] if allow_actions else []),
        *(["--no-token"] if no_token else []),
    ]


def prepare(root: Path, *, host: str, port: int, allow_actions: bool, no_token: bool = False,
            extra_hosts: Sequence[str] = ()) -> tuple[list[str], dict[str, str]]:
    """(command, environment) for the server; ``UserError`` when it must not start."""
    if importlib.util.find_spec("streamlit") is None:
        raise UserError("the dashboard needs Streamlit: pip install '.[dashboard]' (or run 'make install')")
    token = required_token(root, host, allow_actions, no_token)
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    hosts = allowed_hosts(host, extra_hosts)
    return streamlit_command(root, host=host, port=port, allow_actions=allow_actions, no_token=no_token,
                             hosts=hosts), env


def serve(root: Path, *, host: str, port: int, allow_actions: bool, no_token: bool = False,
          extra_hosts: Sequence[str] = ()) -> int:
    """Run the dashboard until it is stopped; returns an exit status (2: refused)."""
    try:
        command, env = prepare(root, host=host, port=port, allow_actions=allow_actions, no_token=no_token,
                               extra_hosts=extra_hosts)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mode = ("read-only" if not allow_actions else "actions allowed without a token, this machine only"
            if no_token else "actions allowed, the page asks for the token")
    shown = f"[{host}]" if ":" in host else host
    names = ", ".join(v for k, v in itertools.pairwise(command) if k == "--server.allowedHosts")
    print(f"Model Management for {root}: http://{shown}:{port} ({mode}); Ctrl-C stops it", flush=True)
    print(f"Reached only as: {names} (more with --allowed-host NAME)", flush=True)
    sys.stderr.flush()
    try:
        os.execve(command[0], command, env)
    except OSError as exc:
        print(f"error: cannot start Streamlit ({exc})", file=sys.stderr)
        return 1
    return 0  # pragma: no cover - execve does not return
