"""Commands: what a user (or the daemon, or the dashboard) asks the engine to do.

Commands are imperative, frozen and carry everything ``decide`` needs; the service
layer fills them from files and flags (reading checkpoints, metrics files, policies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lifecycle.alerts import RollbackRules
from lifecycle.policy import Policy
from lifecycle.stats import EventPair
from lifecycle.versions import Bump

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Submit:
    """Register a trained model as the new challenger."""

    weights: Json
    classes: Json
    architecture: str
    family: str = "convnext"
    files: Json = field(default_factory=dict)
    version: str | None = None
    bump: Bump = "patch"
    training_config: Json = field(default_factory=dict)
    training_data: Json = field(default_factory=dict)
    created_at: str | None = None
    source: str | None = None
    reason: str | None = None
    production: Json | None = None  # the scanner's export: {"digest", "size", "format"}; None: the weights
    lineage: Json | None = None  # trained here: parent, data, code and runtime (service.lineage)


@dataclass(frozen=True)
class RecordEvaluation:
    """Record one model's metrics on a named (and possibly digested) data set."""

    ref: str
    dataset: str
    metrics: Json
    policy: Policy = field(default_factory=Policy)
    dataset_digest: str | None = None
    predictions: Json | None = None
    n_samples: int | None = None
    details: Json | None = None
    holdout: Json | None = None  # the data set's manifest blob: it becomes a registered holdout


@dataclass(frozen=True)
class RecordEvaluations:
    """Several evaluations on the same data, landed in one commit."""

    items: tuple[RecordEvaluation, ...]


@dataclass(frozen=True)
class DecideChallenger:
    """Judge the challenger against the champion by the policy.

    ``paired`` holds per-event counts from the two evaluations' per-sample predictions;
    ``same_data`` is the user's word that two evaluations recorded without a data digest
    were measured on the same data; with ``require_approval`` the verdict is recorded as
    awaiting a person's approval instead of being carried out. ``same_rows`` (from the
    paired predictions) replaces both evaluations' metrics when one model could not score
    every sample, so both are judged on the same rows."""

    policy: Policy = field(default_factory=Policy)
    dataset: str = "benchmark"
    paired: tuple[EventPair, ...] | None = None
    paired_predictions: tuple[str, str] | None = None  # (champion, challenger) digests used
    reason: str | None = None
    same_data: bool = False
    require_approval: bool = False
    same_rows: Json | None = None  # both models' metrics on the rows both could score


@dataclass(frozen=True)
class Approve:
    """A person approves the verdict awaiting approval: it is carried out."""

    ref: str
    reason: str


@dataclass(frozen=True)
class Decline:
    """A person declines the verdict awaiting approval: the champion stays."""

    ref: str
    reason: str


@dataclass(frozen=True)
class Promote:
    """A person promotes the challenger, bypassing the rule, with a reason."""

    ref: str
    reason: str


@dataclass(frozen=True)
class Reject:
    ref: str
    reason: str


@dataclass(frozen=True)
class Rollback:
    """Bring back a former champion (default: the previous one)."""

    ref: str | None = None
    reason: str = "rollback requested by user"
    severity: str = "MEDIUM"
    observation_seq: int | None = None  # the production observation that called for it


@dataclass(frozen=True)
class AddData:
    """Record a validated earthquake event and its spectrograms in the pool."""

    event_id: str
    station: str
    date: str
    magnitude_class: str
    azimuth_class: str
    images: tuple[Json, ...]
    magnitude_value: float | None = None
    azimuth_value: float | None = None


@dataclass(frozen=True)
class RemoveData:
    """Take a wrong event out of the pool (it stays in the log)."""

    event_id: str
    reason: str


@dataclass(frozen=True)
class CorrectData:
    """Correct an event's labels (``changes``: magnitude/azimuth class and value)."""

    event_id: str
    changes: Json
    reason: str


@dataclass(frozen=True)
class ReportProblem:
    """Record a failure that changes no model (so it is in the log and fires hooks)."""

    kind: str
    detail: str
    subject: str | None = None
    source: str = "daemon"


@dataclass(frozen=True)
class RecordObservation:
    """What the scanner saw in production; with ``apply`` the rules' action is taken at once."""

    ref: str
    false_positive_rate: float
    rules: RollbackRules = field(default_factory=RollbackRules)
    accuracy: float | None = None
    window: str | None = None
    apply: bool = False


@dataclass(frozen=True)
class Import:
    """Take over an installation of the original system (an empty registry only): its
    models, its validated data events that have images (``data``: ``DataAdded`` fields), and
    what else it held (``installation``: ``InstallationImported`` fields)."""

    models: Sequence[Json]
    source: str
    data: Sequence[Json] = ()
    installation: Json | None = None


Command = (Submit | RecordEvaluation | RecordEvaluations | DecideChallenger | Promote | Reject | Rollback
           | Import | AddData | RecordObservation | Approve | Decline | RemoveData | CorrectData | ReportProblem)
