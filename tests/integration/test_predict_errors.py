"""``lifecycle predict`` on files that are not images it can read: one line naming the file,
exit 2, no traceback, nothing recorded; before any model is loaded."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import Cli


def png(size: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


def truncated(size: int = 32) -> bytes:
    noisy = Image.frombytes("L", (size, size), os.urandom(size * size))
    out = io.BytesIO()
    noisy.save(out, "PNG")
    return out.getvalue()[: len(out.getvalue()) // 2]


BAD: dict[str, Callable[[], bytes]] = {
    "hostname": lambda: b"box-17\n",
    "empty.png": lambda: b"",
    "header-only.png": lambda: png()[:16],
    "truncated.png": truncated,
    "weights.pth": lambda: b"PK\x03\x04" + bytes(200),
}


@pytest.fixture
def champion(cli: Cli, candidates: list[Path]) -> Cli:
    cli("submit", str(candidates[0]))
    cli("promote", "challenger", "--reason", "first")
    return cli


def refused(cli: Cli, *args: str) -> str:
    log = (cli.root / "events.jsonl").read_bytes()
    result = cli("predict", *args, code=2)
    err = str(result.stderr).strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in result.stdout + result.stderr
    assert (cli.root / "events.jsonl").read_bytes() == log
    return err


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_file_that_is_not_an_image_is_a_user_error(champion: Cli, tmp_path: Path, name: str) -> None:
    good, bad = tmp_path / "good.png", tmp_path / name
    good.write_bytes(png())
    bad.write_bytes(BAD[name]())
    err = refused(champion, str(good), str(bad))
    assert err.startswith(f"error: {bad}: not a readable image ("), err


def test_etc_hostname_is_a_user_error(champion: Cli) -> None:
    hostname = Path("/etc/hostname")
    if not hostname.is_file():
        pytest.skip("no /etc/hostname here")
    assert refused(champion, str(hostname)).startswith("error: /etc/hostname: not a readable image (")


def test_a_folder_is_not_an_image(champion: Cli, tmp_path: Path) -> None:
    assert refused(champion, str(tmp_path)) == f"error: {tmp_path}: not a readable image (not a regular file)"


def test_a_missing_file_is_named(champion: Cli, tmp_path: Path) -> None:
    assert refused(champion, str(tmp_path / "gone.png")) == f"error: no such image: {tmp_path / 'gone.png'}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_a_user_error(champion: Cli, tmp_path: Path) -> None:
    locked = tmp_path / "locked.png"
    locked.write_bytes(png())
    locked.chmod(0)
    assert "Permission denied" in refused(champion, str(locked))


def test_an_image_too_large_to_decode_is_a_user_error(
    champion: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 32 x 32 is then a decompression bomb
    image = tmp_path / "huge.png"
    image.write_bytes(png())
    assert "decompression bomb" in refused(champion, str(image))


def test_an_image_in_any_mode_pillow_converts_is_predicted(champion: Cli, tmp_path: Path) -> None:
    paths = []
    for mode in ("RGB", "L", "I;16", "RGBA", "P"):
        path = tmp_path / f"{mode.replace(';', '')}.png"
        Image.new(mode, (40, 24)).save(path)
        paths.append(str(path))
    rows = champion.json("predict", *paths)
    assert [row["image"] for row in rows] == paths
    assert all(row["models"]["convnext_v1.0.0"]["magnitude_pred"] for row in rows)


def test_classify_names_a_file_that_stopped_being_an_image(tmp_path: Path) -> None:
    """The check in ``predict_images`` comes first; ``classify`` still refuses by name a file
    that changed after it (and any other caller's bad file)."""
    import torch

    from lifecycle.errors import UserError
    from models.evaluate import classify

    bad = tmp_path / "swapped.png"
    bad.write_bytes(b"not an image any more")
    with pytest.raises(UserError, match=r"swapped\.png: not a readable image \(not an image format"):
        classify(torch.nn.Identity(), [bad], {"magnitude": ["a"], "azimuth": ["b"]}, 32)
