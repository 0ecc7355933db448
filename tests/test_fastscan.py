"""The C reader of long logs (``events._fastscan``) against the Python read it replaces.

``events.segments.Checked`` hands runs of evaluation-only commits to C. On any log,
canonical or forged (keys given twice, odd types, broken JSON under a good hash), the read
must end at the same line with the same verdict, and the fold of what it handed out must
be the very state (key order included), or the very refusal, of the Python read.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sysconfig
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import segments
from events.codec import FRAME_MARK, GENESIS
from lifecycle.fold import CommitRefused, Evaluations, Fold, reduce_segment
from projections import snapshot

C_SCAN = segments._scan
needs_c = pytest.mark.skipif(C_SCAN is None, reason="events._fastscan is not built here")


def test_the_c_reader_is_built_where_it_can_be() -> None:
    """setup.py builds it wherever a C compiler and OpenSSL's headers exist (as here)."""
    headers = Path(sysconfig.get_paths()["include"], "Python.h").exists()
    if not (shutil.which("gcc") and headers and Path("/usr/include/openssl/evp.h").exists()):
        pytest.skip("no C compiler or headers: the Python read is the only one")
    assert C_SCAN is not None


def _frame(body: bytes) -> tuple[bytes, str]:
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + FRAME_MARK + digest.encode() + b'"}\n', digest


def _evaluation(model: str, dataset: Any, digest: Any, score: float) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "evaluated", "model_id": model, "dataset": dataset,
                             "metrics": {"magnitude_accuracy": score}, "composite": {"score": score / 100}}
    if digest != "absent":
        event["dataset_digest"] = digest
    return event


def _trained(model: str) -> dict[str, Any]:
    return {"type": "trained", "model_id": model, "version": "1.0." + model[-1], "family": "m",
            "architecture": "a", "weights": {"sha256": "0" * 64}}


MODELS = st.sampled_from(["m_v1.0.0", "m_v1.0.1", "m_v1.0.\u00e92"])
EVALUATIONS = st.builds(_evaluation, MODELS, st.sampled_from(["benchmark", "holdout", "", 5]),
                        st.sampled_from(["absent", None, "", "d1", "d\u00e9", 7]),
                        st.floats(0, 100, allow_nan=False))
EVENT_LISTS = st.one_of(
    st.lists(EVALUATIONS, min_size=1, max_size=1), st.lists(EVALUATIONS, min_size=1, max_size=2),
    st.builds(lambda m: [_trained(m)], MODELS), st.just([]),
    st.builds(lambda m, e: [_trained(m), e], MODELS, EVALUATIONS),  # touches evaluations, not absorbed
    st.lists(EVALUATIONS, min_size=16, max_size=17),  # C takes up to 16, Python the rest
)
# Byte-level forgeries of the body (the line is hashed after them, so only content is odd).
FORGERIES = st.sampled_from([
    None, None, None, None,
    (b'{"actor"', b'{"seq":1,"actor"'),  # a key given twice: the last one counts
    (b'"time":', b'"seq":999,"time":'),  # ... even when the first one is right
    (b'"model_id":', b'"model_id":"m_v1.0.1","model_id":'),
    (b'"dataset":', b'"dataset":"holdout","dataset":'),
    (b'"type":"evaluated"', b'"type":"evaluated","type":"trained"'),
    (b'"type":"evaluated"', b'"type":"observed","type":"evaluated"'),
    (b'"time":', b'"time":1,"time":'),
    (b'"events":', b'"events":[],"events":'),
    (b'"model_id":"m_v1.0.0"', b'"model_id":"m_v1.0.\\u0030"'),  # an escape: the same id
    (b'"magnitude_accuracy":', b'"magnitude_accuracy":1e400,"x":'),  # infinity: not JSON here
    (b'"magnitude_accuracy":', b'"x":"\\ud800","magnitude_accuracy":'),  # a lone surrogate
    (b'"magnitude_accuracy":', b'"x":123456789012345678901234567890,"magnitude_accuracy":'),
    (b'"actor"', b' "actor"'),
    (b'"reason":null', b'"reason":null,'),  # broken JSON under a good hash
    (b'"reason":null', b'"reason":{"a":1,"prev":"' + b"f" * 64 + b'"}'),  # a second "prev"
    (b'"schema_version":1', b'"schema_version":1,"seq":2.0'),
    "float seq",  # its own seq as 7.0: Python takes it (7.0 == 7), C does not
    (b'"reason":null', b'"reason":' + b"[" * 1100 + b"]" * 1100),  # deeper than orjson reads
    (b'"reason":null', b'"reason":' + b'{"a":' * 200 + b"1" + b"}" * 200),  # orjson reads it, C leaves it
])


def _log(commits: list[tuple[list[dict[str, Any]], Any]]) -> bytes:
    lines, prev = [], GENESIS
    for seq, (events, forgery) in enumerate(commits, start=1):
        body = orjson.dumps({"actor": "a", "events": events, "prev": prev, "reason": None,
                             "schema_version": 1, "seq": seq, "time": f"2024-01-01T00:00:{seq:02d}Z"},
                            option=orjson.OPT_SORT_KEYS)
        if forgery == "float seq":
            body = body.replace(b'"seq":%d' % seq, b'"seq":%d.0' % seq)
        elif forgery is not None:
            body = body.replace(*forgery, 1)
        line, prev = _frame(body)
        lines.append(line)
    return b"".join(lines)


def _folded(items: Any) -> Any:
    folder = Fold()
    try:
        for item in items:
            folder.add_evaluations(item) if isinstance(item, Evaluations) else folder.add(item)
        return orjson.dumps(snapshot.state_to_json(folder.state()))
    except CommitRefused as exc:
        return ("refused", exc.seq, exc.why)


def _read(data: bytes, scan: Any, start: int = 0) -> tuple[Any, ...]:
    """What a read with (or without) C hands out, folded (as it comes, as the engine does,
    and after the read) and reduced; and where it ended."""
    segments._scan = scan
    try:
        streamed = _folded(segments.Checked(start).records(io.BytesIO(data), len(data)))
        checked = segments.Checked(start)
        handed = list(checked.records(io.BytesIO(data), len(data)))
        outcome = _folded(handed)
        assert streamed == outcome
        reduced = orjson.dumps(reduce_segment(iter(handed)))
        again = segments.Checked(start).records(io.BytesIO(data), len(data))
        assert orjson.dumps(reduce_segment(again)) == reduced  # reduced as it comes
        return outcome, reduced, checked.good, checked.first, checked.last, checked.offset
    finally:
        segments._scan = C_SCAN


COMMITS = st.lists(st.tuples(EVENT_LISTS, FORGERIES), max_size=30)


@needs_c
@settings(max_examples=300, deadline=None)
@given(COMMITS)
def test_the_c_reader_hands_out_what_the_python_read_would(commits: list[Any]) -> None:
    data = _log([([_trained("m_v1.0.0"), _trained("m_v1.0.1")], None), *commits])
    assert _read(data, C_SCAN) == _read(data, None)


@needs_c
@settings(max_examples=100, deadline=None)
@given(COMMITS, st.data())
def test_damage_ends_both_reads_at_the_same_line(commits: list[Any], data: st.DataObject) -> None:
    log = bytearray(_log([([_trained("m_v1.0.0")], None), *commits]))
    at = data.draw(st.integers(0, len(log) - 1))
    log[at] = data.draw(st.integers(0, 255))
    assert _read(bytes(log), C_SCAN) == _read(bytes(log), None)


@needs_c
def test_a_run_of_evaluations_is_handed_out_in_bulk_with_its_lines_parsed_only_when_laid() -> None:
    commits = [([_trained("m_v1.0.0")], None)] + [
        ([_evaluation("m_v1.0.0", "benchmark", "d1", float(n))], None) for n in range(50)]
    data = _log(commits)
    segments._scan = C_SCAN
    handed = list(segments.Checked(0).records(io.BytesIO(data), len(data)))
    assert [type(item) for item in handed] == [dict, Evaluations]
    batch = handed[1]
    assert isinstance(batch, Evaluations) and batch.position[0] == 51 and len(batch.pending) == 1  # type: ignore[arg-type]
    evaluations: dict[str, Any] = {}
    batch.pending.lay(evaluations, {}, {})
    (line, seq, at, place), = evaluations["m_v1.0.0"].values()  # only the latest is kept
    assert type(line) is bytes and seq == 51 and at == "2024-01-01T00:00:51Z" and place == 0
    assert _read(data, C_SCAN) == _read(data, None)


@needs_c
def test_a_range_that_starts_mid_log_and_ends_on_a_torn_line() -> None:
    commits = [([_trained("m_v1.0.0")], None)] + [
        ([_evaluation("m_v1.0.0", "holdout", None, float(n))], None) for n in range(20)]
    data = _log(commits)
    start = data.index(b"\n", data.index(b"\n") + 1) + 1  # the third line
    assert _read(data, C_SCAN, start) == _read(data, None, start)
    torn = data[:-40]
    assert _read(torn, C_SCAN) == _read(torn, None)
    assert _read(torn, C_SCAN)[2] is False  # not good: the caller reads the ordinary way


@pytest.mark.parametrize("chunk", [64, 700, 4096])
def test_a_buffer_smaller_than_a_line_grows_and_reads_the_same(
        chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines longer than the read buffer, and lines cut by its edge, read as with a big one."""
    commits = [([_trained("m_v1.0.0")], None)] + [
        ([_evaluation("m_v1.0.0", f"set{n % 3}", None, float(n))], None) for n in range(30)]
    data = _log(commits)
    whole = _read(data, None)
    monkeypatch.setattr(segments, "_CHUNK", chunk)
    assert _read(data, None) == whole
    if C_SCAN is not None:
        assert _read(data, C_SCAN) == whole
    assert whole[2] is True and whole[4][0] == 31  # good, and the last line read is commit 31


@needs_c
def test_batches_share_one_pending_across_other_commits_and_a_new_one_after_an_evaluation() -> None:
    """C takes commits of several evaluations too; commits that do not touch evaluations
    leave the batch's ``Pending`` open, and one that does (not absorbable) closes it."""
    ev = _evaluation
    commits = [([_trained("m_v1.0.0")], None), ([ev("m_v1.0.0", "holdout", "d1", 1.0)], None),
               ([ev("m_v1.0.0", "holdout", "d1", 2.0), ev("m_v1.0.0", "benchmark", None, 3.0)], None),
               ([_trained("m_v1.0.1")], None), ([ev("m_v1.0.1", "holdout", "d1", 4.0)], None),
               ([_trained("m_v1.0.\u00e92"), ev("m_v1.0.\u00e92", "holdout", None, 5.0)], None),
               ([ev("m_v1.0.0", "holdout", "d1", 6.0)], None)]
    data = _log(commits)
    segments._scan = C_SCAN
    handed = list(segments.Checked(0).records(io.BytesIO(data), len(data)))
    assert [type(item).__name__ for item in handed] == ["dict", "Evaluations", "dict", "Evaluations", "dict",
                                                         "Evaluations"]
    first, second, third = (item for item in handed if isinstance(item, Evaluations))
    assert first.pending is second.pending and third.pending is not second.pending
    assert len(second.pending) == 3 and len(third.pending) == 1  # type: ignore[arg-type]
    assert _read(data, C_SCAN) == _read(data, None)


@needs_c
def test_a_commit_only_python_takes_is_laid_after_the_pending_evaluations_before_it() -> None:
    """``"seq": 3.0`` passes in Python (3.0 == 3), not in C: the evaluation C took before it
    must not overwrite it when the pending ones are laid."""
    commits = [([_trained("m_v1.0.0")], None), ([_evaluation("m_v1.0.0", "holdout", "d1", 1.0)], None),
               ([_evaluation("m_v1.0.0", "holdout", "d1", 2.0)], "float seq"),
               ([_evaluation("m_v1.0.0", "benchmark", None, 3.0)], None)]
    data = _log(commits)
    segments._scan = C_SCAN
    handed = list(segments.Checked(0).records(io.BytesIO(data), len(data)))
    assert [type(item).__name__ for item in handed] == ["dict", "Evaluations", "dict", "Evaluations"]
    assert _read(data, C_SCAN) == _read(data, None)


@needs_c
@pytest.mark.parametrize(("given", "stated"), [(2**64 - 1, 0), (2**64 + 1, 2), (2**65 + 1, 2), (-1, 0)])
def test_a_seq_past_64_bits_is_left_to_python(given: int, stated: int) -> None:
    """Python's ints have no bound: where the next seq would not fit in 64 bits, C takes
    nothing (not the line whose seq the wrapped number would expect)."""
    from events._fastscan import Pending, scan

    data = _log([([_trained("m_v1.0.0")], None),
                 ([_evaluation("m_v1.0.0", "holdout", None, 1.0)], (b'"seq":2', b'"seq":%d' % stated))])
    second = data.index(b"\n") + 1
    prev, pending = str(orjson.loads(data[:second])["hash"]), Pending()
    assert scan(data, second, given, prev, pending) == (second, -1, given, prev, None)
    assert len(pending) == 0
    if stated == 2:  # the same line is taken after seq 1
        assert scan(data, second, 1, prev, pending)[:3] == (len(data), second, 2) and len(pending) == 1


@needs_c
@pytest.mark.parametrize(("count", "in_c"), [(16, True), (17, False)])
def test_a_commit_of_many_evaluations_is_left_to_python(count: int, in_c: bool) -> None:
    """A pair in C keeps its own copy of its line: a commit of more than 16 evaluations is
    read by Python, which shares one parsed line among them (same fold either way)."""
    many = [_evaluation("m_v1.0.0", f"set{n}", None, float(n)) for n in range(count)]
    data = _log([([_trained("m_v1.0.0")], None), (many, None)])
    segments._scan = C_SCAN
    handed = list(segments.Checked(0).records(io.BytesIO(data), len(data)))
    assert [type(item).__name__ for item in handed] == ["dict", "Evaluations" if in_c else "dict"]
    assert _read(data, C_SCAN) == _read(data, None)
