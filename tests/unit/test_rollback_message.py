"""A plain ``lifecycle rollback`` that has nothing to restore says why, honestly: a former
champion that a rollback removed (pre_rollback) is named, with the explicit command that
restores it; plain rollback still does not restore it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli


@pytest.fixture
def rolled_back(cli: Cli, candidates: list[Path]) -> Cli:
    """v1.0.0 champion again after a rollback that removed v1.0.1 (now pre_rollback)."""
    for candidate in candidates[:2]:
        cli("submit", str(candidate))
        cli("promote", "challenger", "--reason", "better")
    cli("rollback", "--reason", "false positives")
    assert cli.json("status")["champion"]["version"] == "1.0.0"
    return cli


def plain_rollback_refused(cli: Cli) -> str:
    log = (cli.root / "events.jsonl").read_bytes()
    result = cli("rollback", code=2)
    err = str(result.stderr).strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in result.stdout + result.stderr, err
    assert (cli.root / "events.jsonl").read_bytes() == log
    return err


def test_a_champion_removed_by_a_rollback_is_named(rolled_back: Cli) -> None:
    [listed] = rolled_back.json("rollback", "--list")
    assert (listed["version"], listed["status"]) == ("1.0.1", "pre_rollback")
    assert plain_rollback_refused(rolled_back) == (
        "error: no archived champion that a plain rollback restores: v1.0.1 was removed by a rollback "
        "(pre_rollback); restore it explicitly with 'lifecycle rollback --version 1.0.1'"
    )
    rolled_back("rollback", "--version", "1.0.1")  # the command the message names works
    assert rolled_back.json("status")["champion"]["version"] == "1.0.1"


def test_several_removed_champions_are_all_named(cli: Cli, candidates: list[Path]) -> None:
    for candidate in candidates[:3]:
        cli("submit", str(candidate))
        cli("promote", "challenger", "--reason", "better")
    cli("rollback", "--reason", "false positives")  # v1.0.2 removed, v1.0.1 champion
    cli("rollback", "--version", "1.0.0")  # v1.0.1 removed, v1.0.0 champion
    assert plain_rollback_refused(cli) == (
        "error: no archived champion that a plain rollback restores: v1.0.1 and v1.0.2 were removed by "
        "rollbacks (pre_rollback); restore one explicitly, e.g. 'lifecycle rollback --version 1.0.1'"
    )


def test_with_no_former_champion_the_message_is_unchanged(cli: Cli, candidates: list[Path]) -> None:
    cli("submit", str(candidates[0]))
    cli("promote", "challenger", "--reason", "first")
    assert plain_rollback_refused(cli) == (
        "error: no archived champion to roll back to; see 'lifecycle rollback --list'"
    )
