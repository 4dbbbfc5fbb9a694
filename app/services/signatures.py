"""Signing a decision about a model version, and judging whether a signed decision counts.

A decision (approval, rejection, waiver, promotion, a finding's status) is signed over a
statement that names the project, the version, the model file's SHA-256, the evidence digest of
the audit chain at that moment, the decision and the comment. The statement, its signature and
the signer's fingerprint are stored with the record and in its audit event.

Four-eyes compares keys: a decision counts for someone else's model only when its signature
verifies with a registered key that is not the author's and whose role may decide. An unsigned
decision (made with no key) is kept as what it is; only the startup profile accepts one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app import audit
from app.errors import WorkbenchError
from app.services.audit_trail import event_rows
from app.services.identity import PersonView, person_by_fingerprint, person_view
from app.services.workbench import UnitOfWork
from app.signing import SignedStatement, SigningKey, short_fingerprint, verify_statement
from storage.models import ModelVersion, Project

#: Roles whose signature can approve, reject or waive for someone else (four-eyes).
DECIDING_ROLES = frozenset({"validator", "approver", "admin"})
#: Profiles on which an unsigned decision cannot satisfy four-eyes.
SIGNATURE_REQUIRED = frozenset({"growth", "enterprise"})


@dataclass(frozen=True)
class Decider:
    """Who decides, as recorded: the name, and the signature when a key signed it."""

    name: str
    signed: SignedStatement | None
    person: PersonView | None

    @property
    def columns(self) -> dict[str, str | None]:
        """The signature columns of the record (``statement``, ``signature``, ``signer_fingerprint``)."""
        s = self.signed
        return {"statement": s.text if s else None, "signature": s.signature if s else None,
                "signer_fingerprint": s.fingerprint if s else None}

    def signed_with_authors_key(self, mv: ModelVersion) -> bool:
        return self.signed is not None and self.signed.fingerprint == mv.author_fingerprint

    def is_author_of(self, mv: ModelVersion) -> bool:
        """Four-eyes at the moment of deciding: the author's key, or the author's name."""
        return self.signed_with_authors_key(mv) or self.name == mv.created_by

    @property
    def audit_fields(self) -> dict[str, Any]:
        s = self.signed
        return {"signer": s.fingerprint, "signature": s.signature} if s else {"signer": None, "signed": False}


def evidence_digest(uow: UnitOfWork) -> tuple[str, int]:
    """The evidence digest and the head ``seq`` of the chain as it stands: what the signer saw.
    A broken chain is refused, since a signature over it would vouch for tampered evidence."""
    wb = uow.workbench
    verdict, digest = audit.verify_with_digest(event_rows(uow.session), wb.key, known=wb.anchor.read())
    if not verdict.ok:
        raise WorkbenchError(f"cannot sign: {verdict.describe()}. Run `mlwb audit verify` and restore the registry "
                             "from a backup before deciding anything")
    return digest, verdict.head.seq if verdict.head else 0


def sign_decision(uow: UnitOfWork, signer: SigningKey | None, *, kind: str, project: Project, mv: ModelVersion,
                  decision: str, comment: str, **extra: Any) -> Decider:
    """Sign ``decision`` about ``mv`` with ``signer`` (default: my key). With no key at all the
    decision is recorded unsigned under my login name; a key nobody registered is refused."""
    key = signer or uow.workbench.signing_key()
    if key is None:
        return Decider(uow.actor, None, None)
    person = person_by_fingerprint(uow.session, key.fingerprint)
    if person is None:
        raise WorkbenchError(
            f"the signing key {short_fingerprint(key.fingerprint)} ({key.store}) is not registered in this "
            "workspace, so it cannot sign: ask an admin to run `mlwb people add NAME --public-key FILE --role ROLE`")
    digest, seq = evidence_digest(uow)
    signed = key.sign({
        "kind": kind, "project": project.slug, "version": mv.version, "model_sha256": mv.artifact_sha256,
        "evidence_digest": digest, "evidence_seq": seq, "decision": decision, "comment": comment,
        "signed_at": datetime.now(UTC).isoformat(timespec="seconds"), **extra,
    })
    return Decider(person.name, signed, person_view(person))


@dataclass(frozen=True)
class Independence:
    """Whether one decision counts as someone else's, and why (printed by the gate)."""

    counts: bool
    why: str


def judge_independence(*, decider: str, statement: str | None, signature: str | None, fingerprint: str | None,
                       mv: ModelVersion, keys: dict[str, PersonView], maturity: str,
                       expect: dict[str, Any]) -> Independence:
    """Does a recorded decision satisfy four-eyes for ``mv``? Signed: the signature verifies with
    a registered key, the statement says what the record says, the key is not the author's, and
    its role may decide. Unsigned: only on startup, and only by another name."""
    if not signature:
        if maturity in SIGNATURE_REQUIRED:
            return Independence(False, f"{decider}'s decision is unsigned; the {maturity} profile needs a signature "
                                       "by a registered key")
        if decider == mv.created_by:
            return Independence(False, f"{decider} registered the version")
        return Independence(True, f"{decider} (unsigned)")
    person = keys.get(fingerprint or "")
    if person is None:
        return Independence(False, f"signed by an unregistered key {short_fingerprint(fingerprint or '')}")
    if not verify_statement(person.public_key, statement or "", signature):
        return Independence(False, f"{person.name}'s signature does not verify (the record was altered)")
    fields = SignedStatement(statement or "", signature, person.fingerprint).fields
    wrong = sorted(k for k, v in expect.items() if fields.get(k) != v)
    if wrong:
        return Independence(False, f"{person.name}'s signed statement differs from the record in {', '.join(wrong)}")
    if mv.author_fingerprint and person.fingerprint == mv.author_fingerprint:
        return Independence(False, f"signed with the author's own key ({person.short_fingerprint})")
    if person.name == mv.created_by:
        return Independence(False, f"{person.name} registered the version")
    if person.role not in DECIDING_ROLES:
        return Independence(False, f"{person.name} is registered as {person.role}, a role that cannot approve")
    return Independence(True, f"{person.name}, key {person.short_fingerprint}")
