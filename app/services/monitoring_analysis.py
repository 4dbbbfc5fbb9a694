"""Stage 6 analysis of a monitoring batch: drift against the model version's stored reference,
and, once labels arrive, performance and label shift (concept drift). The statistics run in a
worker (``app.ml.monitoring_task``); this module records them with the SLA outcomes, and the
alerts and retraining trigger they raise, in one transaction.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import WorkbenchError
from app.services import jobs as job_records
from app.services.datasets import dataset_path, import_dataset
from app.services.monitoring_alerts import raise_alerts
from app.services.monitoring_batches import BatchView, batch_view, find_batch, list_batches
from app.services.monitoring_policy import policy_row
from app.services.retraining import raise_automatic_trigger
from app.services.workbench import Workbench, find_project
from storage.models import (
    DatasetVersion,
    DriftResult,
    ModelVersion,
    MonitoringBatch,
    PredictionLog,
    Project,
    Run,
    SlaRule,
)

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback


def _analysis_payload(wb: Workbench, session: Session, project: Project, batch: MonitoringBatch) -> dict[str, Any]:
    mv = session.get(ModelVersion, batch.model_version_id)
    if mv.reference_sha256 is None:
        raise WorkbenchError(f"model version {mv.version} has no stored reference profile: register it again "
                             f"(`mlwb models {project.slug} --register {session.get(Run, mv.run_id).number}`) to build one")
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
        batch = find_batch(session, project, label)
        if batch.analysed:
            return batch_view(session, batch)
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
        batch = find_batch(session, project, label)
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
        drift = result["drift"]
        if drift and not batch.analysed:
            for r in drift:
                if r["subject"] == "label":
                    continue
                uow.session.add(_drift_result(batch.id, r))
            batch.analysed = True
        labels = [r for r in drift if r["subject"] == "label"]
        if labels:
            uow.session.execute(DriftResult.__table__.delete().where(
                DriftResult.batch_id == batch.id, DriftResult.subject == "label"))
            for r in labels:
                uow.session.add(_drift_result(batch.id, r))
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
        alerts = raise_alerts(uow, slug, project, batch, feature_rows)
        raise_automatic_trigger(wb, uow, slug, project, batch, alerts, [r["feature"] for r in feature_rows])
        job_records.complete_job(uow, job_id, {"batch": batch.label, "alerts": len(alerts)})
        return batch_view(uow.session, batch)


def _drift_result(batch_id: int, r: dict[str, Any]) -> DriftResult:
    """The row a worker's drift result (``app.ml.drift.DriftResult`` as a dict) is stored as."""
    return DriftResult(batch_id=batch_id, feature=r["feature"], kind=r["kind"], subject=r["subject"],
                       ks=r.get("ks"), ks_pvalue=r.get("ks_pvalue"), psi=r.get("psi"), chi2=r.get("chi2"),
                       chi2_pvalue=r.get("chi2_pvalue"), js=r.get("js"), wasserstein=r.get("wasserstein"),
                       drifted=bool(r["drifted"]),
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


def performance_over_time(wb: Workbench, slug: str) -> dict[str, list[tuple[str, float]]]:
    """Concept drift: each metric measured on labelled rows, batch by batch in arrival order."""
    series: dict[str, list[tuple[str, float]]] = {}
    for b in list_batches(wb, slug):
        for name, value in b.metrics.items():
            series.setdefault(name, []).append((b.label, value))
    return series
