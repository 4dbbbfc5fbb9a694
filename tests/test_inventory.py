"""The model inventory (SR 11-7) across projects: risk tier and owner (set and audited), the
validator and date of the last signed validation, the periodic review it sets per tier, overdue
reviews flagged, open findings by severity; then ``mlwb inventory`` as text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.cli import main
from app.lifecycle import PERIODIC_REVIEW_MONTHS, RISK_TIERS
from app.services import findings, projects, registry
from app.services.demo import SLUG, VALIDATOR
from app.services.inventory import CSV_COLUMNS, add_months, inventory
from app.services.workbench import Workbench
from storage.models import Approval, AuditEvent, Finding, ModelVersion, Review


def _entry(wb: Workbench, slug: str = SLUG, today: date | None = None):  # type: ignore[no-untyped-def]
    return next(e for e in inventory(wb, today=today) if e.slug == slug)


def test_add_months_keeps_the_day_or_the_months_last() -> None:
    assert add_months(date(2025, 1, 15), 6) == date(2025, 7, 15)
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2025, 11, 30), 24) == date(2027, 11, 30)
    assert set(PERIODIC_REVIEW_MONTHS) == set(RISK_TIERS)
    assert PERIODIC_REVIEW_MONTHS["high"] < PERIODIC_REVIEW_MONTHS["medium"] < PERIODIC_REVIEW_MONTHS["low"]


def test_the_demo_in_the_inventory(demo_wb: Workbench) -> None:
    entry = _entry(demo_wb)
    production = next(v for v in registry.list_models(demo_wb, SLUG) if v.stage == "production")
    approval = next(a for a in reversed(production.approvals) if a.decision == "approved")
    assert (entry.risk_tier, entry.owner) == ("medium", "")
    assert entry.production_version == entry.version == production.version
    assert entry.intended_use == registry.model_card(demo_wb, SLUG, production.version)["intended_use"].strip()
    assert entry.intended_use
    # the demo's validator signed the standing approval: that is the last validation
    assert (entry.validator, entry.validated_by) == (VALIDATOR, "approval")
    assert entry.validator_fingerprint == approval.signer_fingerprint is not None
    assert entry.last_validated == approval.created_at.date()
    assert entry.next_review == add_months(entry.last_validated, 12)
    assert not entry.overdue and entry.review_status().startswith("due in ")
    assert entry.open_findings == {"high": 0, "medium": 0, "low": 0}
    assert entry.stage == projects.project_summary(demo_wb, SLUG).current_stage

    # A high-risk tier halves the period, and a date past it flags the review overdue.
    projects.set_inventory(demo_wb, SLUG, risk_tier="high", owner="head of marketing analytics",
                           reason="drives the spend of the whole campaign budget")
    entry = _entry(demo_wb)
    assert (entry.risk_tier, entry.owner) == ("high", "head of marketing analytics")
    assert entry.next_review == add_months(entry.last_validated, 6)
    later = _entry(demo_wb, today=entry.next_review + timedelta(days=1))
    assert later.overdue and later.review_status(entry.next_review + timedelta(days=1)) == (
        f"OVERDUE since {entry.next_review.isoformat()}")


def test_a_later_review_is_the_last_validation_and_findings_are_counted(demo_wb: Workbench) -> None:
    production = _entry(demo_wb).production_version
    reviewed_at = datetime.now(UTC) + timedelta(days=3)
    with demo_wb.unit_of_work() as uow:
        mv = uow.session.scalars(select(ModelVersion).where(ModelVersion.version == production)).one()
        uow.session.add(Review(model_version_id=mv.id, manifest_digest="0" * 64, conclusion="approve_with_conditions",
                               reviewer="rita.validator", document="{}", signature="00", signer_fingerprint="ab" * 32,
                               reviewed_at=reviewed_at, imported_by="ana.engineer"))
        uow.audit("test.review_recorded", "model_version", mv.id, project=SLUG)
    for severity, title in (("high", "no fairness per city"), ("high", "stale card"), ("low", "typo")):
        findings.record_finding(demo_wb, SLUG, title=title, severity=severity, version=production)
    settled = findings.record_finding(demo_wb, SLUG, title="fixed already", severity="medium", version=production)
    with demo_wb.unit_of_work() as uow:  # settled findings are not counted (set directly: the status is what counts)
        uow.session.get(Finding, settled.id).status = "closed"  # type: ignore[union-attr]
        uow.audit("test.finding_closed", "finding", settled.id, project=SLUG)
    entry = _entry(demo_wb)
    assert (entry.validator, entry.validated_by) == ("rita.validator", "review (approve_with_conditions)")
    assert entry.validator_fingerprint == "ab" * 32
    assert entry.last_validated == reviewed_at.date()
    assert entry.open_findings == {"high": 2, "medium": 0, "low": 1}


def test_a_project_without_a_model_owes_no_review_and_one_in_production_never_validated_is_overdue(
        demo_wb: Workbench) -> None:
    projects.create_project(demo_wb, "churn", problem_type="binary_classification")
    entry = _entry(demo_wb, "churn")
    assert (entry.production_version, entry.version, entry.validator, entry.next_review) == (None, None, None, None)
    assert not entry.overdue and entry.review_status() == "not in production"
    assert entry.intended_use == "" and entry.stage == 1

    # The demo in production on the startup profile with only an unsigned approval: never validated.
    with demo_wb.unit_of_work() as uow:
        for a in uow.session.scalars(select(Approval)):
            a.signature = a.statement = a.signer_fingerprint = None
        uow.audit("test.approvals_unsigned", "project", SLUG, project=SLUG)
    projects.set_maturity(demo_wb, SLUG, "startup", reason="a test of an unsigned approval")
    entry = _entry(demo_wb)
    assert entry.production_version is not None and entry.last_validated is None and entry.overdue
    assert entry.review_status() == "OVERDUE: in production, never validated"


def test_setting_tier_and_owner_is_audited_and_checked(demo_wb: Workbench) -> None:
    projects.set_inventory(demo_wb, SLUG, risk_tier="low", owner="  jo.owner ", reason="a small internal model")
    summary = projects.project_summary(demo_wb, SLUG)
    assert (summary.risk_tier, summary.owner) == ("low", "jo.owner")
    with demo_wb.read() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None and event.action == "project.inventory_changed"
        assert set(json.loads(event.payload).pop("row_hashes")) == {"project/1"}
        assert {k: v for k, v in json.loads(event.payload).items() if k != "row_hashes"} == {"changes": {"risk_tier": {"from": "medium", "to": "low"},
                                                         "owner": {"from": "", "to": "jo.owner"}},
                                             "reason": "a small internal model"}
        seq = event.seq
    projects.set_inventory(demo_wb, SLUG, risk_tier="low")  # nothing changes, nothing is recorded
    with demo_wb.read() as session:
        assert session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())).first() == seq
    for kwargs, message in (({"risk_tier": "extreme"}, "unknown risk tier"), ({"owner": "  "}, "needs a name"),
                            ({}, "say what to set")):
        with pytest.raises(Exception, match=message):
            projects.set_inventory(demo_wb, SLUG, **kwargs)  # type: ignore[arg-type]


def test_inventory_cli_text_json_and_csv(demo_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["projects", "set", SLUG, "--risk-tier", "high", "--owner", "dana.owner"]) == 0
    assert capsys.readouterr().out.strip() == f"{SLUG}: high risk tier, owner dana.owner"

    assert main(["inventory"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{SLUG}\thigh risk\towner dana.owner\t") and f"by {VALIDATOR}" in line

    assert main(["inventory", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["project"], row["risk_tier"], row["owner"], row["validator"]) == (SLUG, "high", "dana.owner", VALIDATOR)
    assert row["next_review"] == add_months(date.fromisoformat(row["last_validated"]), 6).isoformat()
    assert row["overdue"] is False and row["intended_use"]

    assert main(["inventory", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["validator"] == VALIDATOR and rows[0]["overdue"] == "False"

    with pytest.raises(SystemExit) as exit_info:  # one shape at a time (argparse says so)
        main(["inventory", "--json", "--csv"])
    assert exit_info.value.code == 2
