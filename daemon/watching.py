"""File-system notifications (watchdog: inotify on Linux) that wake the daemon up.

No busy polling: the daemon sleeps on a queue; the observer thread puts a word in it when
the inbox or the event log changes. A folder renamed into the inbox is remembered as
complete at once (an atomic rename is one of the ways a drop says it is finished).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class _Wake(FileSystemEventHandler):
    def __init__(self, inbox: Path, wakeups: queue.Queue[str], moved_in: set[str]) -> None:
        self.inbox, self.wakeups, self.moved_in = inbox, wakeups, moved_in

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type == "moved" and event.is_directory:
            dest = Path(str(event.dest_path))
            if dest.parent == self.inbox and not dest.name.startswith("."):
                self.moved_in.add(dest.name)
        path = Path(str(event.src_path))
        if ".done" in path.parts or ".failed" in path.parts:
            return
        if event.event_type in ("opened", "closed_no_write"):
            return
        self.wakeups.put(event.event_type)


class _LogWake(FileSystemEventHandler):
    def __init__(self, log: Path, wakeups: queue.Queue[str]) -> None:
        self.log, self.wakeups = log, wakeups

    def on_modified(self, event: FileSystemEvent) -> None:
        if Path(str(event.src_path)) == self.log:
            self.wakeups.put("log")


@contextlib.contextmanager
def watch(inbox: Path, root: Path, wakeups: queue.Queue[str], moved_in: set[str]) -> Iterator[None]:
    observer = Observer()
    observer.schedule(_Wake(inbox, wakeups, moved_in), str(inbox), recursive=True)
    observer.schedule(_LogWake(root / "events.jsonl", wakeups), str(root), recursive=False)
    observer.start()
    try:
        yield
    finally:
        observer.stop()
        observer.join(timeout=5)


@contextlib.contextmanager
def listening(log: Any, wake: Callable[[], None]) -> Iterator[None]:
    """For a log shared between hosts (one with ``listen``): a thread that calls ``wake``
    after every commit any host makes, until the block ends. Nothing for a local log."""
    listen = getattr(log, "listen", None)
    if listen is None:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(target=listen, args=(wake, stop), name="log-listener", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
