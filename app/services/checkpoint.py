"""A signed checkpoint of the audit chain, kept outside the workspace.

The chain and its head anchor live beside each other, so someone who can write the workspace
can truncate the chain and lower the anchor, or restore the whole folder from an older copy,
and the workspace alone cannot tell. A checkpoint (``mlwb audit anchor``) is the head's
sequence, hash and evidence digest at a moment, signed with a person's key and kept elsewhere
(a reviewer's mailbox, a ticket, the team's repository); ``mlwb audit verify --checkpoint``
then proves the chain still holds that head with that content, so any truncation or rollback
behind it is caught.

An evidence bundle carries one too (``checkpoint.json``, from ``sign_checkpoint``): the head
and digest the bundle and its PDF were built from, signed by the exporter, so a reviewer can
later run ``mlwb audit verify --checkpoint`` against the workspace with the file the bundle gave.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import audit
from app.audit import ChainHead
from app.errors import WorkbenchError
from app.services.audit_trail import event_rows
from app.services.identity import person_by_fingerprint
from app.services.workbench import Workbench
from app.signing import CHECKPOINT_FIELDS, CHECKPOINT_FORMAT, SigningKey, fingerprint, verify_statement

FORMAT = CHECKPOINT_FORMAT
FIELDS = CHECKPOINT_FIELDS


def make_checkpoint(wb: Workbench, signer: SigningKey | None = None) -> dict[str, Any]:
    """The chain's head and evidence digest now, signed with my key (or ``signer``)."""
    key = signer or wb.signing_key()
    if key is None:
        raise WorkbenchError("a checkpoint is signed: create your key first with `mlwb people init`")
    with wb.read() as session:
        verdict, digest = audit.verify_with_digest(event_rows(session), wb.key, known=wb.anchor.read())
        person = person_by_fingerprint(session, key.fingerprint)
    if not verdict.ok or verdict.head is None:
        raise WorkbenchError(f"no checkpoint of a chain that does not verify: {verdict.describe()}"
                             if not verdict.ok else "the audit chain is empty: there is nothing to checkpoint")
    return sign_checkpoint(wb, key, verdict.head.seq, verdict.head.hash, digest,
                           signed_by=person.name if person else None)


def sign_checkpoint(wb: Workbench, key: SigningKey, seq: int, head: str, evidence_digest: str, *,
                    signed_by: str | None) -> dict[str, Any]:
    """The checkpoint document of a head the caller verified (with its evidence digest), signed
    with ``key``: what `mlwb audit anchor` writes, and what a bundle carries as checkpoint.json."""
    signed = key.sign({"kind": "checkpoint", "workspace": wb.workspace.identity, "seq": seq, "head": head,
                       "evidence_digest": evidence_digest,
                       "made_at": datetime.now(UTC).isoformat(timespec="seconds")}, required=FIELDS)
    return {"format": FORMAT, "statement": json.loads(signed.text), "signature": signed.signature,
            "public_key": key.public_hex, "signed_by": signed_by}


@dataclass(frozen=True)
class CheckpointVerdict:
    ok: bool
    lines: tuple[str, ...]


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WorkbenchError(f"cannot read the checkpoint {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise WorkbenchError(f"{path} is not a checkpoint (not JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(
            document.get("statement"), dict):
        raise WorkbenchError(f"{path} is not a checkpoint written by `mlwb audit anchor` ({FORMAT})")
    return document


def check_checkpoint(wb: Workbench, path: Path) -> CheckpointVerdict:
    """Is the checkpoint's head still in this chain, with the same content up to it?"""
    from app.canonical import canonical_json

    document = _read(path)
    statement, public_hex = document["statement"], str(document.get("public_key", ""))
    try:
        signed_ok = verify_statement(public_hex, canonical_json(statement), str(document.get("signature", "")))
        fp = fingerprint(public_hex)
    except ValueError:
        signed_ok, fp = False, ""
    if not signed_ok or any(field not in statement for field in FIELDS):
        return CheckpointVerdict(False, (f"checkpoint {path.name}: its signature does not verify (edited or forged)",))
    with wb.read() as session:
        person = person_by_fingerprint(session, fp)
        seq, head = int(statement["seq"]), str(statement["head"])
        verdict, digest = audit.verify_with_digest(event_rows(session, seq), wb.key, known=None,
                                                   through=ChainHead(seq, head))
    who = f"{person.name} ({person.role})" if person else "a key not registered here"
    lines = [f"checkpoint of event {seq} made {statement['made_at']}, signed by {who}, key {fp}"]
    if statement["workspace"] != wb.workspace.identity:
        return CheckpointVerdict(False, (*lines, "FAILED  it was made for another workspace's registry"))
    if not verdict.ok:
        return CheckpointVerdict(False, (*lines, f"FAILED  the chain no longer holds that head: {verdict.reason} "
                                                 f"(event {verdict.first_bad_seq}); truncated, rolled back or rewritten"))
    if digest != statement["evidence_digest"]:
        return CheckpointVerdict(False, (*lines, "FAILED  the events up to it changed since (evidence digest differs)"))
    return CheckpointVerdict(True, (*lines, f"ok      the chain still holds event {seq} with hash {head} and the "
                                            "same evidence digest: nothing behind it was truncated or rolled back"))
