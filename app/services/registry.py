"""Stage 5: model versions, their cards, independent approvals and promotion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.errors import GateFailed, NotFound, WorkbenchError
from app.services.comparison import primary_metric
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import Approval, Experiment, ModelCard, ModelVersion, Project, Run, Transition

STAGES = ("none", "staging", "production", "archived")
# Mitchell et al., "Model Cards for Model Reporting": the sections a reviewer expects. Those
# the registry can fill are drafted from evidence; the rest only a person can write.
MODEL_CARD_SECTIONS: tuple[tuple[str, str], ...] = (
    ("model_details", "Model details"),
    ("intended_use", "Intended use"),
    ("factors", "Factors"),
    ("metrics", "Metrics"),
    ("evaluation_data", "Evaluation data"),
    ("training_data", "Training data"),
    ("quantitative_analyses", "Quantitative analyses"),
    ("ethical_considerations", "Ethical considerations"),
    ("caveats", "Caveats and recommendations"),
)
PERSON_WRITTEN = ("intended_use", "factors", "ethical_considerations", "caveats")


@dataclass(frozen=True)
class ModelVersionView:
    id: int
    version: int
    run_id: int
    model_kind: str
    stage: str
    artifact_sha256: str
    metrics: dict[str, float]
    created_by: str
    created_at: datetime
    approvals: tuple[ApprovalView, ...] = ()
    has_card: bool = False


@dataclass(frozen=True)
class ApprovalView:
    version: int
    requested_by: str
    approver: str
    decision: str
    comment: str
    created_at: datetime


def standing_approval(decisions: list[Approval], author: str) -> Approval | None:
    """The approval that lets a version into production: the latest independent review, if it approved.

    A rejection recorded after an approval withdraws it until someone approves again.
    """
    independent = sorted((d for d in decisions if d.approver != author), key=lambda d: d.id)
    return independent[-1] if independent and independent[-1].decision == "approved" else None


def _version(uow_or_session, project: Project, version: int) -> ModelVersion:  # type: ignore[no-untyped-def]
    session = getattr(uow_or_session, "session", uow_or_session)
    row = session.scalars(
        select(ModelVersion).where(ModelVersion.project_id == project.id, ModelVersion.version == version)
    ).first()
    if row is None:
        raise NotFound(f"project '{project.slug}' has no model version {version}: list them with `mlwb models {project.slug}`")
    return row


def register_model(wb: Workbench, slug: str, run_id: int) -> ModelVersionView:
    """Register a run's model as the next version; a run is registered at most once."""
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        run = uow.session.get(Run, run_id)
        exp = uow.session.get(Experiment, run.experiment_id) if run else None
        if run is None or exp is None or exp.project_id != project.id:
            raise NotFound(f"project '{slug}' has no run {run_id}: list runs with `mlwb runs {slug}`")
        existing = uow.session.scalars(select(ModelVersion).where(ModelVersion.run_id == run_id)).first()
        if existing is not None:
            return _mv_view(uow.session, existing)
        number = (uow.session.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.project_id == project.id)) or 0) + 1
        mv = ModelVersion(
            project_id=project.id, run_id=run.id, version=number, artifact_sha256=run.artifact_sha256,
            stage="none", created_by=uow.actor,
            reference_profile={"dataset_version_id": run.dataset_version_id, "split_id": run.split_id,
                               "features": run.params.get("features", {})},
        )
        uow.session.add(mv)
        uow.session.flush()
        uow.audit("model.registered", "model_version", mv.id, project=slug, version=number, run=run.id,
                  artifact=run.artifact_sha256)
        return _mv_view(uow.session, mv)


def draft_model_card(wb: Workbench, slug: str, version: int) -> dict[str, str]:
    """The sections the registry can fill from evidence: lineage, data, metrics, comparisons."""
    from app.services.comparison import list_comparisons

    comparisons = list_comparisons(wb, slug)
    with wb.read() as session:
        project = find_project(session, slug)
        mv = _version(session, project, version)
        run = session.get(Run, mv.run_id)
        metric = primary_metric(project)
        def fmt(metrics: dict) -> str:
            return ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()) if isinstance(v, (int, float)))
        cv = "; ".join(f"{k} {v['mean']:.4f} ± {v['std']:.4f}" for k, v in sorted(run.cv_metrics.items())
                       if isinstance(v, dict) and "mean" in v)
        wins = [c for c in comparisons if c.run_b == run.id]
        analyses = "; ".join(
            f"vs run {c.run_a}: Δ{c.metric} {c.difference:+.4f} (95% CI {c.ci[0]:+.4f} to {c.ci[1]:+.4f}, "
            f"{c.test}, p={c.p_value:.3g})" for c in wins)
        return {
            "model_details": f"{run.model_kind} (version {version} of {project.slug}), run {run.id}, seed {run.seed}, "
                             f"artifact {mv.artifact_sha256[:16]}…, trained by {run.created_by}; "
                             f"sklearn {run.environment.get('sklearn', '?')}",
            "metrics": f"primary metric {metric} on validation data; validation: {fmt(run.metrics)}"
                       + (f"; cross-validation: {cv}" if cv else "")
                       + (f"; sealed test: {fmt(run.test_metrics)}" if run.test_metrics else "; test set still sealed"),
            "evaluation_data": f"validation part of split {run.split_id} (dataset version {run.dataset_version_id}); "
                               "the test part is scored once, by an audited action",
            "training_data": f"train part of split {run.split_id} of dataset version {run.dataset_version_id}; "
                             f"features: {', '.join(run.params.get('features', {}))}",
            "quantitative_analyses": analyses or "no statistical comparison recorded yet",
        }


def write_model_card(wb: Workbench, slug: str, version: int, content: dict[str, str]) -> None:
    allowed = {k for k, _ in MODEL_CARD_SECTIONS}
    unknown = sorted(set(content) - allowed)
    if unknown:
        raise WorkbenchError(f"unknown model card section(s) {', '.join(unknown)}: allowed are {', '.join(sorted(allowed))}")
    clean = {k: str(v).strip() for k, v in content.items() if str(v).strip()}
    with wb.unit_of_work() as uow:
        mv = _version(uow, uow.project(slug), version)
        card = uow.session.scalars(select(ModelCard).where(ModelCard.model_version_id == mv.id)).first()
        if card is None:
            card = ModelCard(model_version_id=mv.id, content=clean, updated_by=uow.actor)
            uow.session.add(card)
        elif card.content == clean:
            return
        else:
            card.content, card.updated_by = clean, uow.actor
        uow.session.flush()
        uow.audit("model_card.saved", "model_card", card.id, project=slug, version=version, sections=sorted(clean))


def model_card(wb: Workbench, slug: str, version: int) -> dict[str, str]:
    with wb.read() as session:
        mv = _version(session, find_project(session, slug), version)
        card = session.scalars(select(ModelCard).where(ModelCard.model_version_id == mv.id)).first()
        return dict(card.content) if card else {}


def record_approval(
    wb: Workbench, slug: str, version: int, *, decision: str = "approved", comment: str = "",
    on_behalf_of: str | None = None,
) -> ApprovalView:
    """Record a reviewer's decision. The approver is the acting user and never the author.

    ``on_behalf_of`` records a decision someone else made (a sign-off taken in a meeting, or
    the demo's fictional validator); the audit event keeps who typed it in.
    """
    if decision not in ("approved", "rejected"):
        raise WorkbenchError(f"decision must be 'approved' or 'rejected', not '{decision}'")
    with wb.unit_of_work() as uow:
        mv = _version(uow, uow.project(slug), version)
        approver = on_behalf_of or uow.actor
        if approver == mv.created_by:
            raise WorkbenchError(
                f"{approver} registered model version {version} and cannot approve it: "
                "ask another reviewer (four-eyes rule)"
            )
        row = Approval(model_version_id=mv.id, requested_by=mv.created_by, approver=approver,
                       decision=decision, comment=comment.strip())
        uow.session.add(row)
        uow.session.flush()
        extra = {"entered_by": uow.actor} if on_behalf_of else {}
        uow.audit(f"model.{decision}", "approval", row.id, project=slug, version=version, approver=approver,
                  comment=row.comment, **extra)
        return ApprovalView(version, row.requested_by, approver, decision, row.comment, row.created_at)


def _move(uow: UnitOfWork, slug: str, mv: ModelVersion, to_stage: str, reason: str) -> None:
    uow.session.add(Transition(model_version_id=mv.id, from_stage=mv.stage, to_stage=to_stage,
                               actor=uow.actor, reason=reason))
    uow.audit("model.transitioned", "model_version", mv.id, project=slug, version=mv.version,
              from_stage=mv.stage, to_stage=to_stage, reason=reason)
    mv.stage = to_stage


def promote(wb: Workbench, slug: str, version: int, *, stage: str = "production", reason: str = "") -> None:
    """Move a version to staging or production; production needs an independent approval and a card.

    The version it replaces in production is archived in the same transaction, so there is
    always exactly one production model and the rollback target is on record.
    """
    if stage not in STAGES[1:]:
        raise WorkbenchError(f"stage must be one of {', '.join(STAGES[1:])}, not '{stage}'")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = _version(uow, project, version)
        if mv.stage == stage:
            return
        if stage == "production":
            decisions = list(uow.session.scalars(select(Approval).where(Approval.model_version_id == mv.id)))
            if standing_approval(decisions, mv.created_by) is None:
                raise GateFailed(f"model version {version} has no standing approval by someone other than its "
                                 "author (none yet, or the latest review rejected it): a reviewer must approve it")
            card = uow.session.scalars(select(ModelCard).where(ModelCard.model_version_id == mv.id)).first()
            if card is None:
                raise GateFailed(f"model version {version} has no model card: write it before production")
            for other in uow.session.scalars(select(ModelVersion).where(
                    ModelVersion.project_id == project.id, ModelVersion.stage == "production",
                    ModelVersion.id != mv.id)):
                _move(uow, slug, other, "archived", f"replaced by version {version}")
        _move(uow, slug, mv, stage, reason)


def _mv_view(session, mv: ModelVersion) -> ModelVersionView:  # type: ignore[no-untyped-def]
    run = session.get(Run, mv.run_id)
    approvals = tuple(
        ApprovalView(mv.version, a.requested_by, a.approver, a.decision, a.comment, a.created_at)
        for a in session.scalars(select(Approval).where(Approval.model_version_id == mv.id).order_by(Approval.id))
    )
    has_card = session.scalar(select(func.count(ModelCard.id)).where(ModelCard.model_version_id == mv.id)) > 0
    return ModelVersionView(mv.id, mv.version, mv.run_id, run.model_kind, mv.stage, mv.artifact_sha256,
                            dict(run.metrics), mv.created_by, mv.created_at, approvals, has_card)


def list_models(wb: Workbench, slug: str) -> list[ModelVersionView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.scalars(select(ModelVersion).where(ModelVersion.project_id == project.id).order_by(ModelVersion.version))
        return [_mv_view(session, mv) for mv in rows]


def production_version(session, project: Project) -> ModelVersion | None:  # type: ignore[no-untyped-def]
    return session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project.id, ModelVersion.stage == "production")).first()


def reference_of(mv: ModelVersion) -> dict[str, Any]:
    return dict(mv.reference_profile)
