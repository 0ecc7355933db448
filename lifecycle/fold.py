"""Folding many commits at once: ``apply_commit`` one by one, with evaluations deferred.

Nearly every line of a long log is an ``evaluated`` commit (monitoring re-measures the
models), and no evolver but ``_evaluated`` reads or changes a model's evaluations once the
model exists. So an evaluation-only commit can be folded as an overlay (per model: the
latest evaluation per data set, and which one came last) that is laid over the models
once, at the end, instead of rebuilding a model record per event.

Guarantees:
1. ``Fold`` gives exactly the state, key order included, that ``apply_commit`` gives
   commit by commit (``tests/test_fold.py`` checks it on random logs, valid or not).
2. A log that cannot be folded fails at the same commit with the same message: an
   evaluation of a model that does not exist yet is found when the overlay is laid, and
   the earliest such evaluation is reported before any later failure.
3. ``reduce_segment`` reduces a run of verified commits with no state at hand (another
   process's half of the log) to plain JSON that ``Fold.add_reduced`` takes in order.
4. ``Evaluations`` (evaluation-only commits that a reader took in bulk, its C twin of
   ``Overlay.absorb`` in ``events/_fastscan.c``) fold as those commits would one by one.
   Their ``Pending`` is laid into the overlay only where an evaluation is next read or
   written (a commit that touches evaluations, a failure, the end), never per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Protocol, cast

from events.codec import decode
from lifecycle.evolve import apply_commit
from lifecycle.state import Json, State
from lifecycle.transitions import InvalidTransition

Reduced = dict[str, Any]


class CommitRefused(Exception):
    """The commit numbered ``seq`` cannot be applied (the log is corrupt or tampered)."""

    def __init__(self, seq: int, why: str) -> None:
        super().__init__(why)
        self.seq, self.why = seq, why


class Pending(Protocol):
    """Evaluation-only commits taken by a reader (``events._fastscan.Pending``): ``lay``
    puts them into an overlay's dicts as ``Overlay.absorb`` would one by one, with entries
    (line, seq, time, place) whose line stands for its event number ``place``, parsed only
    if the entry is still the latest when laid."""

    def lay(self, evaluations: dict[str, Any], latest: dict[str, Any], first: dict[str, Any], /) -> None: ...


class Evaluations(NamedTuple):
    """Consecutive evaluation-only commits, verified and taken in bulk by a log reader, and
    the position (seq, hash, time) after the last of them. A reader hands out the same
    ``pending`` again for later commits until it hands out a commit that touches
    evaluations; so one that is laid there (or at the end) holds exactly the evaluations
    since the last such commit, whether the batches are folded as they come or later."""

    pending: Pending
    position: tuple[int, str, str]


class Overlay:
    """Evaluations not yet laid over their models: per model, the latest per data set (in
    first-seen order), the key of the last one, and the commit of the first one. An entry
    is kept as (event, seq, time) until it is laid: most are replaced before that."""

    def __init__(self) -> None:
        self.evaluations: dict[str, dict[str, Any]] = {}
        self.latest: dict[str, str] = {}
        self.first: dict[str, tuple[int, int]] = {}  # commit and place in it

    def absorb(self, record: Mapping[str, Any], seq: int) -> bool:
        """Take an evaluation-only commit (numbered ``seq``); False (nothing taken) for any
        other commit, or one whose events are not well-formed evaluations."""
        events = record["events"]
        if type(events) is not list or not events:
            return False
        if len(events) == 1:  # nearly every line of a long log: one evaluation
            return self._absorb_one(events[0], seq, record["time"])
        staged = []
        for e in events:  # runs once per line of a long log: checks kept flat
            if type(e) is not dict or e.get("type") != "evaluated":
                return False
            model_id, dataset, digest = e.get("model_id"), e.get("dataset"), e.get("dataset_digest")
            if type(model_id) is not str or type(dataset) is not str or (
                    digest is not None and type(digest) is not str):
                return False
            staged.append((model_id, f"{dataset}@{digest or '-'}", e))
        entry_time = record["time"]
        for place, (model_id, key, e) in enumerate(staged):
            per_model = self.evaluations.get(model_id)
            if per_model is None:
                per_model = self.evaluations[model_id] = {}
                self.first[model_id] = (seq, place)
            per_model[key] = (e, seq, entry_time)
            self.latest[model_id] = key
        return True

    def _absorb_one(self, e: Any, seq: int, at: str) -> bool:
        """``absorb`` of a commit with one event (the same checks, without staging)."""
        if type(e) is not dict or e.get("type") != "evaluated":
            return False
        model_id, dataset, digest = e.get("model_id"), e.get("dataset"), e.get("dataset_digest")
        if type(model_id) is not str or type(dataset) is not str or (
                digest is not None and type(digest) is not str):
            return False
        per_model = self.evaluations.get(model_id)
        if per_model is None:
            per_model = self.evaluations[model_id] = {}
            self.first[model_id] = (seq, 0)
        key = f"{dataset}@{digest or '-'}"
        per_model[key] = (e, seq, at)
        self.latest[model_id] = key
        return True

    def take(self, pending: Pending) -> None:
        """Lay a reader's pending evaluations (all later than the ones here) over these."""
        pending.lay(self.evaluations, self.latest, self.first)

    def merge(self, later: Reduced) -> None:
        """Lay a later overlay (``to_json`` form) over this one."""
        for model_id, per_model in later["evaluations"].items():
            mine = self.evaluations.get(model_id)
            if mine is None:
                self.evaluations[model_id] = dict(per_model)
                seq, place = later["first"][model_id]
                self.first[model_id] = (seq, place)
            else:
                mine.update(per_model)
            self.latest[model_id] = later["latest"][model_id]

    def laid(self, model_id: str) -> dict[str, Json]:
        """The model's pending evaluations, as ``evolve`` stores them."""
        return {key: _stored(entry) for key, entry in self.evaluations[model_id].items()}

    def to_json(self) -> Reduced:
        return {"evaluations": {model_id: self.laid(model_id) for model_id in self.evaluations},
                "latest": self.latest, "first": self.first}


def _stored(entry: Any) -> Json:
    """An evaluation as ``evolve._evaluated`` stores it (entries from ``merge`` already are)."""
    if type(entry) is not tuple:
        return entry  # type: ignore[no-any-return]
    if len(entry) == 4:  # laid from a ``Pending``: the commit's line and the event's place
        line, seq, at, place = entry
        e = decode(line)["events"][place]
    else:
        e, seq, at = entry
    evaluation = dict(e)
    del evaluation["type"], evaluation["model_id"]
    evaluation["seq"] = seq
    evaluation["at"] = at
    return evaluation


class Fold:
    """``apply_commit`` over commits given in log order, onto ``start``."""

    def __init__(self, start: State | None = None) -> None:
        self._state = start or State()
        self._overlay = Overlay()
        self._pending: Pending | None = None  # handed out by a reader, not laid yet
        self._born: dict[str, int] = {}  # models created during this fold -> their commit
        self._position: tuple[int, str, str | None] = (self._state.seq, self._state.head, self._state.last_time)

    def add(self, record: Mapping[str, Any]) -> None:
        seq = self._position[0] + 1
        if touches_evaluations(record):  # only such a commit can be absorbed
            self._take_pending()
            if record.get("seq") == seq and self._overlay.absorb(record, seq):
                self._position = (seq, record["hash"], record["time"])
                return
        self._apply(record)

    def add_evaluations(self, batch: Evaluations) -> None:
        if self._pending is not batch.pending:
            self._take_pending()
            self._pending = batch.pending
        self._position = batch.position

    def _take_pending(self) -> None:
        if self._pending is not None:
            self._overlay.take(self._pending)
            self._pending = None

    def add_reduced(self, reduced: Reduced) -> None:
        """Another process's ``reduce_segment`` of the commits that follow."""
        self._take_pending()
        for run in reduced["runs"]:
            # the run's evaluations are laid with the earlier ones first: its other commits
            # neither read nor change evaluations, and each is checked against ``_born``
            self._overlay.merge(run["overlay"])
            for before, record in (*run["commits"], *([run["then"]] if run["then"] is not None else [])):
                if before is not None:  # where the run's evaluation-only commits had brought it
                    self._position = (before[0], before[1], before[2])
                self._apply(record)
        position = reduced["position"]
        if position is not None:
            self._position = (position[0], position[1], position[2])

    def refuse_before(self, seq: int) -> None:
        """The reader found commit ``seq`` damaged: an earlier deferred evaluation that could
        not apply is the first failure (``CommitRefused``); else nothing happens."""
        self._lay_overlay(seq)

    def state(self) -> State:
        """The state after every commit added so far."""
        self._lay_overlay(None)
        return self._positioned()

    def _positioned(self) -> State:
        """The folded state moved to the last commit added (evaluations may be pending)."""
        if self._state[_POSITION] == self._position:
            return self._state
        seq, head, last_time = self._position
        return self._state.at_position(seq, head, cast(str, last_time))

    def _apply(self, record: Mapping[str, Any]) -> None:
        if touches_evaluations(record):  # the pending ones come first
            self._lay_overlay(None)
        state = self._positioned()
        try:
            self._state = apply_commit(state, record)
        except InvalidTransition as exc:
            seq = record.get("seq")
            seq = seq if isinstance(seq, int) else state.seq + 1
            self._lay_overlay(seq)
            raise CommitRefused(seq, str(exc)) from None
        self._position = (self._state.seq, self._state.head, self._state.last_time)
        for e in record["events"]:
            if e["type"] in _CREATING:
                self._born[e["model_id"]] = self._position[0]

    def _lay_overlay(self, failed_at: int | None) -> None:
        """Lay the pending evaluations over their models; the earliest evaluation of a model
        that did not exist yet is refused (before ``failed_at``, a later failure)."""
        self._take_pending()
        overlay = self._overlay
        if not overlay.evaluations:
            return
        early = [(first, model_id) for model_id, first in overlay.first.items()
                 if self._born.get(model_id, 0 if model_id in self._state.models else first[0]) >= first[0]]
        if early and (failed_at is None or min(early)[0][0] < failed_at):
            (seq, _), model_id = min(early)
            raise CommitRefused(seq, f"evaluated event cannot apply: {KeyError(model_id)!r}")
        if failed_at is not None:
            return
        models = self._state.models.mutate()
        for model_id in overlay.evaluations:
            record = models[model_id]
            models[model_id] = record._replace(evaluations={**record.evaluations, **overlay.laid(model_id)},
                                               latest_evaluation=overlay.latest[model_id])
        self._state = self._state.with_models(models.finish())
        self._overlay = Overlay()


_POSITION = slice(State._fields.index("seq"), State._fields.index("seq") + 3)  # seq, head, last_time
_CREATING = frozenset({"trained", "imported"})


def touches_evaluations(record: Mapping[str, Any]) -> bool:
    """The commit holds an evaluation: only such a commit reads or changes evaluations."""
    events = record.get("events")
    return isinstance(events, list) and any(isinstance(e, dict) and e.get("type") == "evaluated"
                                            for e in events)


def reduce_segment(records: Iterable[Mapping[str, Any] | Evaluations]) -> Reduced:
    """Verified, consecutive commits reduced without a state, for ``Fold.add_reduced``: runs
    of commits, each an overlay of its evaluation-only commits and its other commits whole,
    in order, each with the position (seq, hash, time) before it; a run ends with a commit
    that holds an evaluation among other events."""
    runs: list[Reduced] = []
    overlay, kept = Overlay(), list[tuple[Any, Mapping[str, Any]]]()
    position: tuple[int, str, str] | None = None
    pending: Pending | None = None
    for record in records:
        if isinstance(record, Evaluations):
            if pending is not None and pending is not record.pending:
                overlay.take(pending)
            pending, position = record.pending, record.position
            continue
        seq = record["seq"]
        if not touches_evaluations(record):
            kept.append((position, record))
        else:
            if pending is not None:
                overlay.take(pending)
                pending = None
            if not overlay.absorb(record, seq):
                runs.append({"overlay": overlay.to_json(), "commits": kept, "then": (position, record)})
                overlay, kept = Overlay(), []
        position = (seq, record["hash"], record["time"])
    if pending is not None:
        overlay.take(pending)
    runs.append({"overlay": overlay.to_json(), "commits": kept, "then": None})
    return {"runs": runs, "position": position}
