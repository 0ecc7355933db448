"""Tensors whose logical size is not bounded by the bytes stored for them are refused
before any of their values are read (``models.checkpoint`` guarantee 5).

A 1.6 KB file can hold ``torch.zeros(1).expand(10**6, 10**6)``: one stored float seen as
10**12 of them. Checking its values (``torch.isfinite``) would allocate terabytes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lifecycle.errors import UserError
from models import checkpoint
from models.checkpoint import load_state_dict
from tests.conftest import ARCH, Cli

REPO = Path(__file__).resolve().parents[2]
MiB = 2**20

MEASURE = """
import resource, sys
from pathlib import Path
from lifecycle.errors import UserError
from models.checkpoint import load_state_dict
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_state_dict(Path(sys.argv[1]))
    print("accepted")
except UserError as exc:
    print("refused:", exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def save(path: Path, **tensors: torch.Tensor) -> Path:
    torch.save({"model_state_dict": tensors}, path)
    return path


def one_line_refusal(path: Path, match: str) -> str:
    with pytest.raises(UserError) as info:
        load_state_dict(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and match in message, message
    return message


@pytest.mark.parametrize("n", [20_000, 10**6])
def test_an_expanded_view_is_refused_in_bounded_memory(tmp_path: Path, n: int) -> None:
    path = save(tmp_path / "expanded.pth", x=torch.zeros(1).expand(n, n))
    assert path.stat().st_size < 4096
    run = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    verdict, grew_kib = run.stdout.strip().splitlines()
    assert verdict.startswith("refused:") and "'x'" in verdict, verdict
    assert int(grew_kib) * 1024 < 256 * MiB, f"loading grew the peak RSS by {int(grew_kib) // 1024} MiB"


def test_a_zero_stride_is_refused_by_name(tmp_path: Path) -> None:
    path = save(tmp_path / "expanded.pth", fine=torch.ones(3), wide=torch.zeros(4, 1).expand(4, 1000))
    message = one_line_refusal(path, "'wide'")
    assert "4 x 1000" in message and "stride 0" in message


def test_an_overlapping_view_is_refused_by_name(tmp_path: Path) -> None:
    overlapping = torch.zeros(2000).as_strided((1000, 1000), (1, 1))  # 10**6 values from 2000 stored
    path = save(tmp_path / "overlap.pth", w=overlapping)
    message = one_line_refusal(path, "'w'")
    assert "3.8 MB" in message and "7.8 KB" in message


def test_views_that_fit_their_storage_are_accepted(tmp_path: Path) -> None:
    base = torch.arange(12.0)
    path = save(tmp_path / "views.pth", a=base[2:8], b=base.view(3, 4).t(), c=torch.zeros(1, 5).expand(1, 5))
    state = load_state_dict(path)
    assert torch.equal(state["b"], base.view(3, 4).t())


def test_the_total_logical_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = torch.zeros(1000)  # stored once, seen 100 times: 400 KB of values from 4 KB
    path = save(tmp_path / "shared.pth", **{f"t{i}": shared for i in range(100)})
    assert load_state_dict(path).keys() == {f"t{i}" for i in range(100)}
    monkeypatch.setattr(checkpoint, "MAX_UNPACKED_BYTES", 100_000)
    one_line_refusal(path, "390.6 KB")


def test_a_normal_checkpoint_is_accepted(candidates: list[Path]) -> None:
    state = load_state_dict(candidates[0] / "best_model.pth")
    assert "mag_head.5.weight" in state


def test_submit_refuses_an_expanded_view_in_one_line(tmp_path: Path) -> None:
    path = save(tmp_path / "expanded.pth", x=torch.zeros(1).expand(10**6, 10**6))
    cli = Cli(tmp_path / "R")
    cli("init")
    log = (cli.root / "events.jsonl").read_bytes()
    result = cli("submit", str(path), "--architecture", ARCH, code=2)
    err = str(result.stderr).strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "'x'" in err and "Traceback" not in result.stdout + result.stderr
    assert (cli.root / "events.jsonl").read_bytes() == log
    assert cli.json("list") == []
