"""Stage 5 releases: the promotion gate, waivers, aliases, promotion and rollback.

The gate is evaluated inside the promoting transaction, so what was checked is what let the
version through; the transition, the waivers and their audit events land together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import GateFailed, NotFound, WorkbenchError
from app.lifecycle import RELEASE_CHECKS
from app.services.findings import open_findings, release_outcome
from app.services.gates import CheckResult
from app.services.registry import card_view, model_version, standing_approval
from app.services.numbering import run_label
from app.services.signatures import Decider, sign_decision
from app.services.workbench import UnitOfWork, Workbench, find_project
from app.signing import SigningKey
from storage.models import (
    Approval,
    Comparison,
    ModelVersion,
    MonitoringPolicy,
    Project,
    ReleaseAnalysis,
    Run,
    SlaRule,
    Transition,
    Waiver,
)

STAGES = ("none", "staging", "production", "archived")
ALIASES = ("champion", "challenger")


@dataclass(frozen=True)
class PromotionGate:
    """The release gate of one model version: the profile's ``RELEASE_CHECKS``, evaluated inside
    the promoting transaction. Unlike a stage gate (``gates.StageGate``, one per project and
    stage) it belongs to a version and takes waivers: a required check blocks unless waived, a
    recommended one that fails is a warning that promotion waives on the record."""

    version: int
    maturity: str
    checks: tuple[CheckResult, ...]

    @property
    def blocked(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.required and not c.passed and c.waiver is None]

    @property
    def passed(self) -> bool:
        return not self.blocked


@dataclass(frozen=True)
class TransitionView:
    version: int
    from_stage: str
    to_stage: str
    actor: str
    reason: str
    created_at: datetime
    signer_fingerprint: str | None = None  # set on a signed promotion or rollback
    # the recommended release checks not met when it was promoted, as its signed statement names them
    unmet_recommended: tuple[str, ...] = ()


def _unmet(statement: str | None) -> tuple[str, ...]:
    import json

    try:
        return tuple(json.loads(statement).get("unmet_recommended") or ()) if statement else ()
    except (ValueError, AttributeError):
        return ()


@dataclass(frozen=True)
class WaiverView:
    version: int
    check_id: str
    reason: str
    granted_by: str
    created_at: datetime
    signer_fingerprint: str | None = None  # None: granted without a signature


def _latest_analysis(session: Session, mv: ModelVersion, kind: str) -> ReleaseAnalysis | None:
    return session.scalars(select(ReleaseAnalysis).where(
        ReleaseAnalysis.model_version_id == mv.id, ReleaseAnalysis.kind == kind)
        .order_by(ReleaseAnalysis.id.desc())).first()


def _against_champion(session: Session, project: Project, mv: ModelVersion) -> str:
    """The version against the production model it would replace, on the same validation rows:
    the comparison a retraining records after re-scoring the champion on its new split
    (``retraining.prepare_candidate``), or a direct one on a shared split. Shown, not required:
    a retrained model no better than the champion may still be worth promoting (fresher data),
    and the person promoting reads it here."""
    champion = _production(session, project)
    if champion is None or champion.id == mv.id:
        return ""
    rows = session.scalars(select(Comparison).where(
        Comparison.project_id == project.id, Comparison.run_b_id == mv.run_id).order_by(Comparison.id.desc()))
    for c in rows:
        a = session.get(Run, c.run_a_id)
        if a is not None and (a.id == champion.run_id or (a.params or {}).get("rescored_from") == champion.run_id):
            verdict = "significantly better" if c.significant else "not significantly better"
            rescored = (f" (v{champion.version} re-scored as {run_label(a.number)})" if a.id != champion.run_id
                        else "")
            return (f"; vs champion v{champion.version}{rescored}: Δ{c.metric} {c.difference:+.4f} "
                    f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}], p={c.p_value:.3g}, {verdict}")
    return f"; not compared with champion v{champion.version} on the same rows"


def _outcomes(session: Session, project: Project, mv: ModelVersion) -> dict[str, tuple[bool, str]]:
    decisions = list(session.scalars(select(Approval).where(Approval.model_version_id == mv.id)))
    approval, approval_why = standing_approval(session, project, mv, decisions)
    baselines = set(session.scalars(select(Run.id).where(Run.is_baseline.is_(True))))
    win = session.scalars(select(Comparison).where(
        Comparison.project_id == project.id, Comparison.run_b_id == mv.run_id, Comparison.significant.is_(True),
        Comparison.run_a_id.in_(baselines)).order_by(Comparison.id.desc())).first()
    analyses = {kind: _latest_analysis(session, mv, kind) for kind in ("shadow", "canary")}
    rules = session.scalar(select(func.count(SlaRule.id)).where(SlaRule.project_id == project.id,
                                                                SlaRule.active.is_(True)))
    policy = session.scalars(select(MonitoringPolicy).where(MonitoringPolicy.project_id == project.id)).first()

    def analysed(kind: str) -> tuple[bool | None, str]:
        """Passed only on evidence: an inconclusive analysis (too few requests, no labels, too
        little power) says what it lacks, and one recorded before analyses checked their sample
        (no ``missing`` in its result) is not taken as passed."""
        row = analyses[kind]
        if row is None:
            return False, f"no {kind} analysis recorded for this version"
        when = f"{row.created_at:%Y-%m-%d}"
        results = row.results or {}
        if row.verdict == "inconclusive":
            return None, f"{kind} inconclusive ({when}): " + ("; ".join(results.get("missing") or ())
                                                              or "too little evidence")
        if row.verdict == "passed" and "missing" not in results:
            return None, (f"{kind} recorded as passed ({when}) before its sample was checked: run `mlwb release "
                          f"{kind}` again to judge it on its evidence")
        if row.verdict == "failed":
            why = "; ".join(results.get("breaches") or results.get("reasons") or ())
            return False, f"{kind} failed ({when})" + (f": {why}" if why else "")
        return row.verdict == "passed", f"{kind} {row.verdict} ({when})"

    return {
        "independent_approval": (approval is not None, approval_why),
        "model_card_complete": (lambda card: (card.complete, card.detail()))(card_view(session, project, mv)),
        "significant_over_baseline": (
            win is not None,
            (f"Δ{win.metric} {win.difference:+.4f} vs {run_label(session.get(Run, win.run_a_id).number)}, "
             f"p={win.p_value:.3g}" if win
             else "no significant comparison against a baseline run") + _against_champion(session, project, mv),
        ),
        "shadow_passed": analysed("shadow"),
        "canary_passed": analysed("canary"),
        "monitoring_configured": (
            bool(rules) or bool(policy and policy.thresholds),
            f"{rules} SLA rule(s)" + (", drift thresholds set" if policy and policy.thresholds else ""),
        ),
        "no_open_high_findings": release_outcome(session, mv),
    }


def _still_covers(session: Session, mv: ModelVersion, waiver: Waiver) -> bool:
    """A waiver covers what was known when it was granted: a high finding raised after a waiver of
    ``no_open_high_findings`` is not waived by it."""
    if waiver.check_id != "no_open_high_findings":
        return True
    return all(f.created_at <= waiver.created_at for f in open_findings(session, mv, severity="high"))


def evaluate_promotion(session: Session, project: Project, mv: ModelVersion) -> PromotionGate:
    outcomes = _outcomes(session, project, mv)
    waivers = {w.check_id: w for w in session.scalars(select(Waiver).where(Waiver.model_version_id == mv.id)
                                                      .order_by(Waiver.id)) if _still_covers(session, mv, w)}
    checks = tuple(
        CheckResult.of(
            c, project.maturity, outcomes[c.id],
            waivers[c.id].reason if c.id in waivers
            and (c.waivable_on(project.maturity) or not c.required(project.maturity)) else None,
        )
        for c in RELEASE_CHECKS
    )
    return PromotionGate(mv.version, project.maturity, checks)


def promotion_gate(wb: Workbench, slug: str, version: int) -> PromotionGate:
    with wb.read() as session:
        project = find_project(session, slug)
        return evaluate_promotion(session, project, model_version(session, project, version))


def waive(wb: Workbench, slug: str, version: int, check_id: str, reason: str, *,
          signer: SigningKey | None = None) -> WaiverView:
    """Record that a release check is skipped on purpose, signed by whoever grants it. The
    four-eyes check cannot be waived where the profile requires it, and an enterprise waiver (or
    one of a check that asks for an ``independent_waiver``, such as an open high finding) needs
    someone other than the author (another key, another name)."""
    reason = reason.strip()
    known = {c.id: c for c in RELEASE_CHECKS}
    if check_id not in known:
        raise WorkbenchError(f"unknown release check '{check_id}': choose one of {', '.join(known)}")
    if not reason:
        raise WorkbenchError("a waiver needs a reason a reviewer can read later")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = model_version(uow.session, project, version)
        check = known[check_id]
        if check.required(project.maturity) and not check.waivable_on(project.maturity):
            raise GateFailed(f"'{check.label}' is required for {project.maturity} projects and cannot be waived")
        decider = sign_decision(uow, signer, kind="waiver", project=project, mv=mv, decision=f"waive {check_id}",
                                comment=reason, check=check_id)
        if project.maturity == "enterprise" or check.independent_waiver:
            if decider.signed is None or decider.is_author_of(mv):
                raise GateFailed(
                    f"{'an enterprise waiver' if project.maturity == 'enterprise' else f'a waiver of {check_id}'} "
                    f"must be signed by someone other than {mv.created_by}, who registered "
                    f"version {version} (four-eyes rule)" + ("" if decider.signed else
                                                              ": create your key with `mlwb people init`"))
        row = Waiver(model_version_id=mv.id, check_id=check_id, reason=reason, granted_by=decider.name,
                     **decider.columns)
        uow.session.add(row)
        uow.session.flush()
        uow.audit("model.check_waived", "waiver", row.id, project=slug, version=version, check=check_id,
                  reason=reason, **decider.audit_fields)
        return WaiverView(version, check_id, reason, decider.name, row.created_at, decider.columns["signer_fingerprint"])


def _move(uow: UnitOfWork, slug: str, mv: ModelVersion, to_stage: str, reason: str,
          decider: Decider | None = None) -> None:
    """Record a stage change; ``decider`` signs the one a person decided (a promotion, a rollback),
    the consequential moves (the replaced version archived) are recorded under the acting name."""
    signed = decider.columns if decider else {}
    uow.session.add(Transition(model_version_id=mv.id, from_stage=mv.stage, to_stage=to_stage,
                               actor=decider.name if decider else uow.actor, reason=reason, **signed))
    uow.audit("model.transitioned", "model_version", mv.id, project=slug, version=mv.version,
              from_stage=mv.stage, to_stage=to_stage, reason=reason, **(decider.audit_fields if decider else {}))
    mv.stage = to_stage


def assign_alias(uow: UnitOfWork, slug: str, project: Project, mv: ModelVersion | None, alias: str,
                  reason: str) -> None:
    """Give ``alias`` to ``mv`` (or to nobody), taking it from whoever held it; recorded as transitions."""
    holder = uow.session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project.id, ModelVersion.alias == alias)).first()
    if holder is not None and (mv is None or holder.id != mv.id):
        uow.session.add(Transition(model_version_id=holder.id, from_stage=f"alias:{alias}", to_stage="alias:none",
                                   actor=uow.actor, reason=reason))
        uow.audit("model.alias_removed", "model_version", holder.id, project=slug, version=holder.version,
                  alias=alias, reason=reason)
        holder.alias = None
        uow.session.flush()
    if mv is not None and mv.alias != alias:
        uow.session.add(Transition(model_version_id=mv.id, from_stage=f"alias:{mv.alias or 'none'}",
                                   to_stage=f"alias:{alias}", actor=uow.actor, reason=reason))
        uow.audit("model.alias_set", "model_version", mv.id, project=slug, version=mv.version, alias=alias,
                  previous=mv.alias, reason=reason)
        mv.alias = alias


def set_alias(wb: Workbench, slug: str, version: int | None, alias: str, *, reason: str = "") -> None:
    """Point ``alias`` at a version (``None`` clears it). The champion follows production, so only
    the challenger is set by hand."""
    if alias not in ALIASES:
        raise WorkbenchError(f"alias must be one of {', '.join(ALIASES)}, not '{alias}'")
    if alias == "champion":
        raise WorkbenchError("the champion alias follows the production version: promote a version instead")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = model_version(uow.session, project, version) if version is not None else None
        if mv is not None and mv.stage == "production":
            raise WorkbenchError(f"version {version} is in production (the champion) and cannot also be the challenger")
        assign_alias(uow, slug, project, mv, alias, reason or (f"challenger is v{version}" if mv else "cleared"))


def _production(session: Session, project: Project) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project.id, ModelVersion.stage == "production")).first()


def _make_production(uow: UnitOfWork, slug: str, project: Project, mv: ModelVersion, reason: str,
                     replaced_reason: str, decider: Decider) -> None:
    current = _production(uow.session, project)
    if current is not None and current is not mv:
        _move(uow, slug, current, "archived", replaced_reason)
    if mv.alias == "challenger":
        assign_alias(uow, slug, project, None, "challenger", f"v{mv.version} promoted to production")
    assign_alias(uow, slug, project, mv, "champion", reason)
    _move(uow, slug, mv, "production", reason, decider)


def promote(
    wb: Workbench, slug: str, version: int, *, stage: str = "production", reason: str = "",
    signer: SigningKey | None = None,
) -> PromotionGate:
    """Move a version to staging or production, signed by whoever promotes it. Production passes
    the maturity profile's gate: a required check that fails blocks unless it was waived by a
    person; a recommended one that is not met does not block, and the signed promotion names it,
    so the record says the version went ahead without it (nobody's waiver is written for them).

    The version it replaces is archived in the same transaction, so there is always exactly one
    production model and the rollback target is on record.
    """
    if stage not in STAGES[1:]:
        raise WorkbenchError(f"stage must be one of {', '.join(STAGES[1:])}, not '{stage}'")
    reason = reason.strip()
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = model_version(uow.session, project, version)
        gate = evaluate_promotion(uow.session, project, mv)
        if mv.stage == stage:
            return gate
        if stage != "production":
            _move(uow, slug, mv, stage, reason)
            return gate
        if gate.blocked:
            raise GateFailed(
                f"version {version} cannot go to production ({project.maturity} profile): "
                + "; ".join(f"{c.label} — {c.detail}" for c in gate.blocked)
                + ". Fix them, or record a waiver with `mlwb waive` where the check allows it"
            )
        unmet = [c.id for c in gate.warnings]
        decider = sign_decision(uow, signer, kind="promotion", project=project, mv=mv, decision="production",
                                comment=reason, unmet_recommended=unmet)
        _make_production(uow, slug, project, mv, reason, f"replaced by version {version}", decider)
        return evaluate_promotion(uow.session, project, mv)


def rollback(wb: Workbench, slug: str, *, to_version: int | None = None, reason: str,
             signer: SigningKey | None = None) -> int:
    """Restore an earlier production version: by default the one production had before the
    current one. Only a version that has been in production before can be restored, so a
    rollback never skips the gate. Returns the restored version number."""
    reason = reason.strip()
    if not reason:
        raise WorkbenchError("a rollback needs a reason (what went wrong with the current version)")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        current = _production(uow.session, project)
        if current is None:
            raise WorkbenchError(f"'{slug}' has no production version to roll back")
        history = uow.session.execute(
            select(ModelVersion, Transition.id).join(Transition, Transition.model_version_id == ModelVersion.id)
            .where(ModelVersion.project_id == project.id, Transition.to_stage == "production",
                   ModelVersion.id != current.id)
            .order_by(Transition.id.desc())).all()
        earlier = [mv for mv, _ in history]
        if to_version is None:
            if not earlier:
                raise WorkbenchError(f"no earlier production version of '{slug}' to roll back to")
            target = earlier[0]
        else:
            target = model_version(uow.session, project, to_version)
            if target not in earlier:
                raise WorkbenchError(f"version {to_version} was never in production: roll back only to a version "
                                     f"that was ({', '.join(f'v{m.version}' for m in dict.fromkeys(earlier)) or 'none'})")
        decider = sign_decision(uow, signer, kind="rollback", project=project, mv=target, decision="production",
                                comment=reason, from_version=current.version)
        _make_production(uow, slug, project, target, f"rollback: {reason}",
                         f"rolled back to version {target.version}: {reason}", decider)
        uow.audit("model.rolled_back", "model_version", target.id, project=slug, from_version=current.version,
                  to_version=target.version, reason=reason)
        return target.version


def transitions(wb: Workbench, slug: str) -> list[TransitionView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.execute(select(Transition, ModelVersion.version)
                               .join(ModelVersion, Transition.model_version_id == ModelVersion.id)
                               .where(ModelVersion.project_id == project.id).order_by(Transition.id)).all()
        return [TransitionView(v, t.from_stage, t.to_stage, t.actor, t.reason, t.created_at, t.signer_fingerprint,
                               _unmet(t.statement)) for t, v in rows]


def waivers(wb: Workbench, slug: str) -> list[WaiverView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.execute(select(Waiver, ModelVersion.version)
                               .join(ModelVersion, Waiver.model_version_id == ModelVersion.id)
                               .where(ModelVersion.project_id == project.id).order_by(Waiver.id)).all()
        return [WaiverView(v, w.check_id, w.reason, w.granted_by, w.created_at, w.signer_fingerprint) for w, v in rows]


def version_by_alias(session: Session, project: Project, alias: str) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project.id, ModelVersion.alias == alias)).first()


def require_version(session: Session, project: Project, version: int | None, alias: str) -> ModelVersion:
    """The version asked for, else the one holding ``alias``, with a clear error if neither exists."""
    if version is not None:
        return model_version(session, project, version)
    mv = version_by_alias(session, project, alias)
    if mv is None:
        raise NotFound(f"'{project.slug}' has no {alias}: set one with `mlwb alias {project.slug} VERSION {alias}`")
    return mv
