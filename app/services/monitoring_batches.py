"""Stage 6 intake: monitoring batches of production inputs (an imported file, or the requests the
prediction log collected), delayed labels joined to logged requests, and a batch as screens and
reports read it. Analysing a batch is ``monitoring_analysis``; what it raises is
``monitoring_alerts`` and ``retraining``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.ml.drift_statistics import DriftStatistics, describe_basis
from app.services.datasets import dataset_columns, import_dataset
from app.services.registry import production_version
from app.services.workbench import Workbench, find_project
from storage.models import DriftResult, ModelVersion, MonitoringBatch, PredictionLog, Project, Run, utcnow


@dataclass(frozen=True)
class DriftResultView(DriftStatistics):
    """A stored ``DriftResult`` row: one column's drift in a batch against the reference (the
    statistics as keywords, after the column, what it is and the note)."""

    feature: str
    kind: str
    subject: str
    note: str


@dataclass(frozen=True)
class BatchView:
    id: int
    label: str
    source: str
    n_rows: int
    n_labelled: int
    analysed: bool
    model_version: int | None
    drift: tuple[DriftResultView, ...]
    max_psi: float | None
    metrics: dict[str, float]
    sla: dict[str, Any]
    created_at: datetime
    reference: str = ""  # what the drift was measured against (reference_basis)

    @property
    def features(self) -> tuple[DriftResultView, ...]:
        return tuple(r for r in self.drift if r.subject == "feature")

    @property
    def drifted_features(self) -> list[str]:
        return [r.feature for r in self.features if r.drifted]


def find_batch(session: Session, project: Project, label: str) -> MonitoringBatch:
    row = session.scalars(select(MonitoringBatch).where(
        MonitoringBatch.project_id == project.id, MonitoringBatch.label == label)).first()
    if row is None:
        raise NotFound(f"project '{project.slug}' has no monitoring batch '{label}': "
                       f"list them with `mlwb monitor list {project.slug}`")
    return row


def _label(label: str) -> str:
    label = label.strip()
    if not label:
        raise WorkbenchError("a monitoring batch needs a label, such as the month it covers (2026-03)")
    return label


def require_production(session: Session, project: Project) -> ModelVersion:
    mv = production_version(session, project)
    if mv is None:
        raise WorkbenchError(f"project '{project.slug}' has no model in production: promote one before monitoring it")
    return mv


def import_batch(wb: Workbench, slug: str, path: str | Path, *, label: str, id_column: str | None = None) -> BatchView:
    """Register a file of production inputs (with labels, or an id to join them to later)."""
    label = _label(label)
    with wb.read() as session:
        project = find_project(session, slug)
        require_production(session, project)
        existing = session.scalars(select(MonitoringBatch).where(
            MonitoringBatch.project_id == project.id, MonitoringBatch.label == label)).first()
        if existing is not None:
            return batch_view(session, existing)
    dataset = import_dataset(wb, slug, path, role="monitoring")
    if id_column is not None and id_column not in dataset_columns(wb, slug, dataset.id):
        raise WorkbenchError(f"id column '{id_column}' is not in {Path(path).name}: name the column that "
                             "identifies each row, so labels can be joined to it later")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = require_production(uow.session, project)
        batch = MonitoringBatch(project_id=project.id, model_version_id=mv.id, dataset_version_id=dataset.id,
                                label=label, n_rows=dataset.n_rows, source="file", id_column=id_column,
                                created_by=uow.actor)
        uow.session.add(batch)
        uow.session.flush()
        uow.audit("monitoring.batch_imported", "monitoring_batch", batch.id, project=slug, label=label,
                  dataset_version=dataset.id, model_version=mv.version, rows=dataset.n_rows)
        return batch_view(uow.session, batch)


def batch_from_predictions(wb: Workbench, slug: str, *, label: str) -> BatchView:
    """Collect the production-route requests logged since the last such batch into a new batch.

    The rows keep their request id (so labels can be joined later), the features, and what the
    production model answered; labels already attached come along.
    """
    import pandas as pd

    from app.ml.model_reference import PREDICTION

    label = _label(label)
    with wb.read() as session:
        project = find_project(session, slug)
        mv = require_production(session, project)
        # Refuse a taken label before the log is stored as a dataset version, so a refusal leaves
        # nothing behind (the check in the unit of work below still catches a race).
        if session.scalars(select(MonitoringBatch.id).where(
                MonitoringBatch.project_id == project.id, MonitoringBatch.label == label)).first():
            raise WorkbenchError(f"'{slug}' already has a batch '{label}': choose another label")
        target = _target_of(session, mv)
        rows = session.execute(select(PredictionLog.id, PredictionLog.request_id, PredictionLog.features,
                                      PredictionLog.prediction, PredictionLog.label)
                               .where(PredictionLog.project_id == project.id, PredictionLog.batch_id.is_(None),
                                      PredictionLog.served_version_id == mv.id, PredictionLog.error == "")
                               .order_by(PredictionLog.id)).all()
    if not rows:
        raise WorkbenchError(f"no new requests to production v{mv.version} in the prediction log of '{slug}': "
                             "serve the model (`mlwb serve`) and send traffic first")
    frame = pd.DataFrame([r.features for r in rows])
    frame.insert(0, "request_id", [r.request_id for r in rows])
    frame[PREDICTION] = [_score_of(r.prediction) for r in rows]
    if target:
        frame[target] = [r.label for r in rows]
    with tempfile.TemporaryDirectory(prefix="mlwb-log-") as tmp:
        path = Path(tmp) / f"prediction-log-{label}.parquet"
        frame.to_parquet(path, index=False)
        dataset = import_dataset(wb, slug, path, role="monitoring")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        if uow.session.scalars(select(MonitoringBatch.id).where(
                MonitoringBatch.project_id == project.id, MonitoringBatch.label == label)).first():
            raise WorkbenchError(f"'{slug}' already has a batch '{label}': choose another label")
        batch = MonitoringBatch(project_id=project.id, model_version_id=mv.id, dataset_version_id=dataset.id,
                                label=label, n_rows=len(rows), source="prediction_log", id_column="request_id",
                                created_by=uow.actor)
        uow.session.add(batch)
        uow.session.flush()
        ids = [r.id for r in rows]
        for start in range(0, len(ids), 500):
            for entry in uow.session.scalars(select(PredictionLog).where(PredictionLog.id.in_(ids[start:start + 500]))):
                entry.batch_id = batch.id
        uow.audit("monitoring.batch_collected", "monitoring_batch", batch.id, project=slug, label=label,
                  dataset_version=dataset.id, model_version=mv.version, rows=len(rows),
                  first_log=ids[0], last_log=ids[-1])
        return batch_view(uow.session, batch)


def _score_of(prediction: Any) -> Any:
    """The number drift is measured on: the score where the service returned one, else the value."""
    if isinstance(prediction, dict):
        return prediction.get("score", prediction.get("prediction"))
    return prediction


def label_predictions(wb: Workbench, slug: str, path: str | Path, *, id_column: str = "request_id",
                      label_column: str) -> int:
    """Attach delayed ground truth to logged requests by their request id. Returns rows labelled."""
    from app.ml.errors import DataFileError
    from app.ml.tabular import read_table

    try:
        table = read_table(path)
    except DataFileError as exc:
        raise WorkbenchError(str(exc)) from None
    for column in (id_column, label_column):
        if column not in table.columns:
            raise WorkbenchError(f"the labels file has no column '{column}' (columns: {', '.join(map(str, table.columns))})")
    labels = {str(k): _plain(v) for k, v in zip(table[id_column], table[label_column]) if v == v}
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        keys = list(labels)
        count = 0
        now = utcnow()
        for start in range(0, len(keys), 500):
            for entry in uow.session.scalars(select(PredictionLog).where(
                    PredictionLog.project_id == project.id, PredictionLog.request_id.in_(keys[start:start + 500]))):
                entry.label, entry.labelled_at = labels[entry.request_id], now
                count += 1
        if count == 0:
            raise WorkbenchError(f"none of the {len(labels)} ids in {Path(path).name} is a logged request of '{slug}'")
        uow.audit("monitoring.predictions_labelled", "project", project.id, project=slug, rows=count,
                  source=Path(path).name)
        return count


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _target_of(session: Session, mv: ModelVersion) -> str | None:
    run = session.get(Run, mv.run_id)
    return run.params.get("target") or None


def batch_view(session: Session, batch: MonitoringBatch) -> BatchView:
    rows = tuple(
        DriftResultView(d.feature, d.kind, d.subject, d.note, ks=d.ks, ks_pvalue=d.ks_pvalue, psi=d.psi,
                        chi2=d.chi2, chi2_pvalue=d.chi2_pvalue, js=d.js, wasserstein=d.wasserstein,
                        drifted=d.drifted)
        for d in session.scalars(select(DriftResult).where(DriftResult.batch_id == batch.id).order_by(DriftResult.id))
    )
    psis = [r.psi for r in rows if r.subject == "feature" and r.psi is not None]
    mv = session.get(ModelVersion, batch.model_version_id) if batch.model_version_id else None
    return BatchView(batch.id, batch.label, batch.source, batch.n_rows, batch.n_labelled, batch.analysed,
                     mv.version if mv else None, rows, max(psis) if psis else None, dict(batch.metrics),
                     dict(batch.sla), batch.created_at, reference_basis(mv) if mv else "")


def reference_basis(mv: ModelVersion) -> str:
    """What a batch's drift statistics were measured against, so a reader knows whether a KS
    p-value is against every training row or against the seeded sample a large reference is
    profiled on. Versions registered before profiles were sampled say only that."""
    profile = mv.reference_profile or {}
    if profile.get("rows") is None:
        return "reference: the registered run's training rows, profiled whole"
    return "reference: " + describe_basis(profile["rows"], profile.get("sample_rows"))


def list_batches(wb: Workbench, slug: str) -> list[BatchView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.scalars(select(MonitoringBatch).where(MonitoringBatch.project_id == project.id)
                               .order_by(MonitoringBatch.id))
        return [batch_view(session, b) for b in rows]
