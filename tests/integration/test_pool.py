"""``lifecycle data add`` / ``data list``: validated events for the next training."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import Cli
from tests.integration.test_bad_input import refused


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "spec.png"
    Image.new("RGB", (224, 224), (10, 200, 30)).save(path)
    return path


def add(cli: Cli, image: Path, *extra: str, code: int = 0, event: str = "GTO_20260210"):  # type: ignore[no-untyped-def]
    """``data add`` with the station and date the id names (STATION_YYYYMMDD)."""
    day = f"{event[4:8]}-{event[8:10]}-{event[10:12]}"
    return cli("data", "add", "--event-id", event, "--station", event[:3], "--date", day,
               "--image", str(image), *extra, code=code)


def another(path: Path, shade: int) -> Path:
    Image.new("RGB", (224, 224), (shade, 10, 10)).save(path)
    return path


def test_classes_are_derived_and_the_pool_lists_the_event(cli: Cli, image: Path) -> None:
    add(cli, image, "--magnitude", "6.2", "--azimuth", "45")
    add(cli, another(image.with_name("trt.png"), 1), "--magnitude", "0.0", "--azimuth", "0", event="TRT_20260213")
    pool = cli.json("data", "list")
    assert pool["count"] == 2 and pool["min_new_events"] == 5
    events = {e["event_id"]: e for e in pool["events"]}
    assert (events["GTO_20260210"]["magnitude_class"], events["GTO_20260210"]["azimuth_class"]) == ("Large", "NE")
    assert events["TRT_20260213"]["azimuth_class"] == "Normal"  # not "N", as the original had it
    assert cli.json("status")["pool"] == 2
    cli("verify")  # the images are in the store, by digest


def test_bad_events_are_refused_and_change_nothing(cli: Cli, root: Path, image: Path, tmp_path: Path) -> None:
    add(cli, image, "--magnitude", "5.5", "--azimuth", "180")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    base = ["data", "add", "--station", "GTO", "--date", "2026-02-11", "--magnitude", "5.5", "--azimuth", "10"]
    refused(cli, root, "data", "add", "--station", "GTO", "--date", "2026-02-10", "--magnitude", "5.5",
            "--azimuth", "10", "--event-id", "GTO_20260210", "--image", str(image), match="already recorded")
    refused(cli, root, "data", "add", "--event-id", "XXX_20260211", "--station", "XXX", "--date", "2026-02-11",
            "--magnitude", "5.5", "--azimuth", "10", "--image", str(image), match="unknown station")
    refused(cli, root, "data", "add", "--event-id", "GTO_X", "--station", "GTO", "--date", tomorrow,
            "--magnitude", "5.5", "--azimuth", "10", "--image", str(image), match="in the future")
    refused(cli, root, *base, "--event-id", "GTO_A", "--image", str(tmp_path / "none.png"),
            match="image not found")
    refused(cli, root, *base, "--event-id", "GTO_B", "--image", str(broken), match="not a readable image")
    refused(cli, root, *base, "--event-id", "GTO_C", "--image", str(image), "--magnitude-class", "Large",
            match="exactly one of --magnitude")
    refused(cli, root, *base, "--event-id", "../../x", "--image", str(image), match="not an event id")


def test_the_pool_keeps_one_event_per_station_day_and_its_own_images(
    cli: Cli, root: Path, image: Path, tmp_path: Path
) -> None:
    add(cli, image, "--magnitude", "5.5", "--azimuth", "180")
    fresh = another(tmp_path / "fresh.png", 7)
    refused(cli, root, "data", "add", "--event-id", "GTO_20260305", "--station", "SCN", "--date", "2026-03-05",
            "--magnitude", "5.5", "--azimuth", "10", "--image", str(fresh), match="names station GTO")
    refused(cli, root, "data", "add", "--event-id", "gto_20260210", "--station", "GTO", "--date", "2026-02-10",
            "--magnitude", "5.5", "--azimuth", "10", "--image", str(fresh), match="compared without case")
    refused(cli, root, "data", "add", "--event-id", "EV-1", "--station", "GTO", "--date", "2026-02-10",
            "--magnitude", "5.5", "--azimuth", "10", "--image", str(fresh), match="one event per station and day")
    for azimuth in ("-10", "400"):
        refused(cli, root, "data", "add", "--event-id", "GTO_20260211", "--station", "GTO", "--date",
                "2026-02-11", "--magnitude", "5.5", "--azimuth", azimuth, "--image", str(fresh),
                match="is outside 0-360 degrees")
    refused(cli, root, "data", "add", "--event-id", "GTO_20260211", "--station", "GTO", "--date", "2026-02-11",
            "--magnitude", "5.5", "--azimuth", "10", "--image", str(image), match="already an image of event")
    small = tmp_path / "small.png"
    Image.new("RGB", (32, 32)).save(small)
    gray = tmp_path / "gray.png"
    Image.new("L", (224, 224)).save(gray)
    for bad in (small, gray):
        refused(cli, root, "data", "add", "--event-id", "GTO_20260211", "--station", "GTO", "--date",
                "2026-02-11", "--magnitude", "5.5", "--azimuth", "10", "--image", str(bad),
                match="spectrograms are 224x224 RGB")
    add(cli, fresh, "--magnitude", "5.5", "--azimuth", "10", event="GTO_20260211")
