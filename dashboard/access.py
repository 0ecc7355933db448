"""Who may act from the page: the bind address, the token (no Streamlit here).

Rules:
1. Read-only unless started with ``--allow-actions``.
2. With actions allowed on a host that is not loopback, a token is required: the
   environment variable ``LIFECYCLE_DASHBOARD_TOKEN``, or a file named by
   ``LIFECYCLE_DASHBOARD_TOKEN_FILE``, or ``<root>/config/dashboard.token`` (readable by its
   owner only). The page asks for it before any action.
3. A token that is configured is also asked for on loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
from pathlib import Path

from lifecycle.errors import UserError

TOKEN_ENV = "LIFECYCLE_DASHBOARD_TOKEN"
TOKEN_FILE_ENV = "LIFECYCLE_DASHBOARD_TOKEN_FILE"
TOKEN_FILE = Path("config") / "dashboard.token"
MIN_TOKEN_LENGTH = 16
MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def token_file(root: Path) -> Path:
    named = os.environ.get(TOKEN_FILE_ENV)
    return Path(named) if named else root / TOKEN_FILE


def load_token(root: Path) -> str | None:
    """The configured token (environment first, then the token file), or None."""
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return _checked(from_env, f"${TOKEN_ENV}")
    path = token_file(root)
    if not path.is_file():
        if os.environ.get(TOKEN_FILE_ENV):
            raise UserError(f"${TOKEN_FILE_ENV} names {path}, which is not a file")
        return None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(f"{path} is readable by others; run 'chmod 600 {path}'")
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the token file {path} ({exc})") from None
    return _checked(text, str(path))


def _checked(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise UserError(f"the token in {where} is too short (at least {MIN_TOKEN_LENGTH} characters); "
                        f"make one with: {MAKE_ONE}")
    return token


def required_token(root: Path, host: str, allow_actions: bool) -> str | None:
    """The token the page must ask for (None: no token); refuses an unsafe start."""
    if not allow_actions:
        return None
    token = load_token(root)
    if token is None and not is_loopback(host):
        raise UserError(
            f"--allow-actions on {host} (not this machine only) needs a token: set ${TOKEN_ENV} "
            f"or write one to {token_file(root)} (chmod 600); make one with: {MAKE_ONE}")
    return token


def token_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().encode())
