"""Stage 6: monitoring batches, per-feature drift against the production model's training
data, alerts when drift crosses the threshold, and the retraining triggers they raise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.errors import NotFound, WorkbenchError
from app.services import jobs as job_records
from app.services.datasets import dataset_path, import_dataset, split_assignments
from app.services.registry import production_version
from app.services.workbench import Workbench, find_project
from storage.models import Alert, DatasetVersion, DriftResult, MonitoringBatch, Project, RetrainingTrigger, Split

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback

PSI_ALERT_THRESHOLD = 0.25


@dataclass(frozen=True)
class DriftRow:
    feature: str
    kind: str
    test: str
    statistic: float | None
    p_value: float | None
    drifted: bool


@dataclass(frozen=True)
class AlertView:
    id: int
    batch: str | None
    rule: str
    severity: str
    feature: str | None
    value: float | None
    message: str
    status: str
    trigger_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class BatchView:
    id: int
    label: str
    n_rows: int
    analysed: bool
    model_version: int | None
    drift: tuple[DriftRow, ...]
    max_psi: float | None
    created_at: datetime


def _batch(session, project: Project, label: str) -> MonitoringBatch:  # type: ignore[no-untyped-def]
    row = session.scalars(select(MonitoringBatch).where(
        MonitoringBatch.project_id == project.id, MonitoringBatch.label == label)).first()
    if row is None:
        raise NotFound(f"project '{project.slug}' has no monitoring batch '{label}'")
    return row


def import_batch(wb: Workbench, slug: str, path: str | Path, *, label: str) -> BatchView:
    """Register a batch of production inputs for the model currently in production."""
    label = label.strip()
    if not label:
        raise WorkbenchError("a monitoring batch needs a label, such as the month it covers (2026-03)")
    with wb.read() as session:
        project = find_project(session, slug)
        if production_version(session, project) is None:
            raise WorkbenchError(f"project '{slug}' has no model in production: promote one before monitoring it")
        existing = session.scalars(select(MonitoringBatch).where(
            MonitoringBatch.project_id == project.id, MonitoringBatch.label == label)).first()
        if existing is not None:
            return _batch_view(session, existing)
    dataset = import_dataset(wb, slug, path, role="monitoring")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = production_version(uow.session, project)
        batch = MonitoringBatch(project_id=project.id, model_version_id=mv.id, dataset_version_id=dataset.id,
                                label=label, n_rows=dataset.n_rows, created_by=uow.actor)
        uow.session.add(batch)
        uow.session.flush()
        uow.audit("monitoring.batch_imported", "monitoring_batch", batch.id, project=slug, label=label,
                  dataset_version=dataset.id, model_version=mv.version, rows=dataset.n_rows)
        return _batch_view(uow.session, batch)


def analyse_batch(
    wb: Workbench, runner: JobRunner, slug: str, label: str, *, on_progress: ProgressCallback | None = None
) -> BatchView:
    """Compute drift in a worker process, then store results, alert and trigger in one go."""
    with wb.read() as session:
        project = find_project(session, slug)
        batch = _batch(session, project, label)
        if batch.analysed:
            return _batch_view(session, batch)
        mv = production_version(session, project)
        reference = dict(mv.reference_profile)
        ref_dataset = session.get(DatasetVersion, reference["dataset_version_id"])
        split = session.get(Split, reference["split_id"])
        features = reference.get("features") or {}
        if not features:
            raise WorkbenchError(f"model version {mv.version} records no features: re-register it from a run")
        payload = {
            "reference_path": str(dataset_path(wb, ref_dataset)),
            "reference_rows": split_assignments(wb, split)["train"],
            "batch_path": str(dataset_path(wb, session.get(DatasetVersion, batch.dataset_version_id))),
            "features": features,
            "psi_threshold": PSI_ALERT_THRESHOLD,
        }
        batch_id = batch.id
    job_id = job_records.create_job(wb, "drift", slug, {"batch": label})
    results: list[dict[str, Any]] = runner.execute(job_id, "app.ml.tasks:drift_task", payload, on_progress)
    try:
        return _record_drift(wb, slug, label, batch_id, job_id, results)
    except Exception as exc:  # nothing was written: the job must not stay "running"
        job_records.mark_failed(wb, job_id, f"could not record the drift results: {exc}")
        raise


def _record_drift(
    wb: Workbench, slug: str, label: str, batch_id: int, job_id: int, results: list[dict[str, Any]]
) -> BatchView:
    """Store drift results, and the alert and retraining trigger they call for, in one transaction."""
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        batch = uow.session.get(MonitoringBatch, batch_id)
        if batch.analysed:  # another session analysed it meanwhile: keep the first results
            job_records.complete_job(uow, job_id, {"batch": label, "duplicate": True})
            return _batch_view(uow.session, batch)
        for r in results:
            uow.session.add(DriftResult(batch_id=batch.id, feature=r["feature"], kind=r["kind"], test=r["test"],
                                        statistic=r["statistic"], p_value=r.get("p_value"), drifted=bool(r["drifted"])))
        batch.analysed = True
        psi = {r["feature"]: r["statistic"] for r in results if r["test"] == "psi" and r["statistic"] is not None}
        drifted = sorted((f for f, v in psi.items() if v > PSI_ALERT_THRESHOLD), key=lambda f: -psi[f])
        uow.audit("monitoring.drift_analysed", "monitoring_batch", batch.id, project=slug, label=label,
                  psi={f: round(v, 6) for f, v in psi.items()}, drifted=drifted)
        if drifted:
            worst = drifted[0]
            alert = Alert(project_id=project.id, batch_id=batch.id, rule="psi", severity="high", feature=worst,
                          value=psi[worst], message=(
                              f"PSI above {PSI_ALERT_THRESHOLD} in batch {label} for "
                              + ", ".join(f"{f} ({psi[f]:.3f})" for f in drifted)))
            uow.session.add(alert)
            uow.session.flush()
            uow.audit("monitoring.alert_raised", "alert", alert.id, project=slug, rule="psi", feature=worst,
                      value=round(psi[worst], 6), features=drifted)
            trigger = RetrainingTrigger(project_id=project.id, alert_id=alert.id,
                                        reason=f"data drift in {', '.join(drifted)} (batch {label})")
            uow.session.add(trigger)
            uow.session.flush()
            uow.audit("monitoring.retraining_triggered", "retraining_trigger", trigger.id, project=slug,
                      alert=alert.id, reason=trigger.reason)
        job_records.complete_job(uow, job_id, {"batch": label, "drifted": drifted})
        return _batch_view(uow.session, batch)


def _batch_view(session, batch: MonitoringBatch) -> BatchView:  # type: ignore[no-untyped-def]
    from storage.models import ModelVersion

    rows = tuple(
        DriftRow(d.feature, d.kind, d.test, d.statistic, d.p_value, d.drifted)
        for d in session.scalars(select(DriftResult).where(DriftResult.batch_id == batch.id).order_by(DriftResult.id))
    )
    psis = [r.statistic for r in rows if r.test == "psi" and r.statistic is not None]
    mv = session.get(ModelVersion, batch.model_version_id) if batch.model_version_id else None
    return BatchView(batch.id, batch.label, batch.n_rows, batch.analysed, mv.version if mv else None, rows,
                     max(psis) if psis else None, batch.created_at)


def list_batches(wb: Workbench, slug: str) -> list[BatchView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.scalars(select(MonitoringBatch).where(MonitoringBatch.project_id == project.id)
                               .order_by(MonitoringBatch.id))
        return [_batch_view(session, b) for b in rows]


def list_alerts(wb: Workbench, slug: str) -> list[AlertView]:
    with wb.read() as session:
        project = find_project(session, slug)
        triggers = {t.alert_id: t.id for t in session.scalars(
            select(RetrainingTrigger).where(RetrainingTrigger.project_id == project.id))}
        labels = {b.id: b.label for b in session.scalars(
            select(MonitoringBatch).where(MonitoringBatch.project_id == project.id))}
        return [
            AlertView(a.id, labels.get(a.batch_id), a.rule, a.severity, a.feature, a.value, a.message, a.status,
                      triggers.get(a.id), a.created_at)
            for a in session.scalars(select(Alert).where(Alert.project_id == project.id).order_by(Alert.id))
        ]


@dataclass(frozen=True)
class OpenAlert:
    project: str
    batch: str | None
    severity: str
    message: str
    has_trigger: bool
    created_at: datetime


def open_alerts(wb: Workbench, *, limit: int = 50) -> list[OpenAlert]:
    """Open alerts across every project, newest first: the platform lead's watch list."""
    with wb.read() as session:
        rows = session.execute(
            select(Alert, Project.slug, MonitoringBatch.label, RetrainingTrigger.id)
            .join(Project, Alert.project_id == Project.id)
            .outerjoin(MonitoringBatch, Alert.batch_id == MonitoringBatch.id)
            .outerjoin(RetrainingTrigger, RetrainingTrigger.alert_id == Alert.id)
            .where(Alert.status == "open")
            .order_by(Alert.id.desc())
            .limit(limit)
        ).all()
        return [OpenAlert(slug, label, a.severity, a.message, trigger is not None, a.created_at)
                for a, slug, label, trigger in rows]
