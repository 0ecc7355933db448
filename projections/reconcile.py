"""Make the folders on disk match the desired tree (ENGINEERING rules 9-11).

Guarantees:
1. Idempotent steps: a file already right is not touched; re-running a half-applied
   plan converges to the same tree.
2. Every file appears atomically (temp file or temp link in the same directory, then
   ``os.replace``): the production link and the champion's ``best_model.pth`` switch in
   one step, and a promotion costs the same for a 300 MB model as for a 3 MB one.
3. Only the managed folders are changed; files there that the state does not name are
   removed (they are projections: the store and the log keep everything). A managed
   folder (or ``models``, ``production``, ``config``) that is a symlink is refused before
   anything is written (``ManagedFolderRefused``): it would lead the projection outside
   the root, where nothing may ever be deleted.
4. The registry document is written last, so a registry that names the log head
   means every folder was already in place, except files whose blob the store lacks or
   cannot read: those are never skipped silently: the rest is projected, the file there
   is kept as it was, and ``ProjectionIncomplete`` names them.
5. A step that fails (disk full, I/O error, read-only file system) removes its temp file
   and raises ``ProjectionUnwritable``: an ``OSError`` (same errno) and a one-line
   ``UserError`` that names the path. Every file stays either as it was or as it must be.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from events.disk import fsync_path
from events.store import BlobStore, write_all
from lifecycle.errors import UserError
from projections.layout import MANAGED_DIRS, Content, Link, Symlink, Tree
from projections.registry import REGISTRY_PATH

TMP_PREFIX = "."


def plan(root: Path, tree: Tree, store: BlobStore,
         scope: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Paths to (write, remove) so that disk matches ``tree``; reads only. With ``scope``
    (folders), ``tree`` is the part of the desired tree inside them and only they are
    compared (a commit's own folders: see ``layout.folders_of``)."""
    folders: dict[str, bool] = {}  # a file in a folder that is missing is not right (a rebuild)

    def right(rel: str, entry: Link | Content | Symlink) -> bool:
        folder = os.path.dirname(rel)
        if folder not in folders:
            folders[folder] = os.path.isdir(os.path.join(root, folder))
        return folders[folder] and _is_right(root / rel, entry, store)

    to_write = [p for p, entry in sorted(tree.items()) if not right(p, entry)]
    return to_write, _extras(root, tree) if scope is None else _extras_in(root, tree, scope)


class ProjectionUnwritable(UserError, OSError):
    """The folders could not be brought up to date; the log is untouched by this."""

    exit_code = 1

    def __init__(self, root: Path, exc: OSError) -> None:
        where = exc.filename
        with contextlib.suppress(TypeError, ValueError):
            where = Path(exc.filename).relative_to(root)
        super().__init__(exc.errno, exc.strerror)
        self.message = (f"the folders could not be updated ({where or 'a folder'}: {exc.strerror or exc}); "
                        "the log is intact: run 'lifecycle replay' once this is fixed")

    def __str__(self) -> str:
        return self.message


class ProjectionIncomplete(UserError):
    """Some files could not be projected: their blob is missing from the store or unreadable."""

    exit_code = 1

    def __init__(self, problems: list[str], changes: list[str]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"the folders are incomplete: {problems[0]}{more}; restore store/ from a "
                         "backup, then run 'lifecycle replay' ('lifecycle verify' lists them all)")
        self.problems = problems
        self.changes = changes


class ManagedFolderRefused(UserError):
    """A managed folder is a symlink; nothing was written."""


PARENT_DIRS = ("models", "production", "config")


def check_managed(root: Path) -> None:
    """Refuse managed folders that are symlinks (they could lead outside the root)."""
    for rel in (*PARENT_DIRS, *MANAGED_DIRS):
        path = root / rel
        if path.is_symlink():
            raise ManagedFolderRefused(
                f"refused: {rel} is a symlink (to {os.readlink(path)!r}); the registry's folders must be "
                f"real folders inside {root}, so nothing was written: move the link away, then run "
                "'lifecycle replay'")


def apply(root: Path, tree: Tree, store: BlobStore, scope: set[str] | None = None) -> list[str]:
    """Reconcile (everything, or the folders in ``scope``); returns a line per change
    (``+ path``, ``~ path``, ``- path``). Raises ``ProjectionIncomplete`` after doing
    everything else when some files' blobs are missing or unreadable."""
    check_managed(root)
    try:
        changes = _apply(root, tree, store, scope)
    except ProjectionUnwritable:
        raise
    except OSError as exc:
        raise ProjectionUnwritable(root, exc) from exc
    problems = [c[2:] for c in changes if c.startswith("! ")]
    if problems:
        raise ProjectionIncomplete(problems, changes)
    return changes


def _apply(root: Path, tree: Tree, store: BlobStore, scope: set[str] | None) -> list[str]:
    to_write, to_remove = plan(root, tree, store, scope)
    changes, touched = _publish(root, [p for p in to_write if p != REGISTRY_PATH], tree, store)
    for rel in to_remove:
        _remove(root / rel)
        changes.append(f"- {rel}")
        touched.add(str((root / rel).parent))
    for rel in MANAGED_DIRS:
        (root / rel).mkdir(parents=True, exist_ok=True)
    _sync(touched)
    if REGISTRY_PATH in to_write:
        more, _ = _publish(root, [REGISTRY_PATH], tree, store)
        changes += more
        _sync({str((root / REGISTRY_PATH).parent)})
    return changes


def _publish(root: Path, paths: list[str], tree: Tree, store: BlobStore) -> tuple[list[str], set[str]]:
    """Write every path beside its place (temp names), make the written files durable (all
    at once), then move each into place in order; returns the changes and the folders."""
    staged: list[tuple[str, str, bool]] = []  # (temp, final, holds written bytes), in order
    made: dict[str, bool] = {}  # folder -> made by this call (so empty before it)
    published = 0
    try:
        changes = _stage_all(root, paths, tree, store, made, staged)
        _fsync_files([tmp for tmp, _, written in staged if written])
        for tmp, final, _ in staged:
            os.replace(tmp, final)
            published += 1
    except BaseException:
        for tmp, _, _ in staged[published:]:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return changes, set(made)


def _stage_all(root: Path, paths: list[str], tree: Tree, store: BlobStore, made: dict[str, bool],
               staged: list[tuple[str, str, bool]]) -> list[str]:
    """``_stage`` every path, in order."""
    return [_stage(root, rel, tree[rel], store, made, staged) for rel in paths]


def _stage(root: Path, rel: str, entry: Link | Content | Symlink, store: BlobStore, made: dict[str, bool],
           staged: list[tuple[str, str, bool]]) -> str:
    path = os.path.join(root, rel)
    parent = os.path.dirname(path)
    if parent not in made:
        fresh = not os.path.isdir(parent)
        os.makedirs(parent, exist_ok=True)
        made[parent] = fresh
    mark = "+"
    if not made[parent]:  # a folder made just now holds nothing yet (the writer lock is held)
        try:
            mark = "~"
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)
        except FileNotFoundError:
            mark = "+"
    if isinstance(entry, Link):
        problem = _blob_problem(store.location(entry.digest))
        if problem:
            return f"! {rel}: its blob {entry.digest[:12]} is {problem}"
    tmp = os.path.join(parent, f"{TMP_PREFIX}{os.path.basename(path)}.tmp-{os.getpid()}")
    if not made[parent]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    staged.append((tmp, path, isinstance(entry, Content)))
    if isinstance(entry, Link):
        os.link(store.location(entry.digest), tmp)
    elif isinstance(entry, Symlink):
        os.symlink(entry.target, tmp)
    else:
        _write_bytes(tmp, entry.data)
    return f"{mark} {rel}"


def _fsync_files(paths: list[str]) -> None:
    """fsync every written file, one by one."""
    for path in paths:
        fsync_path(path)


def _sync(directories: set[str]) -> None:
    """fsync every folder that exists (their entries), one by one."""
    for directory in sorted(d for d in directories if os.path.isdir(d)):
        fsync_path(directory)


def _is_right(path: Path, entry: Link | Content | Symlink, store: BlobStore) -> bool:
    try:
        if isinstance(entry, Symlink):
            return path.is_symlink() and os.readlink(path) == entry.target
        if path.is_symlink():
            return False
        if isinstance(entry, Link):
            return os.path.samefile(path, store.location(entry.digest))
        return path.read_bytes() == entry.data
    except OSError:
        return False


def _blob_problem(blob: str) -> str | None:
    """None when the blob can be linked; else why not (missing, or unreadable)."""
    try:
        os.stat(blob)
    except FileNotFoundError:
        return "missing from the store"
    except OSError as exc:
        return f"unreadable in the store ({exc.strerror or exc})"
    return None


def _extras(root: Path, tree: Tree) -> list[str]:
    """Managed paths on disk that the tree does not name (folders as a whole)."""
    wanted_dirs = {os.path.dirname(p) for p in tree}
    extras: list[str] = []
    archive = root / "models" / "archive"
    if archive.is_dir():
        for child in sorted(archive.iterdir()):
            rel = f"models/archive/{child.name}"
            if rel not in wanted_dirs or not child.is_dir() or child.is_symlink():
                extras.append(rel)
    for rel_dir in ("models/champion", "models/challenger", "production/models"):
        directory = root / rel_dir
        if directory.is_dir():
            extras += [f"{rel_dir}/{c.name}" for c in sorted(directory.iterdir())
                       if f"{rel_dir}/{c.name}" not in tree]
    config = root / "config"
    if config.is_dir():  # temp files of a writer killed while replacing the registry
        extras += [f"config/{c.name}" for c in sorted(config.glob(f"{TMP_PREFIX}*.tmp-*"))]
    for rel_dir in sorted(wanted_dirs):
        directory = root / rel_dir
        if rel_dir.startswith("models/archive/") and directory.is_dir():
            extras += [f"{rel_dir}/{c.name}" for c in sorted(directory.iterdir())
                       if f"{rel_dir}/{c.name}" not in tree]
    return extras


def _extras_in(root: Path, tree: Tree, scope: set[str]) -> list[str]:
    """Paths in the scoped folders that ``tree`` does not name (an archive folder it does
    not name at all, as a whole)."""
    wanted_dirs = {os.path.dirname(p) for p in tree}
    extras: list[str] = []
    for rel_dir in sorted(scope):
        directory = root / rel_dir
        if not (directory.is_dir() or directory.is_symlink()):
            continue
        if rel_dir.startswith("models/archive/") and (rel_dir not in wanted_dirs or directory.is_symlink()):
            extras.append(rel_dir)
            continue
        extras += [f"{rel_dir}/{c.name}" for c in sorted(directory.iterdir()) if f"{rel_dir}/{c.name}" not in tree]
    return extras


def _write_bytes(path: str, data: bytes) -> None:
    """A new file with ``data``, not yet durable (``_fsync_files`` follows)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
