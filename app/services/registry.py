"""Stage 5: model versions, their cards and drift reference, review requests and independent
approvals. Promotion, aliases and rollback live in ``app.services.promotion``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.signing import SigningKey
from app.lifecycle import MODEL_CARD_SECTIONS
from app.services.identity import public_keys
from app.services.signatures import DECIDING_ROLES, judge_independence, sign_decision
from app.services.training import primary_metric
from app.services.workbench import Workbench, find_project
from storage.models import (
    Approval,
    DatasetVersion,
    Experiment,
    ModelCard,
    ModelVersion,
    Project,
    ReviewRequest,
    Run,
    Split,
    utcnow,
)

PERSON_WRITTEN = ("intended_use", "factors", "ethical_considerations", "caveats")


@dataclass(frozen=True)
class ModelVersionView:
    id: int
    version: int
    run_id: int
    model_kind: str
    stage: str
    alias: str | None
    artifact_sha256: str
    metrics: dict[str, float]
    created_by: str
    created_at: datetime
    approvals: tuple[ApprovalView, ...] = ()
    has_card: bool = False


@dataclass(frozen=True)
class ReviewRequestView:
    id: int
    version: int
    requested_by: str
    reviewer: str | None
    comment: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class ApprovalView:
    version: int
    requested_by: str
    approver: str
    decision: str
    comment: str
    created_at: datetime
    signer_fingerprint: str | None = None  # None: recorded without a signature


def _approval_view(row: Approval, version: int) -> ApprovalView:
    return ApprovalView(version, row.requested_by, row.approver, row.decision, row.comment, row.created_at,
                        row.signer_fingerprint)


def approval_statement(project: Project, mv: ModelVersion, decision: str, comment: str) -> dict[str, object]:
    """What an approval's signed statement must say for the record it is stored with."""
    return {"kind": "approval", "project": project.slug, "version": mv.version, "model_sha256": mv.artifact_sha256,
            "decision": decision, "comment": comment}


def standing_approval(session: Session, project: Project, mv: ModelVersion,
                      decisions: list[Approval]) -> tuple[Approval | None, str]:
    """The approval that lets a version into production, and why it counts or what is missing.

    Only decisions that satisfy four-eyes count (``signatures.judge_independence``: a registered
    key other than the author's, with a deciding role; unsigned only on startup). The latest of
    them stands: a rejection after an approval withdraws it until someone approves again.
    """
    keys = public_keys(session)
    counted: list[tuple[Approval, str]] = []
    refused: list[str] = []
    for d in sorted(decisions, key=lambda d: d.id):
        verdict = judge_independence(
            decider=d.approver, statement=d.statement, signature=d.signature, fingerprint=d.signer_fingerprint,
            mv=mv, keys=keys, maturity=project.maturity,
            expect=approval_statement(project, mv, d.decision, d.comment))
        (counted.append((d, verdict.why)) if verdict.counts else refused.append(verdict.why))
    if counted:
        latest, why = counted[-1]
        if latest.decision == "approved":
            return latest, f"approved by {why}"
        return None, f"rejected by {why}: {latest.comment}"
    if refused:
        return None, "no decision that counts: " + "; ".join(dict.fromkeys(refused))
    return None, "no standing approval by someone other than the author"


def model_version(session: Session, project: Project, version: int) -> ModelVersion:
    row = session.scalars(
        select(ModelVersion).where(ModelVersion.project_id == project.id, ModelVersion.version == version)
    ).first()
    if row is None:
        raise NotFound(f"project '{project.slug}' has no model version {version}: list them with `mlwb models {project.slug}`")
    return row


def _reference_profile(wb: Workbench, run: Run) -> str:
    """Profile the run's training rows, its predictions on them and their labels, once, so every
    monitoring batch is compared without reloading the training data. Returns the artifact hash."""
    from app.ml.errors import DataFileError
    from app.ml.model_reference import build_model_reference
    from app.ml.tabular import read_table
    from app.services.datasets import dataset_path, split_assignments

    with wb.read() as session:
        dataset = session.get(DatasetVersion, run.dataset_version_id)
        split = session.get(Split, run.split_id)
        path = dataset_path(wb, dataset)
        rows = split_assignments(wb, split)["train"]
    try:
        profile = build_model_reference(
            read_table(path), rows, dict(run.params.get("features", {})),
            model_bytes=wb.artifacts.get_bytes(run.artifact_sha256, ".skops"), problem_type=run.problem_type,
            target=run.params.get("target") or dataset.target, n_classes=len(run.params.get("classes") or []))
    except (DataFileError, ValueError) as exc:
        raise WorkbenchError(f"could not profile the training data of run {run.id} for monitoring: {exc}") from None
    return wb.artifacts.put_bytes(profile, ".profile")


def register_model(wb: Workbench, slug: str, run_id: int) -> ModelVersionView:
    """Register a run's model as the next version, with the drift reference profile of its
    training data; a run is registered at most once."""
    with wb.read() as session:
        project = find_project(session, slug)
        run = session.get(Run, run_id)
        exp = session.get(Experiment, run.experiment_id) if run else None
        if run is None or exp is None or exp.project_id != project.id:
            raise NotFound(f"project '{slug}' has no run {run_id}: list runs with `mlwb runs {slug}`")
        if run.artifact_sha256 is None:
            raise WorkbenchError(f"run {run_id} is a tuning trial without a model file: register its parent run")
        existing = session.scalars(select(ModelVersion).where(ModelVersion.run_id == run_id)).first()
        if existing is not None:
            return _mv_view(session, existing)
    reference = _reference_profile(wb, run)
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        existing = uow.session.scalars(select(ModelVersion).where(ModelVersion.run_id == run_id)).first()
        if existing is not None:
            return _mv_view(uow.session, existing)
        number = (uow.session.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.project_id == project.id)) or 0) + 1
        mv = ModelVersion(
            project_id=project.id, run_id=run.id, version=number, artifact_sha256=run.artifact_sha256,
            stage="none", created_by=uow.actor, author_fingerprint=uow.identity.fingerprint,
            reference_sha256=reference,
            reference_profile={"dataset_version_id": run.dataset_version_id, "split_id": run.split_id,
                               "features": run.params.get("features", {})},
        )
        uow.session.add(mv)
        uow.session.flush()
        uow.audit("model.registered", "model_version", mv.id, project=slug, version=number, run=run.id,
                  artifact=run.artifact_sha256, reference_profile=reference, author_key=mv.author_fingerprint)
        return _mv_view(uow.session, mv)


def draft_model_card(wb: Workbench, slug: str, version: int) -> dict[str, str]:
    """The sections the registry can fill from evidence: lineage, data, metrics, comparisons."""
    from app.services.comparison import list_comparisons

    comparisons = list_comparisons(wb, slug)
    with wb.read() as session:
        project = find_project(session, slug)
        mv = model_version(session, project, version)
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
        mv = model_version(uow.session, uow.project(slug), version)
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
        mv = model_version(session, find_project(session, slug), version)
        card = session.scalars(select(ModelCard).where(ModelCard.model_version_id == mv.id)).first()
        return dict(card.content) if card else {}


def request_review(wb: Workbench, slug: str, version: int, *, reviewer: str | None = None,
                   comment: str = "") -> ReviewRequestView:
    """The author asks for an independent review; the next decision on the version closes it."""
    with wb.unit_of_work() as uow:
        mv = model_version(uow.session, uow.project(slug), version)
        if reviewer and reviewer == mv.created_by:
            raise WorkbenchError(f"{reviewer} registered version {version}: ask someone else to review it (four-eyes rule)")
        open_request = uow.session.scalars(select(ReviewRequest).where(
            ReviewRequest.model_version_id == mv.id, ReviewRequest.status == "open")).first()
        if open_request is not None:
            raise WorkbenchError(f"version {version} already has an open review request (#{open_request.id}) "
                                 f"from {open_request.requested_by}")
        row = ReviewRequest(model_version_id=mv.id, requested_by=uow.actor, reviewer=reviewer or None,
                            comment=comment.strip())
        uow.session.add(row)
        uow.session.flush()
        uow.audit("model.review_requested", "review_request", row.id, project=slug, version=version,
                  reviewer=reviewer, comment=row.comment)
        return _request_view(row, version)


def record_approval(
    wb: Workbench, slug: str, version: int, *, decision: str = "approved", comment: str = "",
    signer: SigningKey | None = None,
) -> ApprovalView:
    """Record a reviewer's decision, signed with their key (``signer``, default mine).

    The signer is never the author, by key or by name, and their role must allow deciding; a
    rejection must say why. With no key at all the decision is recorded unsigned, which only the
    startup profile counts (``standing_approval``).
    """
    if decision not in ("approved", "rejected"):
        raise WorkbenchError(f"decision must be 'approved' or 'rejected', not '{decision}'")
    comment = comment.strip()
    if decision == "rejected" and not comment:
        raise WorkbenchError("a rejection needs a comment that tells the author what to fix")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = model_version(uow.session, project, version)
        decider = sign_decision(uow, signer, kind="approval", project=project, mv=mv, decision=decision,
                                comment=comment)
        own_key = decider.signed is not None and decider.signed.fingerprint == mv.author_fingerprint
        if own_key or decider.name == mv.created_by:
            raise WorkbenchError(
                f"{mv.created_by} registered model version {version}"
                + (" with this same key" if own_key else "")
                + " and cannot approve or reject it: ask another reviewer (four-eyes rule)")
        if decider.person is not None and decider.person.role not in DECIDING_ROLES:
            raise WorkbenchError(f"{decider.name} is registered as {decider.person.role}: only a validator, approver "
                                 "or admin can approve or reject (an admin can change roles with `mlwb people add`)")
        request = uow.session.scalars(select(ReviewRequest).where(
            ReviewRequest.model_version_id == mv.id, ReviewRequest.status == "open")).first()
        row = Approval(model_version_id=mv.id, requested_by=request.requested_by if request else mv.created_by,
                       approver=decider.name, decision=decision, comment=comment,
                       request_id=request.id if request else None, **decider.columns)
        if request is not None:
            request.status, request.decided_at = decision, utcnow()
        uow.session.add(row)
        uow.session.flush()
        uow.audit(f"model.{decision}", "approval", row.id, project=slug, version=version, approver=decider.name,
                  comment=row.comment, request=row.request_id, model_sha256=mv.artifact_sha256,
                  **decider.audit_fields)
        return _approval_view(row, version)


def review_requests(wb: Workbench, slug: str, *, open_only: bool = False) -> list[ReviewRequestView]:
    with wb.read() as session:
        project = find_project(session, slug)
        query = (select(ReviewRequest, ModelVersion.version)
                 .join(ModelVersion, ReviewRequest.model_version_id == ModelVersion.id)
                 .where(ModelVersion.project_id == project.id).order_by(ReviewRequest.id))
        if open_only:
            query = query.where(ReviewRequest.status == "open")
        return [_request_view(r, v) for r, v in session.execute(query).all()]


def _request_view(row: ReviewRequest, version: int) -> ReviewRequestView:
    return ReviewRequestView(row.id, version, row.requested_by, row.reviewer, row.comment, row.status,
                             row.created_at)


def _mv_view(session, mv: ModelVersion) -> ModelVersionView:  # type: ignore[no-untyped-def]
    run = session.get(Run, mv.run_id)
    approvals = tuple(
        _approval_view(a, mv.version)
        for a in session.scalars(select(Approval).where(Approval.model_version_id == mv.id).order_by(Approval.id))
    )
    has_card = session.scalar(select(func.count(ModelCard.id)).where(ModelCard.model_version_id == mv.id)) > 0
    return ModelVersionView(mv.id, mv.version, mv.run_id, run.model_kind, mv.stage, mv.alias, mv.artifact_sha256,
                            dict(run.metrics), mv.created_by, mv.created_at, approvals, has_card)


def list_models(wb: Workbench, slug: str) -> list[ModelVersionView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.scalars(select(ModelVersion).where(ModelVersion.project_id == project.id).order_by(ModelVersion.version))
        return [_mv_view(session, mv) for mv in rows]


def production_version(session, project: Project) -> ModelVersion | None:  # type: ignore[no-untyped-def]
    return session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project.id, ModelVersion.stage == "production")).first()

