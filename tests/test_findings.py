"""Findings on the demo workspace: raised, moved open → remediated → closed (or accepted), each
change audited with who, why and the signer's key; settling one is someone else's signed
decision; an open high-severity finding blocks promotion, waivable only by someone other than
the author and never on enterprise. Then the same through ``mlwb findings``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.errors import GateFailed, WorkbenchError
from app.services import findings, projects, promotion, registry
from app.services.demo import SLUG
from app.services.workbench import Workbench
from app.signing import new_signing_key
from storage.models import AuditEvent, FindingEvent
from tests.conftest import ME, register_person

VALIDATOR = "val.reviewer"


def _events(wb: Workbench) -> int:
    with wb.read() as session:
        return session.scalar(select(func.count(AuditEvent.seq)))


def _challenger(wb: Workbench) -> int:
    """The retrained version nobody has decided on yet (registered by me)."""
    version = max(v.version for v in registry.list_models(wb, SLUG))
    assert registry.list_models(wb, SLUG)[-1].created_by == ME
    return version


def _check(wb: Workbench, version: int, check_id: str = "no_open_high_findings"):  # type: ignore[no-untyped-def]
    return next(c for c in promotion.promotion_gate(wb, SLUG, version).checks if c.id == check_id)


def _latest(wb: Workbench, action: str) -> dict:
    """The payload of the newest audit event of ``action``."""
    with wb.read() as session:
        row = session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.seq.desc())).first()
        assert row is not None, action
        return json.loads(row.payload)


def test_a_finding_moves_through_its_statuses_each_change_audited_and_signed(demo_wb: Workbench) -> None:
    version = _challenger(demo_wb)
    validator = register_person(demo_wb, VALIDATOR, "validator")
    raised = findings.record_finding(demo_wb, SLUG, title="Fairness not checked per city", severity="high",
                                     version=version, concerns="Fairness section", remediation="run it per city",
                                     due_date="2031-01-31")
    assert (raised.status, raised.version, raised.raised_by, raised.source) == ("open", version, ME, "manual")
    assert [(e.from_status, e.to_status, e.actor) for e in raised.history] == [(None, "open", ME)]
    event = _latest(demo_wb, "finding.raised")
    assert event["title"] == "Fairness not checked per city" and event["severity"] == "high"

    # The author fixes it and says so, signed with her key ...
    mine = demo_wb.signing_key()
    assert mine is not None
    fixed = findings.set_status(demo_wb, SLUG, raised.id, "remediated", "per-city rates added to the analysis")
    assert fixed.status == "remediated" and fixed.history[-1].signer_fingerprint == mine.fingerprint
    # ... but cannot close her own model's finding (four-eyes), and nothing is recorded.
    before = _events(demo_wb)
    with pytest.raises(WorkbenchError, match="four-eyes"):
        findings.set_status(demo_wb, SLUG, raised.id, "closed", "I checked it myself")
    assert _events(demo_wb) == before

    closed = findings.set_status(demo_wb, SLUG, raised.id, "closed", "per-city rates look fine", signer=validator)
    assert closed.status == "closed" and not closed.is_open
    assert [(e.from_status, e.to_status, e.actor, e.signer_fingerprint) for e in closed.history] == [
        (None, "open", ME, None),
        ("open", "remediated", ME, mine.fingerprint),
        ("remediated", "closed", VALIDATOR, validator.fingerprint),
    ]
    assert closed.history[-1].reason == "per-city rates look fine"
    event = _latest(demo_wb, "finding.status_changed")
    assert event["from_status"] == "remediated" and event["to_status"] == "closed"
    assert event["reason"] == "per-city rates look fine" and event["decided_by"] == VALIDATOR
    assert event["signer"] == validator.fingerprint and event["signature"]
    with demo_wb.read() as session:  # the signed statement is kept with the history row
        row = session.scalars(select(FindingEvent).order_by(FindingEvent.id.desc())).first()
        assert row is not None and f'"finding":{raised.id}' in (row.statement or "").replace(" ", "")

    reopened = findings.set_status(demo_wb, SLUG, raised.id, "open", "the next batch shows the gap again")
    assert reopened.status == "open" and len(reopened.history) == 4
    accepted = findings.set_status(demo_wb, SLUG, raised.id, "accepted", "the gap is within the agreed tolerance",
                                   signer=validator)
    assert accepted.status == "accepted"
    assert [f.id for f in findings.list_findings(demo_wb, SLUG, open_only=True)] == []
    assert [f.id for f in findings.list_findings(demo_wb, SLUG, version=version)] == [raised.id]


def test_bad_input_is_refused_with_a_reason_and_changes_nothing(demo_wb: Workbench) -> None:
    version = _challenger(demo_wb)
    f = findings.record_finding(demo_wb, SLUG, title="Card lacks caveats", severity="medium", version=version)
    before = _events(demo_wb)
    attempts = [
        (lambda: findings.record_finding(demo_wb, SLUG, title="x", severity="critical"), "severity must be one of"),
        (lambda: findings.record_finding(demo_wb, SLUG, title="  ", severity="low"), "title"),
        (lambda: findings.record_finding(demo_wb, SLUG, title="x", severity="low", due_date="31/01/2031"),
         "YYYY-MM-DD"),
        (lambda: findings.record_finding(demo_wb, SLUG, title="x", severity="low", version=99), "no model version 99"),
        (lambda: findings.set_status(demo_wb, SLUG, f.id, "remediated", "  "), "reason"),
        (lambda: findings.set_status(demo_wb, SLUG, f.id, "fixed", "done"), "status must be one of"),
        (lambda: findings.set_status(demo_wb, SLUG, f.id, "open", "again"), "it can go to"),
        (lambda: findings.set_status(demo_wb, SLUG, 9999, "closed", "done"), "has no finding 9999"),
        # a key nobody registered cannot sign anything
        (lambda: findings.set_status(demo_wb, SLUG, f.id, "remediated", "done", signer=new_signing_key()),
         "not registered"),
    ]
    project_wide = findings.record_finding(demo_wb, SLUG, title="No owner named", severity="low")
    attempts.append((lambda: findings.set_status(demo_wb, SLUG, project_wide.id, "closed", "named",
                                                 signer=new_signing_key()), "leave out the key"))
    before = _events(demo_wb)
    for attempt, message in attempts:
        with pytest.raises(WorkbenchError, match=message):
            attempt()
    projects.create_project(demo_wb, "other-project", problem_type="binary_classification")
    after_create = _events(demo_wb)
    assert after_create == before + 1
    with pytest.raises(WorkbenchError, match="has no finding"):  # a finding belongs to its project
        findings.set_status(demo_wb, "other-project", f.id, "remediated", "done")
    assert _events(demo_wb) == after_create
    assert findings.list_findings(demo_wb, SLUG, version=version)[0].status == "open"
    closed = findings.set_status(demo_wb, SLUG, project_wide.id, "closed", "owner named in the inventory")
    assert (closed.status, closed.version, closed.history[-1].actor, closed.history[-1].signer_fingerprint) == (
        "closed", None, ME, None)


def test_settling_needs_a_signature_on_growth_and_a_deciding_role(demo_wb: Workbench, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    version = _challenger(demo_wb)
    f = findings.record_finding(demo_wb, SLUG, title="No monitoring of latency", severity="low", version=version)
    author_role = register_person(demo_wb, "bo.author", "author")
    with pytest.raises(WorkbenchError, match="registered as author"):
        findings.set_status(demo_wb, SLUG, f.id, "closed", "fine", signer=author_role)
    # Someone with no key at all: their name proves nothing, so the growth profile refuses ...
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(tmp_path / "nobody.key"))
    demo_wb.forget_signing_key()
    assert demo_wb.signing_key() is None
    with pytest.raises(WorkbenchError, match="signed decision"):
        findings.set_status(demo_wb, SLUG, f.id, "accepted", "low risk")
    # ... while they may still say it was remediated (unsigned, recorded as such).
    fixed = findings.set_status(demo_wb, SLUG, f.id, "remediated", "latency panel added")
    assert fixed.history[-1].signer_fingerprint is None
    assert _latest(demo_wb, "finding.status_changed")["signed"] is False


def test_an_open_high_finding_blocks_promotion_and_only_someone_else_may_waive_it(demo_wb: Workbench) -> None:
    version = _challenger(demo_wb)
    validator = register_person(demo_wb, VALIDATOR, "validator")
    assert _check(demo_wb, version).passed
    findings.record_finding(demo_wb, SLUG, title="Minor typo in card", severity="medium", version=version)
    assert _check(demo_wb, version).passed, "only high severity blocks"

    high = findings.record_finding(demo_wb, SLUG, title="Leaks the click timestamp", severity="high",
                                   version=version, due_date="2031-03-01")
    check = _check(demo_wb, version)
    assert not check.passed and check.required and check.blocking and check.waivable
    assert "Leaks the click timestamp" in check.detail and "due 2031-03-01" in check.detail
    with pytest.raises(GateFailed, match="Leaks the click timestamp"):
        promotion.promote(demo_wb, SLUG, version)
    # Remediated is not settled: someone else still has to close it.
    findings.set_status(demo_wb, SLUG, high.id, "remediated", "timestamp dropped from the features")
    assert _check(demo_wb, version).blocking

    before = _events(demo_wb)
    with pytest.raises(GateFailed, match="someone other than"):
        promotion.waive(demo_wb, SLUG, version, "no_open_high_findings", "I accept my own risk")
    assert _events(demo_wb) == before
    waiver = promotion.waive(demo_wb, SLUG, version, "no_open_high_findings", "fix verified on a copy; "
                             "closing after the next batch", signer=validator)
    assert waiver.granted_by == VALIDATOR and waiver.signer_fingerprint == validator.fingerprint
    check = _check(demo_wb, version)
    assert not check.passed and check.waiver is not None and not check.blocking
    # a waiver covers what was known when it was granted: a new high finding blocks again
    later = findings.record_finding(demo_wb, SLUG, title="Drops a region", severity="high", version=version)
    assert _check(demo_wb, version).blocking
    findings.set_status(demo_wb, SLUG, later.id, "closed", "region restored", signer=validator)
    assert not _check(demo_wb, version).blocking

    # On enterprise the waiver no longer counts and no new one can be recorded.
    projects.set_maturity(demo_wb, SLUG, "enterprise", reason="the bank's model-risk policy applies")
    check = _check(demo_wb, version)
    assert check.blocking and check.waiver is None and not check.waivable
    with pytest.raises(GateFailed, match="cannot be waived"):
        promotion.waive(demo_wb, SLUG, version, "no_open_high_findings", "urgent", signer=validator)

    findings.set_status(demo_wb, SLUG, high.id, "closed", "timestamp gone, leakage check clean", signer=validator)
    assert _check(demo_wb, version).passed


# --- mlwb findings -------------------------------------------------------------------------


def test_findings_cli_adds_lists_and_moves_with_a_named_key(demo_home: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    wb = Workbench.open()
    version = _challenger(wb)
    validator = register_person(wb, VALIDATOR, "validator", key_dir=tmp_path)
    wb.close()

    assert main(["findings", "add", SLUG, "--title", "Calibration unverified", "--severity", "high",
                 "--version", str(version), "--concerns", "Metrics", "--remediation", "add a reliability curve",
                 "--due", "2031-06-30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("finding #") and f"on version {version} (high) by {ME}" in out
    finding_id = int(out.split()[1].lstrip("#"))

    assert main(["findings", SLUG, "--open"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.split("\t")[:5] == [f"#{finding_id}", f"v{version}", "HIGH", "open", "due 2031-06-30"]

    assert main(["findings", "set", SLUG, str(finding_id), "closed", "--reason", "curve added and checked",
                 "--key", str(tmp_path / f"{VALIDATOR}.key")]) == 0
    out = capsys.readouterr().out
    assert f"is now closed, by {VALIDATOR}, signed by key" in out

    assert main(["findings", SLUG, "--version", str(version), "--json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["status"] == "closed" and shown["remediation"] == "add a reliability curve"
    assert [(h["from"], h["to"], h["by"]) for h in shown["history"]] == [(None, "open", ME),
                                                                      ("open", "closed", VALIDATOR)]
    assert shown["history"][-1]["signer_fingerprint"] == validator.fingerprint
    assert main(["findings", SLUG, "--open"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("argv, message", [
    (["findings", "add", SLUG, "--title", "x", "--severity", "extreme"], "severity must be one of"),
    (["findings", "add", SLUG, "--title", "x", "--severity", "low", "--due", "tomorrow"], "YYYY-MM-DD"),
    (["findings", "add", "no-such-project", "--title", "x", "--severity", "low"], "no project 'no-such-project'"),
    (["findings", "set", SLUG, "1", "done", "--reason", "x"], "status must be one of"),
    (["findings", "set", SLUG, "424242", "closed", "--reason", "x"], "has no finding 424242"),
    (["findings", "set", SLUG, "1", "closed", "--reason", "x", "--key", "/no/such.key"], "no signing key"),
    (["findings", SLUG, "--version", "99"], "no model version 99"),
    (["projects", "set", SLUG, "--risk-tier", "extreme"], "unknown risk tier"),
    (["projects", "set", SLUG], "--risk-tier and/or --owner"),
])
def test_findings_cli_bad_input_is_one_error_line(demo_home: Path, capsys: pytest.CaptureFixture[str],
                                                   argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], err
    assert not any("Traceback" in line for line in err)


# --- the compliance report -----------------------------------------------------------------


def test_the_compliance_report_lists_every_finding_and_its_history(demo_wb: Workbench, tmp_path: Path) -> None:
    import pypdf

    from app.services.reporting import collect_compliance_report
    from app.signing import short_fingerprint
    from reports.compliance import compliance_document
    from reports.render import render_document
    from reports.tracked_findings import TITLE

    version = _challenger(demo_wb)
    validator = register_person(demo_wb, VALIDATOR, "validator")
    demo_findings = [f.id for f in findings.list_findings(demo_wb, SLUG)]  # the demo's fairness findings
    high = findings.record_finding(demo_wb, SLUG, title="Leaks the click timestamp", severity="high",
                                   version=version, concerns="Data: feature list", remediation="drop it")
    findings.set_status(demo_wb, SLUG, high.id, "remediated", "timestamp dropped")
    findings.set_status(demo_wb, SLUG, high.id, "closed", "leakage check clean", signer=validator)
    low = findings.record_finding(demo_wb, SLUG, title="Owner not named", severity="low", due_date="2031-01-01")

    records = collect_compliance_report(demo_wb, SLUG, deterministic=True)
    assert [f.id for f in records.tracked_findings] == [*demo_findings, high.id, low.id]
    ours = {str(high.id), str(low.id)}
    document = compliance_document(records)
    validation = next(s for s in document.sections if s.key == "validation")
    (section,) = [s for s in validation.subsections if s.title == TITLE]
    tables = {b.title: b for b in section.blocks if hasattr(b, "rows")}
    listed = [row for row in tables["Findings"].rows if row[0] in ours]
    assert len(tables["Findings"].rows) == len(demo_findings) + 2
    assert [row[:5] for row in listed] == [(str(high.id), f"v{version}", "HIGH", "closed", high.title),
                                           (str(low.id), "project", "LOW", "open", low.title)]
    history = [row for row in tables["History of every finding"].rows if row[0] in ours]
    assert [(row[0], row[2], row[3], row[4], row[5]) for row in history] == [
        (str(high.id), "raised", ME, "unsigned", "raised by manual"),
        (str(high.id), "open → remediated", ME, short_fingerprint(demo_wb.signing_key().fingerprint),  # type: ignore[union-attr]
         "timestamp dropped"),
        (str(high.id), "remediated → closed", VALIDATOR, short_fingerprint(validator.fingerprint), "leakage check clean"),
        (str(low.id), "raised", ME, "unsigned", "raised by manual"),
    ]

    out = render_document("compliance", document, tmp_path / "compliance.pdf")
    text = " ".join(" ".join(page.extract_text() or "" for page in pypdf.PdfReader(str(out.path)).pages).split())
    assert TITLE in text and high.title in text and low.title in text and "leakage check clean" in text
