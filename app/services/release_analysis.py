"""Stage 5 evidence from live traffic: shadow, canary and A/B analyses of the challenger against
production, computed from the prediction log and recorded against the challenger's version.

A canary that breaches a guardrail is rolled back in the same transaction that records the
breach: the challenger loses its alias, so the next start of the service routes nothing to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import WorkbenchError
from app.services.promotion import assign_alias, require_version
from app.services.registry import production_version
from app.services.workbench import Workbench, find_project
from storage.models import AuditEvent, ModelVersion, PredictionLog, Project, ReleaseAnalysis, Run

KINDS = ("shadow", "canary", "ab_test")


@dataclass(frozen=True)
class ReleaseAnalysisView:
    id: int
    kind: str
    version: int
    baseline_version: int | None
    verdict: str
    decision: str
    results: dict[str, Any]
    created_by: str
    created_at: datetime

    @property
    def missing(self) -> list[str]:
        """What an inconclusive shadow or canary lacks (requests, labels, power); [] otherwise."""
        return list(self.results.get("missing") or [])

    def summary(self) -> str:
        r = self.results
        unproven = ("; inconclusive — " + "; ".join(self.missing)) if self.missing else ""
        if self.kind == "shadow":
            return (f"agreement {r['agreement_rate']:.1%} on {r['n']} requests, shadow p99 "
                    f"{r['shadow_latency']['p99_ms']:.1f} ms" + unproven)
        if self.kind == "canary":
            if r["breaches"]:
                return "; ".join(r["breaches"])
            return ("no guardrail breached, not all shown to hold" + unproven) if self.missing else \
                "every guardrail held and was shown to hold"
        return (f"{r['test']}: Δ {r['difference']:+.4f} (95% CI {r['ci_low']:+.4f} to {r['ci_high']:+.4f}), "
                f"p={r['p_value']:.3g}" + ("; sample ratio mismatch" if r["srm"]["mismatch"] else ""))


def _score(value: Any) -> Any:
    return value.get("score", value.get("prediction")) if isinstance(value, dict) else value


def _decision(value: Any) -> Any:
    return value.get("prediction") if isinstance(value, dict) else value


def _versions(session: Session, project: Project, version: int | None) -> tuple[ModelVersion, ModelVersion]:
    production = production_version(session, project)
    if production is None:
        raise WorkbenchError(f"'{project.slug}' has no production version to compare a challenger with")
    challenger = require_version(session, project, version, "challenger")
    if challenger.id == production.id:
        raise WorkbenchError(f"version {challenger.version} is production itself: choose a challenger")
    return production, challenger


def _problem_type(session: Session, mv: ModelVersion) -> str:
    return session.get(Run, mv.run_id).problem_type


def _record(wb: Workbench, slug: str, kind: str, challenger_id: int, production_id: int, verdict: str,
            results: dict[str, Any], decision: str = "", rollback: bool = False) -> ReleaseAnalysisView:
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        challenger = uow.session.get(ModelVersion, challenger_id)
        row = ReleaseAnalysis(model_version_id=challenger_id, baseline_version_id=production_id, kind=kind,
                              verdict=verdict, decision=decision, results=results, created_by=uow.actor)
        uow.session.add(row)
        uow.session.flush()
        uow.audit(f"release.{kind}_analysed", "release_analysis", row.id, project=slug, version=challenger.version,
                  verdict=verdict, decision=decision)
        if rollback and challenger.alias == "challenger":
            assign_alias(uow, slug, project, None, "challenger", f"canary rolled back: {decision}")
        baseline = uow.session.get(ModelVersion, production_id)
        return ReleaseAnalysisView(row.id, kind, challenger.version, baseline.version, verdict, decision, results,
                                   row.created_by, row.created_at)


def analyse_shadow(wb: Workbench, slug: str, *, version: int | None = None, min_agreement: float = 0.9,
                   max_latency_p99_ms: float | None = 50.0) -> ReleaseAnalysisView:
    """How the challenger would have answered the requests production answered (and, unless
    ``max_latency_p99_ms`` is None, whether its background scoring kept within a latency limit)."""
    from app.ml.release import shadow_analysis

    with wb.read() as session:
        project = find_project(session, slug)
        production, challenger = _versions(session, project, version)
        rows = session.execute(select(PredictionLog.prediction, PredictionLog.other_prediction,
                                      PredictionLog.latency_ms, PredictionLog.other_latency_ms)
                               .where(PredictionLog.project_id == project.id, PredictionLog.route == "production",
                                      PredictionLog.served_version_id == production.id,
                                      PredictionLog.other_version_id == challenger.id,
                                      PredictionLog.other_prediction.is_not(None), PredictionLog.error == "")
                               ).all()
        problem_type = _problem_type(session, production)
        ids = (challenger.id, production.id)
    if not rows:
        raise WorkbenchError(f"no shadow traffic for v{challenger.version} in the prediction log: serve '{slug}' "
                             "with the challenger in shadow (`mlwb serve`) first")
    pick = _decision if problem_type == "multiclass_classification" else _score
    try:
        result = shadow_analysis([pick(r.prediction) for r in rows], [pick(r.other_prediction) for r in rows],
                                 [r.latency_ms for r in rows], [r.other_latency_ms or 0.0 for r in rows],
                                 problem_type=problem_type if problem_type != "ranking" else "binary_classification",
                                 min_agreement=min_agreement, max_latency_p99_ms=max_latency_p99_ms)
    except ValueError as exc:
        raise WorkbenchError(f"shadow analysis: {exc}") from None
    return _record(wb, slug, "shadow", *ids, result.verdict, result.as_dict())


#: Problem types whose answers are right or wrong, so a canary has a label-based guardrail (accuracy).
LABELLED_GUARDRAIL = ("binary_classification", "ranking", "multiclass_classification")


def _arm(rows: list[Any], problem_type: str) -> Any:
    """One arm of a canary: requests, errors, latencies and accuracy on the rows whose label has
    arrived (None without labels, or for a problem type without right answers)."""
    import numpy as np

    from app.ml.release import CanaryArm

    errors = sum(1 for r in rows if r.error)
    labelled = [r for r in rows if not r.error and r.label is not None]
    if problem_type not in LABELLED_GUARDRAIL:
        labelled = []
    metric = None
    if labelled and problem_type in ("binary_classification", "ranking"):
        y = np.array([int(r.label) for r in labelled])
        scores = np.array([float(_score(r.prediction)) for r in labelled])
        metric = float(np.mean((scores >= 0.5) == (y == 1)))
    elif labelled:
        metric = float(np.mean([str(_decision(r.prediction)) == str(r.label) for r in labelled]))
    return CanaryArm(len(rows), errors, [r.latency_ms for r in rows], metric, n_labelled=len(labelled))


def analyse_canary(wb: Workbench, slug: str, *, version: int | None = None, max_error_rate: float = 0.01,
                   max_latency_p99_ms: float | None = 50.0, max_metric_drop: float = 0.02,
                   max_latency_p99_ratio: float | None = None, latency_floor_ms: float = 0.0) -> ReleaseAnalysisView:
    """Guardrails on the canary's share of traffic; a breach rolls the canary back.

    Latency is judged against ``max_latency_p99_ms`` (None: no absolute limit) and, given
    ``max_latency_p99_ratio``, against that multiple of production's p99 in the same window: the
    guardrail a machine's speed or load cannot break, because it slows both arms alike.

    Without a breach the canary passes only on evidence (enough requests for the error-rate and
    latency bounds, labels in both arms with enough power for the accuracy guardrail); otherwise
    the verdict is "inconclusive" and the result's ``missing`` says what it lacks.
    """
    from app.ml.release import Guardrails, canary_analysis

    with wb.read() as session:
        project = find_project(session, slug)
        production, challenger = _versions(session, project, version)
        columns = (PredictionLog.latency_ms, PredictionLog.error, PredictionLog.label, PredictionLog.prediction)
        since, _share = canary_window(session, slug, challenger.version)
        base = select(*columns).where(PredictionLog.project_id == project.id)
        if since is not None:
            base = base.where(PredictionLog.ts >= since)
        prod_rows = session.execute(base.where(PredictionLog.route == "production",
                                               PredictionLog.served_version_id == production.id)).all()
        canary_rows = session.execute(base.where(PredictionLog.route == "canary",
                                                 PredictionLog.served_version_id == challenger.id)).all()
        problem_type = _problem_type(session, production)
        ids = (challenger.id, production.id)
    if not canary_rows or not prod_rows:
        raise WorkbenchError(f"the prediction log has {len(canary_rows)} canary and {len(prod_rows)} production "
                             f"request(s) for v{challenger.version}: serve with --canary-share first")
    try:
        guardrails = Guardrails(max_error_rate, max_latency_p99_ms,
                                max_metric_drop if problem_type in LABELLED_GUARDRAIL else None,
                                max_latency_p99_ratio, latency_floor_ms)
        result = canary_analysis(_arm(prod_rows, problem_type), _arm(canary_rows, problem_type), guardrails)
    except ValueError as exc:
        raise WorkbenchError(f"canary analysis: {exc}") from None
    if result.rollback:
        decision = "rollback: " + "; ".join(result.breaches)
    elif result.missing:
        decision = "continue, not yet passed: " + "; ".join(result.missing)
    else:
        decision = "continue: every guardrail held and was shown to hold"
    return _record(wb, slug, "canary", *ids, result.verdict, result.as_dict(), decision, rollback=result.rollback)


def canary_window(session: Session, slug: str, challenger: int) -> tuple[datetime | None, float | None]:
    """When the service last started routing a share of traffic to ``challenger``, and that share.

    Canary and A/B arms are compared only over that window: both arms then come from the same
    random split of the same traffic (shadow-only traffic before it would skew the ratio).
    """
    for ts, payload in session.execute(select(AuditEvent.ts, AuditEvent.payload).where(
            AuditEvent.project_slug == slug, AuditEvent.action == "serving.started")
            .order_by(AuditEvent.seq.desc())):
        started = json.loads(payload)
        if started.get("canary_share") and started.get("challenger") == challenger:
            return datetime.fromisoformat(ts), float(started["canary_share"])
    return None, None


def analyse_ab_test(wb: Workbench, slug: str, *, version: int | None = None, alpha: float = 0.05,
                    mde: float | None = None, power: float = 0.8,
                    expected_share_b: float | None = None) -> ReleaseAnalysisView:
    """A (production) against B (canary) on the business outcome the labels record: the
    conversion rate for 0/1 labels (two-proportion z-test), the mean otherwise (Welch's t)."""
    from app.ml.release import ab_test_means, ab_test_proportions

    with wb.read() as session:
        project = find_project(session, slug)
        production, challenger = _versions(session, project, version)
        since, share = canary_window(session, slug, challenger.version)
        base = select(PredictionLog.label).where(PredictionLog.project_id == project.id,
                                                 PredictionLog.label.is_not(None), PredictionLog.error == "")
        if since is not None:
            base = base.where(PredictionLog.ts >= since)
        a = [r[0] for r in session.execute(base.where(PredictionLog.route == "production",
                                                      PredictionLog.served_version_id == production.id))]
        b = [r[0] for r in session.execute(base.where(PredictionLog.route == "canary",
                                                      PredictionLog.served_version_id == challenger.id))]
        share = expected_share_b if expected_share_b is not None else share
        ids = (challenger.id, production.id)
    if len(a) < 2 or len(b) < 2:
        raise WorkbenchError(f"an A/B test needs labelled requests in both arms (production {len(a)}, canary "
                             f"{len(b)}): label the logged requests with `mlwb monitor label-log` first")
    try:
        if set(map(float, a + b)) <= {0.0, 1.0}:
            result = ab_test_proportions(int(sum(map(float, a))), len(a), int(sum(map(float, b))), len(b),
                                         alpha=alpha, expected_share_b=share or 0.5, mde=mde, power=power)
        else:
            result = ab_test_means([float(v) for v in a], [float(v) for v in b], alpha=alpha,
                                   expected_share_b=share or 0.5, mde=mde, power=power)
    except (TypeError, ValueError) as exc:
        raise WorkbenchError(f"A/B test: {exc}") from None
    verdict = "inconclusive" if result.srm.mismatch else ("significant" if result.significant else "not_significant")
    decision = ("sample ratio mismatch: the split of traffic is broken, do not trust the result"
                if result.srm.mismatch else
                f"B {'differs from' if result.significant else 'is not distinguishable from'} A at α={alpha}")
    return _record(wb, slug, "ab_test", *ids, verdict, result.as_dict(), decision)


def list_release_analyses(wb: Workbench, slug: str) -> list[ReleaseAnalysisView]:
    with wb.read() as session:
        project = find_project(session, slug)
        versions = {mv.id: mv.version for mv in session.scalars(
            select(ModelVersion).where(ModelVersion.project_id == project.id))}
        rows = session.scalars(select(ReleaseAnalysis).where(ReleaseAnalysis.model_version_id.in_(versions))
                               .order_by(ReleaseAnalysis.id))
        return [ReleaseAnalysisView(r.id, r.kind, versions[r.model_version_id], versions.get(r.baseline_version_id),
                                    r.verdict, r.decision, dict(r.results), r.created_by, r.created_at) for r in rows]
