"""The registry's state: frozen data folded from the event log.

Guarantees:
1. ``State`` and ``ModelRecord`` are immutable; the model map is a persistent
   ``immutables.Map``, so an event costs O(log n), not a copy of every model.
2. At most one champion and one challenger, named by id; every model ever seen stays
   in ``models`` (nothing is ever removed).
3. References resolve exactly (``resolve``): a role, a version or a model id.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal, NamedTuple

import immutables

from lifecycle.errors import NotFound
from lifecycle.versions import Version, check_ref, is_version, parse_version, split_model_id

Status = Literal["challenger", "champion", "archived", "rejected", "pre_rollback"]
ARCHIVE_STATUSES: tuple[Status, ...] = ("archived", "rejected", "pre_rollback")

Json = Mapping[str, Any]


GENESIS = "0" * 64  # the ``prev`` of the first commit, and the head of the empty state
SCHEMA_VERSION = 1  # of every commit line (``lifecycle.schema``); kept here, where reading needs no pydantic


class ModelRecord(NamedTuple):
    model_id: str
    version: str
    family: str
    architecture: str
    status: Status
    created_at: str
    weights: Json | None = None
    files: Json = immutables.Map()
    classes: Json | None = None
    training_config: Json = immutables.Map()
    training_data: Json = immutables.Map()
    deployed_at: str | None = None
    archived_at: str | None = None
    reason: str | None = None
    rollback_from: str | None = None
    previous_version: str | None = None
    evaluations: Mapping[str, Json] = immutables.Map()
    latest_evaluation: str | None = None
    decision: Json | None = None
    warnings: tuple[str, ...] = ()
    production: Json | None = None  # the scanner's export (digest, size, format); None: the weights
    lineage: Json | None = None  # parent, data, code, runtime of a model trained here (service.lineage)

    def with_evaluation(self, key: str, evaluation: Json) -> ModelRecord:
        """This record with ``evaluation`` as the latest one (``_replace`` without its cost:
        replay folds one of these per evaluated event)."""
        return ModelRecord._make((*self[:_EVALUATIONS], {**self.evaluations, key: evaluation}, key,
                                  *self[_EVALUATIONS + 2:]))

    @property
    def parsed_version(self) -> Version:
        return parse_version(self.version)

    @property
    def metrics(self) -> Json:
        """Metrics of the latest evaluation (composite included), or empty."""
        if self.latest_evaluation is None:
            return {}
        evaluation = self.evaluations[self.latest_evaluation]
        found = {**evaluation["metrics"], "composite_score": evaluation["composite"]["score"]}
        if "original_composite_score" in evaluation:  # imported: the original system's own figure
            found["original_composite_score"] = evaluation["original_composite_score"]
        return found

    def evaluation_on(self, dataset: str, digest: str | None = None) -> Json | None:
        """The latest evaluation on exactly this data (name and digest; no digest matches
        only evaluations recorded without one)."""
        return self.evaluations.get(evaluation_key(dataset, digest))

    def latest_on(self, dataset: str) -> Json | None:
        """The latest evaluation on the named data set, whatever its digest."""
        matches = [e for e in self.evaluations.values() if e["dataset"] == dataset]
        return max(matches, key=lambda e: e["seq"]) if matches else None


_EVALUATIONS = ModelRecord._fields.index("evaluations")
assert ModelRecord._fields[_EVALUATIONS + 1] == "latest_evaluation"


def evaluation_key(dataset: str, digest: str | None) -> str:
    return f"{dataset}@{digest or '-'}"


class State(NamedTuple):
    models: immutables.Map[str, ModelRecord] = immutables.Map()
    champion: str | None = None
    challenger: str | None = None
    reigns: tuple[str, ...] = ()
    max_version: Version | None = None
    seq: int = 0
    head: str = GENESIS
    last_time: str | None = None
    pool: immutables.Map[str, Json] = immutables.Map()
    data: immutables.Map[str, Json] = immutables.Map()
    alert: Json | None = None
    pending: Json | None = None  # the verdict awaiting a person's approval (lifecycle.approval)
    installation: Json | None = None  # what an imported original installation held beside its models
    runs: Json | None = None  # decisions carried out: {"promoted": n, "rejected": n, "last": time}
    holdouts: Json | None = None  # registered holdouts: data set digest -> manifest blob digest

    def with_models(self, models: immutables.Map[str, ModelRecord]) -> State:
        return State._make((models, *self[1:]))

    def at_position(self, seq: int, head: str, last_time: str) -> State:
        """This state moved to a commit (the fold's cheapest step, taken once per line)."""
        return State._make((*self[:_SEQ], seq, head, last_time, *self[_SEQ + 3:]))

    def get(self, model_id: str) -> ModelRecord:
        record = self.models.get(model_id)
        if record is None:
            raise NotFound(f"no model {model_id!r} in the registry; see 'lifecycle list'")
        return record

    def champion_record(self) -> ModelRecord | None:
        return self.models[self.champion] if self.champion else None

    def challenger_record(self) -> ModelRecord | None:
        return self.models[self.challenger] if self.challenger else None

    def by_version(self) -> list[ModelRecord]:
        return sorted(self.models.values(), key=lambda m: m.parsed_version)

    def archived(self) -> list[ModelRecord]:
        """Models in the archive, most recently archived first."""
        records = [m for m in self.models.values() if m.status in ARCHIVE_STATUSES]
        return sorted(records, key=lambda m: (m.archived_at or "", m.parsed_version), reverse=True)

    def resolve(self, ref: str) -> ModelRecord:
        """Exact resolution of a role, a version (``1.0.1``/``v1.0.1``) or a model id."""
        check_ref(ref)
        if ref in ("champion", "challenger"):
            model_id = self.champion if ref == "champion" else self.challenger
            if model_id is None:
                raise NotFound(f"there is no {ref}; see 'lifecycle status'")
            return self.models[model_id]
        if is_version(ref):
            wanted = str(parse_version(ref))
            for record in self.models.values():
                if record.version == wanted:
                    return record
            raise NotFound(f"no model with version {wanted}; see 'lifecycle list'")
        if split_model_id(ref) is None:  # pragma: no cover - check_ref refused it
            raise NotFound(ref)
        return self.get(ref)

    def former_champions(self) -> Iterator[ModelRecord]:
        """Archived former champions (rollback targets), most recent reign first."""
        seen: set[str] = {self.champion} if self.champion else set()
        for model_id in reversed(self.reigns):
            record = self.models[model_id]
            if model_id not in seen and record.status in ("archived", "pre_rollback"):
                seen.add(model_id)
                yield record

    def previous_champion(self) -> ModelRecord | None:
        """The champion before the current one that was archived normally (not one a
        rollback removed) and still has weights: what a bare ``rollback`` restores."""
        for record in self.former_champions():
            if record.status == "archived" and record.weights is not None:
                return record
        return None


_SEQ = State._fields.index("seq")
assert State._fields[0] == "models" and State._fields[_SEQ:_SEQ + 3] == ("seq", "head", "last_time")
