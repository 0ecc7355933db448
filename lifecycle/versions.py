"""Semantic versions, model ids and model references.

Guarantees:
1. Only strictly formed versions (``MAJOR.MINOR.PATCH``, digits only) and ids
   (``<family>_v<version>``) are accepted, so no id can carry a path separator,
   ``..`` or any other character that would escape a folder.
2. Versions compare numerically (``1.0.10 > 1.0.9``), never as strings.
3. A reference resolves exactly: ``1.0.1`` never matches ``1.0.10``.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from lifecycle.errors import UserError

Bump = Literal["patch", "minor", "major"]
ROLE_REFS = ("champion", "challenger")

_VERSION = re.compile(r"^v?(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")
_FAMILY = re.compile(r"^[a-z][a-z0-9]{0,31}$")
_MODEL_ID = re.compile(r"^([a-z][a-z0-9]{0,31})_v(\d{1,6}\.\d{1,6}\.\d{1,6})$")


class Version(NamedTuple):
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def bump(self, part: Bump) -> Version:
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + 1)


FIRST_VERSION = Version(1, 0, 0)


def parse_version(text: str) -> Version:
    """Parse ``1.0.2`` or ``v1.0.2``; anything else is a user error."""
    match = _VERSION.fullmatch(text)
    if not match:
        raise UserError(f"not a version: {text!r}; use MAJOR.MINOR.PATCH, e.g. 1.0.2")
    return Version(int(match[1]), int(match[2]), int(match[3]))


def is_version(text: str) -> bool:
    return bool(_VERSION.fullmatch(text))


def check_family(family: str) -> str:
    if not _FAMILY.fullmatch(family):
        raise UserError(
            f"not a model family: {family!r}; use lowercase letters and digits, e.g. convnext"
        )
    return family


def family_of(architecture: str) -> str:
    """The default family of an architecture: its first word, letters and digits only
    (``convnext_tiny`` -> ``convnext``, ``resnet10t`` -> ``resnet10t``)."""
    word = "".join(c for c in architecture.split("_")[0].lower() if c.isascii() and c.isalnum())
    word = word.lstrip("0123456789")[:32]
    return word if _FAMILY.fullmatch(word) else "model"


def model_id(family: str, version: Version) -> str:
    return f"{check_family(family)}_v{version}"


def split_model_id(text: str) -> tuple[str, Version] | None:
    """``convnext_v1.0.2`` -> (``convnext``, 1.0.2); None when it is not a model id."""
    match = _MODEL_ID.fullmatch(text)
    if not match:
        return None
    version_match = _VERSION.fullmatch(match[2])
    if not version_match:
        return None
    return match[1], parse_version(match[2])


def check_ref(ref: str) -> str:
    """A reference is a role, a version or a model id; anything else is refused."""
    if ref in ROLE_REFS or is_version(ref) or split_model_id(ref) is not None:
        return ref
    raise UserError(
        f"not a model reference: {ref!r}; use a model id (convnext_v1.0.1), "
        "a version (1.0.1), 'champion' or 'challenger'"
    )
