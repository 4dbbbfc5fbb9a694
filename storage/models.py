"""The registry's typed SQLAlchemy models: one lineage from project to audit event.

Relationships are ``lazy="raise"`` so nothing loads behind a service's back (and never from a
worker thread); services ask for what they need with ``selectinload`` or explicit queries.
Every change to these rows goes through a service that writes an ``AuditEvent`` in the same
transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Project(Base):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    problem_type: Mapped[str] = mapped_column(String(40))
    maturity: Mapped[str] = mapped_column(String(20), default="startup")
    # the model-risk tier (low | medium | high) sets how often the model is revalidated
    risk_tier: Mapped[str] = mapped_column(String(10), default="medium", server_default="medium")
    owner: Mapped[str] = mapped_column(String(100), default="", server_default="")
    current_stage: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    deliverables: Mapped[list[StageDeliverable]] = relationship(back_populates="project", lazy="raise")


class StageDeliverable(Base):
    """One document per (project, kind): the problem statement, the ML checklist, the framing."""

    __tablename__ = "stage_deliverable"
    __table_args__ = (UniqueConstraint("project_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    stage: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))

    project: Mapped[Project] = relationship(back_populates="deliverables", lazy="raise")


class DatasetVersion(Base):
    """An immutable, content-addressed table: the bytes live in the artifact store by SHA-256."""

    __tablename__ = "dataset_version"
    __table_args__ = (UniqueConstraint("project_id", "sha256", "role"),
                      Index("ix_dataset_version_project_number", "project_id", "number", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    # what a person sees and types: "dataset 2" of this project (``app.services.numbering``). The id
    # stays the registry's key. Nullable only because SQLite adds a column to a table others
    # reference without rebuilding it only when NULL is allowed; every version has a number.
    number: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20), default="training")
    source_name: Mapped[str] = mapped_column(String(300))
    file_format: Mapped[str] = mapped_column(String(10))
    sha256: Mapped[str] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(Integer)
    n_columns: Mapped[int] = mapped_column(Integer)
    target: Mapped[str | None] = mapped_column(String(200))
    time_column: Mapped[str | None] = mapped_column(String(200))
    schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # what import noticed but accepted (mixed types, leading zeros, formula-like text, …)
    findings: Mapped[list[Any]] = mapped_column(default=list)
    # the quality report: {"findings": [...], "distributions": {...}}
    quality: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class Split(Base):
    """A reproducible partition of a dataset version; the row positions live as an artifact."""

    __tablename__ = "split"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_version.id"), index=True)
    strategy: Mapped[str] = mapped_column(String(20))
    seed: Mapped[int] = mapped_column(Integer)
    fractions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    time_column: Mapped[str | None] = mapped_column(String(200))
    group_column: Mapped[str | None] = mapped_column(String(200))
    gap: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64))
    assignments_sha256: Mapped[str] = mapped_column(String(64))
    # leakage findings computed when the split was made: [{"check", "feature", "severity", "evidence"}]
    leakage: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class Experiment(Base):
    __tablename__ = "experiment"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    """One finished training: only written when the worker succeeded, so no partial runs exist."""

    __tablename__ = "run"
    __table_args__ = (Index("ix_run_project_number", "project_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # the project (also reachable through the experiment), so "run 3" is unique per project;
    # nullable only for the same reason as ``number`` below: every run has one
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    # what a person sees and types: "run 3" of this project (``app.services.numbering``); None for
    # a tuning trial (a child run, shown as a trial of its parent), so trials do not use up numbers
    number: Mapped[int | None] = mapped_column(Integer)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id"), index=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_version.id"))
    split_id: Mapped[int] = mapped_column(ForeignKey("split.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"))
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    model_kind: Mapped[str] = mapped_column(String(60))
    problem_type: Mapped[str] = mapped_column(String(40), default="binary_classification")
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    seed: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cv_metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tuning: Mapped[dict[str, Any]] = mapped_column(default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # None for a tuning trial (a child run): only the refit winner keeps a model file
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    # validation predictions (JSON artifact) for statistical comparison between runs
    predictions_sha256: Mapped[str | None] = mapped_column(String(64))
    # the sealed test part: scored only by an explicit, audited action
    test_metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    test_scored_at: Mapped[datetime | None] = mapped_column()
    test_scored_by: Mapped[str | None] = mapped_column(String(100))
    # the latest error analysis (JSON artifact): confusion, curves, segments, fairness, importance
    analysis_sha256: Mapped[str | None] = mapped_column(String(64))
    duration_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    # A run trained outside the workbench and logged through the `mlwb` module: origin
    # "external" (None: trained here), the code version it was logged from ({"git_commit",
    # "dirty", "script"}), the caller's tags and each metric's history ({name: [[step, value]]}).
    # Nullable without defaults, so rows written before keep their bound hashes (migration 0009).
    origin: Mapped[str | None] = mapped_column(String(20))
    code_version: Mapped[dict[str, Any] | None] = mapped_column()
    tags: Mapped[dict[str, Any] | None] = mapped_column()
    metric_history: Mapped[dict[str, Any] | None] = mapped_column()


class RunMetric(Base):
    """One numeric metric of one run, promoted out of ``Run.metrics`` so runs are filtered and
    sorted in SQL (``app.services.run_query``): the index (project, name, value, run) answers
    "val_roc_auc > 0.8, best first, 50 of them" by walking one index range in order.

    Derived data, not evidence: it is written by the mapper events below whenever a ``Run`` row
    is inserted or its metrics change, so no service can forget it, and it is not bound to the
    audit chain (the run row it copies is). Test-set metrics (named ``test_<name>``) are promoted
    once the sealed test set is opened. ``project_id`` is copied from the run's experiment so
    one index range holds one project's values.
    """

    __tablename__ = "run_metric"
    __table_args__ = (Index("ix_run_metric_project_name_value", "project_id", "name", "value", "run_id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)


def promoted_metrics(metrics: dict[str, Any] | None, test_metrics: dict[str, Any] | None) -> dict[str, float]:
    """The finite numbers of a run's metrics (and ``test_``-prefixed test metrics) as promoted."""
    import math

    out: dict[str, float] = {}
    for prefix, values in (("", metrics or {}), ("test_", test_metrics or {})):
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                key = str(name) if str(name).startswith(prefix) else prefix + str(name)
                out[key[:120]] = float(value)
    return out


def _write_run_metrics(connection: Any, run: Run, *, replace: bool) -> None:
    table = RunMetric.__table__
    if replace:
        connection.execute(delete(table).where(table.c.run_id == run.id))
    values = promoted_metrics(run.metrics, run.test_metrics)
    if not values:
        return
    project_id = connection.execute(
        select(Experiment.project_id).where(Experiment.id == run.experiment_id)).scalar_one()
    connection.execute(insert(table), [
        {"run_id": run.id, "name": name, "project_id": project_id, "value": value} for name, value in values.items()])


@event.listens_for(Run, "after_insert")
def _run_inserted(_mapper: Any, connection: Any, run: Run) -> None:
    _write_run_metrics(connection, run, replace=False)


@event.listens_for(Run, "after_update")
def _run_updated(_mapper: Any, connection: Any, run: Run) -> None:
    from sqlalchemy import inspect

    state = inspect(run)
    if state.attrs.metrics.history.has_changes() or state.attrs.test_metrics.history.has_changes():
        _write_run_metrics(connection, run, replace=True)


class Comparison(Base):
    """Run A against run B on the same rows: the test used, its p-value and the difference's CI."""

    __tablename__ = "comparison"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    run_a_id: Mapped[int] = mapped_column(ForeignKey("run.id"))
    run_b_id: Mapped[int] = mapped_column(ForeignKey("run.id"))
    data_part: Mapped[str] = mapped_column(String(40), default="validation")  # "train+validation (refits)"
    test: Mapped[str] = mapped_column(String(60))
    metric: Mapped[str] = mapped_column(String(40))
    difference: Mapped[float] = mapped_column(Float)
    ci_low: Mapped[float] = mapped_column(Float)
    ci_high: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float] = mapped_column(Float)
    alpha: Mapped[float] = mapped_column(Float, default=0.05)
    significant: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class ModelVersion(Base):
    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"))
    version: Mapped[int] = mapped_column(Integer)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(20), default="none")
    # "champion" / "challenger": at most one version of a project holds each alias
    alias: Mapped[str | None] = mapped_column(String(40))
    reference_profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the drift reference (sorted values, bin edges, category counts) stored at registration,
    # so a batch is compared without reloading the training data
    reference_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    # the key of the person who registered it: four-eyes compares keys, not names
    author_fingerprint: Mapped[str | None] = mapped_column(String(64))


class ModelCard(Base):
    __tablename__ = "model_card"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), unique=True)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the sections whose text is still the registry's machine draft, not yet a person's words
    drafted: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class ReviewRequest(Base):
    """An author asking for an independent review of a model version; closed by the decision."""

    __tablename__ = "review_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    reviewer: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class Approval(Base):
    __tablename__ = "approval"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("review_request.id"))
    requested_by: Mapped[str] = mapped_column(String(100))
    approver: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a signed decision: the canonical statement, its Ed25519 signature and the signer's key
    # fingerprint (``app.signing``); all three empty for an unsigned record
    statement: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(String(128))
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)


class Transition(Base):
    """A stage change of a model version: who moved it, from where, and why."""

    __tablename__ = "transition"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a signed decision: the canonical statement, its Ed25519 signature and the signer's key
    # fingerprint (``app.signing``); all three empty for an unsigned record
    statement: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(String(128))
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)


class Waiver(Base):
    """A recommended promotion check skipped on purpose, with the reason on record."""

    __tablename__ = "waiver"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    check_id: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a signed decision: the canonical statement, its Ed25519 signature and the signer's key
    # fingerprint (``app.signing``); all three empty for an unsigned record
    statement: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(String(128))
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)


class ReleaseAnalysis(Base):
    """Shadow, canary or A/B evidence for a challenger against the production version."""

    __tablename__ = "release_analysis"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    baseline_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id"))
    kind: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(Text, default="")
    results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class PredictionLog(Base):
    """One scored request: inputs, what each model said, latency; the label when it arrives."""

    __tablename__ = "prediction_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # "production", or "canary" when the challenger answered
    route: Mapped[str] = mapped_column(String(20), default="production")
    served_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    # the other model scored on the same request (shadow or the canary's counterpart), never returned
    other_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id"))
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prediction: Mapped[Any] = mapped_column(JSON)
    other_prediction: Mapped[Any | None] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    other_latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str] = mapped_column(Text, default="")
    label: Mapped[Any | None] = mapped_column(JSON)
    labelled_at: Mapped[datetime | None] = mapped_column()
    # the monitoring batch these rows were collected into (None until then)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_batch.id"), index=True)


class Job(Base):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(100))
    # "host:pid" of the process that runs it, so start-up only marks orphans as interrupted
    owner: Mapped[str] = mapped_column(String(120), default="")


class MonitoringBatch(Base):
    __tablename__ = "monitoring_batch"
    __table_args__ = (UniqueConstraint("project_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id"))
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_version.id"))
    label: Mapped[str] = mapped_column(String(100))
    n_rows: Mapped[int] = mapped_column(Integer)
    analysed: Mapped[bool] = mapped_column(Boolean, default=False)
    # "file" or "prediction_log"
    source: Mapped[str] = mapped_column(String(20), default="file")
    # the column that joins delayed labels to rows
    id_column: Mapped[str | None] = mapped_column(String(200))
    # performance once labels arrived (concept drift), and each SLA rule's outcome for this batch
    n_labelled: Mapped[int] = mapped_column(Integer, default=0)
    # the batch's rows with their labels, stored as a dataset version: the feedback for retraining
    labelled_dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_version.id"))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sla: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class DriftResult(Base):
    """One feature's (or the prediction's, or the label's) drift in a batch: every statistic
    that applies to its type, and the verdict weighed on effect size."""

    __tablename__ = "drift_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("monitoring_batch.id", ondelete="CASCADE"), index=True)
    feature: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    # "feature", "prediction" or "label"
    subject: Mapped[str] = mapped_column(String(20), default="feature")
    ks: Mapped[float | None] = mapped_column(Float)
    ks_pvalue: Mapped[float | None] = mapped_column(Float)
    psi: Mapped[float | None] = mapped_column(Float)
    chi2: Mapped[float | None] = mapped_column(Float)
    chi2_pvalue: Mapped[float | None] = mapped_column(Float)
    js: Mapped[float | None] = mapped_column(Float)
    drifted: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    wasserstein: Mapped[float | None] = mapped_column(Float)  # normed by the reference's std

class Alert(Base):
    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_batch.id"))
    rule: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))
    feature: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RetrainingTrigger(Base):
    """Why a retraining happened (an alert, a schedule, a person) and the run that answered it,
    closing the feedback loop: trigger → labelled data → retraining job → run."""

    __tablename__ = "retraining_trigger"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    # "automatic", "scheduled" or "on_demand"
    kind: Mapped[str] = mapped_column(String(20), default="automatic")
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    # the newly labelled batch, and the training data (old + newly labelled rows) built from it
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_batch.id"))
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_version.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    requested_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaRule(Base):
    """A service level the model must keep, checked on every batch: metric, comparator, threshold."""

    __tablename__ = "sla_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    metric: Mapped[str] = mapped_column(String(60))
    comparator: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitoringPolicy(Base):
    """Per-project drift thresholds (per feature, with a default) and the retraining schedule."""

    __tablename__ = "monitoring_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), unique=True)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retrain_every_days: Mapped[int | None] = mapped_column(Integer)
    last_scheduled_at: Mapped[datetime | None] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

class Person(Base):
    """Someone whose Ed25519 public key this workspace knows, with the role it may act in.

    Identity is the key: a decision counts as this person's only when it carries a signature
    that verifies with ``public_key``. The name is what reports print beside the fingerprint.
    """

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)  # raw key, hex
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    added_by: Mapped[str] = mapped_column(String(100))
    added_by_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """A validator's signed review of an exported evidence bundle, imported from ``review.json``."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    manifest_digest: Mapped[str] = mapped_column(String(64))
    conclusion: Mapped[str] = mapped_column(String(40))  # approve | approve_with_conditions | reject
    summary: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(100))
    document: Mapped[str] = mapped_column(Text)  # the review.json as signed
    signature: Mapped[str] = mapped_column(String(128))
    signer_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    reviewed_at: Mapped[datetime] = mapped_column()
    imported_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Finding(Base):
    """Something a reviewer or an analysis asks to be fixed, tracked until it is closed.

    Raised by a review (``review_id``) or by the workbench's own checks (``source``, e.g.
    fairness); every status change is a ``FindingEvent`` with who and why.
    """

    __tablename__ = "finding"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id"), index=True)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("review.id"))
    source: Mapped[str] = mapped_column(String(40))  # review | fairness | …
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10))  # low | medium | high
    concerns: Mapped[str] = mapped_column(Text, default="")  # the section or evidence it is about
    remediation: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[str | None] = mapped_column(String(10))  # ISO date
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | remediated | accepted | closed
    raised_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FindingEvent(Base):
    """One status change of a finding: from, to, who (and their key), and why."""

    __tablename__ = "finding_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("finding.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    statement: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(String(128))
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    """One link of the hash chain; ``hash`` = HMAC(key, prev_hash ‖ canonical event)."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    project_slug: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class WorkspaceSetting(Base):
    """A named fact about the registry itself (not about a project), e.g. that rows written
    before they were bound to the audit chain still await their baseline event."""

    __tablename__ = "workspace_setting"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
