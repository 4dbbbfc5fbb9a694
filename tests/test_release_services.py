"""Stage 5 on the demo workspace: four-eyes, the maturity-driven promotion gate and its waivers,
aliases, rollback, and shadow / canary / A-B evidence from the prediction log."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.errors import GateFailed, WorkbenchError
from app.services import audit_trail, people, projects, promotion, registry, release_analysis
from app.services.demo import SLUG, VALIDATOR
from app.services.workbench import Workbench
from app.signing import SignedStatement
from storage.models import Approval, AuditEvent, Transition, Waiver
from tests.conftest import ME, register_person


def _events(wb: Workbench) -> int:
    with wb.read() as session:
        return session.scalar(select(func.count(AuditEvent.seq)))


def _versions(wb: Workbench) -> dict[int, registry.ModelVersionView]:
    return {v.version: v for v in registry.list_models(wb, SLUG)}


def test_demo_release_story(demo_wb: Workbench) -> None:
    versions = _versions(demo_wb)
    production = [v for v in versions.values() if v.stage == "production"]
    assert len(production) == 1 and production[0].alias == "champion"
    assert [v.version for v in versions.values() if v.alias == "challenger"] == [max(versions)]
    kinds = {a.kind for a in release_analysis.list_release_analyses(demo_wb, SLUG)}
    assert kinds == {"shadow", "canary", "ab_test"}
    shadow = next(a for a in release_analysis.list_release_analyses(demo_wb, SLUG) if a.kind == "shadow")
    assert 0.0 <= shadow.results["agreement_rate"] <= 1.0 and shadow.results["n"] == 300
    (request,) = registry.review_requests(demo_wb, SLUG)
    assert request.status == "approved" and request.reviewer == VALIDATOR
    # the validator's approval is signed by their registered key, not asserted by a name
    validator = next(p for p in people.list_people(demo_wb) if p.name == VALIDATOR)
    (approval,) = production[0].approvals
    assert approval.approver == VALIDATOR and approval.signer_fingerprint == validator.fingerprint
    # a growth project may skip shadow and canary: nobody waived them, the signed promotion names them
    assert not [w for w in promotion.waivers(demo_wb, SLUG) if w.version == production[0].version]
    with demo_wb.read() as session:
        move = session.scalars(select(Transition).where(Transition.to_stage == "production")).one()
        signed = SignedStatement(move.statement, move.signature, move.signer_fingerprint)
    assert move.actor == ME and signed.fields["kind"] == "promotion"
    assert {"shadow_passed", "canary_passed"} <= set(signed.fields["unmet_recommended"])


def test_four_eyes_author_can_neither_approve_nor_reject(demo_wb: Workbench) -> None:
    version = max(_versions(demo_wb))
    before = _events(demo_wb)
    with pytest.raises(WorkbenchError, match="four-eyes"):
        registry.record_approval(demo_wb, SLUG, version)
    with pytest.raises(WorkbenchError, match="four-eyes"):
        registry.record_approval(demo_wb, SLUG, version, decision="rejected", comment="mine")
    with pytest.raises(WorkbenchError, match="someone else"):
        registry.request_review(demo_wb, SLUG, version, reviewer=ME)
    assert _events(demo_wb) == before
    with demo_wb.read() as session:
        assert session.scalar(select(func.count(Approval.id)).where(Approval.approver == ME)) == 0


def test_rejection_needs_a_comment_and_withdraws_approval(demo_wb: Workbench) -> None:
    version = max(_versions(demo_wb))
    val = register_person(demo_wb, "val.reviewer")
    with pytest.raises(WorkbenchError, match="comment"):
        registry.record_approval(demo_wb, SLUG, version, decision="rejected", signer=val)
    registry.record_approval(demo_wb, SLUG, version, signer=val)
    assert promotion.promotion_gate(demo_wb, SLUG, version).checks[0].passed
    registry.record_approval(demo_wb, SLUG, version, decision="rejected", comment="latency too high in canary",
                             signer=val)
    assert not promotion.promotion_gate(demo_wb, SLUG, version).checks[0].passed


def test_blocked_gate_needs_a_recorded_waiver(demo_wb: Workbench) -> None:
    # the retrained challenger: compared with the re-scored baseline by the retraining, its card
    # started from the champion's, but no approval and the card's machine drafts not confirmed
    version = max(_versions(demo_wb))
    with pytest.raises(GateFailed, match="four-eyes"):
        promotion.promote(demo_wb, SLUG, version)
    with pytest.raises(GateFailed, match="cannot be waived"):
        promotion.waive(demo_wb, SLUG, version, "independent_approval", "urgent")
    val = register_person(demo_wb, "val.reviewer")
    registry.record_approval(demo_wb, SLUG, version, comment="retrained on labelled batches; numbers checked",
                             signer=val)
    gate = promotion.promotion_gate(demo_wb, SLUG, version)
    assert {c.id for c in gate.blocked} == {"model_card_complete"}
    with pytest.raises(GateFailed, match="Every model card section"):
        promotion.promote(demo_wb, SLUG, version)
    assert _versions(demo_wb)[version].stage == "none"
    with pytest.raises(WorkbenchError, match="reason"):
        promotion.waive(demo_wb, SLUG, version, "model_card_complete", "   ")
    promotion.waive(demo_wb, SLUG, version, "model_card_complete", "card of v1 still applies; same features")
    promotion.waive(demo_wb, SLUG, version, "significant_over_baseline", "same model kind, retrained on more rows")
    gate = promotion.promote(demo_wb, SLUG, version, reason="drift in 2026-03 answered")
    assert gate.passed and _versions(demo_wb)[version].stage == "production"
    assert _versions(demo_wb)[version].alias == "champion"
    actions = [e.action for e in audit_trail.recent_events(demo_wb, project=SLUG, limit=12)]
    assert actions.count("model.check_waived") >= 2 and "model.transitioned" in actions


def test_enterprise_waiver_needs_someone_other_than_the_author(demo_wb: Workbench) -> None:
    projects.set_maturity(demo_wb, SLUG, "enterprise", reason="the feed now reaches regulated markets")
    version = max(_versions(demo_wb))
    gate = promotion.promotion_gate(demo_wb, SLUG, version)
    assert {"shadow_passed", "canary_passed", "monitoring_configured"} <= {c.id for c in gate.checks if c.required}
    with pytest.raises(GateFailed, match="signed by someone other than ana.engineer"):
        promotion.waive(demo_wb, SLUG, version, "canary_passed", "no traffic yet")
    val = register_person(demo_wb, "val.reviewer")
    promotion.waive(demo_wb, SLUG, version, "canary_passed", "no traffic yet", signer=val)
    with demo_wb.read() as session:
        waiver = session.scalars(select(Waiver).where(Waiver.check_id == "canary_passed")
                                 .order_by(Waiver.id.desc())).first()
        assert waiver.granted_by == "val.reviewer" and waiver.signer_fingerprint == val.fingerprint


def test_rollback_restores_the_previous_production_version(demo_wb: Workbench) -> None:
    versions = _versions(demo_wb)
    first = next(v.version for v in versions.values() if v.stage == "production")
    newest = max(versions)
    with pytest.raises(WorkbenchError, match="no earlier production version"):
        promotion.rollback(demo_wb, SLUG, reason="nothing to go back to")
    registry.record_approval(demo_wb, SLUG, newest, comment="ok", signer=register_person(demo_wb, "val.reviewer"))
    for check in ("model_card_complete", "significant_over_baseline"):
        promotion.waive(demo_wb, SLUG, newest, check, "test")
    promotion.promote(demo_wb, SLUG, newest, reason="new model")
    assert _versions(demo_wb)[first].stage == "archived"
    with pytest.raises(WorkbenchError, match="never in production"):
        promotion.rollback(demo_wb, SLUG, to_version=newest - 1, reason="wrong target")
    with pytest.raises(WorkbenchError, match="reason"):
        promotion.rollback(demo_wb, SLUG, reason="")
    assert promotion.rollback(demo_wb, SLUG, reason="click-through fell after the release") == first
    after = _versions(demo_wb)
    assert after[first].stage == "production" and after[first].alias == "champion"
    assert after[newest].stage == "archived"
    last = promotion.transitions(demo_wb, SLUG)[-3:]
    assert any(t.version == first and t.to_stage == "production" and t.reason.startswith("rollback") for t in last)
    assert audit_trail.verify(demo_wb).ok


def test_canary_breach_rolls_the_challenger_back(demo_wb: Workbench) -> None:
    challenger = next(v.version for v in _versions(demo_wb).values() if v.alias == "challenger")
    lr = next(v.version for v in _versions(demo_wb).values() if v.model_kind == "logistic_regression")
    promotion.set_alias(demo_wb, SLUG, lr, "challenger", reason="re-run the canary with a tight latency guardrail")
    result = release_analysis.analyse_canary(demo_wb, SLUG, max_latency_p99_ms=0.001)
    assert result.verdict == "failed" and result.decision.startswith("rollback")
    assert any("latency" in b for b in result.results["breaches"])
    assert all(v.alias != "challenger" for v in _versions(demo_wb).values())
    last = promotion.transitions(demo_wb, SLUG)[-1]
    assert (last.version, last.from_stage, last.to_stage) == (lr, "alias:challenger", "alias:none")
    assert "canary rolled back" in last.reason
    assert challenger != lr


def test_ab_test_reports_sample_ratio_and_size(demo_wb: Workbench) -> None:
    ab = next(a for a in release_analysis.list_release_analyses(demo_wb, SLUG) if a.kind == "ab_test")
    assert ab.results["test"] == "two_proportion_z"
    assert ab.results["n_a"] + ab.results["n_b"] == 600
    assert ab.results["required_n_per_arm"] > 0
    assert ab.results["srm"]["expected_share_b"] == pytest.approx(0.3)
    assert ab.verdict in ("significant", "not_significant", "inconclusive")


def test_challenger_alias_rules(demo_wb: Workbench) -> None:
    production = next(v.version for v in _versions(demo_wb).values() if v.stage == "production")
    with pytest.raises(WorkbenchError, match="champion"):
        promotion.set_alias(demo_wb, SLUG, production, "challenger")
    with pytest.raises(WorkbenchError, match="follows the production"):
        promotion.set_alias(demo_wb, SLUG, production, "champion")
    promotion.set_alias(demo_wb, SLUG, None, "challenger", reason="pause the challenger")
    assert all(v.alias != "challenger" for v in _versions(demo_wb).values())
    with pytest.raises(WorkbenchError, match="no challenger"):
        release_analysis.analyse_shadow(demo_wb, SLUG)


def test_demo_canary_is_inconclusive_and_the_release_gate_says_what_is_missing(demo_wb: Workbench) -> None:
    """200 canary requests: no guardrail breached, but too few to show the error rate and the p99
    hold, and 200 labels give too little power to show the accuracy did not drop."""
    canary = next(a for a in release_analysis.list_release_analyses(demo_wb, SLUG) if a.kind == "canary")
    assert canary.verdict == "inconclusive" and canary.results["breaches"] == []
    assert canary.decision.startswith("continue, not yet passed: requests: 200 canary requests")
    requests, latency, power = canary.missing
    assert "299 requests without an error would show it" in requests
    assert latency == "requests: 200 timed canary requests, 299 needed for a 95% upper bound of the p99 latency"
    assert power.startswith("power: 200 labelled canary and 400 production requests")
    assert "inconclusive — " in canary.summary()
    projects.set_maturity(demo_wb, SLUG, "enterprise", reason="the feed now reaches regulated markets")
    gate = promotion.promotion_gate(demo_wb, SLUG, canary.version)
    check = {c.id: c for c in gate.checks}["canary_passed"]
    assert not check.passed and check.inconclusive and check.blocking and check.status == "inconclusive"
    assert check.detail.startswith("canary inconclusive (") and "299 needed" in check.detail
    assert "power: 200 labelled canary" in check.detail


def test_a_canary_without_labels_is_not_passed(demo_wb: Workbench) -> None:
    """The issue's case: a challenger in canary with no labelled request yet."""
    from storage.models import PredictionLog

    with demo_wb.unit_of_work() as uow:  # labels have not arrived yet
        uow.session.query(PredictionLog).update({PredictionLog.label: None})
    result = release_analysis.analyse_canary(demo_wb, SLUG, version=2)
    assert result.verdict == "inconclusive" and result.results["breaches"] == []
    assert result.missing[-1].startswith("labels: no labelled canary or production requests")
