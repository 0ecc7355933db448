"""Hostile paths and names: symlinks out of a candidate folder, a drop, an installation or
the root; names with newlines or control characters; ids with ``..`` or ``/``.

CLI refusals: exit 2, one line, the root byte for byte unchanged. The daemon: every bad
drop ends in ``.failed/`` with its reason, nothing is registered, nothing outside the inbox
is moved or written. ``tests/integration/test_bad_input.py`` covers model references with ``..``/``/``
and malformed explicit versions; this file covers the rest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import Cli
from tests.integration.test_bad_input import fingerprint

WATCH = ["watch", "--once", "--device", "cpu"]
CONTROL_NAMES = ["cand\nidate", "cand\x1b[31mred", "cand\ridate", "tab\there"]


def refused(cli: Cli, root: Path, *args: str, match: str) -> str:
    log = (root / "events.jsonl").read_bytes()
    before = fingerprint(root)
    result = cli(*args, code=2)
    err = str(result.stderr).strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in result.stdout + result.stderr
    assert match in err, err
    assert (root / "events.jsonl").read_bytes() == log
    assert fingerprint(root) == before, "a refused command changed files"
    return err


@pytest.fixture
def outside(tmp_path: Path, candidates: list[Path]) -> Path:
    """A folder outside every root, inbox and candidate: link targets live here."""
    folder = tmp_path / "outside"
    shutil.copytree(candidates[3], folder)
    (folder / "secret.txt").write_text("do not touch\n")
    return folder


def copy_candidate(candidates: list[Path], where: Path) -> Path:
    shutil.copytree(candidates[0], where)
    return where


# -- lifecycle submit PATH -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["best_model.pth", "class_mappings.json", "training_config.json",
                                  "metadata.json"])
def test_submit_refuses_a_candidate_file_that_is_a_symlink(
    cli: Cli, root: Path, candidates: list[Path], outside: Path, tmp_path: Path, name: str
) -> None:
    folder = copy_candidate(candidates, tmp_path / "cand")
    (folder / name).unlink(missing_ok=True)
    target = outside / name if (outside / name).exists() else outside / "secret.txt"
    (folder / name).symlink_to(target)
    refused(cli, root, "submit", str(folder), match=f"{name} is a symlink (to {str(target)!r})")
    assert cli.json("list") == []


def test_submit_refuses_a_link_into_the_root(cli: Cli, root: Path, candidates: list[Path], tmp_path: Path) -> None:
    """Even a link to a file of the registry itself (its log)."""
    folder = copy_candidate(candidates, tmp_path / "cand")
    (folder / "training_config.json").unlink()
    (folder / "training_config.json").symlink_to(root / "events.jsonl")
    refused(cli, root, "submit", str(folder), match="is a symlink")


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_submit_refuses_paths_with_control_characters(
    cli: Cli, root: Path, candidates: list[Path], tmp_path: Path, name: str
) -> None:
    folder = copy_candidate(candidates, tmp_path / name)
    err = refused(cli, root, "submit", str(folder), match="holds control characters")
    assert repr(str(folder)) in err
    refused(cli, root, "submit", str(folder / "best_model.pth"), match="holds control characters")


@pytest.mark.parametrize("family", ["../x", "con/vnext", "/etc", "..", "convnext\n", "conv\x1bnext",
                                    "", "Convnext", "convnext_v1"])
def test_submit_refuses_families_that_are_not_plain_names(
    cli: Cli, root: Path, candidates: list[Path], family: str
) -> None:
    err = refused(cli, root, "submit", str(candidates[0]), "--family", family, match="model")
    assert "not a model family" in err or "invalid model_id" in err, err


@pytest.mark.parametrize("version", ["1.0.1\x00", "1.0.1/..", "/1.0.1", "1.0.1\x1b", "1..0"])
def test_submit_refuses_versions_with_control_characters_or_separators(
    cli: Cli, root: Path, candidates: list[Path], version: str
) -> None:
    refused(cli, root, "submit", str(candidates[0]), "--version", version, match="not a version")


@pytest.mark.parametrize("version", ["1.0.1\n", "\t1.0.1"])
def test_submit_refuses_versions_with_a_newline_or_tab(
    cli: Cli, root: Path, candidates: list[Path], version: str
) -> None:
    refused(cli, root, "submit", str(candidates[0]), "--version", version, match="not a version")


def test_references_with_a_trailing_newline_are_refused(cli: Cli, root: Path, candidates: list[Path]) -> None:
    cli("submit", str(candidates[0]))
    refused(cli, root, "promote", "1.0.0\n", "--reason", "x", match="not a model reference")


# -- lifecycle data add --------------------------------------------------------------------
@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "spectrogram.png"
    Image.new("RGB", (224, 224), "white").save(path)
    return path


def data_add(event_id: str, image: Path, station: str = "GTO", date: str = "2026-02-10") -> list[str]:
    return ["data", "add", "--event-id", event_id, "--station", station, "--date", date,
            "--image", str(image), "--magnitude-class", "Medium", "--azimuth-class", "N"]


@pytest.mark.parametrize("event_id", ["../x", "..", "GTO/20260210", "/etc/passwd", "GTO_20260210\n",
                                      "GTO\x1b[2J", "GTO\x00", "GTO 20260210", ".hidden"])
def test_data_add_refuses_event_ids_that_could_escape(cli: Cli, root: Path, image: Path, event_id: str) -> None:
    refused(cli, root, *data_add(event_id, image), match=repr(event_id))
    assert cli.json("data", "list")["events"] == []


@pytest.mark.parametrize(("station", "date", "match"), [
    ("GTO\n", "2026-02-10", "unknown station"), ("../GTO", "2026-02-10", "unknown station"),
    ("GTO", "2026-02-10\n", "not a date"), ("GTO", "../2026", "not a date"),
])
def test_data_add_refuses_stations_and_dates_with_separators(
    cli: Cli, root: Path, image: Path, station: str, date: str, match: str
) -> None:
    refused(cli, root, *data_add("GTO_20260210", image, station, date), match=match)


def test_data_add_accepts_the_same_event_when_clean(cli: Cli, root: Path, image: Path) -> None:
    """The control: what the refusals above vary is what makes them fail."""
    cli(*data_add("GTO_20260210", image))
    assert [e["event_id"] for e in cli.json("data", "list")["events"]] == ["GTO_20260210"]


# -- lifecycle import PATH -----------------------------------------------------------------
def test_import_reads_nothing_through_symlinks(tmp_path: Path, outside: Path) -> None:
    archive = tmp_path / "original" / "models" / "archive"
    model = archive / "convnext_v1.0.0"
    model.mkdir(parents=True)
    shutil.copy(outside / "class_mappings.json", model)
    (model / "metadata.json").write_text(json.dumps({"model_id": "convnext_v1.0.0"}))
    (model / "best_model.pth").symlink_to(outside / "best_model.pth")
    (model / "training_config.json").symlink_to(outside / "secret.txt")
    (archive / "convnext_v1.0.1").symlink_to(outside, target_is_directory=True)
    (archive / "convnext_v1.0.2\n").mkdir()
    (tmp_path / "original" / "models" / "champion").symlink_to(outside, target_is_directory=True)
    cli = Cli(tmp_path / "new-root")
    out = cli("import", str(tmp_path / "original")).stdout
    for line in (f"best_model.pth is a symlink (to {str(outside / 'best_model.pth')!r}); not imported",
                 "training_config.json is a symlink",
                 f"models/archive/convnext_v1.0.1: a symlink to {str(outside)!r}",
                 "skipped models/archive/'convnext_v1.0.2\\n': not a model folder",
                 f"skipped models/champion: a symlink to {str(outside)!r}"):
        assert line in out, out
    assert all(line.startswith(("import: ", "imported", "installation_imported", "commit "))
               for line in out.splitlines()), out
    assert [m["model_id"] for m in cli.json("list")] == ["convnext_v1.0.0"]
    taken = {p.read_bytes() for p in (tmp_path / "new-root").rglob("*") if p.is_file()}
    assert (outside / "best_model.pth").read_bytes() not in taken
    assert (outside / "secret.txt").read_bytes() not in taken


@pytest.mark.parametrize("model_id", ["convnext_v1.0.0\n", "../../x_v1.0.0", "convnext_v1.0.0/..",
                                      "/etc/x_v1.0.0"])
def test_import_refuses_model_ids_that_are_not_exact(tmp_path: Path, model_id: str) -> None:
    model = tmp_path / "original" / "models" / "archive" / "convnext_v1.0.0"
    model.mkdir(parents=True)
    (model / "metadata.json").write_text(json.dumps({"model_id": model_id}))
    result = Cli(tmp_path / "new-root")("import", str(tmp_path / "original"), code=2)
    err = str(result.stderr).strip()
    assert len(err.splitlines()) == 1 and f"cannot tell the model's id or version ({model_id!r})" in err
    assert not (tmp_path / "new-root").exists(), "a refused import created the root"


def test_import_refuses_a_path_with_control_characters(tmp_path: Path) -> None:
    (tmp_path / "orig\ninal" / "models").mkdir(parents=True)
    result = Cli(tmp_path / "new-root")("import", str(tmp_path / "orig\ninal"), code=2)
    assert "holds control characters" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "new-root").exists()


# -- the daemon's inbox --------------------------------------------------------------------
def tree(folder: Path) -> dict[str, str]:
    return fingerprint(folder)


def make_drops(root: Path, candidate: Path, outside: Path) -> dict[str, str]:
    """Drop name -> what its reason must say."""
    inbox = root / "inbox"

    def drop(name: str) -> Path:
        shutil.copytree(candidate, inbox / name)
        (inbox / name / "READY").touch()
        return inbox / name

    (drop("weights-out") / "best_model.pth").unlink()
    (inbox / "weights-out" / "best_model.pth").symlink_to(outside / "best_model.pth")
    (drop("into-root") / "training_config.json").unlink()
    (inbox / "into-root" / "training_config.json").symlink_to(root / "events.jsonl")
    (drop("out-of-root") / "notes.txt").symlink_to("/etc/hostname")
    (drop("dir-link") / "data").symlink_to("/", target_is_directory=True)
    (outside / "READY").touch()  # so the linked drop is taken now, not after the quiet period
    (inbox / "drop-link").symlink_to(outside, target_is_directory=True)
    (drop("reason-link") / "reason.txt").symlink_to(outside / "secret.txt")
    drop("bad\nname")
    drop("esc\x1b[2Jname")
    return {"weights-out": "best_model.pth is a symlink pointing outside the drop",
            "into-root": "training_config.json is a symlink pointing outside the drop",
            "out-of-root": "notes.txt is a symlink pointing outside the drop (/etc/hostname)",
            "dir-link": "data is a symlink pointing outside the drop (/)",
            "drop-link": "the drop itself is a symlink",
            "reason-link": "reason.txt is a symlink",
            "bad_name": "'bad\\nname' holds control characters",
            "esc_[2Jname": "'esc\\x1b[2Jname' holds control characters"}


def failed_reason(root: Path, name: str) -> str:
    inside = root / "inbox" / ".failed" / name / "reason.txt"
    if inside.is_file() and not inside.is_symlink():
        return inside.read_text()
    return (root / "inbox" / ".failed" / f"{name}.reason.txt").read_text()


def test_hostile_drops_fail_with_reasons_and_touch_nothing_outside(
    site: Cli, root: Path, candidates: list[Path], outside: Path
) -> None:
    expected = make_drops(root, candidates[0], outside)
    log, kept = (root / "events.jsonl").read_bytes(), tree(outside)
    site(*WATCH)
    for name, why in expected.items():
        assert why in failed_reason(root, name), (name, failed_reason(root, name))
    added = (root / "events.jsonl").read_bytes()[len(log):]
    assert added.startswith(log[:0]) and all(
        json.loads(line)["events"][0]["type"] == "problem_reported" for line in added.splitlines()
    ), "a hostile drop was registered"  # each refusal is recorded as a problem, and nothing else
    assert tree(outside) == kept, "something outside the inbox was moved or written"
    assert (root / "inbox" / ".failed" / "drop-link").is_symlink()  # the link moved, not its target
    assert not [p for p in (root / "inbox").iterdir() if not p.name.startswith(".")]
    assert all(name.isprintable() for name in os.listdir(root / "inbox" / ".failed"))


def test_a_planted_failed_link_never_moves_a_drop_out_of_the_inbox(
    site: Cli, root: Path, candidates: list[Path], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "inbox" / ".failed").symlink_to(elsewhere, target_is_directory=True)
    shutil.copytree(candidates[0], root / "inbox" / "bad")
    (root / "inbox" / "bad" / "best_model.pth").write_bytes(b"not a checkpoint")
    (root / "inbox" / "bad" / "READY").touch()
    result = site(*WATCH)
    assert list(elsewhere.iterdir()) == []
    assert (root / "inbox" / "bad" / "best_model.pth").read_bytes() == b"not a checkpoint"
    assert "is not a folder of the inbox" in result.stderr


def test_the_daemon_log_stays_one_line_per_step(site: Cli, root: Path, candidates: list[Path]) -> None:
    drop = shutil.copytree(candidates[0], root / "inbox" / "x\n2026-01-01T00:00:00.000000Z\tdone\tdrop=forged")
    (drop / "READY").touch()
    result = site(*WATCH)
    lines = str(result.stderr).splitlines()
    step = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z [a-z_]+( |$)")
    assert all(step.match(line) for line in lines), lines
