"""Read-only drift checks and the Prometheus exposition of a project's monitoring state:
nothing here is recorded, so both can run as often as a dashboard polls."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.errors import WorkbenchError
from app.ml.drift_bands import PSI_ALERT_THRESHOLD
from app.services.monitoring_alerts import list_alerts
from app.services.monitoring_batches import list_batches, require_production
from app.services.monitoring_policy import policy_row
from app.services.registry import production_version
from app.services.retraining import list_triggers
from app.services.workbench import Workbench, find_project
from storage.models import PredictionLog

def drift_file(wb: Workbench, slug: str, path: str | Path, *, reference: str | Path | None = None) -> dict[str, Any]:
    """Compare a file with the production model's stored reference (or with another file), read
    only: nothing is recorded. Returns ``{"features": {...}, "alerts": [...]}``."""
    from app.ml.drift import compare, compare_frames
    from app.ml.drift_reference import ReferenceProfile, infer_features
    from app.ml.errors import DataFileError
    from app.ml.tabular import read_table

    try:
        current = read_table(path)
        if reference is not None:
            ref_frame = read_table(reference)
            features = infer_features(ref_frame)
            absent = [f for f in features if f not in current.columns]
            if absent:
                raise WorkbenchError(f"{Path(path).name} lacks column(s) of the reference: {', '.join(absent)}")
            thresholds = None
            with wb.read() as session:
                row = policy_row(session, find_project(session, slug))
                thresholds = dict(row.thresholds) if row else None
            results = compare_frames(ref_frame, current, features, thresholds=thresholds)
        else:
            with wb.read() as session:
                project = find_project(session, slug)
                mv = require_production(session, project)
                if mv.reference_sha256 is None:
                    raise WorkbenchError(f"model version {mv.version} has no stored reference profile: register it "
                                         "again, or pass --reference FILE")
                features = mv.reference_profile.get("features") or {}
                row = policy_row(session, project)
                thresholds = dict(row.thresholds) if row else None
                sha = mv.reference_sha256
            profile = ReferenceProfile.from_bytes(wb.artifacts.get_bytes(sha, ".profile"))
            results = compare(profile, current, features=features, thresholds=thresholds)
    except DataFileError as exc:
        raise WorkbenchError(str(exc)) from None
    alerts = []
    drifted = [r for r in results if r.drifted]
    if drifted:
        worst = max(drifted, key=lambda r: r.psi or 0.0)
        alerts.append({"rule": "drift", "severity": "critical" if (worst.psi or 0.0) > PSI_ALERT_THRESHOLD else "warning",
                       "features": [r.feature for r in drifted],
                       "message": "data drift in " + ", ".join(r.feature for r in drifted)})
    return {"features": {r.feature: r.as_json() for r in results}, "alerts": alerts}


def prometheus_metrics(wb: Workbench, slug: str) -> str:
    """The current monitoring state in Prometheus' text exposition format, for Grafana."""
    batches = list_batches(wb, slug)
    alerts = list_alerts(wb, slug)
    triggers = list_triggers(wb, slug)
    with wb.read() as session:
        project = find_project(session, slug)
        mv = production_version(session, project)
        routes = dict(session.execute(select(PredictionLog.route, func.count(PredictionLog.id))
                                      .where(PredictionLog.project_id == project.id)
                                      .group_by(PredictionLog.route)).all())
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            body = ",".join(f'{k}="{_escape(v)}"' for k, v in {"project": slug, **labels}.items())
            lines.append(f"{name}{{{body}}} {_number(value)}")

    family("mlwb_production_model_version", "gauge", "Version number of the model in production.",
           [({}, mv.version if mv else 0)])
    latest = next((b for b in reversed(batches) if b.analysed), None)
    if latest is not None:
        family("mlwb_feature_psi", "gauge", "Population stability index of each feature (and of the prediction and label) in the latest batch.",
               [({"feature": r.feature, "subject": r.subject, "batch": latest.label}, r.psi)
                for r in latest.drift if r.psi is not None])
        family("mlwb_feature_ks", "gauge", "Kolmogorov-Smirnov statistic of each numeric feature in the latest batch.",
               [({"feature": r.feature, "subject": r.subject, "batch": latest.label}, r.ks)
                for r in latest.drift if r.ks is not None])
        family("mlwb_feature_drifted", "gauge", "1 when the feature's drift verdict is drifted in the latest batch.",
               [({"feature": r.feature, "subject": r.subject, "batch": latest.label}, float(r.drifted))
                for r in latest.drift])
        family("mlwb_batch_rows", "gauge", "Rows in the latest analysed batch.", [({"batch": latest.label}, latest.n_rows)])
    labelled = next((b for b in reversed(batches) if b.metrics), None)
    if labelled is not None:
        family("mlwb_model_metric", "gauge", "Model quality on the labelled rows of the latest labelled batch.",
               [({"metric": k, "batch": labelled.label}, v) for k, v in sorted(labelled.metrics.items())])
    sla_batch = next((b for b in reversed(batches) if b.sla), None)
    if sla_batch is not None:
        family("mlwb_sla_ok", "gauge", "1 when the SLA rule holds in the latest batch that measured it, 0 when breached.",
               [({"rule": k, "batch": sla_batch.label}, float(v["passed"])) for k, v in sla_batch.sla.items()
                if v["passed"] is not None])
    family("mlwb_alerts_open", "gauge", "Open monitoring alerts by severity.",
           [({"severity": s}, sum(1 for a in alerts if a.status == "open" and a.severity == s))
            for s in ("warning", "critical")])
    family("mlwb_retraining_triggers_total", "counter", "Retraining triggers raised, by kind.",
           [({"kind": k}, sum(1 for t in triggers if t.kind == k)) for k in ("automatic", "scheduled", "on_demand")])
    family("mlwb_prediction_requests_total", "counter", "Requests in the prediction log, by route.",
           [({"route": r}, routes.get(r, 0)) for r in ("production", "canary")])
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    return repr(float(value)) if isinstance(value, float) else str(value)
