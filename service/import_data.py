"""The original installation's validated data events, imported into the pool.

Guarantees (part of ``service.importer``'s "invent nothing"): an event becomes a pool event
only when its spectrograms are files inside the installation (not reached through a
symlink) and it passes the same checks as ``lifecycle data add``; every other one is
reported with the reason, and nothing is made up for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from lifecycle.errors import UserError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Found = tuple[list[dict[str, Any]], dict[str, Path]]


def validated_events(path: Path, entries: Any, trained_on: Iterable[str], report: list[str]) -> Found:
    """(``AddData`` fields per event, image files by digest); report lines for the rest."""
    data: list[dict[str, Any]] = []
    files: dict[str, Path] = {}
    trained, seen = set(trained_on), set()
    for entry in entries if isinstance(entries, list) else []:
        event_id = str(entry.get("event_id")) if isinstance(entry, dict) else repr(entry)[:40]
        why: str | None = None
        if event_id in seen:
            why = "listed twice in validated_events"
        elif event_id in trained:
            why = "already in the champion's training data"
        else:
            why = _pool_event(path, entry, data, files)
        seen.add(event_id)
        if why is not None:
            shown = repr(event_id) if _CONTROL.search(event_id) else event_id
            report.append(f"validated event {shown}: {why}; not put in the pool (add it with "
                          "'lifecycle data add' once its spectrograms are at hand)")
    return data, files


def _pool_event(path: Path, entry: Any, data: list[dict[str, Any]], files: dict[str, Path]) -> str | None:
    """Add the event to ``data`` and ``files``; or say why it cannot be."""
    from service.pool import build_add_data

    if not isinstance(entry, dict):
        return "not a JSON object"
    images = _spectrograms(path, entry.get("spectrogram_path"))
    if isinstance(images, str):
        return images
    values = {k: entry.get(f"{k}_value") for k in ("magnitude", "azimuth")}
    recorded = {k: entry.get(f"{k}_class") for k in ("magnitude", "azimuth")}
    use_values = isinstance(values["magnitude"], int | float) and not isinstance(values["magnitude"], bool)
    try:
        command, found = build_add_data(
            event_id=str(entry.get("event_id")), station=str(entry.get("station") or ""),
            day=str(entry.get("date") or ""), images=images, today=date.today(),
            magnitude=values["magnitude"] if use_values else None,
            magnitude_class=None if use_values else recorded["magnitude"],
            azimuth=values["azimuth"] if use_values and recorded["magnitude"] != "Normal" else None,
            azimuth_class=None if use_values else recorded["azimuth"])
    except UserError as exc:
        return str(exc)
    derived = {"magnitude": command.magnitude_class, "azimuth": command.azimuth_class}
    if use_values and any(recorded[k] not in (None, derived[k]) for k in derived):
        return (f"its recorded classes {recorded['magnitude']}/{recorded['azimuth']} contradict its values "
                f"{values['magnitude']}/{values['azimuth']} (classes {derived['magnitude']}/{derived['azimuth']})")
    data.append(asdict(command))
    files.update(found)
    return None


def _spectrograms(path: Path, value: Any) -> list[Path] | str:
    """The event's image files inside the installation, or why there are none."""
    names = value if isinstance(value, list) else [value] if value else []
    if not names:
        return "no spectrogram in the installation (spectrogram_path is empty)"
    path = path.absolute()
    root, found = path.resolve(), []
    for name in names:
        if not isinstance(name, str) or _CONTROL.search(name):
            return f"spectrogram_path {name!r:.60} is not a file name"
        file = Path(name) if Path(name).is_absolute() else path / name
        inside = file.resolve().is_relative_to(root)
        linked = any(p.is_symlink() for p in (file, *file.parents) if p.is_relative_to(path) and p != path)
        if not inside or linked:
            return f"spectrogram {name!r:.80} lies outside the installation (or behind a symlink)"
        if not file.is_file():
            return f"spectrogram {name!r:.80} is not in the installation"
        found.append(file)
    return found
