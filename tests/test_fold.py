"""``lifecycle.fold`` against ``apply_commit`` one commit at a time, and the two-core read.

The fast fold defers evaluations and can take the later half of a log as another process's
reduction; on any log, valid or not, it must give the very state (key order included) or
the very error (commit number and message) of the plain fold.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import segments
from events._hashcheck import HashCheck
from events.codec import encode
from lifecycle.commands import Promote, Reject
from lifecycle.errors import LogCorrupt
from lifecycle.evolve import apply_commit
from lifecycle.fold import CommitRefused, Fold, reduce_segment
from lifecycle.state import State
from lifecycle.transitions import InvalidTransition
from projections import snapshot
from service.engine import Engine, fold, fold_whole
from tests.helpers.workload import evaluation, fake_submit, prepare

MODELS = ("m_v1.0.0", "m_v1.0.1", "m_v1.0.2")
DATASETS = st.sampled_from(["benchmark", "holdout", 5])
DIGESTS = st.sampled_from([{}, {"dataset_digest": "d1"}, {"dataset_digest": "d2"}, {"dataset_digest": None}])


def _event(kind: str, model: int, data: Any, digest: dict[str, Any], score: int) -> dict[str, Any]:
    model_id = MODELS[model]
    if kind == "trained":
        return {"type": "trained", "model_id": model_id, "version": f"1.0.{model}", "family": "m",
                "architecture": "a", "weights": {"sha256": "0" * 64}}
    if kind == "evaluated":
        return {"type": "evaluated", "model_id": model_id, "dataset": data, **digest,
                "metrics": {"magnitude_accuracy": score}, "composite": {"score": score / 100}}
    if kind == "broken_evaluation":
        return {"type": "evaluated", "model_id": model_id}
    if kind == "observed":
        return {"type": "observed", "model_id": model_id, "action": "retrain", "reason": "drift"}
    if kind == "rolled_back":
        return {"type": "rolled_back", "model_id": model_id, "from_model_id": MODELS[0], "reason": "r"}
    return {"type": kind, "model_id": model_id, "reason": "r"}


EVENTS = st.builds(
    _event,
    st.sampled_from(["trained", "evaluated", "evaluated", "evaluated", "evaluated", "promoted",
                     "rejected", "archived", "rolled_back", "observed", "broken_evaluation"]),
    st.integers(0, len(MODELS) - 1), DATASETS, DIGESTS, st.integers(0, 100),
)
COMMITS = st.lists(st.lists(EVENTS, min_size=1, max_size=3), max_size=40)


def _records(commits: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    records = []
    for n, events in enumerate(commits, start=1):
        records.append({"seq": n, "hash": f"h{n}", "time": f"2024-01-01T00:00:{n:02d}Z", "events": events})
    return records


def _one_by_one(records: list[dict[str, Any]]) -> tuple[str, Any]:
    state = State()
    for record in records:
        try:
            state = apply_commit(state, record)
        except InvalidTransition as exc:
            return "refused", (record["seq"], str(exc))
    return "state", orjson.dumps(snapshot.state_to_json(state))


def _folded(records: list[dict[str, Any]], split: int | None = None) -> tuple[str, Any]:
    folder = Fold()
    try:
        for record in records[:split]:
            folder.add(record)
        if split is not None:  # the rest as another process hands it over (through JSON)
            folder.add_reduced(orjson.loads(orjson.dumps(reduce_segment(records[split:]))))
        state = folder.state()
    except CommitRefused as exc:
        return "refused", (exc.seq, exc.why)
    return "state", orjson.dumps(snapshot.state_to_json(state))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COMMITS)
def test_fold_equals_apply_commit_one_by_one(commits: list[list[dict[str, Any]]]) -> None:
    records = _records(commits)
    assert _folded(records) == _one_by_one(records)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COMMITS, st.integers(0, 40))
def test_a_reduced_later_half_gives_the_same_state_or_error(commits: list[list[dict[str, Any]]],
                                                            split: int) -> None:
    records = _records(commits)
    assert _folded(records, min(split, len(records))) == _one_by_one(records)


@pytest.mark.parametrize("later", [
    [[_event("observed", 0, None, {}, 0)]],  # uses the commit number it lands at
    [[_event("evaluated", 0, "holdout", {}, 70), _event("archived", 0, None, {}, 0)]],
])
def test_a_reduced_half_folds_each_kept_commit_at_its_own_number(later: list[list[dict[str, Any]]]) -> None:
    first = [[_event("trained", 0, None, {}, 0)], [_event("evaluated", 0, "benchmark", {}, 50)],
             [_event("promoted", 0, None, {}, 0)]]
    records = _records([*first, [_event("evaluated", 0, "benchmark", {}, 60)],
                        [_event("evaluated", 0, "holdout", {}, 65)], *later])
    expected = _one_by_one(records)
    assert expected[0] == "state"
    assert _folded(records, split=3) == expected


def test_an_evaluation_before_the_model_exists_is_refused_at_its_own_commit() -> None:
    records = _records([[_event("evaluated", 1, "benchmark", {}, 50)],
                        [_event("trained", 1, None, {}, 0)],
                        [_event("evaluated", 1, "benchmark", {}, 60)]])
    assert _folded(records) == _one_by_one(records) == (
        "refused", (1, f"evaluated event cannot apply: {KeyError(MODELS[1])!r}"))


# -- the two-core read of a real log file ----------------------------------------------------

@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read any log in two halves (normally only logs of 32 MB and more)."""
    monkeypatch.setattr(HashCheck, "PARALLEL_FROM", 0)


@pytest.fixture(scope="module")
def busy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_busy(tmp_path_factory.mktemp("busy") / "r").root


@pytest.fixture
def busy(busy_template: Path, tmp_path: Path) -> Engine:
    """A copy of a root with promotions, rejections and many evaluations."""
    shutil.copytree(busy_template, tmp_path / "r", symlinks=True)
    return Engine(tmp_path / "r")


def _build_busy(root: Path) -> Engine:
    engine = prepare(root, champions=2)
    for n in range(3):
        engine.execute(fake_submit(engine, f"more {n}"))
        for d in range(4):
            engine.execute(evaluation("challenger", "benchmark", 80.0 + n + d))
            engine.execute(evaluation("champion", "holdout", 85.0 - d))
        engine.execute(Reject(ref="challenger", reason=f"worse {n}") if n % 2 else
                       Promote(ref="challenger", reason=f"better {n}"))
    return engine


def test_the_two_core_read_folds_the_same_state(busy: Engine, two_cores: None) -> None:
    engine = busy
    used: list[Any] = []
    original = engine.log.read_in_halves  # type: ignore[attr-defined]

    def spy(*args: Any) -> Any:
        used.append(result := original(*args))
        return result

    engine.log.read_in_halves = spy  # type: ignore[attr-defined]
    state = fold_whole(engine.log)
    assert used and used[0] is not None  # the second process answered
    assert orjson.dumps(snapshot.state_to_json(state)) == orjson.dumps(
        snapshot.state_to_json(fold(engine.log.read())))
    assert engine.log.position() is not None and engine.log.position().seq == state.seq  # type: ignore[union-attr]


def _damage(path: Path, line_number: int, how: str) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    line = lines[line_number - 1]
    if how == "flip":
        lines[line_number - 1] = line.replace(b'"seq"', b'"seX"', 1)
    else:  # a well-hashed line that names the wrong predecessor
        record = orjson.loads(line)
        del record["hash"]
        record["prev"] = "f" * 64
        lines[line_number - 1] = encode(record)[0]
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize("how", ["flip", "relink"])
@pytest.mark.parametrize("where", ["first half", "second half", "seam"])
def test_damage_in_either_half_is_named_as_the_plain_read_names_it(
    busy: Engine, two_cores: None, how: str, where: str
) -> None:
    engine = busy
    path = engine.root / "events.jsonl"
    data = path.read_bytes()
    with open(path, "rb") as f:
        seam = data[:segments.split_at(f, len(data))].count(b"\n") + 1  # the later half's first line
    target = {"first half": 3, "second half": data.count(b"\n") - 2, "seam": seam}[where]
    _damage(path, target, how)
    with pytest.raises(LogCorrupt) as plain:
        fold(engine.log.read())
    with pytest.raises(LogCorrupt) as fast:
        fold_whole(Engine(engine.root).log)
    assert str(fast.value) == str(plain.value)
    assert plain.value.line == target


def test_a_forged_prev_that_only_the_byte_level_link_sees_is_refused_as_by_the_plain_read(
    busy: Engine, two_cores: None
) -> None:
    """A line whose hash is right and whose parsed ``prev`` is right, but with a second
    ``"prev":`` (inside ``reason``) after it: the hash check reads the last one, as both
    reads must."""
    path = busy.root / "events.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    target = len(lines) - 2
    record = orjson.loads(lines[target - 1])
    del record["hash"]
    record["reason"] = {"a": 1, "prev": "f" * 64}
    lines[target - 1] = encode(record)[0]
    path.write_bytes(b"".join(lines))
    with pytest.raises(LogCorrupt) as plain:
        fold(Engine(busy.root).log.read())
    with pytest.raises(LogCorrupt) as fast:
        fold_whole(Engine(busy.root).log)
    assert str(fast.value) == str(plain.value) and plain.value.line == target


def test_an_earlier_commit_that_cannot_apply_is_reported_before_later_damage() -> None:
    records = _records([[_event("evaluated", 1, "benchmark", {}, 50)], [_event("trained", 0, None, {}, 0)]])

    def reader() -> Any:
        yield from records
        raise LogCorrupt(3, "hash mismatch")

    with pytest.raises(LogCorrupt) as caught:
        fold(reader())
    assert caught.value.line == 1 and "KeyError" in caught.value.why


def test_a_torn_tail_is_recovered_by_replay_as_before(busy: Engine, two_cores: None) -> None:
    engine = busy
    path = engine.root / "events.jsonl"
    good = path.read_bytes()
    path.write_bytes(good + b'{"seq": 99, "torn')
    state, _ = Engine(engine.root).replay()
    assert path.read_bytes() == good
    assert state.seq == good.count(b"\n")
    assert list(engine.root.glob("events.jsonl.broken-*"))
