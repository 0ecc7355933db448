"""Disk use (issue 6, scale): weights are stored once however many folders show them, and
the log grows linearly with the commits (no rewriting, no per-commit growth)."""

from __future__ import annotations

import os
from pathlib import Path

from bootstrap import open_engine
from lifecycle.commands import Promote, Rollback
from tests.helpers.workload import evaluation, fake_submit, prepare, rollback_target


def _files(root: Path, under: str) -> list[Path]:
    return [p for p in (root / under).rglob("*") if p.is_file() and not p.is_symlink()]


def test_every_folder_shows_the_stores_only_copy_of_the_weights(tmp_path: Path) -> None:
    engine = prepare(tmp_path / "r", champions=4)
    for n in range(6):  # promotions and rollbacks move models between folders
        engine.execute(Rollback(ref=rollback_target(engine), reason=f"drill {n}"))
    state = engine.state()
    digests = {m.weights["digest"] for m in state.models.values() if m.weights}
    shown = [p for p in _files(engine.root, "models") if p.name == "best_model.pth"]
    assert len(shown) == len(state.models)
    for path in shown:
        assert any(os.path.samefile(path, engine.store.path(d)) for d in digests), path
    production = engine.root / "production" / "models" / "earthquake_model.pth"
    champion = state.models[state.champion]  # type: ignore[index]
    assert os.path.samefile(production, engine.store.path(champion.weights["digest"]))  # type: ignore[index]
    inodes = {p.stat().st_ino for p in shown}
    assert len(inodes) == len(digests)  # one file on disk per distinct weights


def test_a_rollback_adds_no_bytes_to_the_store(tmp_path: Path) -> None:
    engine = prepare(tmp_path / "r", champions=3)
    before = sum(p.stat().st_size for p in _files(engine.root, "store"))
    for n in range(5):
        engine.execute(Rollback(ref=rollback_target(engine), reason=f"drill {n}"))
    assert sum(p.stat().st_size for p in _files(engine.root, "store")) == before


def test_the_log_grows_linearly_with_the_commits(tmp_path: Path) -> None:
    engine = open_engine(tmp_path / "r")
    engine.init()
    engine.execute(fake_submit(engine, "one"))
    engine.execute(Promote(ref="challenger", reason="first"))
    log = engine.root / "events.jsonl"
    sizes = []
    for _ in range(3):
        before = log.read_bytes()
        for n in range(50):
            engine.execute(evaluation("champion", f"set{n % 5}", 80.0 + (n % 10)))
        after = log.read_bytes()
        assert after.startswith(before)  # appended only: nothing before is rewritten
        sizes.append(len(after) - len(before))
    assert max(sizes) - min(sizes) <= 0.01 * min(sizes), sizes  # the same bytes per commit, every block


def test_a_commit_projects_only_its_models_and_leaves_the_tree_a_full_rebuild_wants(tmp_path: Path) -> None:
    """Writers reconcile only the folders of the models a commit changed; after every kind
    of commit the whole tree on disk is exactly what a full reconcile would produce."""
    from lifecycle.commands import Reject
    from projections.layout import desired_tree
    from projections.reconcile import plan

    engine = prepare(tmp_path / "r", champions=3)

    def run(command: object) -> None:
        engine.execute(command)
        state = engine.state()
        assert plan(engine.root, desired_tree(state), engine.store) == ([], []), command

    for n in range(3):
        run(fake_submit(engine, f"n{n}"))
        run(evaluation("challenger", "benchmark", 80.0 + n))
        run(evaluation("champion", "benchmark", 85.0))
        run(Reject(ref="challenger", reason="worse") if n == 1 else Promote(ref="challenger", reason="better"))
        run(Rollback(ref=rollback_target(engine), reason="drill"))
    run(Rollback(ref=None, reason="back to the previous champion"))
    run(evaluation("1.0.0", "holdout", 70.0))  # an archived model's folder
