"""Staging many files on two threads, each taking whole folders (a rebuild): creating
files is mostly the kernel's work, which a second core can share.

Guarantees:
1. The changes come back in the order of the paths, as a loop on one thread gives them.
2. Whatever happens (a failed write, a thread that cannot start, an interrupt), every
   entry either thread staged is in ``staged`` (in the order of the paths, then any of a
   path that failed) before this returns or raises, so the caller removes every temp file.
3. The first error is raised, and it stops the other thread at its next path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

Staged = list[tuple[str, str, bool]]
Stage = Callable[[str, dict[str, bool], Staged], str]  # (path, made, staged) -> change


def stage_by_folder(paths: list[str], stage: Stage, made: dict[str, bool], staged: Staged) -> list[str]:
    """``stage`` every path on two threads; each folder's paths on one of them (``made``
    is per folder: made by this call, so empty before it)."""
    parts, stop = [_Share(share) for share in _by_folder(paths, 2)], threading.Event()

    def work(part: _Share) -> None:
        try:
            for number in part.share:
                if stop.is_set():
                    return
                before = len(part.staged)
                change = stage(paths[number], part.made, part.staged)
                part.done.append((number, change, len(part.staged) - before))
        except BaseException:
            stop.set()
            raise

    pool = ThreadPoolExecutor(max_workers=len(parts))
    try:
        futures = [pool.submit(work, part) for part in parts]
        for future in futures:
            future.exception()  # waits
    finally:
        stop.set()
        pool.shutdown(wait=True)
        changes = _gather(parts, made, staged)
    for future in futures:
        future.result()  # the first error, now that every temp file is known
    return changes


def _by_folder(paths: list[str], ways: int) -> list[list[int]]:
    """The positions of ``paths``, split ``ways`` ways, each folder's in one share."""
    by_folder: dict[str, list[int]] = {}
    for number, rel in enumerate(paths):
        by_folder.setdefault(os.path.dirname(rel), []).append(number)
    shares: list[list[int]] = [[] for _ in range(ways)]
    for n, numbers in enumerate(by_folder.values()):
        shares[n % ways] += numbers
    return shares


class _Share:
    """One thread's part: its paths (positions), the folders it made, what it staged, and
    per path done: (position, change, how many staged entries)."""

    def __init__(self, share: list[int]) -> None:
        self.share = share
        self.made: dict[str, bool] = {}
        self.staged: Staged = []
        self.done: list[tuple[int, str, int]] = []


def _gather(parts: list[_Share], made: dict[str, bool], staged: Staged) -> list[str]:
    """The threads' staged entries into ``staged`` in path order (then any of a path that
    failed), their folders into ``made``; returns the changes in path order."""
    done, failed = [], []
    for part in parts:
        at = 0
        for number, change, count in part.done:
            done.append((number, change, part.staged[at:at + count]))
            at += count
        failed += part.staged[at:]
        made.update(part.made)
    done.sort(key=lambda item: item[0])
    staged += [entry for _, _, entries in done for entry in entries] + failed
    return [change for _, change, _ in done]
