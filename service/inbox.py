"""The daemon's inbox: candidate folders dropped by trainers elsewhere.

Guarantees:
1. A drop is taken only when complete: it holds a ``READY`` file, or it was renamed into
   the inbox whole, or nothing in it changed for the quiet period.
2. A drop is checked before anything reads it: no symlinks (a link could point outside
   the drop), no file above the size limit, a ``best_model.pth`` present.
3. A drop ends in ``inbox/.done/<model_id>/`` or ``inbox/.failed/<name>/``, each with a
   ``reason.txt``; it is moved with one ``rename`` (never copied, never half-moved).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

READY = "READY"
DONE, FAILED = ".done", ".failed"
WEIGHTS = "best_model.pth"


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
    base.mkdir(exist_ok=True)
    target, n = base / name, 2
    while target.exists():
        target, n = base / f"{name}-{n}", n + 1
    os.rename(drop, target)
    if target.is_dir() and not target.is_symlink():
        (target / "reason.txt").write_text(reason.rstrip() + "\n")
    else:
        (base / f"{target.name}.reason.txt").write_text(reason.rstrip() + "\n")
    return target
