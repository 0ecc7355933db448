"""Write a large, valid ``events.jsonl`` quickly, without ``Engine.execute`` per commit.

Lines are framed exactly as the log frames them (``events.log.draft_record`` +
``events.codec.encode``); events are in canonical stored form (built once per shape
through the pydantic event models, then copied with a different ``model_id``).

Per model, the domain's life cycle (valid when folded by ``lifecycle.evolve``):

1. ``submit``: one ``trained`` event (a distinct tiny weights blob per model, plus shared
   ``class_mappings.json`` and ``training_config.json`` blobs); its training events are
   three new ones plus up to ten from the pool;
2. ``record_evaluations``: challenger and champion on ``benchmark`` (2 events, one line);
3. many single ``evaluated`` events (monitoring: champion, challenger or any model, on
   one of five data sets, so each model keeps at most five evaluations);
4. ``decide_challenger``: ``archived`` + ``promoted`` (2 events) or ``rejected`` (1, its
   training events the champion lacks go back to the pool), by ``Policy.judge`` on the
   two benchmark metric sets;
5. now and then, right after a promotion, ``rollback``: ``archived`` (status
   ``pre_rollback``) + ``rolled_back`` to the champion that was just archived.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from bootstrap import open_engine
from events.codec import GENESIS, decode, encode
from events.log import Draft, Tail, draft_record
from events.store import BlobStore
from lifecycle.policy import Policy
from lifecycle.schema import Archived, Evaluated, Promoted, Rejected, RolledBack, Trained

Json = dict[str, Any]
ACTORS = ("alice@lab01", "bob@lab02", "daemon", "dashboard")
DATASETS = ("benchmark", "holdout", "field-2024q1", "field-2024q2", "stress")
CLASSES = {"magnitude": ["Large", "Medium", "Moderate", "Normal"],
           "azimuth": ["E", "N", "NE", "NW", "Normal", "S", "SE", "SW", "W"]}
N_METRIC_SETS = 64
STRUCTURAL_PER_MODEL = 5.0  # trained 1 + joint evaluation 2 + decision ~1.5 + rollbacks


class Generated(NamedTuple):
    path: Path
    lines: int
    events: int
    models: int
    promotions: int
    rejections: int
    rollbacks: int
    evaluations: int
    bytes: int
    seconds: float
    sample: list[bytes]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(model: Any) -> Json:
    dumped: Json = model.model_dump(mode="json", exclude_none=True)
    return dumped


def _metric_sets(rng: random.Random) -> list[Json]:
    """Metric sets in rising quality (index = quality)."""
    sets = []
    for q in range(N_METRIC_SETS):
        base = 90.0 + 8.0 * q / N_METRIC_SETS
        sets.append({
            "magnitude_accuracy": round(base + rng.uniform(-0.3, 0.3), 2),
            "azimuth_accuracy": round(base - 22.0 + rng.uniform(-1, 1), 2),
            "magnitude_macro_f1": round(base - 5.0 + rng.uniform(-1, 1), 2),
            "magnitude_mcc": round(0.80 + 0.15 * q / N_METRIC_SETS, 4),
            "large_recall": round(base - 3.0 + rng.uniform(-1, 1), 2),
            "false_positive_rate": round(4.0 - 3.0 * q / N_METRIC_SETS, 2),
            "stability": round(base - 1.0, 2),
        })
    return sets


class _Templates:
    """Canonical ``evaluated`` events per (data set, metric set), built once."""

    def __init__(self, metric_sets: list[Json], policy: Policy) -> None:
        self.metric_sets = metric_sets
        self.by_key: dict[tuple[int, int], Json] = {}
        placeholder = "convnext_v1.0.0"
        for d, name in enumerate(DATASETS):
            for q, metrics in enumerate(metric_sets):
                event = _canonical(Evaluated(
                    model_id=placeholder, dataset=name, dataset_digest=_digest(name),
                    metrics=metrics, composite=policy.composite(metrics),  # type: ignore[arg-type]
                    n_samples=2000 + 250 * d,
                ))
                self.by_key[(d, q)] = event

    def evaluated(self, model_id: str, dataset: int, quality: int) -> Json:
        return {**self.by_key[(dataset, quality)], "model_id": model_id}


class _Writer:
    """Frames commits exactly like ``JsonlLog.append`` and writes them in one stream."""

    def __init__(self, path: Path, rng: random.Random, sample_every: int) -> None:
        self.file = open(path, "wb", buffering=1 << 22)  # noqa: SIM115 - closed in close()
        self.rng = rng
        self.seq, self.prev, self.events, self.bytes = 0, GENESIS, 0, 0
        self.clock_us = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
        self._day = (-1, "")
        self.sample: list[bytes] = []
        self.sample_every = sample_every
        self.last_archived: tuple[str, int] | None = None  # the champion a rollback restores
        self.pool: set[str] = set()  # training events returned by rejections
        self.trained_on: dict[str, list[str]] = {}  # model id -> its events_included

    def commit(self, command: str, events: list[Json], reason: str | None = None,
               actor: str | None = None, keep: bool = False) -> None:
        self.clock_us += self.rng.randrange(1_000_000, 90_000_000)
        at = self._time()
        draft = Draft(at, actor or self.rng.choice(ACTORS), command, reason, events)
        line, digest = encode(draft_record(draft, Tail(self.seq, self.prev, 0)))
        self.file.write(line)
        self.seq, self.prev = self.seq + 1, digest
        self.events += len(events)
        self.bytes += len(line)
        if keep or self.seq % self.sample_every == 0:
            self.sample.append(line)

    def _time(self) -> str:
        """``utc_now``'s format (``%Y-%m-%dT%H:%M:%S.%fZ``), without strftime per line."""
        day, rest = divmod(self.clock_us, 86_400_000_000)
        if day != self._day[0]:
            date = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
            self._day = (day, date)
        seconds, micros = divmod(rest, 1_000_000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{self._day[1]}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}Z"

    def close(self) -> None:
        self.file.close()


def generate(root: Path, n_events: int, n_models: int, seed: int = 20240101,
             progress: Callable[[str], None] | None = None) -> Generated:
    """Create a registry root at ``root`` with a log of exactly ``n_events`` events."""
    started = time.perf_counter()
    open_engine(root).init()
    store = BlobStore(root / "store")
    rng = random.Random(seed)
    policy = Policy()
    templates = _Templates(_metric_sets(random.Random(seed + 1)), policy)
    mappings = store.put_bytes(b'{"magnitude": ["Large", "Medium", "Moderate", "Normal"]}\n')
    config_blob = store.put_bytes(b'{"batch_size": 32, "model_variant": "tiny"}\n')
    writer = _Writer(root / "events.jsonl", rng, sample_every=max(1, n_events // 2000))
    budget = max(0.0, (n_events - STRUCTURAL_PER_MODEL * n_models) / n_models)
    counts = {"promotions": 0, "rejections": 0, "rollbacks": 0, "evaluations": 0}
    champion: tuple[str, int] | None = None  # (model_id, quality)
    all_models: list[str] = []
    quality = N_METRIC_SETS // 4

    for i in range(n_models):
        version = f"1.{i // 1000}.{i % 1000}"
        model_id = f"convnext_v{version}"
        keep = i < 8  # keep the first models' structural lines for validation
        config = {"epochs": 30 + i % 20, "lr": 0.0001 * (1 + i % 7), "batch_size": 32,
                  "model_variant": "tiny", "seed": i}
        files = {"class_mappings.json": mappings, "training_config.json": config_blob}
        trained = _canonical(Trained(
            model_id=model_id, version=version, family="convnext", architecture="convnext_tiny",
            weights=store.put_bytes(f"w{i}".encode()), files=files,  # type: ignore[arg-type]
            classes=CLASSES, training_config=config,  # type: ignore[arg-type]
            training_data={"total_samples": 12000 + 37 * i,  # type: ignore[arg-type]
                           "events_included": _training_events(writer, model_id, i)},
            source=f"/data/candidates/c{i}",
        ))
        writer.commit("submit", [trained], reason=f"nightly candidate {i}", keep=keep)
        all_models.append(model_id)
        if champion is not None:  # the champion is re-measured (drift), the challenger near it
            champion = (champion[0], _clamp(champion[1] + rng.randint(-6, 0)))
            quality = _clamp(champion[1] + rng.randint(-3, 9))
        joint = [templates.evaluated(model_id, 0, quality)]
        if champion is not None:
            joint.append(templates.evaluated(champion[0], 0, champion[1]))
        writer.commit("record_evaluations" if len(joint) > 1 else "record_evaluation", joint,
                      keep=keep)
        counts["evaluations"] += len(joint)

        remaining_models = n_models - i
        target = n_events - writer.events - STRUCTURAL_PER_MODEL * remaining_models
        reevals = max(0, round(target / remaining_models)) if i < n_models - 1 else 0
        reevals = min(reevals, int(budget * 3) + 1)
        for _ in range(reevals):
            pick = rng.random()
            if pick < 0.5 and champion is not None:
                who, q = champion
            elif pick < 0.8:
                who, q = model_id, quality
            else:
                who, q = rng.choice(all_models), rng.randrange(N_METRIC_SETS)
            writer.commit("record_evaluation",
                          [templates.evaluated(who, rng.randrange(len(DATASETS)), q)])
            counts["evaluations"] += 1

        champion = _decide(writer, templates, policy, model_id, quality, champion, counts, keep)
        if champion is not None and champion[0] == model_id and rng.random() < 0.08:
            champion = _rollback(writer, rng, champion, counts, keep)
        if progress and i % 500 == 0:
            progress(f"  generated {writer.events:,} events, {i + 1} models")

    while writer.events < n_events:  # top up to the exact count with monitoring
        who = champion[0] if champion else all_models[-1]
        writer.commit("record_evaluation", [templates.evaluated(
            who, rng.randrange(len(DATASETS)), champion[1] if champion else quality)])
        counts["evaluations"] += 1
    writer.close()
    return Generated(root / "events.jsonl", writer.seq, writer.events, n_models,
                     counts["promotions"], counts["rejections"], counts["rollbacks"],
                     counts["evaluations"], writer.bytes, time.perf_counter() - started,
                     writer.sample)


def _training_events(writer: _Writer, model_id: str, i: int) -> list[str]:
    """Three new events plus up to ten from the pool (what rejections returned)."""
    events = sorted({f"eq{i:05d}-{k}" for k in range(3)} | set(sorted(writer.pool)[:10]))
    writer.trained_on[model_id] = events
    return events


def _clamp(quality: int) -> int:
    return max(4, min(N_METRIC_SETS - 5, quality))


def _decide(writer: _Writer, templates: _Templates, policy: Policy, model_id: str, quality: int,
            champion: tuple[str, int] | None, counts: dict[str, int],
            keep: bool) -> tuple[str, int] | None:
    new = templates.metric_sets[quality]
    if champion is None:
        decision = {"outcome": "promote", "rule": "first model",
                    "reason": "first model: there is no champion yet",
                    "challenger_metrics": dict(new), "dataset": "benchmark"}
    else:
        decision = policy.judge(templates.metric_sets[champion[1]], new, None)
        decision["dataset"] = {"name": "benchmark", "digest": _digest("benchmark")}
    reason = decision["reason"]
    if decision["outcome"] == "reject":  # as decide does: what the champion did not see
        known = set(writer.trained_on[champion[0]]) if champion else set()
        returned = sorted(e for e in writer.trained_on[model_id] if e not in known)
        writer.pool.update(returned)
        writer.commit("decide_challenger", [_canonical(Rejected(
            model_id=model_id, reason=reason, decision=decision,
            returned_to_pool=returned))], keep=keep)
        counts["rejections"] += 1
        return champion
    events = []
    if champion is not None:
        events.append(_canonical(Archived(
            model_id=champion[0], reason=f"Replaced by v{model_id.split('_v')[1]} ({reason})")))
        writer.last_archived = champion
    events.append(_canonical(Promoted(model_id=model_id, reason=reason, decision=decision)))
    writer.pool.difference_update(writer.trained_on[model_id])
    writer.commit("decide_challenger", events, keep=keep)
    counts["promotions"] += 1
    return (model_id, quality)


def _rollback(writer: _Writer, rng: random.Random, champion: tuple[str, int],
              counts: dict[str, int], keep: bool) -> tuple[str, int]:
    target, writer.last_archived = writer.last_archived, None
    if target is None:
        return champion
    reason = "false positives rose in production"
    events = [
        _canonical(Archived(model_id=champion[0], status="pre_rollback",
                            reason=f"Rolled back to v{target[0].split('_v')[1]}: {reason}")),
        _canonical(RolledBack(model_id=target[0], from_model_id=champion[0], reason=reason,
                              severity=rng.choice(["CRITICAL", "HIGH", "MEDIUM"]))),
    ]
    writer.commit("rollback", events, reason=reason, keep=True)
    counts["rollbacks"] += 1
    return target


def check_sample(sample: list[bytes]) -> int:
    """Validate sampled lines against the schema and canonical form; returns how many."""
    from lifecycle.schema import validate_commit

    for line in sample:
        record = decode(line)
        canonical = validate_commit(record).model_dump(mode="json", exclude_none=True)
        if canonical["events"] != record["events"]:
            raise AssertionError(f"line {record['seq']} is not in canonical form")
    return len(sample)


def fold_check(path: Path) -> int:
    """Fold the whole log with ``apply_commit`` (raises on an invalid transition)."""
    from lifecycle.evolve import apply_commit
    from lifecycle.state import State

    state = State()
    with open(path, "rb") as f:
        for line in f:
            state = apply_commit(state, decode(line))
    return len(state.models)
