"""Event schemas: one pydantic model per event type, in a discriminated union.

Guarantees:
1. Every event that reaches the log has been validated against these models
   (``validate_events``); ``lifecycle verify`` re-validates every stored line.
2. Ids, versions, file names and digests are constrained by pattern, so no stored
   value can name a path outside the registry root.
3. ``SCHEMA_VERSION`` is written into every commit record; a change to a stored
   shape gets a new version and a pure upcaster on read, never an edit of old lines.
   An optional field that is absent when unused (``Trained.production``) is no change
   of shape: every old line stays valid and canonical.

Events are stored (and folded by ``lifecycle.evolve``) in their canonical JSON form:
``model_dump(mode="json", exclude_none=True)``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from lifecycle.state import SCHEMA_VERSION

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
VersionText = Annotated[str, StringConstraints(pattern=r"^\d{1,6}\.\d{1,6}\.\d{1,6}$")]
ModelId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{0,31}_v\d{1,6}\.\d{1,6}\.\d{1,6}$")]
FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,99}$")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Percent = Annotated[float, Field(ge=0.0, le=100.0)]
Status = Literal["challenger", "champion", "archived", "rejected", "pre_rollback"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Blob(_Frozen):
    """A file in the content-addressed store."""

    digest: Sha256
    size: Annotated[int, Field(ge=0)]


class ProductionBlob(Blob):
    """The file the scanner loads, exported when the model was registered, and its layout."""

    format: Literal["torchvision"]


class Classes(_Frozen):
    """Class names in head-index order."""

    magnitude: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]]
    azimuth: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]]


class TrainingData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)

    total_samples: Annotated[int, Field(ge=0)] | None = None
    events_included: list[Name] = []


class Metrics(_Frozen):
    """Evaluation metrics; rates are percentages (0-100), MCC is in [-1, 1]."""

    magnitude_accuracy: Percent
    azimuth_accuracy: Percent
    magnitude_macro_f1: Percent | None = None
    magnitude_mcc: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    large_recall: Percent | None = None
    false_positive_rate: Percent | None = None
    stability: Percent | None = None


class Composite(_Frozen):
    """The composite score and the (rescaled) weights that produced it. The formula is
    the policy's (``lifecycle.policy.FORMULA``); decisions record it, evaluations written
    before schema 1.1 of this object carried it on every line too."""

    score: Annotated[float, Field(ge=0.0, le=1.0)]
    weights: dict[str, float]
    formula: str | None = None


class Evaluation(_Frozen):
    dataset: Name
    dataset_digest: Sha256 | None = None
    metrics: Metrics
    composite: Composite
    predictions: Blob | None = None
    n_samples: Annotated[int, Field(ge=0)] | None = None
    details: dict[str, Any] | None = None


class _Event(_Frozen):
    model_id: ModelId


class Trained(_Event):
    """A new model was registered; it becomes the challenger."""

    type: Literal["trained"] = "trained"
    version: VersionText
    family: Name
    architecture: Name
    weights: Blob
    files: dict[FileName, Blob] = {}
    classes: Classes
    training_config: dict[str, Any] = {}
    training_data: TrainingData = TrainingData()
    created_at: str | None = None
    source: str | None = None
    production: ProductionBlob | None = None  # absent: production is the weights themselves
    lineage: dict[str, Any] | None = None  # absent: registered from a folder (service.lineage)


class Evaluated(_Event, Evaluation):
    type: Literal["evaluated"] = "evaluated"
    holdout: Blob | None = None  # the data set's manifest (station-days, image digests): a registered holdout


class Promoted(_Event):
    type: Literal["promoted"] = "promoted"
    reason: Reason
    decision: dict[str, Any] | None = None


class Rejected(_Event):
    type: Literal["rejected"] = "rejected"
    reason: Reason
    decision: dict[str, Any] | None = None
    returned_to_pool: list[Name] = []


Verdict = Literal["promote", "reject"]


class ApprovalRequested(_Event):
    """The rule's verdict on the challenger awaits a person (``require_approval``)."""

    type: Literal["approval_requested"] = "approval_requested"
    verdict: Verdict
    reason: Reason
    decision: dict[str, Any]


class Approved(_Event):
    """A person approved the verdict requested at ``requested_seq``; it is carried out in
    the same commit."""

    type: Literal["approved"] = "approved"
    verdict: Verdict
    reason: Reason
    requested_seq: Annotated[int, Field(ge=1)]


class Declined(_Event):
    """A person declined the verdict requested at ``requested_seq``: the champion stays; a
    declined promotion rejects the challenger in the same commit, a declined rejection
    leaves it the challenger, to be decided by hand."""

    type: Literal["declined"] = "declined"
    verdict: Verdict
    reason: Reason
    requested_seq: Annotated[int, Field(ge=1)]


class Archived(_Event):
    type: Literal["archived"] = "archived"
    reason: Reason
    status: Literal["archived", "pre_rollback"] = "archived"


class RolledBack(_Event):
    type: Literal["rolled_back"] = "rolled_back"
    reason: Reason
    from_model_id: ModelId
    severity: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] = "MEDIUM"
    observation_seq: Annotated[int, Field(ge=1)] | None = None


class Image(_Frozen):
    name: FileName
    digest: Sha256
    size: Annotated[int, Field(ge=0)]


class DataAdded(_Frozen):
    """A validated earthquake event (with its spectrograms) joined the pool."""

    type: Literal["data_added"] = "data_added"
    event_id: Name
    station: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    date: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    magnitude_class: Literal["Large", "Medium", "Moderate", "Normal"]
    azimuth_class: Literal["N", "NE", "E", "SE", "S", "SW", "W", "NW", "Normal"]
    magnitude_value: float | None = None
    azimuth_value: float | None = None
    images: Annotated[list[Image], Field(min_length=1)]


MagnitudeClass = Literal["Large", "Medium", "Moderate", "Normal"]
AzimuthClass = Literal["N", "NE", "E", "SE", "S", "SW", "W", "NW", "Normal"]


class Correction(_Frozen):
    """What a correction changes in a data event (only what is given)."""

    magnitude_class: MagnitudeClass | None = None
    azimuth_class: AzimuthClass | None = None
    magnitude_value: float | None = None
    azimuth_value: float | None = None


class DataRemoved(_Frozen):
    """A wrong data event left the pool (it stays in the log, marked removed)."""

    type: Literal["data_removed"] = "data_removed"
    event_id: Name
    reason: Reason


class DataCorrected(_Frozen):
    """A data event's labels were corrected (the pool follows; the old values stay in the log)."""

    type: Literal["data_corrected"] = "data_corrected"
    event_id: Name
    changes: Correction
    reason: Reason


class ProblemReported(_Frozen):
    """Something failed that changes no model: a drop the daemon refused, a daemon error."""

    type: Literal["problem_reported"] = "problem_reported"
    source: Literal["daemon"]
    kind: Literal["drop_refused", "error"]
    detail: Reason
    subject: Annotated[str, StringConstraints(max_length=300)] | None = None


class Observed(_Event):
    """What the scanner saw in production for a model, and how severe it is."""

    type: Literal["observed"] = "observed"
    false_positive_rate: Percent
    accuracy: Percent | None = None
    window: str | None = None
    severity: Literal["CRITICAL", "HIGH", "OK"]
    findings: list[str] = []
    baseline: dict[str, float] = {}
    action: Literal["rollback", "report", "none"] = "none"


class Imported(_Event):
    """A model taken over from an installation of the original system."""

    type: Literal["imported"] = "imported"
    version: VersionText
    family: Name
    architecture: Name
    status: Status
    weights: Blob | None = None
    files: dict[FileName, Blob] = {}
    classes: Classes | None = None
    evaluation: Evaluation | None = None
    original_metrics: dict[str, float] = {}
    training_config: dict[str, Any] = {}
    training_data: TrainingData = TrainingData()
    created_at: str | None = None
    deployed_at: str | None = None
    archived_at: str | None = None
    reason: str | None = None
    previous_version: VersionText | None = None
    warnings: list[str] = []
    source: str


class InstallationImported(_Frozen):
    """What an imported installation of the original system held beside its models: its
    pipeline counters (``pipeline_history``), when its last data event was added, and what
    was reported and not imported."""

    type: Literal["installation_imported"] = "installation_imported"
    source: str
    pipeline_history: dict[str, Any] = {}
    pending_last_added: str | None = None
    not_imported: list[str] = []


Event = Annotated[
    Trained | Evaluated | Promoted | Rejected | Archived | RolledBack | Imported | DataAdded | Observed
    | ApprovalRequested | Approved | Declined | InstallationImported | DataRemoved | DataCorrected
    | ProblemReported,
    Field(discriminator="type"),
]


class Commit(BaseModel):
    """One line of ``events.jsonl``: the events of one command, landed together."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    seq: Annotated[int, Field(ge=1)]
    time: str
    actor: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    schema_version: Literal[1]
    command: Name
    reason: str | None = None
    events: Annotated[list[Event], Field(min_length=1)]
    prev: Sha256
    hash: Sha256


_EVENTS = TypeAdapter(list[Event])


def validate_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate events and return their canonical stored form."""
    models = _EVENTS.validate_python(events)
    return [m.model_dump(mode="json", exclude_none=True) for m in models]


def validate_commit(record: dict[str, Any]) -> Commit:
    return Commit.model_validate(record)


__all__ = ["SCHEMA_VERSION", "Commit", "Event"]


def json_schema() -> dict[str, Any]:
    return Commit.model_json_schema()
