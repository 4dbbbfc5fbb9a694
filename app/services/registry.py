"""Stage 5: model versions, their cards and drift reference, review requests and independent
approvals. Promotion, aliases and rollback live in ``app.services.promotion``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import JobCancelled, NotFound, WorkbenchError
from app.signing import SigningKey, short_fingerprint
from app.lifecycle import MODEL_CARD_SECTIONS
from app.services import jobs as job_records
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

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback

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
    author_fingerprint: str | None = None  # the key that registered the version (None: no key)
    run_number: int | None = None  # the run's number in the project ("run 3"); run_id is its id


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


def _reference_profile(wb: Workbench, runner: JobRunner, slug: str, run: Run,
                       on_progress: ProgressCallback | None) -> tuple[int, dict[str, Any]]:
    """Profile the run's training rows, its predictions on them and their labels, once, so every
    monitoring batch is compared without reloading the training data.

    The profile is built in a worker process (a "profile" job: reading and scoring a large
    training set is seconds of CPU the caller must not spend), which streams it into the
    artifact store; the store moves it in under its SHA-256 once it has checked it. Returns the
    job's id (its success is recorded with the version) and the worker's account of the profile
    with its stored hash."""
    import numpy as np  # not at the top: the registry is imported on start-up paths that need no numpy

    from app.services.datasets import dataset_path, split_assignments

    with wb.read() as session:
        dataset = session.get(DatasetVersion, run.dataset_version_id)
        split = session.get(Split, run.split_id)
        payload: dict[str, Any] = {
            "dataset_path": str(dataset_path(wb, dataset)),
            "rows": np.asarray(split_assignments(wb, split)["train"], dtype=np.int64),
            "model_path": str(wb.artifacts.verified_path(run.artifact_sha256, ".skops")),
            "features": dict(run.params.get("features", {})),
            "problem_type": run.problem_type,
            "target": run.params.get("target") or dataset.target,
            "n_classes": len(run.params.get("classes") or []),
        }
    out = wb.artifacts.incoming_path()
    payload["out_path"] = str(out)
    try:
        job_id = job_records.create_job(wb, "profile", slug, {"run": run.id})
        try:
            result: dict[str, Any] = runner.execute(job_id, "app.ml.model_reference:profile_task", payload,
                                                    on_progress)
        except JobCancelled:
            raise
        except WorkbenchError as exc:
            raise WorkbenchError(f"could not profile the training data of run {run.id} for monitoring: {exc}") from None
        try:
            result["sha256"] = wb.artifacts.adopt(out, ".profile", sha256=result["sha256"])
        except Exception as exc:  # nothing was kept: the job must not stay "running"
            job_records.mark_failed(wb, job_id, f"could not store the reference profile: {exc}")
            raise
        return job_id, result
    finally:
        out.unlink(missing_ok=True)


def register_model(wb: Workbench, slug: str, run_id: int, *, runner: JobRunner | None = None,
                   on_progress: ProgressCallback | None = None) -> ModelVersionView:
    """Register a run's model as the next version, with the drift reference profile of its
    training data; a run is registered at most once.

    The profile is built by a job in a worker process (``runner``; one of this workbench's own
    when none is given) and this call waits for it, reporting through ``on_progress``. Its
    SHA-256, size and what it profiled are recorded on the version and in its audit event."""
    with wb.read() as session:
        project = find_project(session, slug)
        run = session.get(Run, run_id)
        exp = session.get(Experiment, run.experiment_id) if run else None
        if run is None or exp is None or exp.project_id != project.id:
            raise NotFound(f"project '{slug}' has no run {run_id}: list runs with `mlwb runs {slug}`")
        if run.artifact_sha256 is None:
            from app.services.external_runs import imported_without_model

            imported = imported_without_model(run)
            raise WorkbenchError(f"run {run_id} {imported}" if imported else
                                 f"run {run_id} is a tuning trial without a model file: register its parent run")
        existing = session.scalars(select(ModelVersion).where(ModelVersion.run_id == run_id)).first()
        if existing is not None:
            return _mv_view(session, existing)
    if runner is None:
        from app.jobs import JobRunner
        from app.services.jobs import WorkbenchLedger

        runner = JobRunner(WorkbenchLedger(wb))
    job_id, profile = _reference_profile(wb, runner, slug, run, on_progress)
    reference = profile["sha256"]
    try:
        with wb.unit_of_work() as uow:
            project = uow.project(slug)
            job_records.complete_job(uow, job_id, {"profile": reference, "bytes": profile["bytes"]})
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
                                   "features": run.params.get("features", {}), "bytes": profile["bytes"],
                                   "rows": profile["rows"], "sample_rows": profile["sample_rows"]},
            )
            uow.session.add(mv)
            uow.session.flush()
            uow.audit("model.registered", "model_version", mv.id, project=slug, version=number, run=run.id,
                      artifact=run.artifact_sha256, reference_profile=reference,
                      reference_profile_bytes=profile["bytes"], reference_rows=profile["rows"],
                      reference_sample_rows=profile["sample_rows"], author_key=mv.author_fingerprint)
            return _mv_view(uow.session, mv)
    except Exception as exc:  # the version was not recorded: neither is the job's success
        job_records.mark_failed(wb, job_id, f"could not record the model version: {exc}")
        raise


# --- the model card ------------------------------------------------------------------------------
#
# A card's sections have one of three origins, recorded per section: a *person* wrote the text
# (``mlwb card --set``), the registry *drafted* it from evidence (lineage, data, metrics,
# comparisons) and nobody has signed it yet, or a person *confirmed* the draft with a signature
# (``confirm_model_card``: a signed statement over the text's SHA-256). Only person-written and
# confirmed sections count: the promotion check ``model_card_complete`` and the requirements map
# read ``card_view``, and a report prints a drafted section marked as a draft. A drafted section
# is never a stale snapshot: it is re-drafted from the registry whenever it is read, so it cannot
# contradict the evidence printed beside it. A confirmed section is the text the person signed;
# when the registry would now draft it differently (the sealed test was opened, another
# comparison recorded) it is *outdated* and counts again only once it is confirmed anew.

DRAFTED_BY = "the registry (machine draft)"


@dataclass(frozen=True)
class CardSection:
    key: str
    label: str
    text: str  # what the card says now ('' when nobody wrote it)
    origin: str  # "person" | "confirmed" | "draft" | "missing"
    by: str = ""  # who wrote or confirmed it
    at: datetime | None = None
    signer_fingerprint: str | None = None  # the key that signed the confirmation
    current_draft: str = ""  # confirmed, but the registry would now draft this instead (outdated)

    @property
    def outdated(self) -> bool:
        return bool(self.current_draft)

    @property
    def counts(self) -> bool:
        """Written by a person, or a draft a person signed that still matches the evidence."""
        return self.origin == "person" or (self.origin == "confirmed" and not self.outdated)

    @property
    def status(self) -> str:
        """One phrase for tables: who stands behind the text."""
        if self.origin == "missing":
            return "not written"
        if self.origin == "draft":
            return "machine draft, not confirmed by a person"
        if self.origin == "confirmed":
            return ("confirmed by " + self.by + (", but the evidence changed since" if self.outdated else ""))
        return f"written by {self.by}"


@dataclass(frozen=True)
class ModelCardView:
    version: int
    sections: tuple[CardSection, ...]

    @property
    def content(self) -> dict[str, str]:
        return {s.key: s.text for s in self.sections if s.text}

    @property
    def complete(self) -> bool:
        return all(s.counts for s in self.sections)

    def detail(self) -> str:
        """What the release check ``model_card_complete`` prints."""
        groups = (("missing", [s for s in self.sections if s.origin == "missing"]),
                  ("machine draft not confirmed by a person", [s for s in self.sections if s.origin == "draft"]),
                  ("confirmed before the evidence changed", [s for s in self.sections if s.outdated]))
        parts = [f"{name}: " + ", ".join(s.label for s in items) for name, items in groups if items]
        if not parts:
            signed = sum(s.origin == "confirmed" for s in self.sections)
            written = len(self.sections) - signed
            return "complete: " + "; ".join(part for part in (
                f"{written} section(s) written by a person" if written else "",
                f"{signed} drafted by the registry and confirmed with a signature" if signed else "") if part)
        return "; ".join(parts)


def _fmt_metrics(metrics: dict, prefix: str = "") -> str:  # type: ignore[type-arg]
    return ", ".join(f"{k.removeprefix(prefix)} {v:.4f}" for k, v in sorted(metrics.items())
                     if isinstance(v, (int, float)) and k.startswith(prefix))


def _draft_sections(session: Session, project: Project, mv: ModelVersion) -> dict[str, str]:
    """The sections the registry can fill from evidence, as the evidence stands now."""
    from app.services.comparison import comparison_view
    from storage.models import Comparison

    run = session.get(Run, mv.run_id)
    metric = primary_metric(project)
    cv = "; ".join(f"{k} {v['mean']:.4f} ± {v['std']:.4f}" for k, v in sorted(run.cv_metrics.items())
                   if isinstance(v, dict) and "mean" in v)
    wins = [comparison_view(c) for c in session.scalars(select(Comparison).where(
        Comparison.project_id == project.id, Comparison.run_b_id == run.id).order_by(Comparison.id))]
    analyses = "; ".join(
        f"vs run {c.run_a}: Δ{c.metric} {c.difference:+.4f} (95% CI {c.ci[0]:+.4f} to {c.ci[1]:+.4f}, "
        f"{c.test}, p={c.p_value:.3g})" for c in wins)
    sealed = (f"sealed test (opened {run.test_scored_at:%Y-%m-%d} by {run.test_scored_by}): "
              f"{_fmt_metrics(run.test_metrics, 'test_') or _fmt_metrics(run.test_metrics)}"
              if run.test_metrics else "sealed test: not opened")
    from app.services.external_runs import trained_outside

    outside = trained_outside(run)
    return {
        "model_details": f"{run.model_kind} (version {mv.version} of {project.slug}), run {run.id}, seed {run.seed}, "
                         f"artifact {mv.artifact_sha256[:16]}…, "
                         + (outside if outside else f"trained by {run.created_by}") + "; "
                         f"sklearn {run.environment.get('sklearn', '?')}",
        "metrics": f"primary metric {metric}; validation: {_fmt_metrics(run.metrics, 'val_')}"
                   + (f"; train: {_fmt_metrics(run.metrics, 'train_')}" if _fmt_metrics(run.metrics, 'train_') else "")
                   + (f"; cross-validation: {cv}" if cv else "") + f"; {sealed}",
        "evaluation_data": f"validation part of split {run.split_id} (dataset version {run.dataset_version_id}); "
                           "the test part is scored once, by an audited action",
        "training_data": f"train part of split {run.split_id} of dataset version {run.dataset_version_id}; "
                         f"features: {', '.join(run.params.get('features', {}))}",
        "quantitative_analyses": analyses or "no statistical comparison recorded yet",
    }


def draft_model_card(wb: Workbench, slug: str, version: int) -> dict[str, str]:
    """The sections the registry can fill from evidence: lineage, data, metrics, comparisons."""
    with wb.read() as session:
        project = find_project(session, slug)
        return _draft_sections(session, project, model_version(session, project, version))


def _card_row(session: Session, mv: ModelVersion) -> ModelCard | None:
    return session.scalars(select(ModelCard).where(ModelCard.model_version_id == mv.id)).first()


def _text_sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def card_view(session: Session, project: Project, mv: ModelVersion) -> ModelCardView:
    """Every section of ``mv``'s card with its origin, read from the card and its audit events
    (``model_card.saved`` names the sections a person wrote, ``model_card.confirmed`` the
    drafts a person signed, with the SHA-256 of the text signed)."""
    import json

    from storage.models import AuditEvent

    card = _card_row(session, mv)
    content = dict(card.content) if card else {}
    drafted = set(card.drafted or ()) if card else set()
    draft = _draft_sections(session, project, mv) if card else {}
    keys = public_keys(session)
    wrote: dict[str, tuple[str, datetime | None]] = {}
    confirmed: dict[str, tuple[str, str, datetime | None, str | None]] = {}
    if card is not None:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.entity_type == "model_card", AuditEvent.entity_id == str(card.id)).order_by(AuditEvent.seq))
        for e in events:
            payload = json.loads(e.payload)
            at = datetime.fromisoformat(e.ts) if e.ts else None
            if e.action == "model_card.saved":
                written = payload.get("written", payload.get("sections", []))  # cards saved before drafts were kept
                for key in written:
                    wrote[key] = (e.actor, at)
                    confirmed.pop(key, None)
            elif e.action == "model_card.confirmed":
                fp = payload.get("signer")
                signer = keys.get(fp or "")
                name = signer.name if signer else (f"an unregistered key {short_fingerprint(fp)}" if fp else e.actor)
                for key, digest in (payload.get("sections") or {}).items():
                    confirmed[key] = (name, digest, at, fp)
    out = []
    for key, label in MODEL_CARD_SECTIONS:
        text = str(content.get(key) or "").strip()
        if key in drafted and draft.get(key):
            out.append(CardSection(key, label, draft[key], "draft", DRAFTED_BY))
        elif not text:
            out.append(CardSection(key, label, "", "missing"))
        elif key in confirmed and confirmed[key][1] == _text_sha256(text):
            name, _digest, at, fp = confirmed[key]
            now = draft.get(key, text)
            out.append(CardSection(key, label, text, "confirmed", name, at, fp, now if now != text else ""))
        else:
            name, at = wrote.get(key, (card.updated_by if card else "", card.updated_at if card else None))
            out.append(CardSection(key, label, text, "person", name, at))
    return ModelCardView(mv.version, tuple(out))


def model_card_view(wb: Workbench, slug: str, version: int) -> ModelCardView:
    with wb.read() as session:
        project = find_project(session, slug)
        return card_view(session, project, model_version(session, project, version))


def write_model_card(wb: Workbench, slug: str, version: int, content: dict[str, str]) -> None:
    """Save the card's sections. A section whose text is the registry's draft for it is kept as a
    draft (a person passing the machine's words on did not write them); text that differs is the
    writer's own; an unchanged section keeps its origin (a confirmed one stays confirmed)."""
    allowed = {k for k, _ in MODEL_CARD_SECTIONS}
    unknown = sorted(set(content) - allowed)
    if unknown:
        raise WorkbenchError(f"unknown model card section(s) {', '.join(unknown)}: allowed are {', '.join(sorted(allowed))}")
    clean = {k: str(v).strip() for k, v in content.items() if str(v).strip()}
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = model_version(uow.session, project, version)
        card = _card_row(uow.session, mv)
        old = dict(card.content) if card else {}
        old_drafted = set(card.drafted or ()) if card else set()
        draft = _draft_sections(uow.session, project, mv)
        drafted: set[str] = set()
        written: list[str] = []
        for key, text in clean.items():
            if key in old_drafted and text in (old.get(key), draft.get(key)):
                drafted.add(key)
                clean[key] = draft.get(key, text)  # a draft is stored as the registry drafts it now
            elif key in old and old[key] == text:
                continue  # unchanged: a person's or a confirmed section stays what it was
            elif text == draft.get(key):
                drafted.add(key)
            else:
                written.append(key)
        if card is None:
            card = ModelCard(model_version_id=mv.id, content=clean, drafted=sorted(drafted), updated_by=uow.actor)
            uow.session.add(card)
        elif old == clean and old_drafted == drafted:
            return
        else:
            card.content, card.drafted, card.updated_by, card.updated_at = clean, sorted(drafted), uow.actor, utcnow()
        uow.session.flush()
        uow.audit("model_card.saved", "model_card", card.id, project=slug, version=version, sections=sorted(clean),
                  written=sorted(written), drafted=sorted(drafted))


def confirm_model_card(wb: Workbench, slug: str, version: int, sections: list[str] | tuple[str, ...] = (), *,
                       signer: SigningKey | None = None) -> ModelCardView:
    """A person signs the registry's draft of ``sections`` (default: every drafted one) as
    their own statement: the signed statement carries the SHA-256 of each section's text, and
    the sections stop being drafts. Needs a registered key; an outdated confirmation is renewed
    by confirming the section again."""
    names = dict(MODEL_CARD_SECTIONS)
    unknown = sorted(set(sections) - set(names))
    if unknown:
        raise WorkbenchError(f"unknown model card section(s) {', '.join(unknown)}: allowed are {', '.join(names)}")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = model_version(uow.session, project, version)
        card = _card_row(uow.session, mv)
        if card is None:
            raise WorkbenchError(f"version {version} has no model card yet: write it with "
                                 f"`mlwb card {slug} {version} --set SECTION=TEXT`")
        view = {s.key: s for s in card_view(uow.session, project, mv).sections}
        open_ = [k for k, s in view.items() if s.origin == "draft" or s.outdated]
        chosen = list(dict.fromkeys(sections)) or open_
        if not chosen:
            raise WorkbenchError(f"nothing to confirm: no section of the card of version {version} is a machine draft")
        settled = [names[k] for k in chosen if k not in open_]
        if settled:
            raise WorkbenchError(f"{', '.join(settled)}: not a machine draft awaiting confirmation (a person's "
                                 "words, a current confirmation, or not written)")
        draft = _draft_sections(uow.session, project, mv)
        texts = {k: draft.get(k) or view[k].text for k in chosen}
        digests = {k: _text_sha256(t) for k, t in texts.items()}
        decider = sign_decision(uow, signer, kind="model_card", project=project, mv=mv, decision="confirm",
                                comment="I confirm the registry's draft of these model card sections as my statement: "
                                        + ", ".join(names[k] for k in chosen), sections=digests)
        if decider.signed is None:
            raise WorkbenchError("confirming a machine draft needs your signature, and you have no signing key: "
                                 "create one with `mlwb people init` (an admin registers it)")
        card.content = dict(card.content) | texts
        card.drafted = sorted(set(card.drafted or ()) - set(chosen))
        card.updated_by, card.updated_at = decider.name, utcnow()
        uow.session.flush()
        uow.audit("model_card.confirmed", "model_card", card.id, project=slug, version=version, sections=digests,
                  statement=decider.signed.text, **decider.audit_fields)
        return card_view(uow.session, project, mv)


def model_card(wb: Workbench, slug: str, version: int) -> dict[str, str]:
    """The card's text as it reads now (drafted sections as the registry drafts them today)."""
    with wb.read() as session:
        project = find_project(session, slug)
        mv = model_version(session, project, version)
        return card_view(session, project, mv).content if _card_row(session, mv) else {}


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
        if decider.is_author_of(mv):
            raise WorkbenchError(
                f"{mv.created_by} registered model version {version}"
                + (" with this same key" if decider.signed_with_authors_key(mv) else "")
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
                            dict(run.metrics), mv.created_by, mv.created_at, approvals, has_card,
                            mv.author_fingerprint, run.number)


def list_models(wb: Workbench, slug: str) -> list[ModelVersionView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.scalars(select(ModelVersion).where(ModelVersion.project_id == project.id).order_by(ModelVersion.version))
        return [_mv_view(session, mv) for mv in rows]


def production_version(session, project: Project) -> ModelVersion | None:  # type: ignore[no-untyped-def]
    return session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project.id, ModelVersion.stage == "production")).first()

