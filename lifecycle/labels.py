"""Class labels from measured values (SPEC section 1). Pure.

Guarantees:
1. Magnitude: ``Large`` M >= 6.0, ``Medium`` 5.0-5.99, ``Moderate`` 4.0-4.99; below 4.0 there
   is no event to learn from and the class is ``Normal``.
2. Azimuth: 45-degree sectors centred on each direction (N = [337.5, 22.5)), for azimuths
   in [0, 360] only; a ``Normal`` event's azimuth is ``Normal``, never ``N`` (the original
   system's mistake).
"""

from __future__ import annotations

import math

from lifecycle.errors import UserError

MAGNITUDE_CLASSES = ("Large", "Medium", "Moderate", "Normal")
SECTORS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
AZIMUTH_CLASSES = (*SECTORS, "Normal")


def magnitude_class(magnitude: float) -> str:
    if not math.isfinite(magnitude) or magnitude < 0 or magnitude > 10:
        raise UserError(f"magnitude {magnitude} is not a plausible earthquake magnitude (0-10)")
    if magnitude >= 6.0:
        return "Large"
    if magnitude >= 5.0:
        return "Medium"
    if magnitude >= 4.0:
        return "Moderate"
    return "Normal"


def azimuth_class(degrees: float) -> str:
    """The sector of an azimuth in degrees clockwise from north, 0 <= azimuth <= 360 (360 is
    north again); anything else (-10, 400) is refused by the same rule and message."""
    if not math.isfinite(degrees) or not 0 <= degrees <= 360:
        raise UserError(f"azimuth {degrees:g} is outside 0-360 degrees (clockwise from north; 0 and 360 "
                        "are both north)")
    return SECTORS[int(((degrees % 360) + 22.5) // 45) % 8]


def labels(
    magnitude: float | None, magnitude_cls: str | None, azimuth: float | None, azimuth_cls: str | None
) -> tuple[str, str]:
    """(magnitude class, azimuth class) from values or explicit classes, consistent."""
    if (magnitude is None) == (magnitude_cls is None):
        raise UserError("give exactly one of --magnitude and --magnitude-class")
    mag = magnitude_class(magnitude) if magnitude is not None else str(magnitude_cls)
    if mag not in MAGNITUDE_CLASSES:
        raise UserError(f"unknown magnitude class {mag!r}; known: {', '.join(MAGNITUDE_CLASSES)}")
    if mag == "Normal":
        if azimuth_cls not in (None, "Normal"):
            raise UserError(f"a Normal event has azimuth class Normal, not {azimuth_cls!r}")
        return mag, "Normal"
    if (azimuth is None) == (azimuth_cls is None):
        raise UserError("give exactly one of --azimuth and --azimuth-class")
    azi = azimuth_class(azimuth) if azimuth is not None else str(azimuth_cls)
    if azi not in SECTORS:
        raise UserError(f"unknown azimuth class {azi!r} for an event; known: {', '.join(SECTORS)}")
    return mag, azi
