"""Importing a validator's signed review (``review.json``) into the ML team's workspace.

The review was written on another machine from an exported evidence bundle
(``app.review_file``). Before anything is recorded it must hold up here:

1. the file is a complete, self-consistent review (``ReviewDocument.consistency_problems``:
   the fingerprint it names is the key it carries and the signer of both statements; the
   embedded approval says what the review says);
2. it is signed by a key registered in this workspace, and the signature verifies with that
   registered key (a changed byte, or a fingerprint that names a registered key while another
   key signed, fails here);
3. the version it reviewed is this workspace's version with the same model file (SHA-256), the
   bundle's audit head is an event of this workspace's chain (the bundle came from here), and
   the evidence digest the review was signed on is this chain's digest through that event (as
   every signed statement's is: verify-bundle checks it in the next export);
4. the embedded approval would count for four-eyes, judged by the same rule as every signed
   decision (``signatures.judge_independence``): a deciding role, not the author's key, not the
   author by name;
5. the evidence of that version, as it stands now, is what the bundle showed: every table of
   the compliance document is rebuilt and its content digest compared with the one the review
   carries (``app.bundle_reader.table_digest``). The audit trail itself is left out (the change
   log, the audit appendix, and the rows of other tables about them): it grows with every
   recorded act (a report build, the import of another review) without the evidence of the
   model changing. A difference refuses the review and names the tables that changed,
   appeared or went.

Then one unit of work records the ``Review`` row (the document as signed), each finding as an
open ``Finding`` raised by the reviewer (``findings.raise_finding``, source "review"), and the
decision as an ordinary ``Approval`` carrying the embedded signed statement, with their audit
events. Importing the same review again (same signature) adds nothing and says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.bundle_reader import AUDIT_TRAIL_CHAPTERS, table_digest
from app.canonical import GENESIS
from app.errors import WorkbenchError
from app.review_file import DECISIONS, ReviewDocument, read_review, table_digests
from app import audit
from app.audit import ChainHead
from app.services.audit_trail import chain_head, event_rows
from app.services.findings import raise_finding
from app.services.identity import PersonView, public_keys
from app.services.registry import approval_statement, model_version
from app.services.signatures import judge_independence
from app.services.evidence_bundle import document_tables
from app.services.workbench import Workbench, find_project
from app.signing import short_fingerprint, verify_statement
from storage.models import Approval, AuditEvent, Finding, Review, ReviewRequest, utcnow

NOTHING_RECORDED = "Nothing was recorded."


@dataclass(frozen=True)
class ImportedReview:
    review_id: int
    project: str
    version: int
    conclusion: str
    reviewer: str  # the registered name of the key that signed
    named_reviewer: str  # the name review.json gives
    signer_fingerprint: str
    decision: str  # the approval recorded: approved | rejected
    findings: tuple[int, ...]  # ids of the findings raised
    already_imported: bool  # True: this review was imported before, nothing was added


def import_review(wb: Workbench, path: str | Path) -> ImportedReview:
    """Check ``review.json`` at ``path`` and record it (see the module's docstring)."""
    doc = read_review(path)
    problems = doc.consistency_problems()
    if problems:
        raise WorkbenchError(f"{doc.path} contradicts itself: {'; '.join(problems)}. It was changed after signing "
                             f"or not written by `mlwb review`. {NOTHING_RECORDED}")
    with wb.read() as session:
        keys = public_keys(session)
        person = _registered_signer(doc, keys)
        earlier = _earlier_import(session, doc)
        if earlier is not None:
            return _imported(session, earlier, doc, person, already=True)
        _check_version_and_head(wb, session, doc, person, keys)
    changed, head = evidence_changes(wb, doc)
    if changed:
        raise WorkbenchError(
            f"{doc.path} reviews an older bundle of {doc.project} v{doc.version} (exported at audit event "
            f"#{doc.review['evidence_seq']}); its evidence has changed since: {'; '.join(changed)}. "
            f"{NOTHING_RECORDED} Export a new bundle (`mlwb export {doc.project} --out FILE.zip`) and have it "
            "reviewed again")
    with wb.unit_of_work() as uow:
        session = uow.session
        now = chain_head(session)
        if ((now.seq, now.hash) if now else (0, GENESIS)) != head:
            raise WorkbenchError("the registry changed while the review was being checked: run the import again. "
                                 + NOTHING_RECORDED)
        earlier = _earlier_import(session, doc)
        if earlier is not None:
            return _imported(session, earlier, doc, person, already=True)
        project = find_project(session, doc.project)
        mv = model_version(session, project, doc.version)
        review = Review(model_version_id=mv.id, manifest_digest=str(doc.review["manifest"]),
                        conclusion=doc.conclusion, summary=doc.summary, reviewer=person.name, document=doc.text,
                        signature=doc.signature, signer_fingerprint=person.fingerprint,
                        reviewed_at=doc.reviewed_at, imported_by=uow.actor)
        session.add(review)
        session.flush()
        uow.audit("review.imported", "review", review.id, project=project.slug, version=mv.version,
                  conclusion=doc.conclusion, summary=doc.summary, reviewer=person.name,
                  named_reviewer=doc.reviewer["name"], signer=person.fingerprint, review_signature=doc.signature,
                  manifest=review.manifest_digest, bundle_head=doc.bundle.get("audit_head"),
                  evidence_digest=doc.review["evidence_digest"], findings=len(doc.findings),
                  reviewed_at=doc.review["signed_at"])
        for finding in doc.findings:
            raise_finding(uow, project, mv, source="review", title=finding.title, severity=finding.severity,
                          concerns=finding.concerns, remediation=finding.remediation,
                          due_date=finding.due_date or None, review_id=review.id, raised_by=person.name)
        approval = doc.approval_fields
        request = session.scalars(select(ReviewRequest).where(
            ReviewRequest.model_version_id == mv.id, ReviewRequest.status == "open")).first()
        row = Approval(model_version_id=mv.id, requested_by=request.requested_by if request else mv.created_by,
                       approver=person.name, decision=approval["decision"], comment=approval["comment"],
                       request_id=request.id if request else None, statement=doc.approval["statement"],
                       signature=doc.approval["signature"], signer_fingerprint=person.fingerprint)
        if request is not None:
            request.status, request.decided_at = approval["decision"], utcnow()
        session.add(row)
        session.flush()
        uow.audit(f"model.{row.decision}", "approval", row.id, project=project.slug, version=mv.version,
                  approver=person.name, comment=row.comment, request=row.request_id, model_sha256=mv.artifact_sha256,
                  signer=person.fingerprint, signature=row.signature, review=review.id)
        return _imported(session, review, doc, person, already=False)


def _registered_signer(doc: ReviewDocument, keys: dict[str, PersonView]) -> PersonView:
    person = keys.get(doc.signer)
    named = doc.reviewer.get("name", "?")
    if person is None:
        raise WorkbenchError(
            f"{doc.path} is signed by key {short_fingerprint(doc.signer)} (it names the reviewer '{named}'), which is "
            "not registered in this workspace: an admin registers the validator's public key with `mlwb people add "
            f"NAME --public-key FILE --role validator`, compared out of band with the fingerprint. {NOTHING_RECORDED}")
    if not doc.signed_by(person.public_key):
        raise WorkbenchError(
            f"the signature of {doc.path} does not verify with the key registered to {person.name} "
            f"({person.short_fingerprint}): the file was changed after it was signed, or another key signed it. "
            + NOTHING_RECORDED)
    if not verify_statement(person.public_key, doc.approval["statement"], doc.approval["signature"]):
        raise WorkbenchError(f"the approval inside {doc.path} is not signed by {person.name}'s key "
                             f"({person.short_fingerprint}). {NOTHING_RECORDED}")
    return person


def _earlier_import(session: Any, doc: ReviewDocument) -> Review | None:
    return session.scalars(select(Review).where(Review.signature == doc.signature)).first()


def _check_version_and_head(wb: Workbench, session: Any, doc: ReviewDocument, person: PersonView,
                            keys: dict[str, PersonView]) -> None:
    project = find_project(session, doc.project)
    mv = model_version(session, project, doc.version)
    stated = doc.review["model_sha256"]
    if mv.artifact_sha256 != stated:
        raise WorkbenchError(
            f"{doc.path} reviews {doc.project} v{doc.version} with model file {stated[:16]}…, but this workspace's "
            f"v{doc.version} is model file {mv.artifact_sha256[:16]}…: it is a review of another version (or of "
            f"another workspace's project). {NOTHING_RECORDED}")
    head = doc.bundle.get("audit_head") or {}
    seq, head_hash = head.get("seq"), head.get("hash")
    event = session.get(AuditEvent, seq) if isinstance(seq, int) and seq > 0 else None
    if seq != doc.review["evidence_seq"] or event is None or event.hash != head_hash:
        raise WorkbenchError(
            f"the bundle that {doc.path} reviewed ends at audit event #{seq} {str(head_hash)[:16]}…, which is "
            "not an event of this workspace's audit chain: the bundle was not exported from this workspace. "
            + NOTHING_RECORDED)
    # The digest the decision was signed on must be this chain's through that event, as every
    # signed statement's is (verify-bundle checks it in the next export).
    verdict, digest = audit.verify_with_digest(event_rows(session, seq), wb.key, known=None,
                                               through=ChainHead(seq, head_hash))
    if not verdict.ok:
        raise WorkbenchError(f"this workspace's audit chain does not verify up to event #{seq}: "
                             f"{verdict.describe()}; run `mlwb audit verify`. {NOTHING_RECORDED}")
    if digest != doc.review["evidence_digest"]:
        raise WorkbenchError(
            f"{doc.path} was signed on evidence digest {doc.review['evidence_digest'][:16]}… at event #{seq}, but "
            f"this workspace's chain gives {digest[:16]}… there: the bundle's events were altered before the review. "
            + NOTHING_RECORDED)
    decision, comment = DECISIONS[doc.conclusion], doc.approval_fields.get("comment")
    verdict = judge_independence(
        decider=person.name, statement=doc.approval["statement"], signature=doc.approval["signature"],
        fingerprint=person.fingerprint, mv=mv, keys=keys, maturity=project.maturity,
        expect=approval_statement(project, mv, decision, str(comment)))
    if not verdict.counts:
        raise WorkbenchError(f"the review's decision cannot count as an independent review of {doc.project} "
                             f"v{doc.version}: {verdict.why} (four-eyes). {NOTHING_RECORDED}")


def evidence_changes(wb: Workbench, doc: ReviewDocument) -> tuple[list[str], tuple[int, str]]:
    """The tables of ``doc``'s version whose content differs now from the bundle it reviewed
    (changed, new or gone; the audit trail's own chapters left out), and the chain head the
    evidence was read at."""
    from app.services.reporting import collect_compliance_report
    from reports.render import build_document

    records = collect_compliance_report(wb, doc.project, version=doc.version)
    document = build_document("compliance", records)
    titles = {s.key: s.title for s in document.sections if s.key}
    trail = [title for key, title in titles.items() if key in AUDIT_TRAIL_CHAPTERS]
    now: Counter[tuple[str, str, str]] = Counter()
    for _, chapter, table in document_tables(document):
        if chapter not in AUDIT_TRAIL_CHAPTERS:
            now[(chapter, table.title, table_digest(table.columns, table.rows, trail_titles=trail))] += 1
    then: Counter[tuple[str, str, str]] = Counter(
        t for t in table_digests(doc) if t[0] not in AUDIT_TRAIL_CHAPTERS)
    only_then, only_now = then - now, now - then
    names_then = Counter((c, title) for c, title, _ in only_then.elements())
    names_now = Counter((c, title) for c, title, _ in only_now.elements())

    def named(key: tuple[str, str]) -> str:
        chapter, title = key
        return f"'{title}' ({titles.get(chapter, chapter)})" if chapter else f"'{title}'"

    changed = [f"{named(k)} changed" for k in (names_then & names_now)]
    changed += [f"{named(k)} is gone" for k in (names_then - names_now)]
    changed += [f"{named(k)} is new" for k in (names_now - names_then)]
    return changed, (records.audit_head_seq, records.audit_head_hash)


def _imported(session: Any, review: Review, doc: ReviewDocument, person: PersonView, *,
              already: bool) -> ImportedReview:
    ids = tuple(session.scalars(select(Finding.id).where(Finding.review_id == review.id).order_by(Finding.id)))
    return ImportedReview(review.id, doc.project, doc.version, review.conclusion, review.reviewer,
                          str(doc.reviewer.get("name", "")), review.signer_fingerprint, DECISIONS[review.conclusion],
                          ids, already)
