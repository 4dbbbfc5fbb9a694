"""The offline review round trip between two machines that never share a database.

The ML team exports the demo's evidence bundle; a validator, on a machine with no workspace,
verifies and reads it, records findings and a conclusion, and signs ``review.json`` with their
key; the team imports it: the review, its findings and the signed decision are recorded and
audited, and the decision counts for four-eyes like any signed approval. Every bad input is
refused with a message that says what is wrong, and changes nothing.

The team's workspace is the demo with a registered validator ("val.reviewer"), from which one
bundle is exported per module; each test imports into its own copy of that workspace.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bundle_reader import open_bundle
from app.bundle_verify import verify_bundle
from app.cli import main
from app.errors import WorkbenchError
from app.review_file import ReviewFinding, load_findings, read_review, reviewer_key, sign_review, write_review
from app.services import audit_trail, promotion, registry
from app.services.evidence_bundle import export_bundle
from app.services.findings import list_findings
from app.services.review_import import import_review
from app.services.workbench import Workbench, find_project
from app.signing import SigningKey, new_signing_key, write_private_key
from storage.models import Approval, Finding, Review
from storage.workspace import Workspace
from tests.conftest import _isolate, copy_workspace, register_person
from tests.test_evidence_bundle import mlwb, offline_env

SLUG = "ctr-demo"
VALIDATOR = "val.reviewer"
FINDINGS = [
    ReviewFinding("Three cities have a selection rate of 0", "high", "table 'Fairness by group of run 3'",
                  "Collect data for those cities or exclude them with a documented reason", "2027-03-31"),
    ReviewFinding("Canary ran on too few requests", "medium", "section 8 Deployment", "Re-run the canary", ""),
]


@dataclass(frozen=True)
class Exported:
    home: Path  # the team's workspace as it was exported (copied per test)
    bundle: Path
    key_file: Path  # the validator's private key, as they keep it on their machine


@pytest.fixture(scope="module")
def exported(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    root = tmp_path_factory.mktemp("review-roundtrip")
    home = root / "team-home"
    with pytest.MonkeyPatch.context() as mp:
        copy_workspace(demo_template, home, mp, keep=True)
        wb = Workbench.open(Workspace(home))
        register_person(wb, VALIDATOR, "validator", key_dir=root)
        bundle = export_bundle(wb, SLUG, root / "ctr-demo-bundle.zip").path
        wb.close()
    return Exported(home, bundle, root / f"{VALIDATOR}.key")


@pytest.fixture
def team(exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workbench]:
    """The team's workspace (a private copy), as me ("ana.engineer", the author of the demo)."""
    home = copy_workspace(exported.home, tmp_path / "team-home", monkeypatch)
    wb = Workbench.open(Workspace(home))
    yield wb
    wb.close()


def validator_key(exported: Exported) -> SigningKey:
    return reviewer_key(exported.key_file)


def write_signed(exported: Exported, out: Path, *, key: SigningKey | None = None, reviewer: str = VALIDATOR,
                 conclusion: str = "approve_with_conditions", findings: list[ReviewFinding] = FINDINGS,
                 **bundle_changes: Any) -> Path:
    bundle = open_bundle(exported.bundle)
    if bundle_changes:
        bundle = replace(bundle, **bundle_changes)
    document = sign_review(bundle, key or validator_key(exported), reviewer=reviewer, conclusion=conclusion,
                           summary="Read the whole bundle; the model is fit for use once the findings are fixed.",
                           findings=findings)
    return write_review(document, out)


def counts(wb: Workbench) -> tuple[int, int, int, int]:
    """Reviews, findings, approvals and the audit head: what a refused import must not change."""
    head, _ = audit_trail.head(wb)
    with wb.read() as session:
        return (session.scalar(select(func.count(Review.id))), session.scalar(select(func.count(Finding.id))),
                session.scalar(select(func.count(Approval.id))), head.seq if head else 0)


def standing(wb: Workbench, version: int = 1) -> tuple[Approval | None, str]:
    with wb.read() as session:
        project = find_project(session, SLUG)
        mv = registry.model_version(session, project, version)
        decisions = list(session.scalars(select(Approval).where(Approval.model_version_id == mv.id)))
        return registry.standing_approval(session, project, mv, decisions)


def refused(wb: Workbench, path: Path, *expected: str) -> str:
    before = counts(wb)
    with pytest.raises(WorkbenchError) as caught:
        import_review(wb, path)
    message = str(caught.value)
    for text in expected:
        assert text in message, message
    assert "Nothing was recorded" in message or "contradicts itself" in message or "not a" in message, message
    assert counts(wb) == before, "a refused import changed the registry"
    return message


# --- the round trip ---------------------------------------------------------------------------


def test_round_trip_records_the_review_its_findings_and_a_signed_decision(
        exported: Exported, team: Workbench, tmp_path: Path) -> None:
    bundle = open_bundle(exported.bundle)
    assert bundle.verified, bundle.verdict.summary()
    assert (bundle.project, bundle.version) == (SLUG, 1)
    with team.read() as session:
        v1 = registry.model_version(session, find_project(session, SLUG), 1)
        assert bundle.model_sha256 == v1.artifact_sha256
    assert bundle.tables and bundle.figures and bundle.events and bundle.sections

    path = write_signed(exported, tmp_path / "review.json")
    doc = read_review(path)
    key = validator_key(exported)
    assert doc.signed_by(key.public_hex) and doc.signer == key.fingerprint
    assert doc.review["manifest"] == bundle.manifest_digest
    assert {t["title"] for t in doc.bundle["tables"]} >= {"Approvals and rejections", "Model versions"}
    approval = doc.approval_fields
    assert (approval["kind"], approval["decision"], approval["version"]) == ("approval", "approved", 1)
    assert "Approved with conditions" in approval["comment"] and FINDINGS[0].title in approval["comment"]

    before_head = counts(team)[3]
    imported = import_review(team, path)
    assert (imported.reviewer, imported.conclusion, imported.decision) == (VALIDATOR, "approve_with_conditions",
                                                                          "approved")
    assert not imported.already_imported and len(imported.findings) == 2

    findings = [f for f in list_findings(team, SLUG) if f.source == "review"]
    assert [(f.title, f.severity, f.status, f.source, f.raised_by, f.version) for f in findings] == [
        (f.title, f.severity, "open", "review", VALIDATOR, 1) for f in FINDINGS]
    assert findings[0].due_date == "2027-03-31" and findings[0].remediation == FINDINGS[0].remediation
    with team.read() as session:
        review = session.scalars(select(Review)).one()
        assert (review.reviewer, review.conclusion, review.manifest_digest) == (
            VALIDATOR, "approve_with_conditions", bundle.manifest_digest)
        assert review.signer_fingerprint == key.fingerprint and review.document == path.read_text()
        assert {f.review_id for f in session.scalars(select(Finding).where(Finding.source == "review"))} == {review.id}
    decision, why = standing(team)
    assert decision is not None and decision.approver == VALIDATOR and decision.signer_fingerprint == key.fingerprint
    assert why.startswith(f"approved by {VALIDATOR}")
    # Approved with conditions: the open high-severity condition holds the version back.
    gate = {c.id: c for c in promotion.promotion_gate(team, SLUG, 1).checks}
    assert gate["independent_approval"].passed and not gate["no_open_high_findings"].passed

    actions = [e.action for e in audit_trail.recent_events(team, project=SLUG, limit=10)]
    assert actions[:4] == ["model.approved", "finding.raised", "finding.raised", "review.imported"]
    assert audit_trail.verify(team).ok
    # The next bundle carries the imported decision as a signed record that verifies offline.
    verdict = verify_bundle(export_bundle(team, SLUG, tmp_path / "after-review.zip").path)
    assert verdict.ok, [c.line() for c in verdict.checks]
    assert any(s.name == VALIDATOR and s.signed for s in verdict.signers)

    # The same review again adds nothing, and says so.
    after = counts(team)
    assert after[3] == before_head + 4 + 1  # the import's four events, then the next bundle's bundle.exported
    again = import_review(team, path)
    assert again.already_imported and again.review_id == imported.review_id
    assert counts(team) == after


def test_an_audited_act_that_changes_no_evidence_does_not_age_the_bundle(
        exported: Exported, team: Workbench, tmp_path: Path) -> None:
    """The change log and the audit appendix are the trail itself: they grow with every
    recorded act (a report built, another import) without the model's evidence changing."""
    path = write_signed(exported, tmp_path / "review.json", conclusion="approve", findings=[])
    with team.unit_of_work() as uow:
        uow.audit("report.built", "report", 0, project=SLUG, kind="model_card")
    assert not import_review(team, path).already_imported
    assert standing(team)[0] is not None


def test_cli_sign_on_a_machine_without_workspace_then_import(
        exported: Exported, team: Workbench, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    findings = tmp_path / "findings.toml"
    findings.write_text('[[findings]]\ntitle = "Monitoring has no label delay SLA"\nseverity = "low"\n'
                        'concerns = "section 9 Monitoring"\nremediation = "Add an SLA on label delay"\n'
                        "due_date = 2027-06-30\n")
    out = tmp_path / "validator" / "review.json"
    out.parent.mkdir()
    env, reviewer_home = offline_env(tmp_path)
    signed = mlwb("review", "sign", str(exported.bundle), "--conclusion", "reject", "--summary",
                  "The fairness evidence is missing for three cities.", "--finding-file", str(findings),
                  "--reviewer", VALIDATOR, "--out", str(out), "--key", str(exported.key_file), env=env)
    assert signed.returncode == 0, signed.stderr
    assert "bundle verified" in signed.stdout and f"wrote {out}" in signed.stdout
    assert not any(reviewer_home.rglob("*")), "signing a review created files in the reviewer's home"

    assert main(["review", "import", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"by {VALIDATOR}" in printed and "1 finding(s) raised" in printed and "rejected" in printed
    decision, why = standing(team)
    assert decision is None and why.startswith(f"rejected by {VALIDATOR}")
    assert [f.title for f in list_findings(team, SLUG) if f.source == "review"] == ["Monitoring has no label delay SLA"]

    assert main(["review", "import", str(out)]) == 0
    assert "already imported" in capsys.readouterr().out

    # Signing again to the same file never overwrites a signed review.
    again = mlwb("review", "sign", str(exported.bundle), "--conclusion", "approve", "--summary", "ok",
                 "--out", str(out), "--key", str(exported.key_file), env=env)
    assert again.returncode == 2 and "exists" in again.stderr


# --- bad input: a clear error, and nothing changes --------------------------------------------


def test_a_review_signed_by_an_unknown_key_is_refused(exported: Exported, team: Workbench, tmp_path: Path) -> None:
    stranger = new_signing_key()
    path = write_signed(exported, tmp_path / "review.json", key=stranger)
    refused(team, path, "not registered in this workspace", "mlwb people add")


def test_a_tampered_review_is_refused(exported: Exported, team: Workbench, tmp_path: Path) -> None:
    path = write_signed(exported, tmp_path / "review.json")
    document = json.loads(path.read_text())
    document["review"]["findings"][0]["severity"] = "low"  # soften a finding after signing
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document, indent=2))
    refused(team, tampered, "does not verify with the key registered to val.reviewer", "changed after it was signed")

    document = json.loads(path.read_text())
    document["review"]["decision"] = "reject"  # the embedded approval still says "approved"
    tampered.write_text(json.dumps(document))
    refused(team, tampered, "contradicts itself")

    not_a_review = tmp_path / "notes.json"
    not_a_review.write_text('{"conclusion": "approve"}')
    refused(team, not_a_review, "is not a 'mlwb-review/1' review file")


def test_a_review_of_another_version_is_refused(exported: Exported, team: Workbench, tmp_path: Path) -> None:
    # Properly signed, but it says the v1 model file is version 3's.
    path = write_signed(exported, tmp_path / "review.json", version=3)
    refused(team, path, "review of another version", "v3")
    # A bundle of another workspace's chain (its head is no event of this one).
    path = write_signed(exported, tmp_path / "elsewhere.json", head_hash="ab" * 32)
    refused(team, path, "not exported from this workspace")
    # Signed on an evidence digest that is not this chain's at the bundle's head.
    path = write_signed(exported, tmp_path / "altered.json", evidence_digest="cd" * 32)
    refused(team, path, "the bundle's events were altered")


def test_a_forged_fingerprint_is_refused(exported: Exported, team: Workbench, tmp_path: Path) -> None:
    """The file names the registered validator's key, but another key signed it."""
    forger = new_signing_key()
    honest = validator_key(exported)
    path = write_signed(exported, tmp_path / "review.json", key=forger)
    document = json.loads(path.read_text())
    review = document["review"]
    review["signer"] = review["reviewer"]["fingerprint"] = honest.fingerprint
    approval = json.loads(review["approval"]["statement"])
    approval["signer"] = honest.fingerprint
    review["approval"]["statement"] = json.dumps(approval, sort_keys=True, separators=(",", ":"))
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    refused(team, forged, "forged fingerprint")

    review["reviewer"]["public_key"] = honest.public_line  # make it consistent: only the signature is left
    forged.write_text(json.dumps(document))
    refused(team, forged, "does not verify with the key registered to val.reviewer")


def test_an_approval_by_the_authors_own_key_under_another_name_is_refused(
        exported: Exported, team: Workbench, tmp_path: Path) -> None:
    author = team.signing_key()  # ana.engineer registered the demo's versions
    assert author is not None
    path = write_signed(exported, tmp_path / "review.json", key=author, reviewer="independent.validator")
    refused(team, path, "author's own key", "four-eyes")


def test_a_review_of_an_older_bundle_names_the_evidence_that_changed(
        exported: Exported, team: Workbench, tmp_path: Path) -> None:
    path = write_signed(exported, tmp_path / "review.json")
    second = register_person(team, "second.validator", "validator")
    registry.record_approval(team, SLUG, 1, decision="rejected", comment="the canary is too small", signer=second)
    message = refused(team, path, "reviews an older bundle", "'Approvals and rejections' (Independent validation) "
                      "changed", "mlwb export ctr-demo")
    assert "Change log" not in message and "Appendix" not in message  # the trail itself is not evidence here


def test_a_bundle_that_fails_verification_cannot_be_signed(exported: Exported, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(exported.bundle) as zf:
        zf.extractall(folder)
    tables = sorted((folder / "evidence" / "tables").glob("*.csv"))
    tables[0].write_text(tables[0].read_text(encoding="utf-8-sig") + "forged,row\n", encoding="utf-8-sig")
    bundle = open_bundle(folder)
    assert not bundle.verified
    with pytest.raises(WorkbenchError, match="failed verification"):
        sign_review(bundle, validator_key(exported), reviewer=VALIDATOR, conclusion="approve", summary="fine",
                    findings=[])


def test_a_finding_is_checked_where_it_is_written(tmp_path: Path) -> None:
    """The workspace's rules for a finding hold on the validator's machine already."""
    assert "200" in ReviewFinding("x" * 201, "high").problem()
    assert "severity" in ReviewFinding("Gap", "critical").problem()
    assert "YYYY-MM-DD" in ReviewFinding("Gap", "low", due_date="31/03/2027").problem()
    path = tmp_path / "findings.json"
    path.write_text('[{"title": "Gap", "severity": "low", "owner": "me"}]')
    with pytest.raises(WorkbenchError, match="unknown field"):
        load_findings(path)


def test_a_key_is_found_without_a_workspace(exported: Exported, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """MLWB_SIGNING_KEY, as the workbench reads it; nothing is created under MLWB_HOME."""
    home = tmp_path / "no-workspace"
    _isolate(monkeypatch, home)
    with pytest.raises(WorkbenchError, match="no signing key found"):
        reviewer_key()
    key = new_signing_key()
    write_private_key(tmp_path / "mine.key", key)
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(tmp_path / "mine.key"))
    assert reviewer_key().fingerprint == key.fingerprint
    assert not home.exists()
