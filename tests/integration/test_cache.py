"""The state snapshot is only a cache (ENGINEERING.md rule 12).

Whatever the cache holds (nothing, the current state, a stale one, garbage, a file from
other fold code), every reading command answers exactly as a full fold does; a writer
never reads it, so even a forged cache cannot steer a decision; ``verify`` reports one
that differs from the fold of the log.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from bootstrap import open_engine
from lifecycle.commands import Promote, Reject, Rollback
from projections import snapshot
from projections.registry import registry_bytes
from service.engine import Engine, fold
from tests.helpers.workload import evaluation, fake_submit, prepare


@pytest.fixture
def small_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write the cache after every few commits instead of every thousand."""
    monkeypatch.setattr(snapshot, "SAVE_AFTER", 3)


def _busy(root: Path) -> Engine:
    engine = prepare(root, champions=3)
    for n in range(4):
        engine.execute(fake_submit(engine, f"more {n}"))
        engine.execute(evaluation("challenger", "benchmark", 80.0 + n))
        engine.execute(evaluation("champion", "benchmark", 85.0))
        engine.execute(Reject(ref="challenger", reason=f"worse {n}") if n % 2 else
                       Promote(ref="challenger", reason=f"better {n}"))
    engine.execute(Rollback(ref=None, reason="drift"))
    return engine


def _full(engine: Engine) -> bytes:
    return registry_bytes(fold(engine.log.read()))


def test_snapshot_round_trips_to_the_same_state(tmp_path: Path) -> None:
    state = fold(_busy(tmp_path / "r").log.read())
    again = snapshot.state_from_json(orjson.loads(orjson.dumps(snapshot.state_to_json(state))))
    assert orjson.dumps(snapshot.state_to_json(again)) == orjson.dumps(snapshot.state_to_json(state))
    assert registry_bytes(again) == registry_bytes(state)


def test_state_from_the_cache_equals_the_full_fold_after_every_commit(
    tmp_path: Path, small_cache: None
) -> None:
    engine = prepare(tmp_path / "r", champions=2)
    for n in range(6):
        engine.execute(fake_submit(engine, f"c{n}"))
        engine.execute(evaluation("challenger", "benchmark", 80.0 + n))
        cached = open_engine(engine.root).state()
        assert registry_bytes(cached) == _full(engine)
        assert snapshot.state_to_json(cached) == snapshot.state_to_json(fold(engine.log.read()))
        engine.execute(Promote(ref="challenger", reason="better"))
    assert snapshot.load(engine.root) is not None  # the cache was really used


def test_a_cache_whose_commit_changed_is_ignored(tmp_path: Path, small_cache: None) -> None:
    engine = _busy(tmp_path / "r")
    open_engine(engine.root).state()  # writes the cache
    cached = snapshot.load(engine.root)
    assert cached is not None
    other = _busy(tmp_path / "other")  # a different log of the same length
    shutil.copy(other.root / "events.jsonl", engine.root / "events.jsonl")
    assert registry_bytes(open_engine(engine.root).state()) == _full(other)


def test_a_cache_ahead_of_a_truncated_log_is_ignored(tmp_path: Path, small_cache: None) -> None:
    engine = _busy(tmp_path / "r")
    open_engine(engine.root).state()
    lines = (engine.root / "events.jsonl").read_bytes().splitlines(keepends=True)
    (engine.root / "events.jsonl").write_bytes(b"".join(lines[:5]))
    assert open_engine(engine.root).state().seq == 5


@pytest.mark.parametrize("content", [b"", b"garbage", b'{"format": 1}', b"[1, 2]", b'{"format": 1, "anchor": 3}'])
def test_unusable_cache_files_are_ignored(tmp_path: Path, content: bytes) -> None:
    engine = _busy(tmp_path / "r")
    path = snapshot.snapshot_path(engine.root)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    fresh = open_engine(engine.root)
    assert registry_bytes(fresh.state()) == _full(engine)
    champion = fresh.state().champion
    assert champion is not None
    assert fresh.records_about(champion) == _about(engine, champion)


def test_a_cache_from_other_fold_code_is_ignored(
    tmp_path: Path, small_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _busy(tmp_path / "r")
    open_engine(engine.root).state()
    assert snapshot.load(engine.root) is not None
    monkeypatch.setattr(snapshot, "fold_code", lambda: "another version of lifecycle/evolve.py")
    assert snapshot.load(engine.root) is None


def _about(engine: Engine, model_id: str) -> list[dict]:  # type: ignore[type-arg]
    return [r for r in engine.log.read() if any(e.get("model_id") == model_id for e in r["events"])]


def test_reading_commands_answer_the_same_with_and_without_the_cache(
    tmp_path: Path, small_cache: None
) -> None:
    from typer.testing import CliRunner

    from cli.app import app

    engine = _busy(tmp_path / "r")
    runner = CliRunner()

    def outputs() -> list[str]:
        commands = [["status", "--json"], ["list", "--json"], ["rollback", "--list", "--json"],
                    ["history", "--model", "1.0.0", "--json"], ["history", "--json"]]
        results = [runner.invoke(app, ["--root", str(engine.root), *c]) for c in commands]
        assert all(r.exit_code == 0 for r in results), [r.output for r in results]
        return [r.stdout for r in results]

    shutil.rmtree(engine.root / "cache", ignore_errors=True)
    without = outputs()
    assert (engine.root / "cache" / "state.json").exists()
    assert outputs() == without


def test_newest_first_equals_the_forward_read_reversed(tmp_path: Path) -> None:
    from service import history

    engine = _busy(tmp_path / "r")
    forward = list(engine.log.read())
    assert history.newest(engine, 10**6) == forward[::-1]
    assert history.newest(engine, 3) == forward[::-1][:3]
    rejected = history.newest(engine, 10**6, lambda r: r["command"] == "reject")
    assert rejected == [r for r in forward[::-1] if r["command"] == "reject"] and rejected


def test_newest_first_skips_a_torn_tail_and_refuses_damage(tmp_path: Path) -> None:
    from lifecycle.errors import LogCorrupt
    from service import history

    engine = _busy(tmp_path / "r")
    log = engine.root / "events.jsonl"
    data = log.read_bytes()
    forward = list(engine.log.read())
    log.write_bytes(data + b'{"seq": 99, "half a li')
    assert history.newest(engine, 5) == forward[::-1][:5]
    lines = data.splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"seq":4', b'"seq":5')
    log.write_bytes(b"".join(lines))
    with pytest.raises(LogCorrupt, match="line 4"):
        history.newest(engine, 10**6)


def test_indexed_types_and_choices_equal_a_full_scan(tmp_path: Path, small_cache: None) -> None:
    from service import history

    engine = _busy(tmp_path / "r")
    forward = list(engine.log.read())
    for kind in ("trained", "promoted", "rejected", "archived", "rolled_back", "evaluated"):
        expected = [r for r in forward if any(e["type"] == kind for e in r["events"])]
        assert history.of_type(open_engine(engine.root), kind) == expected and expected, kind
    types, actors = history.choices(open_engine(engine.root))
    assert types == sorted({e["type"] for r in forward for e in r["events"]})
    assert actors == sorted({r["actor"] for r in forward})


def _tamper(log: Path, line: int, *, rehash: bool) -> bytes:
    """Change the actor of one line (same length: later offsets stay valid); with
    ``rehash`` its own hash is made valid again (only the next line's link shows it)."""
    from events.codec import encode

    lines = log.read_bytes().splitlines(keepends=True)
    record = orjson.loads(lines[line - 1])
    assert record["actor"] == "tester@crash"
    if rehash:
        del record["hash"]
        record["actor"] = "tester@crasX"
        lines[line - 1] = encode(record)[0]
    else:
        lines[line - 1] = lines[line - 1].replace(b'"tester@crash"', b'"tester@crasX"', 1)
    log.write_bytes(b"".join(lines))
    return log.read_bytes()


@pytest.mark.parametrize("rehash", [False, True], ids=["bad-hash", "bad-link"])
def test_writers_refuse_corruption_before_the_cached_commit(
    tmp_path: Path, small_cache: None, rehash: bool
) -> None:
    from lifecycle.errors import LogCorrupt

    engine = _busy(tmp_path / "r")
    open_engine(engine.root).state()
    cached = snapshot.load(engine.root)
    assert cached is not None and cached.anchor.seq > 4
    commits = len((engine.root / "events.jsonl").read_bytes().splitlines())
    damaged = _tamper(engine.root / "events.jsonl", 3, rehash=rehash)
    assert open_engine(engine.root).state().seq == commits  # readers start from the cache (rule 12)
    with pytest.raises(LogCorrupt, match=f"line {4 if rehash else 3}"):
        open_engine(engine.root).execute(fake_submit(engine, "refused"))
    assert (engine.root / "events.jsonl").read_bytes() == damaged


def _forge(root: Path) -> str:
    """Swap the cached state's champion for another former champion, anchor kept."""
    data = orjson.loads(snapshot.snapshot_path(root).read_bytes())
    state = data["state"]
    real = state["champion"]
    fake = next(m for m, r in state["models"].items() if r["status"] == "archived" and m != real)
    state["models"][real]["status"], state["models"][fake]["status"] = "archived", "champion"
    state["champion"] = fake
    snapshot.snapshot_path(root).write_bytes(orjson.dumps(data))
    return fake


def test_a_forged_cache_never_steers_a_writer_and_verify_reports_it(tmp_path: Path, small_cache: None) -> None:
    """Issue 14: a forged state.json (anchor kept, content swapped) made a rollback decide on
    the forged state and append a commit that left the log permanently corrupt."""
    from typer.testing import CliRunner

    from cli.app import app

    engine = _busy(tmp_path / "r")
    engine.replay()  # the cache now names the head
    before = fold(engine.log.read())
    cached = snapshot.load(engine.root)
    assert cached is not None and cached.state.seq == before.seq
    fake = _forge(engine.root)
    assert fake != before.champion
    runner = CliRunner()
    checked = runner.invoke(app, ["--root", str(engine.root), "verify"])
    assert checked.exit_code == 1 and "cache/state.json: differs from the fold of the log" in checked.stdout
    outcome = open_engine(engine.root).execute(Rollback(ref=None, reason="after the forgery"))
    assert outcome.record["events"][0]["model_id"] == before.champion != fake
    assert [r["seq"] for r in engine.log.read()][-1] == before.seq + 1  # the log folds: not corrupt
    assert registry_bytes(fold(engine.log.read())) == registry_bytes(open_engine(engine.root).state())


@pytest.mark.parametrize("filters", [
    {}, {"types": ["rejected"]}, {"types": ["evaluated", "promoted"], "actor": "nobody"},
    {"since": "2000-01-01"}, {"until": "2000-01-01"}, {"upto_seq": 7},
])
def test_a_filtered_history_page_equals_filtering_a_full_read(
    tmp_path: Path, small_cache: None, filters: dict[str, object]
) -> None:
    """The dashboard's History page: newest first, capped, filtered."""
    from dashboard.shaping import filter_history
    from service import history

    engine = _busy(tmp_path / "r")
    forward = list(engine.log.read())
    upto = filters.get("upto_seq")
    models = [None, *sorted(fold(engine.log.read()).models)]
    for model_id in models:
        for limit in (10**6, 2):
            page = history.matching(engine, limit, model_id=model_id, **filters)  # type: ignore[arg-type]
            row_filters = {k: v for k, v in filters.items() if k != "upto_seq"}
            expected = [r for r in forward[::-1] if (upto is None or r["seq"] <= upto)  # type: ignore[operator]
                        and filter_history([r], model_id=model_id, **row_filters)][:limit]  # type: ignore[arg-type]
            assert page == expected


@pytest.mark.parametrize("rehash", [False, True], ids=["bad-hash", "bad-link"])
def test_a_long_lived_writer_still_checks_every_line(tmp_path: Path, rehash: bool) -> None:
    """The engine keeps the state it folded itself, but every write reads every line again."""
    from lifecycle.errors import LogCorrupt

    engine = _busy(tmp_path / "r")
    engine.execute(evaluation("champion", "benchmark", 90.0))  # the engine knows the head now
    damaged = _tamper(engine.root / "events.jsonl", 3, rehash=rehash)
    with pytest.raises(LogCorrupt, match=f"line {4 if rehash else 3}"):
        engine.execute(fake_submit(engine, "refused"))
    assert (engine.root / "events.jsonl").read_bytes() == damaged


def test_a_long_lived_writer_refolds_a_log_rewritten_under_it(tmp_path: Path) -> None:
    engine = _busy(tmp_path / "r")
    engine.execute(evaluation("champion", "benchmark", 90.0))
    other = _busy(tmp_path / "other")
    other.execute(evaluation("champion", "elsewhere", 70.0))  # same length, other commits
    shutil.copy(other.root / "events.jsonl", engine.root / "events.jsonl")
    outcome = engine.execute(evaluation("champion", "after", 80.0))
    assert registry_bytes(outcome.state) == registry_bytes(fold(engine.log.read()))


def test_a_commit_that_cannot_apply_is_corruption_naming_its_line(tmp_path: Path) -> None:
    from events.codec import encode
    from lifecycle.errors import LogCorrupt

    engine = _busy(tmp_path / "r")
    records = list(engine.log.read())
    bad = {**records[-1], "seq": len(records) + 1, "prev": records[-1]["hash"],
           "events": [{"type": "promoted", "model_id": "convnext_v9.9.9", "reason": "never trained"}]}
    del bad["hash"]
    with open(engine.root / "events.jsonl", "ab") as f:
        f.write(encode(bad)[0])
    with pytest.raises(LogCorrupt, match=f"line {len(records) + 1} .*cannot be applied"):
        open_engine(engine.root).execute(evaluation("champion", "x"))
