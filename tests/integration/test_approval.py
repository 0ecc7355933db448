"""Decisions that hold up, through the CLI and the daemon: a human in the loop when asked
(``[decide] require_approval``), no silent checks, and power stated in every decision."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bootstrap import open_engine
from tests.conftest import Cli
from tests.integration.test_daemon import WATCH, drop, reason

OLD = {"magnitude_accuracy": 90.0, "azimuth_accuracy": 70.0, "large_recall": 80.0}
BETTER = {"magnitude_accuracy": 94.0, "azimuth_accuracy": 75.0, "large_recall": 85.0}
WORSE = {"magnitude_accuracy": 85.0, "azimuth_accuracy": 60.0, "large_recall": 70.0}


def require_approval(root: Path, hooks: str = "") -> None:
    (root / "config" / "lifecycle.toml").write_text("[decide]\nrequire_approval = true\n" + hooks)


def challenge(cli: Cli, candidates: list[Path], metrics_file, new: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    """v1.0.0 champion (OLD, by hand), v1.0.1 challenger with ``new``; both from metrics files."""
    cli("submit", str(candidates[0]))
    cli("evaluate", "challenger", "--metrics-file", str(metrics_file(**OLD)))
    cli("promote", "challenger", "--reason", "first")
    cli("submit", str(candidates[1]))
    cli("evaluate", "challenger", "--metrics-file", str(metrics_file(**new)))


def log_lines(root: Path) -> list[str]:
    return (root / "events.jsonl").read_text().splitlines()


def test_metrics_files_are_compared_only_when_the_user_says_they_share_data(
    cli: Cli, root: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    challenge(cli, candidates, metrics_file, BETTER)
    before = log_lines(root)
    result = cli("decide", code=2)
    assert "without a data digest" in result.stderr and "--same-data" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert log_lines(root) == before
    record = cli.json("decide", "--same-data")
    promoted = record["events"][-1]
    assert promoted["type"] == "promoted"
    assert promoted["decision"]["dataset"]["same_data"] == "asserted by the user (--same-data)"


def test_a_tolerance_that_cannot_be_checked_is_shown_not_dropped(
    cli: Cli, root: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    challenge(cli, candidates, metrics_file, {"magnitude_accuracy": 94.0, "azimuth_accuracy": 75.0})
    result = cli("decide", "--same-data")
    assert "[----] not checked: large_recall missing (challenger)" in result.stdout
    assert "not checked: false_positive_rate missing (champion and challenger)" in result.stdout
    assert "power: power not estimated (no per-sample predictions)" in result.stdout
    [promoted] = cli.json("history", "--type", "promoted")[-1:]
    decision = open_engine(root).state().resolve("1.0.1").decision
    check = next(c for c in decision["checks"] if c["name"] == "tolerance:large_recall")
    assert check == {"name": "tolerance:large_recall", "passed": True, "checked": False, "limit": -2.0,
                     "missing": ["challenger"], "detail": "not checked: large_recall missing (challenger)"}
    assert promoted["model_id"] == "convnext_v1.0.1"


@pytest.mark.parametrize(("new", "verdict"), [(BETTER, "promote"), (WORSE, "reject")])
def test_with_require_approval_the_verdict_waits_for_a_person(
    cli: Cli, root: Path, candidates: list[Path], metrics_file, tmp_path: Path,  # type: ignore[no-untyped-def]
    new: dict, verdict: str,  # type: ignore[type-arg]
) -> None:
    marker = tmp_path / "hook.json"
    require_approval(root, f'[[hooks]]\nevents = ["approval_requested"]\ncommand = "cat > {marker}"\n')
    challenge(cli, candidates, metrics_file, new)
    result = cli("decide", "--same-data")
    assert "approval_requested: convnext_v1.0.1" in result.stdout
    assert "awaiting approval: lifecycle approve convnext_v1.0.1" in result.stdout
    status = cli.json("status")
    assert status["champion"]["model_id"] == "convnext_v1.0.0"
    assert status["challenger"]["model_id"] == "convnext_v1.0.1"
    pending = status["pending_approval"]
    assert (pending["model_id"], pending["verdict"], pending["stale"]) == ("convnext_v1.0.1", verdict, None)
    assert "Awaiting approval: " + verdict in cli("status").stdout
    [requested] = cli.json("history", "--type", "approval_requested")
    assert requested["detail"] == f"verdict {verdict} awaits approval"
    refused = cli("decide", "--same-data", code=2)
    assert "awaits approval since commit" in refused.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (marker.exists() and marker.stat().st_size):
        time.sleep(0.1)
    assert json.loads(marker.read_text())["event"]["verdict"] == verdict

    record = cli.json("approve", "convnext_v1.0.1", "--reason", "looked at the confusion matrices")
    assert [e["type"] for e in record["events"]] == (
        ["approved", "archived", "promoted"] if verdict == "promote" else ["approved", "rejected"])
    assert record["actor"] == open_engine(root).actor  # the person running it
    status = cli.json("status")
    assert status["pending_approval"] is None
    assert status["champion"]["model_id"] == ("convnext_v1.0.1" if verdict == "promote" else "convnext_v1.0.0")
    decision = open_engine(root).state().resolve("1.0.1").decision
    assert decision["approval"] == {"approved": "looked at the confusion matrices",
                                    "requested_seq": requested["seq"]}


def test_a_declined_promotion_rejects_the_challenger_and_keeps_the_champion(
    cli: Cli, root: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    require_approval(root)
    challenge(cli, candidates, metrics_file, BETTER)
    cli("decide", "--same-data")
    record = cli.json("decline", "challenger", "--reason", "not during the field campaign")
    assert [e["type"] for e in record["events"]] == ["declined", "rejected"]
    status = cli.json("status")
    assert status["champion"]["model_id"] == "convnext_v1.0.0" and status["challenger"] is None
    assert open_engine(root).state().resolve("1.0.1").reason == "promotion declined: not during the field campaign"


def test_a_declined_rejection_leaves_the_challenger_to_be_decided_by_hand(
    cli: Cli, root: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    require_approval(root)
    challenge(cli, candidates, metrics_file, WORSE)
    cli("decide", "--same-data")
    record = cli.json("decline", "1.0.1", "--reason", "the holdout is too small to tell")
    assert [e["type"] for e in record["events"]] == ["declined"]
    status = cli.json("status")
    assert status["challenger"]["model_id"] == "convnext_v1.0.1" and status["pending_approval"] is None
    cli("promote", "challenger", "--reason", "overruled the rule by hand")
    assert cli.json("status")["champion"]["model_id"] == "convnext_v1.0.1"


def test_a_newer_evaluation_makes_the_pending_verdict_stale(
    cli: Cli, root: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    require_approval(root)
    challenge(cli, candidates, metrics_file, BETTER)
    cli("decide", "--same-data")
    cli("evaluate", "champion", "--metrics-file", str(metrics_file(**OLD)))
    assert cli.json("status")["pending_approval"]["stale"].startswith("convnext_v1.0.0 was evaluated again")
    assert "STALE" in cli("status").stdout
    before = log_lines(root)
    for verb in ("approve", "decline"):
        result = cli(verb, "challenger", "--reason", "too late", code=2)
        assert "is stale: convnext_v1.0.0 was evaluated again" in result.stderr
        assert "run 'lifecycle decide' again" in result.stderr
    assert log_lines(root) == before
    cli("decide", "--same-data")  # a fresh verdict replaces the stale one
    assert cli.json("status")["pending_approval"]["stale"] is None


def test_nothing_to_approve_is_one_line(cli: Cli, root: Path, candidates: list[Path]) -> None:
    cli("submit", str(candidates[0]))
    result = cli("approve", "challenger", "--reason", "x", code=2)
    assert result.stderr.startswith("error: nothing awaits approval") and result.stderr.count("\n") == 1


def test_the_daemon_asks_a_person_and_does_not_ask_twice(site: Cli, root: Path, candidates: list[Path]) -> None:
    require_approval(root)
    drop(root, candidates[0], "first")
    site(*WATCH)
    assert reason(root, ".done", "convnext_v1.0.0").startswith("promote awaits approval: first model")
    assert site.json("status")["champion"] is None
    drop(root, candidates[1], "second")
    result = site(*WATCH)  # the pending verdict blocks the next drop; nothing is decided again
    assert len(site.json("history", "--type", "approval_requested")) == 1
    assert (root / "inbox" / "second").exists()
    assert "awaits approval of its verdict" in result.stderr
    site("approve", "challenger", "--reason", "first model, checked by hand")
    assert site.json("status")["champion"]["model_id"] == "convnext_v1.0.0"
    site(*WATCH)
    assert reason(root, ".done", "convnext_v1.0.1").split(":")[0] in ("promote awaits approval",
                                                                       "reject awaits approval")


def test_the_python_api_settles_a_pending_verdict_as_its_actor(
    cli: Cli, root: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    from api import ModelDeployer

    require_approval(root)
    challenge(cli, candidates, metrics_file, BETTER)
    cli("decide", "--same-data")
    deployer = ModelDeployer(root, actor="lead@observatory")
    assert deployer.pending_approval()["verdict"] == "promote"  # type: ignore[index]
    assert deployer.status()["pending_approval"]["model_id"] == "convnext_v1.0.1"
    record = deployer.approve("challenger", "reviewed")
    assert record["actor"] == "lead@observatory" and deployer.pending_approval() is None
    assert deployer.get_current_champion()["model_id"] == "convnext_v1.0.1"  # type: ignore[index]


def test_a_rollback_away_and_back_still_makes_the_verdict_stale(
    cli: Cli, root: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    challenge(cli, candidates, metrics_file, BETTER)
    cli("promote", "challenger", "--reason", "second champion")  # champion v1.0.1, v1.0.0 archived
    require_approval(root)
    cli("submit", str(candidates[2]))
    cli("evaluate", "challenger", "--metrics-file", str(metrics_file(**BETTER)))
    cli("decide", "--same-data")
    cli("rollback", "--reason", "away")  # v1.0.0
    cli("rollback", "--version", "1.0.1", "--reason", "and back")  # the same champion again
    assert cli.json("status")["champion"]["model_id"] == "convnext_v1.0.1"
    result = cli("approve", "challenger", "--reason", "late", code=2)
    assert "is stale: the champion changed since commit" in result.stderr


def test_the_state_cache_keeps_the_pending_verdict(
    cli: Cli, root: Path, candidates: list[Path], metrics_file  # type: ignore[no-untyped-def]
) -> None:
    """Readers start from cache/state.json: a verdict requested before it was written must
    survive it, and settling it afterwards must fold onto the cached state."""
    require_approval(root)
    challenge(cli, candidates, metrics_file, BETTER)
    cli("decide", "--same-data")
    cli("replay")  # writes the cache at the request's commit
    assert (root / "cache" / "state.json").exists()
    assert cli.json("status")["pending_approval"]["model_id"] == "convnext_v1.0.1"
    cli("approve", "challenger", "--reason", "fine")
    status = cli.json("status")
    assert status["pending_approval"] is None and status["champion"]["model_id"] == "convnext_v1.0.1"
    cli("verify")
