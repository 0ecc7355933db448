"""The daemon's inbox: candidate folders dropped by trainers elsewhere.

Guarantees:
1. A drop is taken only when complete: it holds a ``READY`` file, or it was renamed into
   the inbox whole, or nothing in it changed for the quiet period.
2. A drop is checked before anything reads it: a name without control characters (a
   newline in it would forge lines in logs and reasons), no symlinks (a link could point
   outside the drop or the root), no file above the size limit, a ``best_model.pth`` present.
3. A drop ends in ``inbox/.done/<model_id>/`` or ``inbox/.failed/<name>/``, each with a
   ``reason.txt``; it is moved with one ``rename`` (never copied, never half-moved), never
   out of the inbox: a ``.done``/``.failed`` that is a symlink is refused (``OSError``), and
   control characters in ``<name>`` become ``_``. ``reason.txt`` is only ever created, never
   written through a link or over a file of the drop (then ``<name>.reason.txt`` beside it).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

READY = "READY"
DONE, FAILED = ".done", ".failed"
WEIGHTS = "best_model.pth"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def drops(inbox: Path) -> list[Path]:
    """Candidate folders waiting in the inbox, oldest first."""
    if not inbox.is_dir():
        return []
    found = []
    for path in inbox.iterdir():
        if path.name.startswith("."):
            continue
        try:
            if path.is_dir() or path.is_symlink():
                found.append((path.lstat().st_mtime, path.name, path))
        except OSError:  # gone meanwhile
            continue
    return [path for _, _, path in sorted(found)]


def newest_change(drop: Path) -> float:
    times = [drop.lstat().st_mtime]
    for base, dirs, files in os.walk(drop, followlinks=False):
        for name in dirs + files:
            times.append((Path(base) / name).lstat().st_mtime)
    return max(times)


def is_complete(drop: Path, quiet_seconds: float, moved_in: bool = False, now: float | None = None) -> bool:
    """A file vanishing while we look (a copy tool renaming its temp files): not complete yet."""
    try:
        if moved_in or (drop / READY).is_file():
            return True
        return (now if now is not None else time.time()) - newest_change(drop) >= quiet_seconds
    except OSError:
        return False


def problems(drop: Path, max_bytes: float) -> list[str]:
    """Why the drop cannot be taken (empty: it can)."""
    if _CONTROL.search(drop.name):
        return [f"the drop's name {drop.name!r} holds control characters (a newline?); rename it"]
    if drop.is_symlink():
        return [f"the drop itself is a symlink (to {os.readlink(drop)}); drops must be real folders"]
    found = []
    for base, dirs, files in os.walk(drop, followlinks=False):
        for name in dirs + files:
            path = Path(base) / name
            rel = path.relative_to(drop)
            if path.is_symlink():
                target = (path.parent / os.readlink(path)).resolve()
                where = "outside the drop" if drop.resolve() not in target.parents else "inside the drop"
                found.append(f"{rel} is a symlink pointing {where} ({os.readlink(path)}); not accepted")
            elif path.is_file() and path.stat().st_size > max_bytes:
                found.append(f"{rel} is {path.stat().st_size / 2**20:.0f} MB, above the "
                             f"{max_bytes / 2**20:.0f} MB limit")
    if not (drop / WEIGHTS).is_file() and not found:
        found.append(f"no {WEIGHTS} in the drop")
    return found


def finish(inbox: Path, drop: Path, outcome: str, name: str, reason: str) -> Path:
    """Move the drop to ``.done/<name>`` or ``.failed/<name>`` and write its reason."""
    base = inbox / (DONE if outcome == "done" else FAILED)
    if base.is_symlink() or (base.exists() and not base.is_dir()):
        raise OSError(f"{base} is not a folder of the inbox (a symlink?); drops are never moved out of it")
    base.mkdir(exist_ok=True)
    name = _CONTROL.sub("_", name)
    target, n = base / name, 2
    while target.exists() or target.is_symlink():
        target, n = base / f"{name}-{n}", n + 1
    os.rename(drop, target)
    text = (reason.rstrip() + "\n").encode()
    inside = target.is_dir() and not target.is_symlink()
    if not (inside and _write_new(target / "reason.txt", text)):
        _write_new(base / f"{target.name}.reason.txt", text)
    return target


def _write_new(path: Path, data: bytes) -> bool:
    """Write a file that does not exist yet; never through a symlink, never over a file the
    drop brought (its own ``reason.txt`` could be a link to anywhere). False: it was there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return True
