"""Property-based fuzzing of the event log and the registry document.

- Bytes appended after the last commit are a torn tail (readers skip it and warn; the next
  writing command moves it aside, byte for byte) or, when they hold a framed line,
  corruption (exit 2, nothing written); ``verify`` lists them (exit 1).
- Bytes inserted before the last commit are always corruption.
- ``config/model_registry.json`` garbled in any way is reported by ``verify`` and rebuilt
  to the exact bytes by ``replay``; the registry is never read as truth.
Never a traceback. No torch (fake weights).
"""

from __future__ import annotations

import gc
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.codec import encode, has_frame
from events.log import JsonlLog
from lifecycle.errors import LogCorrupt
from tests.helpers.workload import prepare
from tests.unit.test_fuzz_parsers import CLI_FUZZ, FUZZ, assert_refused, fingerprint, run

REGISTRY = "config/model_registry.json"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("log") / "root"
    prepare(root, champions=2)
    return root


@pytest.fixture
def work(template: Path, tmp_path: Path) -> Path:
    return tmp_path / "work"


def fresh(template: Path, work: Path) -> bytes:
    """A copy of the template root at ``work``; returns its log bytes."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work, symlinks=True)
    return (work / "events.jsonl").read_bytes()


def lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def forged(log: bytes, **fields: Any) -> bytes:
    """A well-framed line chained onto the log's last commit, with ``fields`` changed
    (``...`` drops a field): only someone re-hashing by hand writes one."""
    last = orjson.loads(lines(log)[-1])
    record = {"seq": last["seq"] + 1, "prev": last["hash"], "time": last["time"], "actor": "x",
              "schema_version": 1, "command": "reject", "reason": None, "events": []}
    record.update(fields)
    return encode({k: v for k, v in record.items() if v is not ...})[0]


framed_junk = st.binary(max_size=40).map(lambda b: b + b',"hash":"' + b"0" * 64 + b'"}\n')
tails = st.one_of(
    st.binary(min_size=1, max_size=300),
    st.text(min_size=1, max_size=100).map(str.encode),
    st.just(b"\x00" * 512),
    framed_junk,
    st.tuples(st.binary(max_size=30), framed_junk).map(b"".join),
)


def _check_verify(work: Path) -> None:
    result = run(work, "verify")
    assert result.exit_code == 1, result.stdout
    assert "PROBLEM: events.jsonl line" in result.stdout, result.stdout


@CLI_FUZZ
@given(tail=tails)
def test_bytes_appended_to_a_valid_log(template: Path, work: Path, tail: bytes) -> None:
    good = fresh(template, work)
    (work / "events.jsonl").write_bytes(good + tail)
    before = fingerprint(work)
    corrupt = any(has_frame(line) for line in lines(tail))

    status = run(work, "status", "--json")
    _check_verify(work)
    assert fingerprint(work) == before, "a reading command changed files"
    replay = run(work, "replay")
    if corrupt:
        assert_refused(status)
        assert_refused(replay)
        assert "event log is corrupt" in replay.stderr
        assert fingerprint(work) == before
        return
    assert status.exit_code == 0 and "torn tail" in status.stderr, status.stderr
    assert replay.exit_code == 0 and "recovered events.jsonl" in replay.stderr, replay.stderr
    assert (work / "events.jsonl").read_bytes() == good
    commits = good.count(b"\n")
    assert (work / f"events.jsonl.broken-{commits}-0").read_bytes() == tail


@CLI_FUZZ
@given(data=st.data(), inserted=st.binary(min_size=1, max_size=100))
def test_bytes_inserted_before_the_last_commit(template: Path, work: Path, data: st.DataObject,
                                               inserted: bytes) -> None:
    good = fresh(template, work)
    where = data.draw(st.integers(0, len(good) - len(lines(good)[-1])), label="offset")
    damaged = good[:where] + inserted + good[where:]
    (work / "events.jsonl").write_bytes(damaged)
    before = fingerprint(work)
    with pytest.raises(LogCorrupt):
        list(JsonlLog(work / "events.jsonl").read())
    for command in (("status",), ("history",), ("replay",)):
        assert_refused(run(work, *command))
    _check_verify(work)
    assert fingerprint(work) == before


@pytest.mark.parametrize("fields", [
    {"seq": "4"}, {"prev": "0" * 64}, {"events": [{"type": "nonsense"}]},
    {"events": [{"type": "promoted"}]}, {"events": [{"type": "trained", "model_id": "m"}]},
])
def test_forged_commits_the_fold_refuses(template: Path, work: Path, fields: dict[str, Any]) -> None:
    good = fresh(template, work)
    (work / "events.jsonl").write_bytes(good + forged(good, **fields))
    before = fingerprint(work)
    assert_refused(run(work, "status"))
    assert_refused(run(work, "replay"))
    assert run(work, "verify").exit_code == 1
    assert fingerprint(work) == before


@pytest.mark.parametrize("fields", [
    {"events": 1}, {"events": None}, {"events": [1]}, {"time": ...},
], ids=["events-int", "events-null", "event-int", "no-time"])
def test_forged_commits_of_the_wrong_shape(template: Path, work: Path, fields: dict[str, Any]) -> None:
    good = fresh(template, work)
    (work / "events.jsonl").write_bytes(good + forged(good, **fields))
    before = fingerprint(work)
    try:
        assert run(work, "verify").exit_code == 1
        assert_refused(run(work, "status"))
    finally:  # a reader that crashed mid-read keeps its shared lock until collected
        gc.collect()
    assert fingerprint(work) == before


registry_garbage = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 2000).map(lambda n: b"[" * n + b"]" * n),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                           st.text(max_size=8)),
                 lambda inner: st.one_of(st.lists(inner, max_size=3),
                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                 max_leaves=10).map(orjson.dumps),
)


def _edits(real: bytes) -> st.SearchStrategy[bytes]:
    doc = orjson.loads(real)
    position = st.one_of(st.integers(), st.text(max_size=5), st.none(),
                         st.dictionaries(st.sampled_from(["seq", "hash"]), st.integers() | st.text(max_size=70)))
    return st.one_of(
        st.integers(0, len(real) - 1).map(lambda n: real[:n]),
        position.map(lambda p: orjson.dumps({**doc, "log_position": p})),
        st.sampled_from(sorted(doc)).map(lambda k: orjson.dumps({key: v for key, v in doc.items() if key != k})),
        st.just(b"\xef\xbb\xbf" + real),
    )


@CLI_FUZZ
@given(data=st.data())
def test_registry_document_garbled(template: Path, work: Path, data: st.DataObject) -> None:
    fresh(template, work)
    path = work / REGISTRY
    real = path.read_bytes()
    bad = data.draw(st.one_of(registry_garbage, _edits(real)), label="registry")
    path.write_bytes(bad)
    if bad == real:
        return
    before = fingerprint(work)
    assert run(work, "status", "--json").exit_code == 0
    result = run(work, "verify")
    assert result.exit_code == 1 and f"PROBLEM: {REGISTRY}: differs" in result.stdout, result.stdout
    assert fingerprint(work) == before
    replay = run(work, "replay")
    assert replay.exit_code == 0 and f"~ {REGISTRY}" in replay.stdout, replay.stdout
    assert path.read_bytes() == real
    assert run(work, "verify").exit_code == 0


@FUZZ
@given(tail=tails)
def test_the_log_reader_alone(template: Path, work: Path, tail: bytes) -> None:
    """``JsonlLog.read``: good commits then a warning, or ``LogCorrupt``; never more."""
    good = fresh(template, work)
    (work / "events.jsonl").write_bytes(good + tail)
    try:
        records = list(JsonlLog(work / "events.jsonl").read())
    except LogCorrupt:
        assert any(has_frame(line) for line in lines(tail))
    else:
        assert len(records) == good.count(b"\n")
    assert (work / "events.jsonl").read_bytes() == good + tail
