"""The fault matrix: an ``os`` call fails with an errno at its k-th call during a command.

Used by ``tests/crash/test_fault_matrix.py`` (a deterministic sample) and
``benchmarks/reliability.py`` (every case). One case = (command, op, errno, mode, k):

- ``op`` is the ``os`` function made to fail: ``write``, ``fsync``, ``replace``, ``rename``,
  ``link``, ``symlink``, ``mkdir`` (``Path.mkdir`` and ``os.makedirs`` call ``os.mkdir``;
  ``Path.hardlink_to`` calls ``os.link``; the store and the projection write bytes with
  ``os.write``), each patched on the ``os`` module for the duration of the command;
- ``mode`` ``once``: only the k-th call fails; ``persistent``: every call from the k-th
  on fails (a disk that stays full); ``recovery``: the k-th call fails, then the same op
  fails once more at the k2-th call of the recovery itself, which is then retried clean.

After each case :func:`run_case` checks: no file visible under ``models/``, ``config/``,
``production/`` is half-written (each equals that path in the projection of the state
before or after the command); no temp file is left; the next start recovers (a writing
command, or ``replay`` where none applies); ``verify`` is clean; ``replay`` then changes
nothing; an acknowledged command (``execute`` returned, or ``ProjectionFailed``: committed,
projection behind) is in the log with its hash; every log line is a whole commit.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

from bootstrap import open_engine
from events.codec import frame_hash
from events.store import BlobStore
from lifecycle.commands import Promote, Reject, Rollback, Submit
from lifecycle.errors import UserError
from lifecycle.state import State
from projections.layout import Content, Link, Symlink, Tree, desired_tree
from service.engine import Engine, ProjectionFailed
from service.verify import verify
from tests.helpers.workload import ACTOR, CLASSES, evaluation, fake_submit, prepare

OPS = ("write", "fsync", "replace", "rename", "link", "symlink", "mkdir")
ERRNOS = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC, "EACCES": errno.EACCES}
MODES = ("once", "persistent", "recovery")
COMMANDS = ("submit", "promote", "reject", "rollback", "replay", "import")
PROJECTED = ("models", "production", "config")
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_registry"


class Case(NamedTuple):
    command: str
    op: str
    error: str
    mode: str
    k: int
    k2: int = 0  # the recovery's failing call (mode "recovery")


@dataclass
class Fault:
    """Fail ``os.<op>`` with ``code`` at call ``k`` (and after it, if persistent)."""

    op: str
    code: int
    k: int
    persistent: bool = False
    calls: int = 0
    fired: int = 0
    paths: list[str] = field(default_factory=list)  # the paths of the failed calls

    def hit(self) -> bool:
        self.calls += 1
        return self.calls == self.k or (self.persistent and self.calls > self.k)


@contextmanager
def inject(op: str, code: int, k: int, persistent: bool = False) -> Iterator[Fault]:
    fault = Fault(op, code, k, persistent)
    real = getattr(os, op)

    def failing(*args: Any, **kwargs: Any) -> Any:
        if not fault.hit():
            return real(*args, **kwargs)
        fault.fired += 1
        path = str(args[-1] if op in ("replace", "rename", "link", "symlink") else args[0])
        fault.paths.append(path)
        raise OSError(code, f"injected {errno.errorcode[code]} at os.{op} call {fault.calls}",
                      None if isinstance(args[0], int) else path)

    with mock.patch.object(os, op, failing):
        yield fault


@contextmanager
def counting(ops: tuple[str, ...] = OPS) -> Iterator[dict[str, int]]:
    """Count the calls of each op (none fails)."""
    counts = dict.fromkeys(ops, 0)

    def counter(op: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts[op] += 1
            return real(*args, **kwargs)

        return call

    with ExitStack() as stack:
        for op in ops:
            stack.enter_context(mock.patch.object(os, op, counter(op, getattr(os, op))))
        yield counts


# -- templates and commands --------------------------------------------------------------------
def _submit_parts() -> tuple[Submit, dict[str, Path | bytes]]:
    """A Submit whose blobs the faulted command itself stores (new weights each time)."""
    import json

    weights = b"fake weights written during the faulted command"
    classes = json.dumps(CLASSES, sort_keys=True).encode()
    digests = {data: BlobStore.digest_bytes(data) for data in (weights, classes)}
    command = Submit(weights=digests[weights], classes=CLASSES, architecture="convnext_atto",
                     files={"class_mappings.json": digests[classes]})
    return command, {d["digest"]: data for data, d in digests.items()}


def make_templates(base: Path) -> dict[str, Path]:
    """One prepared root per command (built once; cases run on linked copies)."""
    from service.importer import build_import

    roots: dict[str, Path] = {}
    plain = prepare(base / "plain", champions=3)  # 1.0.0 and 1.0.1 archived, 1.0.2 reigns
    waiting = prepare(base / "waiting", champions=3)
    waiting.execute(fake_submit(waiting, "waiting challenger"))
    empty = open_engine(base / "empty", actor=ACTOR)
    empty.init()
    for name in COMMANDS:
        roots[name] = {"promote": waiting.root, "reject": waiting.root,
                       "import": empty.root}.get(name, plain.root)
    if SEED.is_dir():
        build_import(SEED)  # fail early if the fixture cannot be imported at all
    return roots


def link_copy(template: Path, where: Path) -> Path:
    """A copy of a root: files hard-linked (the engine never writes a file in place, it
    replaces it), except the log, which is appended to and truncated, so copied."""
    shutil.copytree(template, where, symlinks=True, copy_function=os.link)
    log = where / "events.jsonl"
    log.unlink()
    shutil.copyfile(template / "events.jsonl", log)
    return where


def _setup(name: str, engine: Engine) -> Callable[[], Any]:
    """Prepare the case's root (outside the fault) and return the faulted action."""
    if name == "submit":
        command, blobs = _submit_parts()
        return lambda: engine.execute(command, blobs=blobs)
    if name == "promote":
        return lambda: engine.execute(Promote(ref="challenger", reason="faulted"))
    if name == "reject":
        return lambda: engine.execute(Reject(ref="challenger", reason="faulted"))
    if name == "rollback":
        return lambda: engine.execute(Rollback(reason="faulted"))
    if name == "replay":
        for rel in ("models", "production", "config/model_registry.json"):
            path = engine.root / rel
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        return engine.replay
    if name == "import":
        from service.importer import build_import

        imported, files, _ = build_import(SEED)
        return lambda: engine.execute(imported, blobs=files)
    raise ValueError(name)


# -- checks -----------------------------------------------------------------------------------
def _entry_matches(path: Path, entry: Link | Content | Symlink) -> bool:
    if isinstance(entry, Symlink):
        return path.is_symlink() and os.readlink(path) == entry.target
    if path.is_symlink():
        return False
    data = path.read_bytes()
    if isinstance(entry, Link):
        return hashlib.sha256(data).hexdigest() == entry.digest
    return data == entry.data


def half_written(root: Path, trees: list[Tree]) -> tuple[list[str], list[str]]:
    """(files not equal to that path in any of ``trees``, temp files) under the projections."""
    bad, temps = [], []
    for top in PROJECTED:
        for base, dirs, files in os.walk(root / top):
            for name in dirs + files:
                path = Path(base) / name
                if path.is_dir() and not path.is_symlink():
                    continue
                rel = str(path.relative_to(root))
                if name.startswith(".") and ".tmp-" in name:
                    temps.append(rel)
                elif rel != "config/lifecycle.toml" and not any(
                        rel in tree and _entry_matches(path, tree[rel]) for tree in trees):
                    bad.append(rel)
    return bad, temps


def only_cache(result: Result) -> bool:
    """Every failed call wrote the state cache (``cache/``), which may fail silently."""
    return bool(result.paths) and all(f"{os.sep}cache{os.sep}" in p + os.sep for p in result.paths)


def lines_whole(root: Path) -> bool:
    raw = (root / "events.jsonl").read_bytes()
    return all(frame_hash(line) is not None for line in raw.splitlines(keepends=True))


@dataclass
class Result:
    case: Case
    fired: int = 0
    paths: list[str] = field(default_factory=list)
    outcome: str = "ok"  # ok | user_error | raw_oserror
    message: str = ""
    committed: bool = False
    problems: list[str] = field(default_factory=list)


def _attempt(action: Callable[[], Any], result: Result, code: int) -> Any:
    """Run ``action``; a UserError or the injected OSError is recorded, anything else raised."""
    try:
        return action()
    except ProjectionFailed as exc:
        result.outcome, result.message = "user_error", str(exc)
        return exc
    except UserError as exc:
        result.outcome, result.message = "user_error", str(exc)
    except OSError as exc:
        if exc.errno != code:
            raise
        result.outcome, result.message = "raw_oserror", f"{type(exc).__name__}: {exc}"
    return None


def _ack_hash(returned: Any, root: Path) -> str | None:
    """The hash of the commit the action acknowledged (None: it acknowledged none)."""
    if isinstance(returned, ProjectionFailed):
        seq = int(str(returned).split("committed as commit ")[1].split(",")[0])
        return str(next(r for r in open_engine(root).records() if r["seq"] == seq)["hash"])
    record = getattr(returned, "record", None)
    return str(record["hash"]) if record is not None else None


def recover(root: Path) -> Any:
    """What the next start does: a writing command when one applies, else ``replay``."""
    engine = open_engine(root, actor="recovery")
    champion = engine.state().champion_record()
    if champion is not None and champion.weights is not None:
        return engine.execute(evaluation("champion", "after-fault"))
    return engine.replay()


def run_case(case: Case, template: Path, where: Path) -> Result:
    """Run one case on a copy of ``template`` and check everything; ``where`` is removed."""
    result = Result(case)
    code = ERRNOS[case.error]
    engine = open_engine(link_copy(template, where), actor=ACTOR)
    action = _setup(case.command, engine)
    before = engine.state()
    seen = [r["hash"] for r in engine.records()]
    with inject(case.op, code, case.k, persistent=case.mode == "persistent") as fault:
        returned = _attempt(action, result, code)
    result.fired, result.paths = fault.fired, fault.paths
    acked = [h for h in (_ack_hash(returned, where),) if h]
    after = open_engine(where).state()
    result.committed = after.seq > before.seq
    _check_visible(where, [before, after], result, "after the fault")
    if case.mode == "recovery":
        second = Result(case)
        with inject(case.op, code, case.k2):
            again = _attempt(lambda: recover(where), second, code)
        acked += [h for h in (_ack_hash(again, where),) if h]
        _check_visible(where, [before, after, open_engine(where).state()], result,
                       "after the failed recovery")
    acked += [h for h in (_ack_hash(recover(where), where),) if h]
    _check_recovered(where, seen + acked, result)
    shutil.rmtree(where)
    return result


def _check_visible(root: Path, states: list[State], result: Result, when: str) -> None:
    bad, temps = half_written(root, [desired_tree(s) for s in states])
    result.problems += [f"{when}: half-written or foreign file {rel}" for rel in bad]
    result.problems += [f"{when}: temp file left {rel}" for rel in temps]


def _check_recovered(root: Path, acked: list[str], result: Result) -> None:
    engine = open_engine(root)
    hashes = {r["hash"] for r in engine.records()}
    result.problems += [f"acknowledged commit {h[:12]} missing" for h in acked if h not in hashes]
    if not lines_whole(root):
        result.problems.append("events.jsonl holds a line that is not a whole commit")
    report = verify(root, engine.log, engine.store)  # type: ignore[arg-type]
    result.problems += [f"verify: {p}" for p in report.problems]
    _, changes = engine.replay()
    result.problems += [f"replay after recovery changed {c}" for c in changes]
    _, temps = half_written(root, [])
    result.problems += [f"temp file left after recovery: {t}" for t in temps]


def call_counts(templates: dict[str, Path], base: Path) -> dict[str, dict[str, int]]:
    """How often each command calls each op (the k range of the matrix)."""
    counts = {}
    for name in COMMANDS:
        engine = open_engine(link_copy(templates[name], base / f"count-{name}"), actor=ACTOR)
        action = _setup(name, engine)
        with counting() as seen:
            action()
        counts[name] = dict(seen)
        shutil.rmtree(engine.root)
    return counts


def all_cases(counts: dict[str, dict[str, int]], errors: tuple[str, ...] = tuple(ERRNOS),
              modes: tuple[str, ...] = MODES) -> Iterator[Case]:
    """Every case: each k up to the command's call count, k2 in {1, k} for recovery."""
    for command, per_op in counts.items():
        for op, total in per_op.items():
            for k in range(1, total + 1):
                for error in errors:
                    for mode in modes:
                        for k2 in (sorted({1, k}) if mode == "recovery" else [0]):
                            yield Case(command, op, error, mode, k, k2)
