"""``<root>/config/lifecycle.toml``: triggers, rollback rules, hooks, approval, daemon and production settings.

This file is the user's configuration (not a projection: replay never writes it). Missing
file or section: the defaults of SPEC sections 6 and 9. Unknown keys are refused.
``[production] format`` is read when a model is registered (``submit``, ``train``, the
daemon's drops): the export it makes is recorded in the log, so replay never reads it.

```toml
[triggers]
min_new_events = 5
max_days_between_training = 90
[rollback]
fpr_rise_critical = 5.0      # points above the evaluated false-positive rate: CRITICAL
accuracy_drop_high = 3.0     # points below the evaluated accuracy: HIGH
rollback_on_high = false
[daemon]
quiet_seconds = 5            # a drop without READY is complete when unchanged this long
max_file_mb = 2048           # bigger files in a drop are refused
[decide]
require_approval = false     # true: decide and the daemon record the verdict as awaiting
                             # approval; 'lifecycle approve/decline' settles it
[production]
format = "auto"              # the layout of production/models/earthquake_model.pth: "auto"
                             # (torchvision's for convnext_tiny/small/base/large, else the
                             # product's own), "torchvision" or "native"
[[hooks]]
events = ["promoted", "rejected", "rolled_back"]
command = ["/usr/local/bin/notify-team"]   # gets the event JSON on stdin
timeout = 10
[[hooks]]
events = ["approval_requested", "problem_reported"]
url = "https://chat.example.org/hooks/lifecycle"   # a webhook: the same JSON, POSTed
headers = { Authorization = "Bearer <token>" }
retries = 3
```
``[log]`` and ``[store]`` (a shared PostgreSQL log) are read by ``service.backend``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.alerts import RollbackRules
from lifecycle.checks import flag, number, shown, table, whole
from lifecycle.errors import UserError

CONFIG = Path("config") / "lifecycle.toml"
MAX_HOOK_SECONDS = 86400.0  # a day; larger timeouts overflow the runner's wait
PRODUCTION_FORMATS = ("auto", "torchvision", "native")  # models.export.FORMATS
DEFAULT_HOOK_RETRIES = 3
MAX_HOOK_RETRIES = 10
HOOK_KEYS = {"events", "command", "url", "timeout", "retries", "headers"}
WEBHOOK_ONLY = ("retries", "headers")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")


@dataclass(frozen=True)
class Triggers:
    min_new_events: int = 5
    max_days_between_training: float = 90.0


@dataclass(frozen=True)
class Hook:
    """A command (the event JSON on stdin) or a webhook (``url``: the event JSON POSTed)."""

    events: tuple[str, ...]
    command: tuple[str, ...] | str = ()  # () for a webhook
    timeout: float = 10.0
    url: str | None = None
    retries: int = DEFAULT_HOOK_RETRIES  # webhooks: further attempts after a connection error, timeout or 5xx
    headers: tuple[tuple[str, str], ...] = ()  # webhooks: extra request headers


@dataclass(frozen=True)
class Settings:
    triggers: Triggers = Triggers()
    rollback: RollbackRules = field(default_factory=RollbackRules)
    hooks: tuple[Hook, ...] = ()
    quiet_seconds: float = 5.0
    max_file_mb: float = 2048.0
    production_format: str = "auto"
    require_approval: bool = False


def load(root: Path) -> Settings:
    """The settings in ``<root>/config/lifecycle.toml`` (defaults without the file).

    A file that is not UTF-8 TOML, an unknown key, a value of the wrong type (a table
    where a number belongs, nan, infinity, 2.5 events) is a ``UserError`` naming the
    file; nothing else escapes."""
    from service.inputs import read_toml

    path = root / CONFIG
    if not path.is_file():
        return Settings()
    data = read_toml(path, "configuration file")
    try:
        _known(data, {"triggers", "rollback", "hooks", "daemon", "production", "decide", "log", "store"},
               str(path))  # [log] and [store]: service.backend
        daemon = table(data.get("daemon", {}), "daemon")
        _known(daemon, {"quiet_seconds", "max_file_mb"}, "[daemon]")
        deciding = table(data.get("decide", {}), "decide")
        _known(deciding, {"require_approval"}, "[decide]")
        return Settings(triggers=_triggers(table(data.get("triggers", {}), "triggers")),
                        rollback=RollbackRules.from_mapping(table(data.get("rollback", {}), "rollback")),
                        hooks=_hooks(data.get("hooks", [])),
                        quiet_seconds=number(daemon.get("quiet_seconds", 5.0), "daemon.quiet_seconds", minimum=0),
                        max_file_mb=number(daemon.get("max_file_mb", 2048.0), "daemon.max_file_mb", minimum=0),
                        production_format=_production(table(data.get("production", {}), "production")),
                        require_approval=flag(deciding.get("require_approval", False), "decide.require_approval"))
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


def load_triggers(root: Path) -> Triggers:
    return load(root).triggers


def _known(section: Mapping[str, Any], keys: set[str], where: str) -> None:
    unknown = set(section) - keys
    if unknown:
        raise UserError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(keys)}")


def _triggers(section: Mapping[str, Any]) -> Triggers:
    _known(section, {"min_new_events", "max_days_between_training"}, "[triggers]")
    return Triggers(min_new_events=whole(section.get("min_new_events", 5), "triggers.min_new_events", minimum=1),
                    max_days_between_training=number(section.get("max_days_between_training", 90),
                                                     "triggers.max_days_between_training", minimum=0))


def _production(section: Mapping[str, Any]) -> str:
    _known(section, {"format"}, "[production]")
    value = section.get("format", "auto")
    if value not in PRODUCTION_FORMATS:
        raise UserError(f"production.format must be one of {list(PRODUCTION_FORMATS)}, not {shown(value)}")
    return str(value)


def _hooks(value: Any) -> tuple[Hook, ...]:
    if not isinstance(value, list):
        raise UserError("hooks must be an array of tables ([[hooks]] sections)")
    return tuple(_hook(table(h, "[[hooks]]")) for h in value)


def _hook(section: Mapping[str, Any]) -> Hook:
    _known(section, HOOK_KEYS, "[[hooks]]")
    if ("command" in section) == ("url" in section):
        raise UserError("[[hooks]]: give exactly one of command (a program that gets the event JSON on stdin) "
                        "or url (a webhook that gets it POSTed)")
    events = section.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise UserError("[[hooks]]: events must be a list of event types, e.g. [\"promoted\"]")
    timeout = number(section.get("timeout", 10.0), "hooks.timeout", minimum=0.1, maximum=MAX_HOOK_SECONDS)
    if "url" in section:
        retries = whole(section.get("retries", DEFAULT_HOOK_RETRIES), "hooks.retries", minimum=0)
        if retries > MAX_HOOK_RETRIES:
            raise UserError(f"hooks.retries must be at most {MAX_HOOK_RETRIES}, not {shown(retries)}")
        return Hook(events=tuple(events), url=_url(section["url"]), timeout=timeout, retries=retries,
                    headers=_headers(section.get("headers", {})))
    extra = [key for key in WEBHOOK_ONLY if key in section]
    if extra:
        raise UserError(f"[[hooks]]: {', '.join(extra)}: only for webhooks (url = ...), not for command hooks")
    command = section.get("command")
    if isinstance(command, list) and command and all(isinstance(c, str) and c for c in command):
        parsed: tuple[str, ...] | str = tuple(command)
    elif isinstance(command, str) and command.strip():
        parsed = command
    else:
        raise UserError("[[hooks]]: command must be a non-empty string or list of non-empty strings")
    if "\0" in "".join(parsed):
        raise UserError("[[hooks]]: command must not contain a NUL character")
    return Hook(events=tuple(events), command=parsed, timeout=timeout)


def _url(value: Any) -> str:
    """An absolute http:// or https:// URL with a host (no spaces or control characters,
    no user name or password: a secret belongs in ``headers``)."""
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"hooks.url must be an http:// or https:// URL, not {shown(value)}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise UserError("hooks.url must not contain spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number in 0..65535)
    except ValueError as exc:
        raise UserError(f"hooks.url is not a valid URL ({exc}): {shown(value)}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UserError(f"hooks.url must start with http:// or https://, not {shown(value)}")
    if not parts.hostname:
        raise UserError(f"hooks.url has no host: {shown(value)}")
    if parts.username is not None or parts.password is not None:
        raise UserError("hooks.url must not hold a user name or password; put a secret in "
                        "headers, e.g. headers = { Authorization = \"Bearer ...\" }")
    return value


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    """``headers = { Name = "value", ... }``: HTTP header names, string values on one line."""
    section = table(value, "hooks.headers")
    headers = []
    for name, text in section.items():
        if not _HEADER_NAME.fullmatch(name):
            raise UserError(f"hooks.headers: {shown(name)} is not a valid HTTP header name")
        if not isinstance(text, str) or not all(c == "\t" or " " <= c <= "~" for c in text):
            raise UserError(f"hooks.headers.{name} must be a string of printable ASCII on one line")
        headers.append((name, text))
    return tuple(headers)
