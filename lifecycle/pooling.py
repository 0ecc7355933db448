"""Decisions about the data pool and about problems: add, remove, correct a data event;
report a failure that changes no model (part of ``lifecycle.decide``).

Guarantees: an event id is recorded once (compared without case), one event per station
and day, an image belongs to one event; only an event still in the pool can be removed or
corrected (what a model was trained on stays as it was), and a correction keeps the
Normal/direction rule of SPEC section 1; nothing is ever deleted from the log.
"""

from __future__ import annotations

from lifecycle.commands import AddData, CorrectData, RemoveData, ReportProblem
from lifecycle.errors import UserError
from lifecycle.schema import DataAdded, DataCorrected, DataRemoved, ProblemReported
from lifecycle.state import Json, State

PoolEvent = DataAdded | DataRemoved | DataCorrected | ProblemReported


def add_data(state: State, cmd: AddData) -> list[PoolEvent]:
    if cmd.event_id in state.data or cmd.event_id in state.pool:
        raise UserError(f"event {cmd.event_id} is already recorded; event ids are unique")
    champion = state.champion_record()
    if champion and cmd.event_id in champion.training_data.get("events_included", ()):
        raise UserError(f"event {cmd.event_id} is already in the champion's training data")
    _check_new_data(state, cmd)
    return [DataAdded(event_id=cmd.event_id, station=cmd.station, date=cmd.date,
                      magnitude_class=cmd.magnitude_class, azimuth_class=cmd.azimuth_class,
                      magnitude_value=cmd.magnitude_value, azimuth_value=cmd.azimuth_value,
                      images=list(cmd.images))]


def _check_new_data(state: State, cmd: AddData) -> None:
    """One event per station and day (event ids compared without case), and an image
    belongs to one event only (removed events excepted)."""
    digests = {image["digest"]: image["name"] for image in cmd.images}
    for other in state.data.values():
        if other.get("removed"):
            continue
        if str(other["event_id"]).lower() == cmd.event_id.lower():
            raise UserError(f"event {cmd.event_id} is already recorded as {other['event_id']} "
                            "(event ids are compared without case)")
        if (other.get("station"), other.get("date")) == (cmd.station, cmd.date):
            raise UserError(f"{cmd.station} {cmd.date} is already recorded as event {other['event_id']}: one "
                            "event per station and day; fix it with 'lifecycle data correct'")
        for image in other.get("images", ()):
            if image["digest"] in digests:
                raise UserError(f"image {digests[image['digest']]} is already an image of event "
                                f"{other['event_id']}; an image belongs to one event")


def _data_entry(state: State, event_id: str, action: str) -> Json:
    """The event as recorded (or, for an event a rejected model's training returned to the
    pool without labels recorded here, its pool entry)."""
    entry = state.data.get(event_id) or state.pool.get(event_id)
    if entry is None:
        raise UserError(f"no data event {event_id!r}; see 'lifecycle data list'")
    if entry.get("removed"):
        raise UserError(f"event {event_id} was removed ({entry['removed']}); it cannot be {action}")
    if event_id not in state.pool:
        raise UserError(f"event {event_id} has left the pool (a model was trained on it); it cannot be "
                        f"{action}: the training that used it is in the log")
    return entry


def remove_data(state: State, cmd: RemoveData) -> list[PoolEvent]:
    _data_entry(state, cmd.event_id, "removed")
    return [DataRemoved(event_id=cmd.event_id, reason=cmd.reason)]


def correct_data(state: State, cmd: CorrectData) -> list[PoolEvent]:
    entry = _data_entry(state, cmd.event_id, "corrected")
    if "magnitude_class" not in entry:
        raise UserError(f"event {cmd.event_id} has no labels recorded here (a rejected model's training "
                        "returned it to the pool); remove it, or add it with 'lifecycle data add'")
    changes = {k: v for k, v in cmd.changes.items() if v is not None and entry.get(k) != v}
    if not changes:
        raise UserError(f"event {cmd.event_id} already has these labels; nothing to correct")
    merged = {**entry, **changes}
    if (merged["magnitude_class"] == "Normal") != (merged["azimuth_class"] == "Normal"):
        raise UserError("a Normal event has azimuth class Normal, and an event has a direction: "
                        f"{merged['magnitude_class']}/{merged['azimuth_class']} is not possible")
    return [DataCorrected(event_id=cmd.event_id, changes=changes, reason=cmd.reason)]


def report_problem(state: State, cmd: ReportProblem) -> list[PoolEvent]:
    return [ProblemReported(source=cmd.source, kind=cmd.kind, detail=cmd.detail[:2000],
                            subject=cmd.subject[:300] if cmd.subject else None)]
