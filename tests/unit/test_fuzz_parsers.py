"""Property-based fuzzing of the files people hand to commands: metrics files, policy
TOML, ``config/lifecycle.toml`` (triggers, rollback rules, hooks, daemon settings).

For arbitrary bytes and for structured near-misses (valid JSON/TOML of the wrong shape,
wrong types, huge numbers, nan, infinity, unicode, BOM, deep nesting) each parser either
accepts the file or raises ``UserError``; through the CLI a refusal is exit 2 with exactly
one ``error:`` line, no traceback, and the registry root byte-for-byte unchanged.
No torch is imported here (the roots hold fake weights).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from cli.app import app
from lifecycle.errors import UserError
from service.daemon_config import load
from service.inputs import load_metrics, load_policy
from tests.helpers.workload import evaluation, fake_submit, prepare

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CLI_FUZZ = settings(FUZZ, max_examples=25)
SKIPPED = ("cache",)  # the state cache a reading command may refresh: not user-visible state


# -- shared by the fuzz modules ---------------------------------------------------------


def fingerprint(root: Path) -> dict[str, str]:
    """Every path under the root with a digest of its content (or its link target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIPPED:
            continue
        if path.is_symlink():
            out[str(rel)] = "->" + os.readlink(path)
        elif path.is_file():
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[str(rel)] = "dir"
    return out


def run(root: Path, *args: str) -> Result:
    """``lifecycle --root ROOT ARGS`` in-process; never a traceback, whatever the exit."""
    result = CliRunner().invoke(app, ["--root", str(root), *args])
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"lifecycle {args[0]} raised {exc!r}"
    assert "Traceback" not in result.stdout + result.stderr
    return result


def assert_refused(result: Result, message: str | None = None) -> None:
    """Exit 2 and exactly one line ``error: ...`` on stderr (``message`` when given)."""
    err = result.stderr.strip()
    assert result.exit_code == 2, (result.exit_code, result.stdout, err)
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    if message is not None:
        assert err == f"error: {message}", err


def verdict(parse: Any, *args: Any) -> tuple[bool, str]:
    """(accepted, message): the parser's answer; any exception but ``UserError`` fails."""
    try:
        parse(*args)
    except UserError as exc:
        assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))
        return False, str(exc)
    return True, ""


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (lists and inline tables nest)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) \
            else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in doc.items())


numbers = st.one_of(
    st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2.5, -1, 10**21, 10**400, 1e308, 5e-324, -0.0]),
)
scalars = st.one_of(numbers, st.booleans(), st.text(max_size=12), st.sampled_from(["5", "true", "nan", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)
garbage = st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode),
                    st.binary(max_size=50).map(lambda b: b"\xef\xbb\xbf" + b),
                    st.integers(1, 3000).map(lambda n: b"a = " + b"[" * n + b"]" * n),
                    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n))


@pytest.fixture(scope="module")
def ready(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with a champion and a challenger, both evaluated on ``benchmark``."""
    root = tmp_path_factory.mktemp("fuzz") / "root"
    engine = prepare(root, champions=1)
    engine.execute(evaluation("champion", "benchmark", 90.0))
    engine.execute(fake_submit(engine, "challenger"))
    engine.execute(evaluation("challenger", "benchmark", 92.0))
    return root


# -- metrics files: ``lifecycle evaluate REF --metrics-file F`` ---------------------------

METRIC_NAMES = ["magnitude_accuracy", "azimuth_accuracy", "magnitude_mcc", "stability", "composite_score", "x"]
metric_docs = st.one_of(
    st.dictionaries(st.sampled_from(METRIC_NAMES), values, max_size=4),
    st.fixed_dictionaries({"magnitude_accuracy": values, "azimuth_accuracy": numbers}),
    values,
)


def _json_bytes(doc: Any) -> bytes:
    try:
        return json.dumps(doc, allow_nan=True).encode()
    except ValueError:  # an integer too long for str(): the file is garbage then
        return b"{"


@FUZZ
@given(data=st.one_of(garbage, metric_docs.map(_json_bytes)))
def test_metrics_file_parser(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(data)
    accepted, _ = verdict(load_metrics, path)
    if accepted:
        metrics = load_metrics(path)
        assert set(metrics) >= {"magnitude_accuracy", "azimuth_accuracy"}
        assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), metrics
    assert path.read_bytes() == data


@CLI_FUZZ
@given(data=st.one_of(garbage, metric_docs.map(_json_bytes)))
def test_evaluate_with_a_metrics_file(ready: Path, tmp_path: Path, data: bytes) -> None:
    work = tmp_path / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(ready, work, symlinks=True)
    path = tmp_path / "m.json"
    path.write_bytes(data)
    accepted, message = verdict(load_metrics, path)
    before, log = fingerprint(work), (work / "events.jsonl").read_bytes()
    result = run(work, "evaluate", "challenger", "--dataset", "fuzz", "--metrics-file", str(path))
    if accepted:
        assert result.exit_code == 0, result.stderr
        assert (work / "events.jsonl").read_bytes().startswith(log)
    else:
        assert_refused(result, message)
        assert fingerprint(work) == before


@pytest.mark.parametrize(("content", "match"), [
    (b'{"magnitude_accuracy": "97", "azimuth_accuracy": 50}', "must be a number"),
    (b'{"magnitude_accuracy": true, "azimuth_accuracy": 50}', "must be a number"),
    (b'{"magnitude_accuracy": 1e400, "azimuth_accuracy": 50}', "not valid JSON"),
    (b'{"magnitude_accuracy": NaN, "azimuth_accuracy": 50}', "not valid JSON"),
    (b'{"magnitude_accuracy": 18446744073709551616, "azimuth_accuracy": 50}', "less than or equal to 100"),
    (b"[" * 100 + b"]" * 100, "nested deeper than 64"),
    (b"\xff\xfe{}", "not valid JSON"),
])
def test_metrics_near_misses_are_refused(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(content)
    with pytest.raises(UserError, match=match):
        load_metrics(path)


def test_metrics_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(b'\xef\xbb\xbf{"magnitude_accuracy": 97, "azimuth_accuracy": 50}')
    assert load_metrics(path) == {"magnitude_accuracy": 97.0, "azimuth_accuracy": 50.0}


# -- policy TOML: ``lifecycle decide --policy F`` -----------------------------------------

POLICY_KEYS = ["weights", "min_gain", "significance_level", "tolerances", "strict", "policy", "x"]
policy_docs = st.dictionaries(st.sampled_from(POLICY_KEYS), st.one_of(
    values,
    st.dictionaries(st.sampled_from(["magnitude_accuracy", "azimuth_accuracy", "large_recall_drop", "y"]),
                    numbers, max_size=3),
), max_size=4)


@FUZZ
@given(data=st.one_of(garbage, policy_docs.map(toml_document).map(str.encode)))
def test_policy_parser(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(data)
    accepted, _ = verdict(load_policy, path)
    if accepted:
        policy = load_policy(path)
        numbers_used = [policy.min_gain, policy.significance_level, *policy.weights.values(),
                        *vars(policy.tolerances).values()]
        assert all(math.isfinite(v) for v in numbers_used), policy
        assert 0 < sum(policy.weights.values()) < math.inf


@CLI_FUZZ
@given(data=st.one_of(garbage, policy_docs.map(toml_document).map(str.encode)))
def test_decide_with_a_policy_file(ready: Path, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(data)
    accepted, message = verdict(load_policy, path)
    before = fingerprint(ready)
    result = run(ready, "decide", "--dry-run", "--same-data", "--json", "--policy", str(path))
    if accepted:  # a valid policy may still leave nothing to weigh: a refusal, not a crash
        assert result.exit_code in (0, 2), result.stderr
        if result.exit_code == 2:
            assert_refused(result)
    else:
        assert_refused(result, message)
    assert fingerprint(ready) == before


# -- ``config/lifecycle.toml``: triggers, rollback rules, hooks, daemon settings ----------

SECTIONS = {"triggers": ["min_new_events", "max_days_between_training"],
            "rollback": ["fpr_rise_critical", "accuracy_drop_high", "rollback_on_high"],
            "daemon": ["quiet_seconds", "max_file_mb"], "hooks": ["events", "command", "timeout"]}
section = st.sampled_from([*SECTIONS, "x"]).flatmap(lambda name: st.tuples(st.just(name), st.dictionaries(
    st.sampled_from([*SECTIONS.get(name, []), "z"]),
    st.one_of(values, st.lists(st.text(max_size=6), min_size=1, max_size=2)), max_size=3)))
config_docs = st.one_of(
    st.lists(section, max_size=4).map(lambda pairs: {n: ([t] if n == "hooks" else t) for n, t in pairs}),
    st.dictionaries(st.sampled_from([*SECTIONS, "x"]), values, max_size=3),
)


def _config(root: Path, data: bytes) -> Path:
    path = root / "config" / "lifecycle.toml"
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.one_of(garbage, config_docs.map(toml_document).map(str.encode)))
def test_config_parser(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "config").mkdir(exist_ok=True)
    _config(tmp_path, data)
    accepted, _ = verdict(load, tmp_path)
    if accepted:
        found = load(tmp_path)
        assert isinstance(found.triggers.min_new_events, int) and found.triggers.min_new_events >= 1
        floats = [found.quiet_seconds, found.max_file_mb, found.triggers.max_days_between_training,
                  found.rollback.fpr_rise_critical, found.rollback.accuracy_drop_high,
                  *(h.timeout for h in found.hooks)]
        assert all(math.isfinite(v) for v in floats), found
        assert all("\0" not in "".join(h.command) for h in found.hooks)


@CLI_FUZZ
@given(data=st.one_of(garbage, config_docs.map(toml_document).map(str.encode)))
def test_commands_reading_the_config(ready: Path, data: bytes) -> None:
    path = _config(ready, data)
    try:
        accepted, message = verdict(load, ready)
        before = fingerprint(ready)
        result = run(ready, "data", "list", "--json")
        if accepted:
            assert result.exit_code == 0, result.stderr
        else:
            assert_refused(result, message)
        assert fingerprint(ready) == before
    finally:
        path.unlink()


@pytest.mark.parametrize(("content", "match"), [
    ("daemon = 1", "daemon must be a table"),
    ("hooks = [1]", "[[hooks]] must be a table"),
    ("rollback = 'x'", "rollback must be a table"),
    ("[triggers]\nmin_new_events = inf", "must be a finite number"),
    ("[triggers]\nmin_new_events = nan", "must be a finite number"),
    ("[triggers]\nmin_new_events = 2.5", "must be a whole number"),
    ("[triggers]\nmin_new_events = 1" + "0" * 400, "must be a finite number"),
    ("[triggers]\nmin_new_events = 1" + "0" * 5000, "not valid TOML"),
    ("[[hooks]]\ncommand = 'x'\ntimeout = 1e300", "at most 86400"),
    ('[[hooks]]\ncommand = ["a\\u0000b"]', "NUL"),
    ("a = " + "[" * 5000 + "]" * 5000, "not valid TOML"),
])
def test_config_near_misses_are_refused(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "config").mkdir()
    _config(tmp_path, content.encode())
    with pytest.raises(UserError, match=match.replace("[", r"\[")):
        load(tmp_path)


def test_config_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    _config(tmp_path, b"\xef\xbb\xbf[triggers]\nmin_new_events = 3\n")
    assert load(tmp_path).triggers.min_new_events == 3


def test_a_bad_hook_config_never_undoes_a_commit(ready: Path, tmp_path: Path) -> None:
    """Hooks run after the commit: a broken config is a warning, the commit stands."""
    work = tmp_path / "work"
    shutil.copytree(ready, work, symlinks=True)
    _config(work, b"hooks = 1\n")
    metrics = tmp_path / "m.json"
    metrics.write_text('{"magnitude_accuracy": 91, "azimuth_accuracy": 60}')
    lines = (work / "events.jsonl").read_bytes().count(b"\n")
    result = run(work, "evaluate", "champion", "--dataset", "hooks", "--metrics-file", str(metrics))
    assert result.exit_code == 0, result.stderr
    assert "warning: hooks not run" in result.stderr and "hooks must be an array" in result.stderr
    assert (work / "events.jsonl").read_bytes().count(b"\n") == lines + 1
