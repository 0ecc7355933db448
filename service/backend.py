"""Where a root's log and store live: ``[log]`` and ``[store]`` in ``config/lifecycle.toml``.

The default is the embedded JSONL log ``<root>/events.jsonl`` and the store
``<root>/store``. A root on one of several hosts names a shared PostgreSQL log and a store
path every host can read:

```toml
[log]
url = "postgresql://lifecycle@db.example/registry"   # LIFECYCLE_LOG_URL overrides it
registry_id = "..."                                  # written by init / log migrate
[store]
path = "/mnt/models/store"                           # LIFECYCLE_STORE overrides it
```

Guarantees: read without importing anything heavy (``tomllib`` only); a malformed table is
a one-line ``UserError``; ``configure`` adds the two tables to the file (creating it), and
refuses to replace a log a root already names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from lifecycle.errors import UserError

CONFIG = Path("config") / "lifecycle.toml"
URL_ENV, STORE_ENV = "LIFECYCLE_LOG_URL", "LIFECYCLE_STORE"


class Backend(NamedTuple):
    url: str | None  # None: the embedded JSONL log
    registry_id: str | None
    store: Path | None  # None: <root>/store
    configured: bool  # the root's config names the log (a root with no local log file)


def read(root: Path) -> Backend:
    data: dict[str, object] = {}
    path = root / CONFIG
    if path.is_file():
        from service.inputs import read_toml

        data = read_toml(path, "configuration file")
    log, store = data.get("log", {}), data.get("store", {})
    if not isinstance(log, dict) or not isinstance(store, dict):
        raise UserError(f"{path}: [log] and [store] must be tables")
    url = os.environ.get(URL_ENV) or log.get("url")
    if os.environ.get(URL_ENV) and not log.get("url") and _has_commits(root):
        raise UserError(f"{URL_ENV} names a shared log, but {root} has its own log with commits "
                        "(events.jsonl); unset it, or move the log with 'lifecycle log migrate --to URL'")
    where = os.environ.get(STORE_ENV) or store.get("path")
    registry_id = log.get("registry_id")
    for name, value in (("log.url", url), ("store.path", where), ("log.registry_id", registry_id)):
        if value is not None and not (isinstance(value, str) and value):
            raise UserError(f"{path}: {name} must be a non-empty string")
    if url is not None and not str(url).startswith(("postgresql://", "postgres://")):
        raise UserError("the log URL is not a postgresql:// URL")
    return Backend(str(url) if url else None, str(registry_id) if registry_id else None,
                   Path(str(where)) if where else None, bool(log.get("url")))


def configure(root: Path, url: str, registry_id: str, store: Path | None) -> None:
    """Name the shared log (and the store) in the root's config file: the two tables are
    added to what the file holds (refused if it has either already), written to a temporary
    file (mode 0600: the URL may carry a password), fsynced and renamed over it."""
    import tempfile

    from events.disk import fsync_path
    from service.inputs import read_toml

    path = root / CONFIG
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    existing = read_toml(path, "configuration file") if text else {}
    if "log" in existing or "store" in existing:
        raise UserError(f"{path} already has a [log] or [store] table; edit it by hand to move this root")
    lines = ["[log]", f"url = {json.dumps(url)}", f"registry_id = {json.dumps(registry_id)}"]
    if store is not None:
        lines += ["[store]", f"path = {json.dumps(str(store))}"]
    body = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".lifecycle.toml-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text.rstrip("\n") + "\n\n" + body if text.strip() else body)
        os.chmod(temp, 0o600)
        fsync_path(Path(temp))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _has_commits(root: Path) -> bool:
    log = root / "events.jsonl"
    return log.is_file() and log.stat().st_size > 0
