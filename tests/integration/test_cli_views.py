"""Reading commands: status (with time travel), list, history filters, compare, schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli


@pytest.fixture
def three(cli: Cli, candidates: list[Path], metrics_file) -> Cli:  # type: ignore[no-untyped-def]
    """v1.0.0 champion, then v1.0.1 promoted, then v1.0.2 waiting as challenger."""
    for n, mag in enumerate((95.0, 97.0)):
        cli("submit", str(candidates[n]))
        cli("evaluate", "challenger", "--metrics-file",
            str(metrics_file(magnitude_accuracy=mag, azimuth_accuracy=70.0 + n * 5)))
        if n:
            cli("evaluate", "champion", "--metrics-file",
                str(metrics_file(magnitude_accuracy=95.0, azimuth_accuracy=70.0)))
        cli("decide", "--same-data")
    cli("submit", str(candidates[2]))
    return cli


def test_status_json_and_time_travel(three: Cli) -> None:
    now = three.json("status")
    assert now["champion"]["model_id"] == "convnext_v1.0.1"
    assert now["challenger"]["model_id"] == "convnext_v1.0.2"
    assert now["challenger"]["status"] == "waiting"
    assert now["log"]["seq"] == 8
    past = three.json("status", "--at-seq", "3")
    assert past["champion"]["model_id"] == "convnext_v1.0.0"
    assert past["challenger"] is None and past["log"]["seq"] == 3
    history = three.json("history")
    promoted_at = next(r["time"] for r in history if r["type"] == "promoted")
    before = three.json("status", "--as-of", "2000-01-01")
    assert before["champion"] is None and before["log"]["seq"] == 0
    at_first = three.json("status", "--as-of", promoted_at)
    assert at_first["champion"]["model_id"] == "convnext_v1.0.0"
    assert three("status", "--as-of", "yesterday", code=2).stderr.startswith("error: not a date")


def test_list_puts_the_champion_first_and_marks_it_default(three: Cli) -> None:
    rows = three.json("list")
    assert [r["model_id"] for r in rows] == ["convnext_v1.0.1", "convnext_v1.0.0",
                                               "convnext_v1.0.2"]
    assert rows[0]["default"] and not any(r["default"] for r in rows[1:])
    assert rows[0]["magnitude_accuracy"] == 97.0
    assert rows[2]["role"] == "challenger (evaluation only)"
    table = three("list").stdout
    assert table.index("convnext_v1.0.1") < table.index("convnext_v1.0.0")


def test_history_filters(three: Cli) -> None:
    everything = three.json("history")
    assert len(everything) == 9  # 8 commits; the second promotion holds archived + promoted
    assert {r["actor"] for r in everything} == {everything[0]["actor"]}
    promoted = three.json("history", "--type", "promoted")
    assert [r["model_id"] for r in promoted] == ["convnext_v1.0.0", "convnext_v1.0.1"]
    assert promoted[1]["reason"].startswith("higher composite score")
    only = three.json("history", "--model", "convnext_v1.0.0")
    assert {r["model_id"] for r in only} == {"convnext_v1.0.0"}
    assert [r["type"] for r in only] == ["trained", "evaluated", "promoted", "evaluated",
                                         "archived"]
    later = three.json("history", "--since", everything[-1]["time"])
    assert [r["seq"] for r in later] == [8]
    assert three.json("history", "--actor", "nobody@nowhere") == []


def test_compare_shows_differences_and_better_marks(three: Cli) -> None:
    view = three.json("compare", "1.0.0", "champion")
    assert view["same_data"] is True
    rows = {r["metric"]: r for r in view["metrics"]}
    assert rows["magnitude_accuracy"]["difference"] == pytest.approx(2.0)
    assert rows["magnitude_accuracy"]["better"] == "b"
    assert "B better" in three("compare", "1.0.0", "1.0.1").stdout


def test_decide_dry_run_records_nothing(three: Cli, metrics_file, root: Path) -> None:  # type: ignore[no-untyped-def]
    three("evaluate", "challenger", "--metrics-file",
          str(metrics_file(magnitude_accuracy=99.0, azimuth_accuracy=90.0)))
    three("evaluate", "champion", "--metrics-file",
          str(metrics_file(magnitude_accuracy=97.0, azimuth_accuracy=75.0)))
    log = (root / "events.jsonl").read_bytes()
    out = three("decide", "--dry-run", "--same-data").stdout
    assert "promoted: convnext_v1.0.2" in out and "dry run: nothing recorded" in out
    assert (root / "events.jsonl").read_bytes() == log


def test_expect_seq_refuses_a_stale_decision(three: Cli) -> None:
    seq = three.json("status")["log"]["seq"]
    result = three("reject", "challenger", "--reason", "x", "--expect-seq", str(seq - 1), code=2)
    assert "changed meanwhile" in result.stderr
    three("reject", "challenger", "--reason", "x", "--expect-seq", str(seq))


def test_schema_is_a_json_schema_of_the_events(cli: Cli) -> None:
    schema = json.loads(cli("schema").stdout)
    assert schema["title"] == "Commit"
    text = json.dumps(schema)
    for kind in ("trained", "evaluated", "promoted", "rejected", "archived", "rolled_back"):
        assert f'"const": "{kind}"' in text


@pytest.mark.parametrize("args", [["status"], ["list"], ["history"], ["rollback", "--list"],
                                  ["verify"], ["replay"]])
def test_reading_commands_never_import_torch(three: Cli, root: Path, args: list[str]) -> None:
    code = (
        "import sys\n"
        "from cli.app import app\n"
        "try:\n"
        f"    app({['--root', str(root), *args]!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'timm' not in sys.modules, 'timm was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def test_reasons_cannot_inject_terminal_escapes_or_rich_markup(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.app import app
    from lifecycle.commands import Reject
    from tests.helpers.workload import fake_submit, prepare

    engine = prepare(tmp_path / "r", champions=1)
    engine.execute(fake_submit(engine, "x"))
    engine.execute(Reject(ref="challenger", reason="\x1b[31mred[/] [bold]loud\nsecond line"))
    result = CliRunner().invoke(app, ["--root", str(engine.root), "history", "--model", "1.0.1"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    flat = "".join(c for c in result.stdout if not c.isspace() and c != "│")
    assert "\\x1b[31mred[/][bold]loud\\nsecondline" in flat  # shown, escaped, not interpreted
