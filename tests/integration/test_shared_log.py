"""Several hosts, one registry: the event log on PostgreSQL (a private server the tests
start, ``tests/helpers/pg.py``). Two roots stand for two hosts sharing one database and
one weight store."""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from bootstrap import open_engine
from tests.conftest import Cli
from tests.helpers.pg import PrivateServer
from tests.helpers.workload import REPO, spawn

METRICS = {"magnitude_accuracy": 90.0, "azimuth_accuracy": 70.0}


def host(tmp_path: Path, name: str, url: str) -> Cli:
    cli = Cli(tmp_path / name)
    cli("init", "--log", url, "--store", str(tmp_path / "shared-store"))
    return cli


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str) -> tuple[Cli, Cli]:
    return host(tmp_path, "host-a", pg_url), host(tmp_path, "host-b", pg_url)


def acks(process: subprocess.Popen[bytes]) -> list[tuple[int, str]]:
    out = process.stdout.read().decode() if process.stdout else ""
    return [(int(s), h) for s, h in (line.split() for line in out.splitlines()
                                      if line and line[0].isdigit())]


def verified(cli: Cli) -> bool:
    """A host's projections follow the shared log through its daemon (or a replay); then
    everything, the chain first, verifies."""
    cli("replay")
    return "ok" in cli("verify").stdout


def log_lines(url: str) -> list[tuple[int, bytes]]:
    with psycopg.connect(url) as conn:
        return [(n, bytes(line)) for n, line in conn.execute("SELECT n, line FROM lifecycle_commits ORDER BY n")]


def champion_ready(cli: Cli, candidate: Path, metrics_file) -> None:  # type: ignore[no-untyped-def]
    cli("submit", str(candidate))
    cli("evaluate", "challenger", "--metrics-file", str(metrics_file(**METRICS)))
    cli("promote", "challenger", "--reason", "first")


def test_two_hosts_share_one_registry(
    hosts: tuple[Cli, Cli], candidates: list[Path], metrics_file, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    a, b = hosts
    champion_ready(a, candidates[0], metrics_file)
    status = b.json("status", code=1)  # the shared state; B's own files wait for its daemon or a replay
    assert status["champion"]["model_id"] == "convnext_v1.0.0" and status["production"]["state"] == "stale"
    b("replay")
    assert b.json("status")["production"]["state"] == "ok"
    assert not (tmp_path / "host-a" / "events.jsonl").exists()
    b("submit", str(candidates[1]))  # host B writes; host A sees it
    assert a.json("status")["challenger"]["model_id"] == "convnext_v1.0.1"
    assert a.json("status")["log"] == b.json("status")["log"]
    for cli in (a, b):
        assert verified(cli)


def test_concurrent_writers_on_both_hosts_never_interleave(
    hosts: tuple[Cli, Cli], candidates: list[Path], metrics_file, tmp_path: Path, pg_url: str  # type: ignore[no-untyped-def]
) -> None:
    a, b = hosts
    champion_ready(a, candidates[0], metrics_file)
    go = tmp_path / "go"
    workers = [spawn("evaluate", tmp_path / name, f"{name}-{n}", "8", str(go))
               for name in ("host-a", "host-b") for n in range(2)]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready"
    go.touch()
    acked = [ack for worker in workers for ack in acks(worker)]
    assert all(worker.wait(timeout=120) == 0 for worker in workers)
    assert len(acked) == 32
    records = list(open_engine(tmp_path / "host-b").records())
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    stored = {r["seq"]: r["hash"] for r in records}
    assert all(stored[seq] == digest for seq, digest in acked)
    assert len({seq for seq, _ in acked}) == 32
    for cli in (a, b):
        assert verified(cli)


def test_writers_killed_mid_append_leave_every_acknowledged_commit_once(
    hosts: tuple[Cli, Cli], candidates: list[Path], metrics_file, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    a, b = hosts
    champion_ready(a, candidates[0], metrics_file)
    rng = random.Random(17)
    acked: list[tuple[int, str]] = []
    for round_ in range(6):
        go = tmp_path / f"go-{round_}"
        worker = spawn("evaluate", tmp_path / ("host-a", "host-b")[round_ % 2], f"k{round_}", "200", str(go))
        assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready"
        go.touch()
        time.sleep(rng.uniform(0.2, 0.8))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        acked += acks(worker)
    records = list(open_engine(tmp_path / "host-a").records())
    stored = {r["seq"]: r["hash"] for r in records}
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert all(stored[seq] == digest for seq, digest in acked) and len(acked) == len(set(acked))
    for cli in (a, b):
        assert verified(cli)


def test_a_database_restart_during_appends_loses_and_duplicates_nothing(
    hosts: tuple[Cli, Cli], candidates: list[Path], metrics_file, tmp_path: Path,  # type: ignore[no-untyped-def]
    pg_server: PrivateServer,
) -> None:
    a, b = hosts
    champion_ready(a, candidates[0], metrics_file)
    go = tmp_path / "go"
    worker = spawn("persist", tmp_path / "host-a", "r", "40", str(go))
    assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready"
    go.touch()
    time.sleep(0.5)
    pg_server.restart("immediate")
    out, err = worker.communicate(timeout=180)
    assert worker.returncode == 0, err.decode()[-2000:]
    acked = [(int(s), h) for s, h in (line.split() for line in out.decode().splitlines() if line[:1].isdigit())]
    assert len(acked) == 40
    records = list(open_engine(tmp_path / "host-b").records())
    datasets = [e["dataset"] for r in records for e in r["events"] if e["type"] == "evaluated"
                and e["dataset"].startswith("r-")]
    assert sorted(datasets) == sorted(f"r-{i}" for i in range(40))  # each command exactly once
    stored = {r["seq"]: r["hash"] for r in records}
    assert all(stored[seq] == digest for seq, digest in acked)
    for cli in (a, b):
        assert verified(cli)


def test_a_promotion_on_one_host_reaches_the_other_hosts_production_through_its_daemon(
    hosts: tuple[Cli, Cli], candidates: list[Path], metrics_file, tmp_path: Path,  # type: ignore[no-untyped-def]
    pg_server: PrivateServer,
) -> None:
    a, _ = hosts
    champion_ready(a, candidates[0], metrics_file)
    root_b = tmp_path / "host-b"  # a scanner host: its daemon only follows the shared log
    daemon = subprocess.Popen([sys.executable, "-m", "cli", "--root", str(root_b), "watch", "--follow"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait(lambda: b"start" in _peek(daemon), 60), "the daemon did not start"
        time.sleep(1.0)  # listening
        latencies = []
        for n in (1, 2):
            if n == 2:
                pg_server.restart("immediate")  # the daemon reconnects and catches up
                time.sleep(1.0)
            a("submit", str(candidates[n]))
            started = time.monotonic()
            a("promote", "challenger", "--reason", f"promotion {n}")
            target = json.loads(a("status", "--json").stdout)["champion"]["weights"]["sha256"]
            link = root_b / "production" / "models" / "earthquake_model.pth"
            switched = functools.partial(lambda path, digest: _digest(path) == digest, link, target)
            assert _wait(switched, 10), f"host B's production never switched ({n})"
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 2.0, latencies
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)


def _peek(process: subprocess.Popen[bytes]) -> bytes:
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    return process.stderr.read() or b""


def _wait(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def _digest(path: Path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def test_export_and_migrate_round_trip_byte_for_byte(
    tmp_path: Path, pg_url: str, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    embedded = Cli(tmp_path / "embedded")
    embedded("init")
    champion_ready(embedded, candidates[0], metrics_file)
    embedded("submit", str(candidates[1]))
    before = (tmp_path / "embedded" / "events.jsonl").read_bytes()
    embedded("log", "migrate", "--to", pg_url)
    assert b"".join(line for _, line in log_lines(pg_url)) == before
    assert "ok" in embedded("verify").stdout
    embedded("log", "export", str(tmp_path / "exported.jsonl"))
    assert (tmp_path / "exported.jsonl").read_bytes() == before
    other = Cli(tmp_path / "from-export")  # an embedded root on the exported file verifies too
    other("init")
    shutil.copy(tmp_path / "exported.jsonl", tmp_path / "from-export" / "events.jsonl")
    shutil.rmtree(tmp_path / "from-export" / "store")
    shutil.copytree(tmp_path / "embedded" / "store", tmp_path / "from-export" / "store")
    other("replay")
    assert "ok" in other("verify").stdout
    assert other.json("status")["log"] == embedded.json("status")["log"]


def test_bad_shared_logs_are_one_line_and_change_nothing(
    tmp_path: Path, pg_url: str, pg_server: PrivateServer, hosts: tuple[Cli, Cli]
) -> None:
    root = tmp_path / "lonely"
    cli = Cli(root)
    for url, words in ((f"postgresql://postgres@/nosuchdb?host={pg_server.socket_dir}", "cannot reach"),
                       ("postgresql://postgres@/x?host=/nonexistent-socket-dir", "cannot reach"),
                       (pg_url.replace("postgres@", "intruder@"), "cannot reach"),
                       ("mysql://x/y", "takes a postgresql:// URL")):
        result = cli("init", "--log", url, code=2)
        assert words in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert not (root / "config" / "lifecycle.toml").exists()
    a, _ = hosts
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE lifecycle_meta SET value = '99' WHERE key = 'schema_version'")
        result = a("status", code=2)
        assert "schema version '99'" in result.stderr and result.stderr.count("\n") == 1
        conn.execute("UPDATE lifecycle_meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("UPDATE lifecycle_meta SET value = 'another' WHERE key = 'registry_id'")
        result = a("status", code=2)
        assert "holds another registry (id another)" in result.stderr
        assert json.dumps(result.stderr).count("\\n") == 1


def test_a_database_edit_is_detected_like_a_file_edit(
    hosts: tuple[Cli, Cli], candidates: list[Path], metrics_file, pg_url: str  # type: ignore[no-untyped-def]
) -> None:
    a, b = hosts
    champion_ready(a, candidates[0], metrics_file)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE lifecycle_commits SET line = convert_to(replace(convert_from(line, 'UTF8'), "
                     "'first', 'forged'), 'UTF8') WHERE n = 3")
    result = b("status", code=2)  # as with a file: corruption refuses every command
    assert "event log is corrupt at line 3" in result.stderr and result.stderr.count("\n") == 1
    assert b("verify", code=1).stdout.count("line 3") >= 1


def test_a_malformed_url_never_echoes_its_password(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "r")
    result = cli("init", "--log", "postgresql://u:s3cret@[::1/db", code=2)
    assert "s3cret" not in result.stderr + result.stdout and result.stderr.count("\n") == 1


def test_the_environment_cannot_swap_the_log_of_a_root_that_has_its_own(
    tmp_path: Path, pg_url: str, candidates: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded = Cli(tmp_path / "embedded")
    embedded("init")
    embedded("submit", str(candidates[0]))
    monkeypatch.setenv("LIFECYCLE_LOG_URL", pg_url)
    result = embedded("status", code=2)
    assert "has its own log with commits" in result.stderr


def test_migrate_refuses_while_a_daemon_runs_and_keeps_the_config_valid(
    tmp_path: Path, pg_url: str, candidates: list[Path]
) -> None:
    import fcntl

    root = tmp_path / "embedded"
    cli = Cli(root)
    cli("init")
    cli("submit", str(candidates[0]))
    (root / "config" / "lifecycle.toml").write_text('[store]\npath = "/elsewhere"\n')
    result = cli("log", "migrate", "--to", pg_url, code=2)  # a [store] table already: refused, nothing moved
    assert "already has a [log] or [store] table" in result.stderr
    assert (root / "events.jsonl").exists() and not log_lines(pg_url)
    (root / "config" / "lifecycle.toml").write_text("[triggers]\nmin_new_events = 3\n")
    fd = os.open(root / "daemon.lock", os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = cli("log", "migrate", "--to", pg_url, code=2)
        assert "a daemon ('lifecycle watch') runs on this root" in result.stderr
    finally:
        os.close(fd)
    cli("log", "migrate", "--to", pg_url)
    config = (root / "config" / "lifecycle.toml").read_text()
    assert config.startswith("[triggers]\nmin_new_events = 3\n") and "[log]" in config
    assert (root / "config" / "lifecycle.toml").stat().st_mode & 0o077 == 0  # the URL may hold a password
    assert "ok" in cli("verify").stdout
