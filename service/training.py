"""``lifecycle train``: train a challenger and submit it, or leave nothing behind.

Guarantees:
1. The candidate folder is built in ``<root>/store/tmp/`` and submitted only when training
   finished; an interrupted run (Ctrl-C, SIGTERM, an error) removes it and registers
   nothing. A run killed with SIGKILL leaves a folder that the next run removes.
2. The ``trained`` event carries the training data summary (total samples, events).
3. The ``[production] format`` setting (``config/lifecycle.toml``) is read before training:
   a network whose production file is exported for the original scanner (a ConvNeXt that
   torchvision has, under "auto" or "torchvision") is trained without timm's final head
   norm, so the export computes exactly the trained function; a setting that cannot apply
   to the architecture is refused before any training.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lifecycle.errors import UserError
from service.daemon_config import load as load_settings
from service.engine import Engine, Outcome
from service.modelling import load_network
from service.submission import build_submit

EpochHook = Callable[[dict[str, float]], None]
BatchHook = Callable[[int], None]


def _work_dir(engine: Engine) -> Path:
    base = engine.root / "store" / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob("train-*"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=base, prefix=f"train-{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_training_data(data_dirs: Sequence[Path]) -> Any:
    """One or more data set folders as one (an event may not appear in two of them)."""
    from models.data import DataSet, read_dataset

    sets = [read_dataset(d) for d in data_dirs]
    if len(sets) == 1:
        return sets[0]
    owner: dict[str, Path] = {}
    for data in sets:
        for event in data.events:
            if event in owner:
                raise UserError(f"event {event} is in both {owner[event]} and {data.root}; "
                                "give each event once")
            owner[event] = data.root
    digest = hashlib.sha256("".join(d.digest for d in sets).encode()).hexdigest()
    samples = tuple(s for d in sets for s in d.samples)
    return DataSet(root=sets[0].root, samples=samples, digest=digest)


def train_challenger(
    engine: Engine, data_dirs: Sequence[Path], config: Any, *, start_from: str = "auto",
    reason: str | None = None, on_epoch: EpochHook | None = None, on_batch: BatchHook | None = None,
    on_split: Callable[[int, int], None] | None = None,
) -> Outcome:
    from models.classes import default_classes
    from models.data import split_by_event, summary
    from models.train import train

    engine.require_root()
    state = engine.state()
    if state.challenger is not None:
        raise UserError(f"challenger {state.challenger} is still waiting for a decision; decide it first")
    data = read_training_data(data_dirs)
    from service.holdouts import refuse_training_data
    from service.lineage import record as lineage_of

    refuse_training_data(engine, state, data.samples)
    production_format = load_settings(engine.root).production_format
    init, classes, config = _starting_point(engine, state, start_from, config, default_classes())
    parent = state.champion if init is not None else None
    lineage = lineage_of(parent, _data_sets(data_dirs), config.device)
    config = _for_production(config, production_format)
    train_set, val_set = split_by_event(data.samples, config.val_fraction, config.seed)
    if on_split:
        on_split(len(train_set), len(val_set))
    work = _work_dir(engine)
    try:
        result = train(train_set, val_set, classes, config, init, on_epoch, on_batch)
        folder = _write_candidate(work / "candidate", result, classes, config, summary(data), start_from)
        command, files = build_submit(folder, architecture=config.architecture, reason=reason,
                                      production_format=production_format, lineage=lineage)
        # no expected_seq: an unrelated commit meanwhile (data add, observe) must not throw the
        # run away; decide() refuses what really conflicts (a challenger, a used version)
        return engine.execute(command, blobs=files, reason=reason)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _data_sets(data_dirs: Sequence[Path]) -> list[Any]:
    from models.data import read_dataset

    return [read_dataset(d, check_images=False) for d in data_dirs]


def train_on_pool(engine: Engine, extra: Sequence[Path], config: Any, **options: Any) -> Outcome:
    """``train --pool``: the pool's events (laid out as a data set), beside ``extra`` data."""
    from service.pool import write_pool_dataset

    engine.require_root()
    work = _work_dir(engine)
    try:
        if write_pool_dataset(engine.state(), engine.store, work / "pool") == 0:
            raise UserError("the pool holds no event with images; add some with 'lifecycle data add'")
        return train_challenger(engine, [work / "pool", *extra], config, **options)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _starting_point(engine: Engine, state: Any, start_from: str, config: Any, classes: Any) -> Any:
    from dataclasses import replace

    champion = state.champion_record()
    if start_from == "none" or (start_from == "auto" and champion is None):
        return None, classes, config
    if champion is None:
        raise UserError("--from champion: there is no champion yet; use --from none")
    from models.export import lacks_head_norm

    network = load_network(engine, champion)
    config = replace(config, architecture=champion.architecture,
                     head_norm=config.head_norm and not lacks_head_norm(network))
    return network.state_dict(), champion.classes, config


def _for_production(config: Any, production_format: str) -> Any:
    """Without the head norm when the production file is exported for the original scanner
    (guarantee 3; a starting point with a head norm loses it: ``models.train``)."""
    from dataclasses import replace

    from models.export import TORCHVISION, effective_format

    if effective_format(production_format, config.architecture) == TORCHVISION:
        return replace(config, head_norm=False)
    return config


def _write_candidate(
    folder: Path, result: Any, classes: Any, config: Any, data_summary: dict[str, Any], start_from: str
) -> Path:
    from models.checkpoint import save
    from models.train import HISTORY_COLUMNS

    folder.mkdir(parents=True)
    best = result.history[result.best_epoch - 1]
    save(result.network, folder / "best_model.pth", epoch=result.best_epoch,
         val_mag_acc=best["val_mag_acc"], val_azi_acc=best["val_azi_acc"])
    mappings = {task: {str(i): n for i, n in enumerate(names)} for task, names in classes.items()}
    (folder / "class_mappings.json").write_text(json.dumps(mappings, indent=2) + "\n")
    settings = {**config.to_dict(), "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
                "start_from": start_from}
    (folder / "training_config.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    with open(folder / "training_history.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS[1:], extrasaction="ignore")
        writer.writeheader()
        for row in result.history:
            writer.writerow({k: round(v, 6) for k, v in row.items()})
    training_data = {k: data_summary[k] for k in ("total_samples", "events_included")}
    (folder / "metadata.json").write_text(json.dumps({"training_data": training_data}, indent=2) + "\n")
    return folder
