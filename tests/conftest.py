"""Shared fixtures: small real candidates (built once), registry roots, the CLI in-process."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bootstrap import open_engine
from cli.app import app

ARCH = "convnext_atto"


@pytest.fixture(scope="session")
def candidates(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four untrained convnext_atto candidate folders (seeds 1-4), built once per session."""
    from models.candidate import write_candidate

    base = tmp_path_factory.mktemp("candidates")
    return [write_candidate(base / f"c{n}", architecture=ARCH, seed=n) for n in range(1, 5)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    open_engine(path).init()
    return path


class Cli:
    """Run ``lifecycle --root ROOT ...`` in-process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0):  # type: ignore[no-untyped-def]
        result = self.runner.invoke(app, ["--root", str(self.root), *args])
        if code is not None:
            assert result.exit_code == code, (
                f"lifecycle {' '.join(args)} -> {result.exit_code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
            )
        return result

    def json(self, *args: str, code: int | None = 0):  # type: ignore[no-untyped-def]
        return json.loads(self(*args, "--json", code=code).stdout)


@pytest.fixture
def cli(root: Path) -> Cli:
    return Cli(root)


@pytest.fixture
def metrics_file(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(10**6))

    def write(**metrics: float) -> Path:
        path = tmp_path / f"metrics{next(counter)}.json"
        path.write_text(json.dumps(metrics))
        return path

    return write


@pytest.fixture(scope="module")
def holdout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic benchmark data set for the daemon (built once per module)."""
    from models.synth import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("h") / "benchmark", samples=24, seed=4, image_size=32).root


@pytest.fixture
def site(cli: Cli, root: Path, holdout: Path) -> Cli:
    """A root ready for ``lifecycle watch``: the benchmark data set and an inbox."""
    shutil.copytree(holdout, root / "data" / "benchmark")
    (root / "inbox").mkdir()
    return cli


@pytest.fixture
def with_ne(holdout: Path, tmp_path: Path) -> Path:
    """The holdout with its first earthquake event relabelled to azimuth NE."""
    out = tmp_path / "holdout-ne"
    shutil.copytree(holdout, out)
    labels = out / "labels.csv"
    rows = list(csv.DictReader(labels.open()))
    first = next(r["event_id"] for r in rows if r["magnitude_class"] != "Normal")
    for row in rows:
        if row["event_id"] == first:
            row["azimuth_class"] = "NE"
    with labels.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


from tests.helpers.pg import pg_server, pg_url  # noqa: E402, F401  (a private PostgreSQL server)
