"""``lifecycle verify``: check everything against the log, change nothing.

Checks, in order: the hash chain and framing of every line; every commit against the
event schema (and that it is stored in canonical form); that the commits fold without
an invalid transition; every referenced blob against its digest; the registry and the
folders against the projection of the state; the production file against the champion's
recorded bytes; temp files left in the store by interrupted writes; the cached state
against the fold of the log up to the commit it names. Returns a list of
problems (empty: ok). A torn tail (a crash during an append) is a problem, but the commits
before it are a sound log, so their blobs and folders are still checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from events.port import Damage, EventLog
from events.store import BlobStore
from lifecycle.evolve import apply_commit
from lifecycle.state import State
from lifecycle.transitions import InvalidTransition


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.commits = 0
        self.events = 0
        self.blobs = 0


def verify(root: Path, log: EventLog, store: BlobStore) -> Report:
    from projections import snapshot

    report = Report()
    cached = snapshot.load(root)
    seen: dict[int, State] = {cached.state.seq: State()} if cached else {}
    state = _check_log(log, report, seen)
    if state is None:
        return report
    if cached is not None:
        _check_cache(root, cached.state, seen.get(cached.state.seq), report)
    _check_blobs(state, store, report)
    _check_projection(root, state, store, report)
    _check_production(root, state, store, report)
    _check_temps(store, report)
    return report


def _check_log(log: EventLog, report: Report, seen: dict[int, State]) -> State | None:
    """Fold the whole log, checking each commit; ``seen``: seq -> the state after it, for
    the commit numbers asked for (0: the empty state)."""
    from pydantic import ValidationError

    from lifecycle.schema import validate_commit

    found: list[Damage] = []
    state = State()
    for record in log.audit(found):
        number = record["seq"]
        try:
            canonical = validate_commit(record).model_dump(mode="json", exclude_none=True)
            if canonical["events"] != record["events"]:
                report.problems.append(f"line {number}: not in canonical form")
            state = apply_commit(state, record)
            if number in seen:
                seen[number] = state
        except ValidationError as exc:
            report.problems.append(f"line {number}: does not match the event schema ({exc.errors()[0]['msg']})")
        except InvalidTransition as exc:
            report.problems.append(f"line {number}: impossible transition ({exc})")
        report.commits += 1
        report.events += len(record["events"])  # a list: the log's reader refuses other shapes
    sound = not report.problems
    for damage in found:
        kind = "corrupt" if damage.framed else "torn tail (recovered by the next writing command)"
        report.problems.append(f"events.jsonl line {damage.line}: {damage.why}: {kind}")
        sound = sound and not damage.framed
    return state if sound else None


def _check_cache(root: Path, cached: State, folded: State | None, report: Report) -> None:
    """The cached state (only a cache) must be what folding the log up to its commit gives."""
    from projections import snapshot

    if folded is None or snapshot.state_to_json(cached) != snapshot.state_to_json(folded):
        report.problems.append(f"{snapshot.snapshot_path(root).relative_to(root)}: differs from the fold of the "
                               f"log up to commit {cached.seq} (a forged or damaged cache: delete cache/)")


def _blobs(state: State) -> Iterator[tuple[str, dict[str, Any]]]:
    for record in state.by_version():
        if record.weights:
            yield f"{record.model_id} weights", dict(record.weights)
        if record.production:
            yield f"{record.model_id} production file", dict(record.production)
        for name, stored in record.files.items():
            yield f"{record.model_id} {name}", dict(stored)
        for evaluation in record.evaluations.values():
            if evaluation.get("predictions"):
                yield f"{record.model_id} predictions ({evaluation['dataset']})", evaluation["predictions"]
            if evaluation.get("holdout"):
                yield f"{record.model_id} holdout manifest ({evaluation['dataset']})", evaluation["holdout"]
    for event_id, entry in sorted(state.data.items()):
        for image in entry.get("images", ()):
            yield f"data event {event_id} image {image['name']}", image


def _check_blobs(state: State, store: BlobStore, report: Report) -> None:
    for what, stored in _blobs(state):
        report.blobs += 1
        problem = store.check(stored["digest"], stored["size"])
        if problem:
            report.problems.append(f"{what}: blob {stored['digest'][:12]} {problem}")
    for record in state.by_version():
        if record.weights is None:
            report.notes.append(f"{record.model_id}: imported without a weight file")


def _check_production(root: Path, state: State, store: BlobStore, report: Report) -> None:
    from projections.production import health

    found = health(root, state, store)
    if found.state == "unavailable":  # what the log says: noted with the weightless imports
        report.notes.append(f"production: {found.detail}")
    elif not found.ok:
        report.problems.append(f"production {found.state}: {found.detail}")


def _check_temps(store: BlobStore, report: Report) -> None:
    for path in store.stale_temps():
        report.problems.append(f"store/tmp/{path.name}: left by an interrupted write "
                               "(removed by the next writing command)")


def _check_projection(root: Path, state: State, store: BlobStore, report: Report) -> None:
    from projections.layout import desired_tree
    from projections.reconcile import plan

    to_write, to_remove = plan(root, desired_tree(state), store)
    for rel in to_write:
        report.problems.append(f"{rel}: differs from the log's projection (run 'lifecycle replay')")
    for rel in to_remove:
        report.problems.append(f"{rel}: not part of the projection (run 'lifecycle replay')")
