from __future__ import annotations

import pytest

from lifecycle.errors import UserError
from lifecycle.labels import azimuth_class, labels, magnitude_class


@pytest.mark.parametrize(("value", "expected"), [
    (6.0, "Large"), (7.4, "Large"), (5.99, "Medium"), (5.0, "Medium"), (4.99, "Moderate"),
    (4.0, "Moderate"), (3.9, "Normal"), (0.0, "Normal")])
def test_magnitude_classes(value: float, expected: str) -> None:
    assert magnitude_class(value) == expected


@pytest.mark.parametrize(("degrees", "expected"), [
    (0, "N"), (22.4, "N"), (22.5, "NE"), (45, "NE"), (90, "E"), (180, "S"), (270, "W"),
    (337.4, "NW"), (337.5, "N"), (359.9, "N"), (360, "N"), (0, "N")])
def test_azimuth_sectors(degrees: float, expected: str) -> None:
    assert azimuth_class(degrees) == expected


def test_normal_events_get_azimuth_normal_not_n() -> None:
    assert labels(0.0, None, 0.0, None) == ("Normal", "Normal")  # the original said "N"
    assert labels(None, "Normal", None, None) == ("Normal", "Normal")
    assert labels(6.2, None, 45.0, None) == ("Large", "NE")
    assert labels(None, "Medium", None, "S") == ("Medium", "S")


@pytest.mark.parametrize(("args", "match"), [
    ((5.0, "Medium", 10.0, None), "exactly one of --magnitude"),
    ((5.0, None, None, None), "exactly one of --azimuth"),
    ((None, "Huge", 10.0, None), "unknown magnitude class"),
    ((None, "Normal", None, "N"), "azimuth class Normal"),
    ((5.5, None, None, "Normal"), "unknown azimuth class"),
    ((float("nan"), None, 1.0, None), "plausible"),
    ((5.5, None, 400.0, None), "outside 0-360 degrees"),
    ((5.5, None, -10.0, None), "outside 0-360 degrees"),
])
def test_bad_labels(args: tuple, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(UserError, match=match):
        labels(*args)
