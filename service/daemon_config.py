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
```
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Triggers:
    min_new_events: int = 5
    max_days_between_training: float = 90.0


@dataclass(frozen=True)
class Hook:
    events: tuple[str, ...]
    command: tuple[str, ...] | str
    timeout: float = 10.0


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
    _known(section, {"events", "command", "timeout"}, "[[hooks]]")
    command = section.get("command")
    if isinstance(command, list) and command and all(isinstance(c, str) and c for c in command):
        parsed: tuple[str, ...] | str = tuple(command)
    elif isinstance(command, str) and command.strip():
        parsed = command
    else:
        raise UserError("[[hooks]]: command must be a non-empty string or list of non-empty strings")
    if "\0" in "".join(parsed):
        raise UserError("[[hooks]]: command must not contain a NUL character")
    events = section.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise UserError("[[hooks]]: events must be a list of event types, e.g. [\"promoted\"]")
    return Hook(events=tuple(events), command=parsed,
                timeout=number(section.get("timeout", 10.0), "hooks.timeout", minimum=0.1,
                               maximum=MAX_HOOK_SECONDS))
