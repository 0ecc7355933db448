"""Who may act from the page, and as whom: the bind address, the tokens (no Streamlit here).

Rules:
1. Read-only unless started with ``--allow-actions``.
2. With actions allowed on a host that is not loopback, a token is required: the
   environment variable ``LIFECYCLE_DASHBOARD_TOKEN``, or a file named by
   ``LIFECYCLE_DASHBOARD_TOKEN_FILE``, or ``<root>/config/dashboard.token`` or
   ``<root>/config/dashboard.tokens`` (not both; readable by its owner only). The page
   asks for it before any action.
3. A token that is configured is also asked for on loopback.
4. Any of these holds either one token (at least 16 characters; the page's actions are
   recorded as actor ``dashboard``) or named tokens, one ``name: token`` per line (blank
   lines and ``#`` comments ignored; a name is 1 to 64 letters, digits or ``._@-``; each
   token at least 16 characters; names and tokens unique): an action is then recorded as
   ``dashboard:<name>``, the name of the token that was given. A single line of the form
   ``name: token`` is a named token.
5. A given token is compared with every configured one in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import stat
from pathlib import Path

from lifecycle.errors import UserError

TOKEN_ENV = "LIFECYCLE_DASHBOARD_TOKEN"
TOKEN_FILE_ENV = "LIFECYCLE_DASHBOARD_TOKEN_FILE"
TOKEN_FILE = Path("config") / "dashboard.token"
TOKENS_FILE = Path("config") / "dashboard.tokens"
ACTOR = "dashboard"  # the actor of the page's actions without named tokens
_NAMED = re.compile(r"([A-Za-z0-9._@-]{1,64})[ \t]*:[ \t]*(\S+)")
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
    """The token file to read: ``$LIFECYCLE_DASHBOARD_TOKEN_FILE``, else ``config/dashboard.token``,
    else ``config/dashboard.tokens`` when only that one exists."""
    named = os.environ.get(TOKEN_FILE_ENV)
    if named:
        return Path(named)
    if not (root / TOKEN_FILE).is_file() and (root / TOKENS_FILE).is_file():
        return root / TOKENS_FILE
    return root / TOKEN_FILE


def load_token(root: Path) -> str | None:
    """The configured token or named tokens (environment first, then the token file), or
    None. Named tokens come back as ``name: token`` lines (what ``actor_for`` reads)."""
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return _checked(from_env, f"${TOKEN_ENV}")
    if not os.environ.get(TOKEN_FILE_ENV) and (root / TOKEN_FILE).is_file() and (root / TOKENS_FILE).is_file():
        raise UserError(f"both {root / TOKEN_FILE} and {root / TOKENS_FILE} exist; keep one of them")
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


def _checked(text: str, where: str) -> str:
    """``text`` (a token, or named tokens written back one ``name: token`` a line) when
    every token is long enough and names and tokens are unique; else a ``UserError``."""
    named = named_tokens(text, where)
    if named is None:
        _long_enough(text, f"the token in {where}")
        return text
    if not named:
        raise UserError(f"{where} names no token; write 'name: token' lines")
    seen: set[str] = set()
    for name, token in named.items():
        _long_enough(token, f"the token of {name!r} in {where}")
        if token in seen:
            raise UserError(f"{where}: two names share one token; give each person their own")
        seen.add(token)
    return "\n".join(f"{name}: {token}" for name, token in named.items())


def _long_enough(token: str, what: str) -> None:
    if len(token) < MIN_TOKEN_LENGTH:
        raise UserError(f"{what} is too short (at least {MIN_TOKEN_LENGTH} characters); make one with: {MAKE_ONE}")


def named_tokens(text: str, where: str | None = None) -> dict[str, str] | None:
    """The named tokens in ``text`` (name -> token), or None when it is one token (rule 4).

    Text of several lines that are not all ``name: token`` lines (or comments) is a
    ``UserError`` naming ``where``; without ``where`` (the page) it is one token, as before
    named tokens existed."""
    body = text.strip()
    lines = [(n, line.strip()) for n, line in enumerate(body.splitlines(), 1)]
    wanted = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if len(lines) <= 1 and not (wanted and _NAMED.fullmatch(wanted[0][1])):
        return None
    named: dict[str, str] = {}
    for n, line in wanted:
        match = _NAMED.fullmatch(line)
        if match is None or match[1] in named:
            if where is None:
                return None
            problem = "repeats a name" if match is not None else (
                "is not 'name: token' (a name is 1 to 64 letters, digits or ._@-)")
            raise UserError(f"line {n} of {where} {problem}")
        named[match[1]] = match[2]
    return named


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


def actor_for(configured: str, given: str) -> str | None:
    """The actor an action with the ``given`` token runs as: ``dashboard`` for the single
    configured token, ``dashboard:<name>`` for a named one; None when it matches none.
    Every configured token is compared, in constant time (rule 5)."""
    attempt = given.strip().encode()
    named = named_tokens(configured)
    if named is None:
        return ACTOR if hmac.compare_digest(configured.encode(), attempt) else None
    found = [name for name, token in named.items() if hmac.compare_digest(token.encode(), attempt)]
    return f"{ACTOR}:{found[0]}" if found else None


def token_matches(expected: str, given: str) -> bool:
    return actor_for(expected, given) is not None
