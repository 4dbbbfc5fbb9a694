"""Stage 6 policy: the SLA rules every batch is checked against, the effect sizes at which a
feature counts as drifted, and the retraining schedule (the PSI bands alerts and retraining act
on are ``app.ml.drift_bands``). Each change is audited."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import MonitoringPolicy, Project, SlaRule, utcnow

SLA_METRICS: dict[str, str] = {
    "accuracy": "share of labelled rows predicted right",
    "roc_auc": "ROC AUC on labelled rows",
    "f1": "F1 on labelled rows",
    "false_positive_rate": "false positives / actual negatives",
    "false_negative_rate": "false negatives / actual positives",
    "rmse": "root mean squared error on labelled rows",
    "mae": "mean absolute error on labelled rows",
    "latency_p99_ms": "99th percentile latency of served requests (prediction-log batches)",
    "error_rate": "share of requests that failed (prediction-log batches)",
}
# Metrics that describe the model's quality: breaching one asks for retraining; latency and
# errors ask for an engineer, not new training data.
QUALITY_METRICS = frozenset({"accuracy", "roc_auc", "f1", "false_positive_rate", "false_negative_rate",
                             "rmse", "mae"})
COMPARATORS = (">=", "<=")


@dataclass(frozen=True)
class SlaRuleView:
    id: int
    metric: str
    comparator: str
    threshold: float
    severity: str

    def describe(self) -> str:
        return f"{self.metric} {self.comparator} {self.threshold:g}"


def policy_row(session: Session, project: Project) -> MonitoringPolicy | None:
    return session.scalars(select(MonitoringPolicy).where(MonitoringPolicy.project_id == project.id)).first()


def add_sla_rule(wb: Workbench, slug: str, metric: str, comparator: str, threshold: float, *,
                 severity: str = "warning") -> SlaRuleView:
    if metric not in SLA_METRICS:
        raise WorkbenchError(f"unknown SLA metric '{metric}': choose one of {', '.join(SLA_METRICS)}")
    if comparator not in COMPARATORS:
        raise WorkbenchError(f"comparator must be '>=' or '<=', not '{comparator}'")
    if severity not in ("warning", "critical"):
        raise WorkbenchError(f"severity must be 'warning' or 'critical', not '{severity}'")
    if not math.isfinite(threshold):
        raise WorkbenchError("the SLA threshold must be a finite number")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        rule = SlaRule(project_id=project.id, metric=metric, comparator=comparator, threshold=float(threshold),
                       severity=severity, created_by=uow.actor)
        uow.session.add(rule)
        uow.session.flush()
        uow.audit("monitoring.sla_rule_added", "sla_rule", rule.id, project=slug, metric=metric,
                  comparator=comparator, threshold=threshold, severity=severity)
        return SlaRuleView(rule.id, metric, comparator, rule.threshold, severity)


def remove_sla_rule(wb: Workbench, slug: str, rule_id: int) -> None:
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        rule = uow.session.get(SlaRule, rule_id)
        if rule is None or rule.project_id != project.id or not rule.active:
            raise NotFound(f"'{slug}' has no active SLA rule {rule_id}: list them with `mlwb monitor sla {slug}`")
        rule.active = False
        uow.audit("monitoring.sla_rule_removed", "sla_rule", rule.id, project=slug, metric=rule.metric)


def sla_rules(wb: Workbench, slug: str) -> list[SlaRuleView]:
    with wb.read() as session:
        project = find_project(session, slug)
        return [SlaRuleView(r.id, r.metric, r.comparator, r.threshold, r.severity)
                for r in session.scalars(select(SlaRule).where(SlaRule.project_id == project.id,
                                                               SlaRule.active.is_(True)).order_by(SlaRule.id))]


def _policy_for_update(uow: UnitOfWork, project: Project) -> MonitoringPolicy:
    policy = policy_row(uow.session, project)
    if policy is None:
        policy = MonitoringPolicy(project_id=project.id, thresholds={}, updated_by=uow.actor)
        uow.session.add(policy)
    return policy


def set_drift_threshold(wb: Workbench, slug: str, feature: str, statistic: str, value: float) -> dict[str, Any]:
    """Set the effect size at which ``feature`` (or ``*`` for every feature) counts as drifted."""
    from app.ml.drift_bands import DEFAULT_THRESHOLDS

    if statistic not in DEFAULT_THRESHOLDS:
        raise WorkbenchError(f"statistic must be one of {', '.join(DEFAULT_THRESHOLDS)}, not '{statistic}'")
    if not (math.isfinite(value) and value > 0):
        raise WorkbenchError("a drift threshold must be a positive number")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        policy = _policy_for_update(uow, project)
        thresholds = {k: dict(v) for k, v in policy.thresholds.items()}
        thresholds.setdefault(feature, {})[statistic] = float(value)
        policy.thresholds, policy.updated_by, policy.updated_at = thresholds, uow.actor, utcnow()
        uow.session.flush()
        uow.audit("monitoring.threshold_set", "monitoring_policy", policy.id, project=slug, feature=feature,
                  statistic=statistic, value=value)
        return thresholds


def set_retraining_schedule(wb: Workbench, slug: str, every_days: int | None) -> None:
    if every_days is not None and every_days < 1:
        raise WorkbenchError("the retraining schedule must be at least one day, or off")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        policy = _policy_for_update(uow, project)
        policy.retrain_every_days, policy.updated_by, policy.updated_at = every_days, uow.actor, utcnow()
        uow.session.flush()
        uow.audit("monitoring.schedule_set", "monitoring_policy", policy.id, project=slug, every_days=every_days)


@dataclass(frozen=True)
class PolicySettings:
    """The thresholds and schedule as the settings dialogs show them: what is set, and the
    defaults that apply where nothing is."""

    thresholds: dict[str, dict[str, float]]
    defaults: dict[str, float]
    retrain_every_days: int | None


def policy_settings(wb: Workbench, slug: str) -> PolicySettings:
    from app.ml.drift_bands import DEFAULT_THRESHOLDS

    with wb.read() as session:
        policy = policy_row(session, find_project(session, slug))
        return PolicySettings({k: dict(v) for k, v in (policy.thresholds if policy else {}).items()},
                              dict(DEFAULT_THRESHOLDS), policy.retrain_every_days if policy else None)
