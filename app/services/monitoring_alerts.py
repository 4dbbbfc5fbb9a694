"""Stage 6 alerts: raised when a batch analysis finds drift or a breached SLA rule, listed per
project and across projects (the platform lead's watch list), and resolved with a note. The
retraining trigger an alert may raise is ``retraining``'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.errors import NotFound, WorkbenchError
from app.ml.drift_bands import PSI_ALERT_THRESHOLD
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import Alert, MonitoringBatch, Project, RetrainingTrigger


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
class OpenAlert:
    project: str
    batch: str | None
    severity: str
    message: str
    has_trigger: bool
    created_at: datetime


def raise_alerts(uow: UnitOfWork, slug: str, project: Project, batch: MonitoringBatch,
                 feature_rows: list[dict[str, Any]]) -> list[Alert]:
    """One drift alert naming the batch's drifted features (critical above the PSI act band) and
    one per breached SLA rule in ``batch.sla``; an alert the batch already has is not raised again."""
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


def _alert_of(uow: UnitOfWork, project: Project, alert_id: int) -> Alert:
    """Alert ``alert_id`` of ``project``, or a clear error naming the verb that lists them."""
    alert = uow.session.get(Alert, alert_id)
    if alert is None or alert.project_id != project.id:
        raise NotFound(f"'{project.slug}' has no alert {alert_id}: list them with `mlwb monitor list {project.slug}`")
    return alert


def resolve_alert(wb: Workbench, slug: str, alert_id: int, *, note: str) -> AlertView:
    """Close an alert someone has looked at, saying what was done (or why nothing needs doing)."""
    note = note.strip()
    if not note:
        raise WorkbenchError("say how the alert was handled: the note is what a reviewer reads later")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        alert = _alert_of(uow, project, alert_id)
        if alert.status != "open":
            raise WorkbenchError(f"alert {alert_id} is already {alert.status}")
        alert.status = "resolved"
        uow.audit("monitoring.alert_resolved", "alert", alert.id, project=slug, note=note)
    return next(a for a in list_alerts(wb, slug) if a.id == alert_id)


#: The status of an alert that sent its project back to the framing (``revise_framing``).
FRAMING_REVISION = "framing_revision"
#: The stage a framing revision returns to.
FRAMING_STAGE = 2


@dataclass(frozen=True)
class FramingRevision:
    """A project sent back to problem framing because of what monitoring saw."""

    slug: str
    alert_id: int
    from_stage: int
    to_stage: int
    reason: str
    production_version: int | None  # keeps serving while the framing is revised

    def as_json(self) -> dict[str, Any]:
        return {"project": self.slug, "alert": self.alert_id, "from_stage": self.from_stage,
                "to_stage": self.to_stage, "reason": self.reason, "production_version": self.production_version,
                "production_keeps_serving": self.production_version is not None}


def revise_framing(wb: Workbench, slug: str, alert_id: int, *, reason: str) -> FramingRevision:
    """The other answer to an alert: retraining on fresh labels cannot fix a wrong target, a
    proxy that stopped meaning what it did, or a feature no longer available at serving time.
    The project goes back to stage 2 (problem framing) with the alert linked (its status says it
    led to a framing revision, and the audit event names it), so stages 2 to 6 must be passed
    again with `mlwb advance`, each gate evaluated anew on the revised framing.

    The production model keeps serving (a framing revision is not a rollback: withdraw it with
    `mlwb rollback` if it must stop), and monitoring goes on; the deliverables already written
    stay, to be edited rather than rewritten."""
    from app.services.registry import production_version

    reason = reason.strip()
    if not reason:
        raise WorkbenchError("say why the framing must be revised (what the alert showed that retraining cannot fix)")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        alert = _alert_of(uow, project, alert_id)
        if alert.status == FRAMING_REVISION:
            raise WorkbenchError(f"alert {alert_id} already sent '{slug}' back to the framing")
        before = project.current_stage
        if before <= FRAMING_STAGE:
            raise WorkbenchError(f"'{slug}' is at stage {before}: its framing is open for revision already "
                                 f"(edit it, then `mlwb advance {slug}`)")
        production = production_version(uow.session, project)
        previous_status = alert.status
        alert.status = FRAMING_REVISION
        project.current_stage = FRAMING_STAGE
        uow.audit("monitoring.alert_framing_revision", "alert", alert.id, project=slug, reason=reason,
                  previous_status=previous_status)
        uow.audit("stage.framing_revised", "project", project.id, project=slug, from_stage=before,
                  to_stage=FRAMING_STAGE, alert=alert.id, alert_message=alert.message, reason=reason,
                  production_version=production.version if production else None,
                  production_keeps_serving=production is not None)
        return FramingRevision(slug, alert.id, before, FRAMING_STAGE, reason,
                               production.version if production else None)
