"""Stage 6: monitoring batches (imported files or the prediction log), drift against the model
version's stored reference, delayed labels, SLA rules, alerts and the retraining triggers they
raise. Statistics run in a worker (``app.ml.monitoring_task``); this module decides and records.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.services import jobs as job_records
from app.services.datasets import dataset_columns, dataset_path, import_dataset
from app.services.monitoring_policy import QUALITY_METRICS, policy_row
from app.services.registry import production_version
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import (
    Alert,
    DatasetVersion,
    DriftResult,
    ModelVersion,
    MonitoringBatch,
    PredictionLog,
    Project,
    RetrainingTrigger,
    Run,
    SlaRule,
    utcnow,
)

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback

# PSI bands risk teams use: above WATCH a shift is worth a look, above ACT it needs action.
PSI_WATCH = 0.1
PSI_ALERT_THRESHOLD = 0.25
TOP_FEATURES = 10


@dataclass(frozen=True)
class DriftRow:
    feature: str
    kind: str
    subject: str
    ks: float | None
    ks_pvalue: float | None
    psi: float | None
    chi2: float | None
    chi2_pvalue: float | None
    js: float | None
    drifted: bool
    note: str


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
    source: str
    n_rows: int
    n_labelled: int
    analysed: bool
    model_version: int | None
    drift: tuple[DriftRow, ...]
    max_psi: float | None
    metrics: dict[str, float]
    sla: dict[str, Any]
    created_at: datetime

    @property
    def features(self) -> tuple[DriftRow, ...]:
        return tuple(r for r in self.drift if r.subject == "feature")

    @property
    def drifted_features(self) -> list[str]:
        return [r.feature for r in self.features if r.drifted]


@dataclass(frozen=True)
class TriggerView:
    id: int
    kind: str
    reason: str
    status: str
    batch: str | None
    alert_id: int | None
    dataset_version_id: int | None
    job_id: int | None
    run_id: int | None
    requested_by: str
    created_at: datetime


def _batch(session: Session, project: Project, label: str) -> MonitoringBatch:
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
            return _batch_view(session, existing)
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
        return _batch_view(uow.session, batch)


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
        return _batch_view(uow.session, batch)


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


def _important_features(wb: Workbench, session: Session, mv: ModelVersion, features: list[str]) -> list[str]:
    """The model's ten most important features (permutation importance from its error analysis);
    every feature when no analysis exists, so a breach is never missed for lack of ranking."""
    import json

    run = session.get(Run, mv.run_id)
    if not run.analysis_sha256:
        return features
    analysis = json.loads(wb.artifacts.get_bytes(run.analysis_sha256, ".json"))
    ranked = [item["feature"] for item in analysis.get("permutation_importance") or [] if item.get("feature") in features]
    return ranked[:TOP_FEATURES] if ranked else features


def _analysis_payload(wb: Workbench, session: Session, project: Project, batch: MonitoringBatch) -> dict[str, Any]:
    mv = session.get(ModelVersion, batch.model_version_id)
    if mv.reference_sha256 is None:
        raise WorkbenchError(f"model version {mv.version} has no stored reference profile: register it again "
                             f"(`mlwb models {project.slug} --register {mv.run_id}`) to build one")
    run = session.get(Run, mv.run_id)
    features = mv.reference_profile.get("features") or run.params.get("features") or {}
    policy = policy_row(session, project)
    return {
        "reference_path": str(wb.artifacts.verified_path(mv.reference_sha256, ".profile")),
        "batch_path": str(dataset_path(wb, session.get(DatasetVersion, batch.dataset_version_id))),
        "model_path": str(wb.artifacts.verified_path(mv.artifact_sha256, ".skops")),
        "features": features,
        "target": run.params.get("target") or None,
        "problem_type": run.problem_type,
        "n_classes": len(run.params.get("classes") or []),
        "thresholds": dict(policy.thresholds) if policy else None,
    }


def analyse_batch(
    wb: Workbench, runner: JobRunner, slug: str, label: str, *, on_progress: ProgressCallback | None = None
) -> BatchView:
    """Drift, label shift and performance of a batch in a worker, then results, SLA outcomes,
    alerts and any retraining trigger in one transaction."""
    with wb.read() as session:
        project = find_project(session, slug)
        batch = _batch(session, project, label)
        if batch.analysed:
            return _batch_view(session, batch)
        payload = _analysis_payload(wb, session, project, batch)
        batch_id = batch.id
    return _run_analysis(wb, runner, slug, batch_id, "drift", payload, on_progress)


def attach_labels(
    wb: Workbench, runner: JobRunner, slug: str, label: str, path: str | Path, *, id_column: str,
    label_column: str, on_progress: ProgressCallback | None = None,
) -> BatchView:
    """Delayed ground truth for a batch: join it by id, measure performance (concept drift) and
    label shift, check SLA rules, and keep the labelled rows as feedback for retraining."""
    with wb.read() as session:
        project = find_project(session, slug)
        batch = _batch(session, project, label)
        if batch.id_column is None:
            raise WorkbenchError(f"batch '{label}' was imported without an id column, so labels cannot be joined: "
                                 "import it again with --id-column")
        payload = _analysis_payload(wb, session, project, batch)
        payload["labels"] = {"path": str(path), "id_column": id_column, "label_column": label_column,
                             "batch_id_column": batch.id_column}
        payload["drift"] = not batch.analysed
        batch_id = batch.id
    return _run_analysis(wb, runner, slug, batch_id, "labels", payload, on_progress)


def _run_analysis(wb: Workbench, runner: JobRunner, slug: str, batch_id: int, kind: str,
                  payload: dict[str, Any], on_progress: ProgressCallback | None) -> BatchView:
    with tempfile.TemporaryDirectory(prefix="mlwb-batch-") as tmp:
        with wb.read() as session:
            label = session.get(MonitoringBatch, batch_id).label
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label)
        payload["labelled_out"] = str(Path(tmp) / f"labelled-batch-{safe}.parquet")
        job_id = job_records.create_job(wb, kind, slug, {"batch": batch_id})
        result: dict[str, Any] = runner.execute(job_id, "app.ml.monitoring_task:monitoring_task", payload, on_progress)
        try:
            feedback = None
            if result.get("labelled_path"):
                feedback = import_dataset(wb, slug, result["labelled_path"], role="feedback",
                                          target=payload["target"]).id
            return _record_analysis(wb, slug, batch_id, job_id, result, feedback)
        except Exception as exc:  # nothing was recorded: the job must not stay "running"
            job_records.mark_failed(wb, job_id, f"could not record the batch analysis: {exc}")
            raise


def _record_analysis(wb: Workbench, slug: str, batch_id: int, job_id: int, result: dict[str, Any],
                     feedback_dataset: int | None) -> BatchView:
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        batch = uow.session.get(MonitoringBatch, batch_id)
        mv = uow.session.get(ModelVersion, batch.model_version_id)
        drift = result["drift"]
        if drift and not batch.analysed:
            for r in drift:
                if r["subject"] == "label":
                    continue
                uow.session.add(_drift_row(batch.id, r))
            batch.analysed = True
        labels = [r for r in drift if r["subject"] == "label"]
        if labels:
            uow.session.execute(DriftResult.__table__.delete().where(
                DriftResult.batch_id == batch.id, DriftResult.subject == "label"))
            for r in labels:
                uow.session.add(_drift_row(batch.id, r))
        if result["n_labelled"]:
            batch.n_labelled, batch.metrics = result["n_labelled"], dict(result["metrics"])
            batch.labelled_dataset_version_id = feedback_dataset
        metrics = {**batch.metrics, **_service_metrics(uow.session, batch)}
        batch.sla = _evaluate_sla(uow.session, project, metrics)
        uow.session.flush()
        feature_rows = [r for r in drift if r["subject"] == "feature"]
        uow.audit("monitoring.batch_analysed", "monitoring_batch", batch.id, project=slug, label=batch.label,
                  drifted=[r["feature"] for r in feature_rows if r["drifted"]],
                  psi={r["feature"]: round(r["psi"], 6) for r in feature_rows if r.get("psi") is not None},
                  metrics={k: round(v, 6) for k, v in batch.metrics.items()}, labelled=batch.n_labelled,
                  sla={k: v["passed"] for k, v in batch.sla.items()})
        alerts = _raise_alerts(uow, slug, project, batch, feature_rows, metrics)
        important = _important_features(wb, uow.session, mv, [r["feature"] for r in feature_rows])
        _maybe_trigger(uow, slug, project, batch, alerts, important)
        job_records.complete_job(uow, job_id, {"batch": batch.label, "alerts": len(alerts)})
        return _batch_view(uow.session, batch)


def _drift_row(batch_id: int, r: dict[str, Any]) -> DriftResult:
    return DriftResult(batch_id=batch_id, feature=r["feature"], kind=r["kind"], subject=r["subject"],
                       ks=r.get("ks"), ks_pvalue=r.get("ks_pvalue"), psi=r.get("psi"), chi2=r.get("chi2"),
                       chi2_pvalue=r.get("chi2_pvalue"), js=r.get("js"), drifted=bool(r["drifted"]),
                       note=r.get("note") or "; ".join(r.get("reasons") or ()))


def _service_metrics(session: Session, batch: MonitoringBatch) -> dict[str, float]:
    """Latency and error rate of the requests a prediction-log batch was collected from."""
    if batch.source != "prediction_log":
        return {}
    import numpy as np

    rows = session.execute(select(PredictionLog.latency_ms, PredictionLog.error)
                           .where(PredictionLog.batch_id == batch.id)).all()
    if not rows:
        return {}
    latencies = np.array([r.latency_ms for r in rows], dtype="float64")
    return {"latency_p50_ms": float(np.percentile(latencies, 50)), "latency_p99_ms": float(np.percentile(latencies, 99)),
            "error_rate": float(sum(1 for r in rows if r.error) / len(rows))}


def _evaluate_sla(session: Session, project: Project, metrics: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rule in session.scalars(select(SlaRule).where(SlaRule.project_id == project.id, SlaRule.active.is_(True))
                                .order_by(SlaRule.id)):
        value = metrics.get(rule.metric)
        key = f"{rule.metric} {rule.comparator} {rule.threshold:g}"
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[key] = {"rule": rule.id, "value": None, "passed": None, "severity": rule.severity,
                        "note": "not measured yet (no labels or no served requests)"}
            continue
        passed = value >= rule.threshold if rule.comparator == ">=" else value <= rule.threshold
        out[key] = {"rule": rule.id, "value": value, "passed": passed, "severity": rule.severity}
    return out


def _raise_alerts(uow: UnitOfWork, slug: str, project: Project, batch: MonitoringBatch,
                  feature_rows: list[dict[str, Any]], metrics: dict[str, float]) -> list[Alert]:
    alerts: list[Alert] = []
    existing = {(a.rule, a.feature) for a in uow.session.scalars(select(Alert).where(Alert.batch_id == batch.id))}
    drifted = sorted((r for r in feature_rows if r["drifted"]), key=lambda r: -(r.get("psi") or 0.0))
    if drifted and ("drift", drifted[0]["feature"]) not in existing:
        worst = drifted[0]
        psi = worst.get("psi") or 0.0
        alerts.append(Alert(
            project_id=project.id, batch_id=batch.id, rule="drift", feature=worst["feature"], value=psi,
            severity="critical" if psi > PSI_ALERT_THRESHOLD else "warning",
            message=f"data drift in batch {batch.label}: " + ", ".join(
                f"{r['feature']} (PSI {r['psi']:.3f})" if r.get("psi") is not None else r["feature"] for r in drifted)))
    for key, outcome in batch.sla.items():
        if outcome["passed"] is False and (f"sla:{outcome['rule']}", None) not in existing:
            alerts.append(Alert(project_id=project.id, batch_id=batch.id, rule=f"sla:{outcome['rule']}",
                                severity=outcome["severity"], feature=None, value=outcome["value"],
                                message=f"SLA breached in batch {batch.label}: {key} (measured {outcome['value']:.4g})"))
    for alert in alerts:
        uow.session.add(alert)
        uow.session.flush()
        uow.audit("monitoring.alert_raised", "alert", alert.id, project=slug, rule=alert.rule,
                  severity=alert.severity, feature=alert.feature, value=alert.value, message=alert.message)
    return alerts


def _maybe_trigger(uow: UnitOfWork, slug: str, project: Project, batch: MonitoringBatch, alerts: list[Alert],
                   important: list[str]) -> RetrainingTrigger | None:
    """Automatic retraining: PSI above the act band on one of the model's most important
    features, or a quality metric below its SLA threshold. One trigger per batch analysis."""
    reasons: list[str] = []
    cause: Alert | None = None
    rows = uow.session.scalars(select(DriftResult).where(DriftResult.batch_id == batch.id,
                                                         DriftResult.subject == "feature"))
    breached = [r for r in rows if r.psi is not None and r.psi > PSI_ALERT_THRESHOLD and r.feature in important]
    if breached:
        reasons.append("PSI > 0.25 on important feature(s) " + ", ".join(f"{r.feature} ({r.psi:.3f})" for r in breached))
        cause = next((a for a in alerts if a.rule == "drift"), None)
    rules = {r.id: r for r in uow.session.scalars(select(SlaRule).where(SlaRule.project_id == project.id))}
    for alert in alerts:
        if alert.rule.startswith("sla:") and rules[int(alert.rule[4:])].metric in QUALITY_METRICS:
            reasons.append(alert.message)
            cause = cause or alert
    if not reasons or cause is None:
        return None
    trigger = RetrainingTrigger(project_id=project.id, kind="automatic", alert_id=cause.id, batch_id=batch.id,
                                reason="; ".join(reasons) + f" (batch {batch.label})", requested_by=uow.actor)
    uow.session.add(trigger)
    uow.session.flush()
    uow.audit("monitoring.retraining_triggered", "retraining_trigger", trigger.id, project=slug, kind="automatic",
              alert=cause.id, batch=batch.label, reason=trigger.reason)
    return trigger


def _batch_view(session: Session, batch: MonitoringBatch) -> BatchView:
    rows = tuple(
        DriftRow(d.feature, d.kind, d.subject, d.ks, d.ks_pvalue, d.psi, d.chi2, d.chi2_pvalue, d.js, d.drifted,
                 d.note)
        for d in session.scalars(select(DriftResult).where(DriftResult.batch_id == batch.id).order_by(DriftResult.id))
    )
    psis = [r.psi for r in rows if r.subject == "feature" and r.psi is not None]
    mv = session.get(ModelVersion, batch.model_version_id) if batch.model_version_id else None
    return BatchView(batch.id, batch.label, batch.source, batch.n_rows, batch.n_labelled, batch.analysed,
                     mv.version if mv else None, rows, max(psis) if psis else None, dict(batch.metrics),
                     dict(batch.sla), batch.created_at)


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


def resolve_alert(wb: Workbench, slug: str, alert_id: int, *, note: str) -> AlertView:
    """Close an alert someone has looked at, saying what was done (or why nothing needs doing)."""
    note = note.strip()
    if not note:
        raise WorkbenchError("say how the alert was handled: the note is what a reviewer reads later")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        alert = uow.session.get(Alert, alert_id)
        if alert is None or alert.project_id != project.id:
            raise NotFound(f"'{slug}' has no alert {alert_id}: list them with `mlwb monitor list {slug}`")
        if alert.status != "open":
            raise WorkbenchError(f"alert {alert_id} is already {alert.status}")
        alert.status = "resolved"
        uow.audit("monitoring.alert_resolved", "alert", alert.id, project=slug, note=note)
    return next(a for a in list_alerts(wb, slug) if a.id == alert_id)


def list_triggers(wb: Workbench, slug: str) -> list[TriggerView]:
    with wb.read() as session:
        project = find_project(session, slug)
        labels = {b.id: b.label for b in session.scalars(
            select(MonitoringBatch).where(MonitoringBatch.project_id == project.id))}
        return [TriggerView(t.id, t.kind, t.reason, t.status, labels.get(t.batch_id), t.alert_id,
                            t.dataset_version_id, t.job_id, t.run_id, t.requested_by, t.created_at)
                for t in session.scalars(select(RetrainingTrigger).where(RetrainingTrigger.project_id == project.id)
                                         .order_by(RetrainingTrigger.id))]


def performance_over_time(wb: Workbench, slug: str) -> dict[str, list[tuple[str, float]]]:
    """Concept drift: each metric measured on labelled rows, batch by batch in arrival order."""
    series: dict[str, list[tuple[str, float]]] = {}
    for b in list_batches(wb, slug):
        for name, value in b.metrics.items():
            series.setdefault(name, []).append((b.label, value))
    return series
