"""Running registered models: load (digest-checked), evaluate on a data set, predict.

Guarantees:
1. A model's weights are read from the store only after their sha256 matches the digest
   recorded in the log, and only with ``weights_only=True``.
2. ``evaluate`` measures every named model on the same data set (one content digest) and
   records all of them in one commit, with per-sample predictions stored by digest. A
   model is scored on the samples whose labels are among its classes; the others are
   named in the evaluation's ``details.unscored`` (rows, events, why), never dropped silently.
3. ``predict`` records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from lifecycle.commands import RecordEvaluation, RecordEvaluations
from lifecycle.errors import UserError
from lifecycle.policy import Policy
from lifecycle.state import ModelRecord
from service.engine import Engine, Outcome

Progress = Callable[[int], None]
DEFAULT_IMAGE_SIZE = 224


def image_size(record: ModelRecord) -> int:
    size = record.training_config.get("image_size", DEFAULT_IMAGE_SIZE)
    return int(size) if isinstance(size, int) and 8 <= size <= 4096 else DEFAULT_IMAGE_SIZE


def load_network(engine: Engine, record: ModelRecord) -> Any:
    """The model's network in eval mode (weights digest-checked first)."""
    from models.checkpoint import load_network_file

    if record.weights is None:
        raise UserError(f"{record.model_id} has no weight file (it was imported without one)")
    problem = engine.store.check(record.weights["digest"], record.weights["size"])
    if problem:
        raise UserError(f"{record.model_id}: weight file {problem}; run 'lifecycle verify'")
    classes = record.classes or {}
    return load_network_file(engine.store.path(record.weights["digest"]), record.architecture,
                             classes).eval()


def _predictions_blob(rows: Sequence[Mapping[str, Any]], digest: str) -> bytes:
    return orjson.dumps({"dataset_digest": digest, "rows": list(rows)}, option=orjson.OPT_SORT_KEYS)


def read_predictions(engine: Engine, evaluation: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    stored = evaluation.get("predictions")
    if not stored or not engine.store.has(stored["digest"]):
        return None
    rows: list[dict[str, Any]] = orjson.loads(engine.store.read_bytes(stored["digest"]))["rows"]
    return rows


def evaluate(
    engine: Engine, refs: Sequence[str], data_dir: Path, *, dataset: str = "benchmark",
    policy: Policy | None = None, batch_size: int = 32, device: str = "cpu",
    progress: Callable[[str, int], Progress] | None = None, expected_seq: int | None = None,
) -> Outcome:
    from models.data import read_dataset
    from models.evaluate import predict, scorable
    from models.metrics import metrics_of
    from service.holdouts import manifest

    data = read_dataset(data_dir)
    state = engine.state()
    records = _unique([state.resolve(ref) for ref in refs])
    items, blobs = [], {}
    holdout = manifest(data.samples)
    holdout_blob = engine.store.digest_bytes(holdout)
    blobs[holdout_blob["digest"]] = holdout
    for record in records:
        network = load_network(engine, record)
        samples, unscored = scorable(data.samples, record.classes or {})
        if not samples:
            raise UserError(f"{record.model_id} can score none of the {len(data.samples)} samples of "
                            f"{data_dir}: {', '.join((unscored or {}).get('why', {}))}")
        tick = progress(record.model_id, len(samples)) if progress else None
        rows = predict(network, samples, record.classes or {}, image_size(record), batch_size, device, tick)
        metrics, details = metrics_of(rows, record.classes or {})
        if unscored is not None:
            details["unscored"] = unscored
        blob = _predictions_blob(rows, data.digest)
        stored = engine.store.digest_bytes(blob)
        blobs[stored["digest"]] = blob
        items.append(RecordEvaluation(
            ref=record.model_id, dataset=dataset, metrics=metrics, policy=policy or Policy(),
            dataset_digest=data.digest, predictions=stored, n_samples=len(rows), details=details,
            holdout=holdout_blob))
    # evaluations name fixed model ids: an unrelated commit meanwhile is no conflict
    return engine.execute(RecordEvaluations(tuple(items)), blobs=blobs, expected_seq=expected_seq)


def _unique(records: list[ModelRecord]) -> list[ModelRecord]:
    seen: dict[str, ModelRecord] = {}
    for record in records:
        seen.setdefault(record.model_id, record)
    return list(seen.values())


def predict_images(
    engine: Engine, refs: Sequence[str], images: Sequence[Path], truth: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Each model's classes and confidences per image (nothing is recorded)."""
    from models.data import check_image
    from models.evaluate import classify

    state = engine.state()
    records = _unique([state.resolve(ref) for ref in refs])
    for path in images:  # every image decodes before any model is loaded
        check_image(path)
    out: list[dict[str, Any]] = [{"image": str(p), "models": {}} for p in images]
    for i, sample in enumerate(truth or ()):
        out[i]["truth"] = {"event_id": sample.event_id, "magnitude": sample.magnitude,
                           "azimuth": sample.azimuth}
    for record in records:
        rows = classify(load_network(engine, record), images, record.classes or {}, image_size(record))
        for entry, row in zip(out, rows, strict=True):
            entry["models"][record.model_id] = {"version": record.version, **row}
    return out


def predict_event(engine: Engine, refs: Sequence[str], event_id: str, data_dir: Path) -> list[dict[str, Any]]:
    from models.data import read_dataset

    samples = read_dataset(data_dir).by_event(event_id)
    return predict_images(engine, refs, [s.path for s in samples], truth=samples)


def compare_on_data(engine: Engine, ref_a: str, ref_b: str, data_dir: Path) -> dict[str, Any]:
    """Both models evaluated on the same data now (nothing recorded), on the rows both can
    score, with the paired test over events (``lifecycle.stats.clustered``, the decision
    rule's); ``same_rows`` says what was left out, if anything."""
    from lifecycle.stats import clustered, event_pairs
    from models.data import read_dataset
    from models.evaluate import predict, scorable
    from models.metrics import metrics_of
    from projections.compare import metric_rows
    from service.paired import on_same_rows

    data = read_dataset(data_dir)
    state = engine.state()
    records = {key: state.resolve(ref) for key, ref in (("a", ref_a), ("b", ref_b))}
    rows, unscored = {}, {}
    for key, record in records.items():
        network = load_network(engine, record)
        samples, left = scorable(data.samples, record.classes or {})
        if left is not None:
            unscored[key] = left
        rows[key] = predict(network, samples, record.classes or {}, image_size(record))
    a, b = records["a"].classes or {}, records["b"].classes or {}
    kept_a, kept_b, same = on_same_rows(rows["a"], a, rows["b"], b)
    metrics = {"a": metrics_of(kept_a, a)[0], "b": metrics_of(kept_b, b)[0]}
    for found in metrics.values():
        found["composite_score"] = Policy().composite(found)["score"]
    test = clustered(event_pairs(kept_a, kept_b))
    describe = {k: {"model_id": r.model_id, "version": r.version, "status": r.status,
                    "dataset": str(data_dir)} for k, r in records.items()}
    result = {**describe, "same_data": True, "dataset_digest": data.digest,
              "metrics": metric_rows(metrics["a"], metrics["b"]), "paired_test": test._asdict()}
    if same is not None:
        result["same_rows"] = {k: v for k, v in same.items() if not k.endswith("_metrics")}
    if unscored:
        result["unscored"] = unscored  # samples a model could not score (labels outside its classes)
    return result


def stored_paired_test(engine: Engine, a: ModelRecord, b: ModelRecord) -> dict[str, Any] | None:
    """The paired test over events on the stored per-sample predictions of both models on
    the same data (None when they share no evaluation with predictions)."""
    from lifecycle.stats import clustered, event_pairs
    from projections.compare import shared_evaluations

    shared = shared_evaluations(a, b)
    if shared is None:
        return None
    rows_a, rows_b = (read_predictions(engine, e) for e in shared)
    if rows_a is None or rows_b is None:
        return None
    try:
        test = clustered(event_pairs(rows_a, rows_b))
    except ValueError:
        return None
    return {**test._asdict(), "dataset": shared[0]["dataset"]}
