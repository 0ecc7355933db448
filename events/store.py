"""The content-addressed blob store: ``<root>/store/sha256/<2 hex>/<64 hex>``.

Guarantees:
1. A blob is written once: streamed to a temp file while hashed, fsynced, then linked
   into place under its sha256; an existing blob is never overwritten.
2. Blobs are never deleted or modified by the engine (they are made read-only).
3. A digest is checked against its pattern before it becomes a path, so no digest
   can name a file outside the store.
4. A blob that cannot be written (disk full, I/O error, read-only file system) raises
   ``StoreUnwritable`` with the reason; no temp file is left and no partial blob is ever
   published, so the commands that store files before appending record nothing.
5. Bytes go through ``os.write`` (``write_all``), the one call fault-injection tests patch.
6. Temp files and folders in ``store/tmp`` are named ``<kind>-<pid>-...``. One whose
   process is gone (a writer killed mid-write) is stale: ``stale_temps`` lists them and
   ``clean_temps`` removes them (every writing command does, under the writer lock).
   A live process's temp file is never touched.
7. ``check`` tells a missing blob from an unreadable one (permission denied): neither is
   ever taken as present.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from events.disk import fsync_dir
from lifecycle.errors import UserError

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20
_TEMP = re.compile(r"^[a-z]+-(\d+)-")
LEGACY_TEMP_SECONDS = 3600.0  # a temp name without a pid (older versions) is stale after this


class StoreUnwritable(UserError):
    """A blob could not be written; nothing was recorded."""


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def blob(digest: str, size: int) -> dict[str, Any]:
    return {"digest": digest, "size": size}


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        return Path(self.location(digest))

    def location(self, digest: str) -> str:
        """``path`` as a string (the projection asks for thousands at a time)."""
        if not _DIGEST.match(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return f"{self.root}/sha256/{digest[:2]}/{digest}"

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def put_file(self, source: Path, expect: str | None = None) -> dict[str, Any]:
        """Copy a file in; with ``expect``, refuse it if its content changed meanwhile."""
        if expect is not None and self.has(expect):
            return blob(expect, self.path(expect).stat().st_size)
        with open(source, "rb") as f:
            stored = self._put(iter(lambda: f.read(CHUNK), b""))
        if expect is not None and stored["digest"] != expect:
            raise UserError(f"{source} changed while it was being registered; try again")
        return stored

    @staticmethod
    def digest_bytes(data: bytes) -> dict[str, Any]:
        return blob(hashlib.sha256(data).hexdigest(), len(data))

    def put(self, source: Path | bytes, expect: str | None = None) -> dict[str, Any]:
        """Store a file or bytes; with ``expect``, refuse content that does not match it."""
        if isinstance(source, Path):
            return self.put_file(source, expect)
        stored = self.put_bytes(source)
        if expect is not None and stored["digest"] != expect:
            raise UserError("content changed while it was being registered; try again")
        return stored

    @staticmethod
    def digest_file(source: Path) -> dict[str, Any]:
        """The blob reference of a file, without storing it."""
        hasher, size = hashlib.sha256(), 0
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                hasher.update(chunk)
                size += len(chunk)
        return blob(hasher.hexdigest(), size)

    def put_bytes(self, data: bytes) -> dict[str, Any]:
        return self._put(iter([data]))

    def read_bytes(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def _put(self, chunks: Iterator[bytes]) -> dict[str, Any]:
        try:
            return self._stream(chunks)
        except OSError as exc:
            raise StoreUnwritable(
                f"could not store a file in the blob store ({exc}); nothing was recorded") from exc

    def _stream(self, chunks: Iterator[bytes]) -> dict[str, Any]:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        hasher, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix=temp_prefix("incoming"))
        tmp = Path(tmp_name)
        try:
            try:
                for chunk in chunks:
                    hasher.update(chunk)
                    size += len(chunk)
                    write_all(fd, chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
            digest = hasher.hexdigest()
            self._publish(tmp, self.path(digest))
            return blob(digest, size)
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _publish(tmp: Path, final: Path) -> None:
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return
        fsync_dir(final.parent)

    def check(self, digest: str, size: int | None = None) -> str | None:
        """None when the blob is present, readable and intact; else what is wrong."""
        path = self.path(digest)
        hasher = hashlib.sha256()
        try:
            actual = os.stat(path).st_size
            if size is not None and actual != size:
                return f"damaged (size {actual} != {size})"
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(CHUNK), b""):
                    hasher.update(chunk)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"unreadable ({exc.strerror or exc})"
        return None if hasher.hexdigest() == digest else "damaged (content does not match its digest)"

    def stale_temps(self) -> list[Path]:
        """Temp files and folders in ``store/tmp`` left by processes that are gone."""
        try:
            entries = sorted((self.root / "tmp").iterdir())
        except FileNotFoundError:
            return []
        return [entry for entry in entries if _is_stale(entry)]

    def clean_temps(self) -> int:
        """Remove the stale temps (call it under the writer lock); returns how many."""
        stale = self.stale_temps()
        for entry in stale:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
        return len(stale)


def temp_prefix(kind: str) -> str:
    """The name prefix of a temp in ``store/tmp``: the kind and this process's id."""
    return f"{kind}-{os.getpid()}-"


def _is_stale(entry: Path) -> bool:
    found = _TEMP.match(entry.name)
    if found is None:
        try:
            return time.time() - entry.lstat().st_mtime > LEGACY_TEMP_SECONDS
        except FileNotFoundError:
            return False
    pid = int(found[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return True
    except PermissionError:
        return False
    return False
