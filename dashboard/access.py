"""Who may act from the page, and as whom: the bind address, the tokens, the names the
page may be reached by (no Streamlit here).

Rules:
1. Read-only unless started with ``--allow-actions``.
2. With actions allowed, a token is required, on any bind address: the environment
   variable ``LIFECYCLE_DASHBOARD_TOKEN``, or a file named by
   ``LIFECYCLE_DASHBOARD_TOKEN_FILE``, or ``<root>/config/dashboard.token`` or
   ``<root>/config/dashboard.tokens`` (not both; readable by its owner only). The page
   asks for it before any action.
3. The only way to act without one is to say so: ``--allow-actions --no-token``, accepted
   only with a loopback bind (127.0.0.0/8, ::1, localhost) and when no token is
   configured (a configured token is always asked for).
4. Any of these holds either one token (at least 16 characters; the page's actions are
   recorded as actor ``dashboard``) or named tokens, one ``name: token`` per line (blank
   lines and ``#`` comments ignored; a name is 1 to 64 letters, digits or ``._@-``; each
   token at least 16 characters; names and tokens unique): an action is then recorded as
   ``dashboard:<name>``, the name of the token that was given. A single line of the form
   ``name: token`` is a named token.
5. A given token is compared with every configured one in constant time.
6. Every connection must name the server by one of its own names (DNS rebinding: a page
   on another site whose name was pointed at this machine): its ``Host`` must be one of
   ``allowed_hosts`` (the bound address; localhost, 127.0.0.1 and ::1 when the bind
   covers loopback; the machine's host name and full name when it is not loopback only,
   and its addresses for a wildcard bind such as 0.0.0.0; the names given with
   ``--allowed-host``), and its ``Origin``, when it has one (every browser sends it), must
   be that same host and port (``foreign_request``).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import re
import socket
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

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


def required_token(root: Path, host: str, allow_actions: bool, no_token: bool = False) -> str | None:
    """The token the page must ask for (None: no token); refuses an unsafe start (rules 2, 3)."""
    if no_token and not allow_actions:
        raise UserError("--no-token goes with --allow-actions (a read-only dashboard asks for no token)")
    if not allow_actions:
        return None
    if no_token and not is_loopback(host):
        raise UserError(f"--no-token is for this machine only: {host} is not a loopback address; "
                        "bind 127.0.0.1 (or ::1, localhost), or configure a token")
    token = load_token(root)
    if no_token and token is not None:
        raise UserError(f"--no-token, but a token is configured (${TOKEN_ENV}, ${TOKEN_FILE_ENV} or "
                        f"{token_file(root)}); drop --no-token (the page asks for the token) or remove it")
    if token is None and not no_token:
        raise UserError(
            f"--allow-actions needs a token: set ${TOKEN_ENV} or write one to {token_file(root)} "
            f"(chmod 600); make one with: {MAKE_ONE}. On this machine only (a loopback --host), "
            "--allow-actions --no-token acts without one")
    return token


WILDCARDS = ("0.0.0.0", "::", "")  # names of "every address", never a Host
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _bare(name: str) -> str:
    return name.strip().strip("[]").lower().rstrip(".")


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The names the page may be reached by on a server bound to ``host`` (rule 6), for
    Streamlit's ``server.allowedHosts`` and ``foreign_request``."""
    bound = _bare(host)
    names = [] if bound in WILDCARDS else [bound]
    if bound in WILDCARDS or is_loopback(bound):
        names += LOOPBACK_NAMES
    if not is_loopback(bound):
        names += _machine_names(every_address=bound in WILDCARDS)
    names += (_host_name(name) for name in extra)
    return [name for name in dict.fromkeys(names) if name and name not in WILDCARDS]


def _host_name(name: str) -> str:
    """A name given with ``--allowed-host``: a host name or an IP address, nothing else."""
    bare = _bare(name)
    if not (re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", bare) or _is_address(bare)):
        raise UserError(f"--allowed-host {name!r} is not a host name or an IP address (no port, no '*')")
    return bare


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _machine_names(every_address: bool) -> list[str]:
    """This machine's host name and full name, and (``every_address``) the addresses they
    resolve to and the one it reaches other machines from (no packet is sent)."""
    names = [socket.gethostname(), socket.getfqdn()]
    if every_address:
        with contextlib.suppress(OSError):
            names += [str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)]
        for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as s:
                    s.connect((probe, 9))
                    names.append(str(s.getsockname()[0]))
            except OSError:
                pass
    return [_bare(name) for name in names if not is_loopback(_bare(name))]


def foreign_request(host: str | None, origin: str | None, allowed: Iterable[str]) -> str | None:
    """Why a connection with these ``Host`` and ``Origin`` headers is refused (rule 6), or
    None. Without a ``Host`` (not a browser: nothing another site can drive) there is
    nothing to check."""
    if host is None:
        return None
    try:
        given = urlsplit(f"//{host}")
        _ = given.port  # raises for a port that is not a number
        plain = not (given.username is not None or given.path or given.query or given.fragment)
        name = given.hostname if plain else None
    except ValueError:
        name = None
    if name is None or _bare(name) not in {_bare(a) for a in allowed}:
        return f"the page was reached as {host!r}, which is not a name of this server"
    if origin is None:
        return None
    try:
        parts = urlsplit(origin)
    except ValueError:
        return f"the request came from a page on {origin!r}"
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.strip().lower():
        return f"the request came from a page on {origin!r}, not from this server ({host})"
    return None


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
