"""Exporting a project's evidence bundle: the compliance PDF plus everything a reviewer needs to
check it offline (the format and the verifier live in ``app.bundle_verify``).

Consistency: the evidence, the PDF and the audit events all describe one audit head. The
compliance report's records are collected once (the collector starts again if another writer
moved the head meanwhile), and both the PDF and the evidence files (``evidence/``: the
document as laid out, and one CSV per table) are made from the document built from them. The
exported events are then read up to that head — the chain only grows, so events at or below it
cannot have changed, and they must give the evidence digest the PDF printed. The report's
collector verified the whole chain with the workspace's key, so a bundle is never made from a
broken chain.

Scope: a bundle holds its project and nothing else. Its events are written in full only for
the project (and for the person events that registered its signers' keys); every other event,
another project's or an unrelated workspace event, is a placeholder (``app.canonical``) that
keeps the chain's links and the evidence digest checkable and says nothing of what happened.
The report and its evidence are collected per project.

Signatures: the project's decisions (``signatures/signed-records.json``: every approval and
waiver, and the signed promotions, rollbacks and finding status changes) travel with their
statements and signatures, and the public keys that made them (``signatures/public-keys.json``),
so ``verify-bundle`` checks each one offline. Only records whose audit event is at or below the
printed head belong to the bundle; one made while it was written is left for the next export.

The exporter vouches for the bundle twice, with the key `mlwb people init` gave them (which
must be registered: exporting without one is refused):

- **The signed manifest.** ``manifest.signature.json`` holds an Ed25519 statement over the
  SHA-256 of manifest.json, the project, the head and the evidence digest. The manifest lists
  every other file's SHA-256, so a file changed, added or removed, or a manifest field edited,
  fails ``verify-bundle`` unless the forger holds a registered key the chain vouches for. With
  it, ``checkpoint.json``: the head and digest signed as a checkpoint (as `mlwb audit anchor`
  writes), which the PDF's audit appendix prints from the same record (signature and key), and
  which ``mlwb audit verify --checkpoint`` checks against the workspace later.
- **The export event.** The PDF, the events and the manifest all describe the head the records
  were collected at; the export is recorded *after* it, as one ``bundle.exported`` event (its own
  unit of work, with the rename into place as its last step: a failed rename rolls the event
  back, a failed commit removes the bundle placed). Its payload names the manifest's SHA-256, the
  signer's fingerprint and the head's seq, so the workspace's chain vouches for the
  manifest too (``mlwb audit log``), and the project's next bundle carries the event in full.
  The head the bundle was built at is then one event behind the workspace's: the manifest's
  notes say so.

Nothing half-written is left: the bundle is built in a hidden sibling folder and renamed into
place (zipped to a hidden sibling file first for a .zip), and removed if anything fails.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.bundle_verify import (
    CHECKPOINT, EVENTS, EVIDENCE_JSON, FORMAT, MANIFEST, MANIFEST_SIGNATURE, MANIFEST_SIGNATURE_FORMAT,
    MANIFEST_STATEMENT_FIELDS, PUBLIC_KEYS, README, REPORT_PDF, SIGNED_RECORDS, TABLES_DIR,
)
from app.canonical import (
    DIGEST_ALGORITHM, DIGEST_FIELD, EVENT_FIELDS, GENESIS, PLACEHOLDER_FIELDS, canonical_json, is_placeholder,
    next_digest,
)
from app.errors import WorkbenchError
from app.services.audit_trail import exported_events
from app.services.identity import person_by_fingerprint, public_keys
from app.services.report_builder import ExportedReport, export_compliance_report
from app.services.workbench import Workbench, find_project
from app.signing import SigningKey
from reports.data import DocumentData, ReportStamp, TableData
from storage.models import Approval, AuditEvent, Finding, FindingEvent, ModelVersion, Transition, Waiver

DISTRIBUTION = "ml-lifecycle-workbench"


@dataclass(frozen=True)
class ExportedBundle:
    path: Path
    project: str
    head_seq: int
    head_hash: str
    evidence_digest: str
    files: int  # listed in the manifest (every file but manifest.json)
    events: int
    placeholders: int  # of ``events``: other projects' and unrelated workspace events, content hashed
    signed: int  # signed records in the bundle
    signers: int  # public keys in the bundle
    manifest_sha256: str = ""  # what the exporter signed, and the export event records
    signer_fingerprint: str = ""  # the exporter's key
    event_seq: int = 0  # the ``bundle.exported`` event


EVENT = "bundle.exported"


def export_bundle(wb: Workbench, slug: str, out: str | os.PathLike[str]) -> ExportedBundle:
    """Write the evidence bundle of ``slug`` to the folder ``out``, or to a zip if it ends in .zip,
    signed with my key, and record the export in the audit chain (see the module's docstring)."""
    target, as_zip = _target(out)
    key = _exporter_key(wb)
    token = secrets.token_hex(4)
    staging = target.parent / f".{target.name}.{token}.partial"
    archive = target.parent / f".{target.name}.{token}.partial.zip"
    placed = False
    try:
        staging.mkdir()
        exported = _write_bundle(wb, slug, staging, key)
        if as_zip:
            _zip_folder(staging, archive)
        with wb.unit_of_work() as uow:  # the event, with the rename into place as its last step
            # The head's hash and the evidence digest through it are the chain's own at head_seq: the
            # payload names the seq, so `mlwb audit log` shows the manifest's digest in its summary.
            uow.audit(EVENT, "bundle", exported.manifest_sha256, project=slug, head_seq=exported.head_seq,
                      manifest_sha256=exported.manifest_sha256, signer=key.fingerprint, written_to=target.name)
            if as_zip:
                os.replace(archive, target)
            else:
                if target.is_dir():
                    target.rmdir()  # checked empty in _target; a rename cannot replace a folder elsewhere
                os.replace(staging, target)
            placed = True
    except BaseException as exc:
        if placed and target.is_dir():  # the event's commit failed: the bundle it would record goes too
            shutil.rmtree(target, ignore_errors=True)
        elif placed:
            target.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WorkbenchError(f"could not write {target}: {exc.strerror or exc}; nothing was left behind") from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
    from app.services.audit_trail import head

    last, _ = head(wb)
    return ExportedBundle(target, slug, exported.head_seq, exported.head_hash, exported.evidence_digest,
                          exported.files, exported.events, exported.placeholders, exported.signed, exported.signers,
                          exported.manifest_sha256, key.fingerprint, last.seq if last else 0)


def _exporter_key(wb: Workbench) -> SigningKey:
    """My signing key, registered here: the manifest and the checkpoint are signed with it, and
    ``verify-bundle`` accepts only a key a person event of the bundle's chain registered."""
    key = wb.signing_key()
    if key is None:
        raise WorkbenchError("an evidence bundle is signed by its exporter, and you have no signing key: create "
                             "one with `mlwb people init` (and have an admin register it), then export again")
    with wb.read() as session:
        registered = person_by_fingerprint(session, key.fingerprint) is not None
    if not registered:
        raise WorkbenchError(f"your signing key {key.fingerprint[:16]}… is not registered in this workspace, so a "
                             "bundle signed with it would not verify: an admin registers it with `mlwb people add "
                             "NAME --public-key FILE` (the line `mlwb people init` printed), then export again")
    return key


def _target(out: str | os.PathLike[str]) -> tuple[Path, bool]:
    target = Path(out).expanduser().absolute()
    as_zip = target.suffix.lower() == ".zip"
    if not target.parent.is_dir():
        raise WorkbenchError(f"folder {target.parent} does not exist: create it or choose another --out")
    if target.is_dir():
        if as_zip:
            raise WorkbenchError(f"{target} is a folder: give the .zip bundle a new file name")
        if any(target.iterdir()):
            raise WorkbenchError(f"{target} exists and is not empty: choose a new folder (or empty this one) "
                                 "so no other file ends up in the bundle")
    elif target.exists():
        if not as_zip:
            raise WorkbenchError(f"{target} is a file: name a new folder, or a path ending in .zip")
        if target.stat().st_size:
            raise WorkbenchError(f"{target} exists and is not empty: choose a new name or delete the old file")
    return target, as_zip


# --- building the folder -------------------------------------------------------------------


def _write_report_pdf(wb: Workbench, slug: str, path: Path, key: SigningKey) -> ExportedReport:
    """The one place the bundle asks the report engine for its PDF; returns what it printed:
    the head, the evidence digest, the document and the checkpoint signed with ``key``. The
    report's collector verified the chain: a broken one stops the export here, since evidence
    from it would mislead a reviewer."""
    report = export_compliance_report(wb, slug, path, checkpoint_key=key)
    if report.chain is None or not report.chain.ok or report.checkpoint is None:
        found = report.chain.describe() if report.chain else "the audit chain was not verified"
        raise WorkbenchError(f"{found}. No bundle was written: evidence from a broken chain would mislead a "
                             "reviewer; run `mlwb audit verify` and restore the workspace from a backup")
    return report


def _exported_events(wb: Workbench, slug: str, head_seq: int, head_hash: str,
                     signers: set[str]) -> list[dict[str, Any]]:
    """Every event from 1 to the head, as the bundle stores them: the project's own (and the
    person events of its signers) in full, every other one as a placeholder. They were verified
    when the report was collected; the caller checks they give the digest it printed."""
    events = exported_events(wb, head_seq, project=slug, people=signers)
    last = (events[-1]["seq"], events[-1]["hash"]) if events else (0, GENESIS)
    if last != (head_seq, head_hash):
        raise WorkbenchError(f"the audit chain no longer ends at event {head_seq} as it did when the report was "
                             "built: run `mlwb audit verify`, then export again")
    return events


@dataclass(frozen=True)
class _Written:
    head_seq: int
    head_hash: str
    evidence_digest: str
    files: int
    events: int
    placeholders: int
    signed: int
    signers: int
    manifest_sha256: str


def _write_bundle(wb: Workbench, slug: str, root: Path, key: SigningKey) -> _Written:
    report = _write_report_pdf(wb, slug, root / REPORT_PDF, key)
    stamp, printed_digest = report.document.stamp, report.evidence_digest
    records = _signed_records(wb, slug)
    events = _exported_events(wb, slug, report.head_seq, report.head_hash,
                              {r["signer_fingerprint"] for r in records if r["signer_fingerprint"]} | {key.fingerprint})
    records = _recorded_by(records, events)
    keys = _signers(wb, records, key)

    digest, lines = GENESIS, []
    for event in events:
        digest = next_digest(digest, event)
        lines.append(canonical_json({**event, DIGEST_FIELD: digest}) + "\n")
    if digest != printed_digest:  # an event up to the head changed since it was verified
        raise WorkbenchError(f"the report printed evidence digest {printed_digest} but the exported events give "
                             f"{digest}: an event changed after it was verified; no bundle was written: run "
                             "`mlwb audit verify`")
    _write_text(root / EVENTS, "".join(lines))
    placeholders = sum(1 for e in events if is_placeholder(e))

    _write_text(root / EVIDENCE_JSON, json.dumps(_finite(_evidence(report.document)), indent=2, ensure_ascii=False,
                                                 allow_nan=False) + "\n")
    tables: dict[str, dict[str, str]] = {}
    for number, (where, chapter, table) in enumerate(document_tables(report.document), start=1):
        name = f"{TABLES_DIR}/{number:02d}-{f'{chapter}-' if chapter else ''}{_slug(table.title)}.csv"
        _write_csv(root / name, table)
        tables[name] = {"title": table.title, "found_at": where}

    _write_json(root / PUBLIC_KEYS, {
        "note": ("the public keys of the people who signed this project's records and of its exporter, who "
                 "signed the manifest and the checkpoint: compare each fingerprint "
                 "with the one its owner gave you out of band; fingerprint = SHA-256 of the raw 32-byte "
                 "Ed25519 public key"),
        "keys": keys,
    })
    _write_json(root / SIGNED_RECORDS, {
        "note": ("this project's approvals and waivers, and its signed promotions, rollbacks and finding status "
                 "changes, each with the statement its signer signed (canonical JSON), the Ed25519 signature "
                 "(hex) and the signer's fingerprint; statement, signature and signer_fingerprint are null for a "
                 "decision recorded without a key"),
        "records": records,
    })

    _write_json(root / CHECKPOINT, report.checkpoint)
    _write_text(root / README, _readme(stamp, digest))
    files = {
        path.relative_to(root).as_posix(): {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                            "size": path.stat().st_size}
        for path in sorted(root.rglob("*")) if path.is_file()
    }
    manifest = {
        "format": FORMAT,
        "project": stamp.project_slug,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "created_by": wb.actor,
        "tool": {"name": "mlwb", "distribution": DISTRIBUTION, "version": _tool_version()},
        "audit_head": {
            "seq": stamp.audit_head_seq, "hash": stamp.audit_head_hash,
            "note": f"the head {REPORT_PDF} was built from and prints; the last event of {EVENTS}",
        },
        "audit_events": {
            "file": EVENTS, "first_seq": events[0]["seq"] if events else None, "last_seq": stamp.audit_head_seq,
            "count": len(events), "in_full": len(events) - placeholders, "placeholders": placeholders,
            "fields": [*EVENT_FIELDS, DIGEST_FIELD], "placeholder_fields": [*PLACEHOLDER_FIELDS, DIGEST_FIELD],
            "note": ("the whole chain up to the head (the chain is global, not per project): this project's events "
                     "and its signers' person events in full, every other event as a placeholder (seq, prev_hash, "
                     "hash, content = SHA-256 of its canonical body) that keeps the links and the digest checkable "
                     "and shows nothing of the event; payload is the stored canonical JSON text; hash = "
                     "HMAC-SHA256(workspace key, prev_hash + canonical JSON of seq..payload), checkable only in the "
                     "workspace with `mlwb audit verify`; digest = the evidence digest through this event"),
        },
        "signatures": {
            "public_keys": PUBLIC_KEYS, "signed_records": SIGNED_RECORDS, "signers": len(keys),
            "records": len(records), "signed": sum(1 for r in records if r["signature"]),
        },
        "evidence_digest": {"value": digest, "algorithm": DIGEST_ALGORITHM},
        "report": REPORT_PDF,
        "evidence": EVIDENCE_JSON,
        "tables": tables,
        "checkpoint": CHECKPOINT,
        "signed_by": {"name": next((k["name"] for k in keys if k["fingerprint"] == key.fingerprint), None),
                      "fingerprint": key.fingerprint, "signature": MANIFEST_SIGNATURE},
        "exporting_is_audited": True,
        "notes": (f"{MANIFEST_SIGNATURE} is the exporter's Ed25519 signature over this file's SHA-256. The export "
                  f"itself is recorded after the head above, as a '{EVENT}' event naming this file's SHA-256, so "
                  "the workspace's head is then one event later. Verify with `mlwb verify-bundle PATH` (no "
                  "workspace needed)."),
        "files": files,
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    _write_text(root / MANIFEST, text)
    manifest_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    signed = key.sign({"kind": "bundle_manifest", "project": stamp.project_slug, "manifest_sha256": manifest_sha256,
                       "evidence_seq": stamp.audit_head_seq, "evidence_digest": digest,
                       "signed_at": datetime.now(UTC).isoformat(timespec="seconds")},
                      required=MANIFEST_STATEMENT_FIELDS)
    _write_json(root / MANIFEST_SIGNATURE, {
        "format": MANIFEST_SIGNATURE_FORMAT,
        "note": (f"the exporter's Ed25519 signature (hex) over the statement (canonical JSON), which names the "
                 f"SHA-256 of {MANIFEST}; the key is in {PUBLIC_KEYS}, registered by a person event of "
                 f"{EVENTS}"),
        "statement": signed.text, "signature": signed.signature, "signer_fingerprint": signed.fingerprint,
    })
    return _Written(stamp.audit_head_seq, stamp.audit_head_hash, digest, len(files), len(events), placeholders,
                    sum(1 for r in records if r["signature"]), len(keys), manifest_sha256)


def _signed_records(wb: Workbench, slug: str) -> list[dict[str, Any]]:
    """The project's decisions as ``app.bundle_verify`` checks them: every approval and waiver
    (signed or not: an unsigned one is reported as such), and every signed transition (a
    promotion, a rollback), finding status change and model card confirmation, each with its
    statement and signature."""
    out: list[dict[str, Any]] = []
    with wb.read() as session:
        project = find_project(session, slug)

        def common(kind: str, row: Any, mv: ModelVersion, by: str) -> dict[str, Any]:
            return {"record": kind, "id": row.id, "project": slug, "version": mv.version,
                    "model_sha256": mv.artifact_sha256, "by": by, "at": row.created_at.isoformat()}

        def signed(row: Any) -> dict[str, Any]:
            return {"signer_fingerprint": row.signer_fingerprint, "statement": row.statement,
                    "signature": row.signature}

        of_project = ModelVersion.project_id == project.id
        for a, mv in session.execute(select(Approval, ModelVersion).join(ModelVersion).where(of_project)
                                     .order_by(Approval.id)):
            out.append({**common("approval", a, mv, a.approver), "decision": a.decision, "comment": a.comment,
                        **signed(a)})
        for w, mv in session.execute(select(Waiver, ModelVersion).join(ModelVersion).where(of_project)
                                     .order_by(Waiver.id)):
            out.append({**common("waiver", w, mv, w.granted_by), "check": w.check_id, "reason": w.reason,
                        **signed(w)})
        for t, mv in session.execute(select(Transition, ModelVersion).join(ModelVersion)
                                     .where(of_project, Transition.signature.is_not(None)).order_by(Transition.id)):
            out.append({**common("transition", t, mv, t.actor), "from_stage": t.from_stage, "to_stage": t.to_stage,
                        "reason": t.reason, **signed(t)})
        for e, f, mv in session.execute(
                select(FindingEvent, Finding, ModelVersion).join(Finding, FindingEvent.finding_id == Finding.id)
                .join(ModelVersion, Finding.model_version_id == ModelVersion.id)
                .where(Finding.project_id == project.id, FindingEvent.signature.is_not(None))
                .order_by(FindingEvent.id)):
            out.append({**common("finding_event", e, mv, e.actor), "finding": f.id, "title": f.title,
                        "from_status": e.from_status, "to_status": e.to_status, "reason": e.reason, **signed(e)})
        # A model card's drafted sections confirmed by a person: the signature lives in the audit
        # event (``registry.confirm_model_card``), which carries the statement signed.
        keys = public_keys(session)
        versions = {mv.version: mv for mv in session.scalars(select(ModelVersion).where(of_project))}
        for event in session.scalars(select(AuditEvent).where(AuditEvent.project_slug == slug,
                                                              AuditEvent.action == "model_card.confirmed")
                                     .order_by(AuditEvent.seq)):
            payload = json.loads(event.payload)
            mv = versions.get(payload.get("version"))
            if mv is None:
                continue
            signer = keys.get(payload.get("signer") or "")
            out.append({"record": "card_confirmation", "id": int(event.entity_id), "project": slug,
                        "version": mv.version, "model_sha256": mv.artifact_sha256,
                        "by": signer.name if signer else event.actor, "at": event.ts,
                        "sections": payload.get("sections"), "signer_fingerprint": payload.get("signer"),
                        "statement": payload.get("statement"), "signature": payload.get("signature")})
    return out


_RECORD_ENTITY = {"approval": "approval", "waiver": "waiver"}


def _recorded_by(records: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records whose audit event is among ``events`` (up to the head the report printed):
    one made after the report was collected is not part of this bundle's evidence. A signed
    record is found by its signature in its event's payload; an unsigned approval or waiver by
    its entity."""
    signatures, entities = set(), set()
    for event in events:
        if is_placeholder(event):
            continue
        entities.add((event["entity_type"], event["entity_id"]))
        payload = json.loads(event["payload"])
        if isinstance(payload, dict) and payload.get("signature"):
            signatures.add(payload["signature"])
    return [r for r in records if (r["signature"] in signatures if r["signature"]
                                   else (_RECORD_ENTITY.get(r["record"]), str(r["id"])) in entities)]


def _signers(wb: Workbench, records: list[dict[str, Any]], exporter: SigningKey) -> list[dict[str, str]]:
    """The registered public keys that signed ``records`` or the bundle (name, role, fingerprint, key)."""
    wanted = {r["signer_fingerprint"] for r in records if r["signer_fingerprint"]} | {exporter.fingerprint}
    with wb.read() as session:
        keys = public_keys(session)
    return [{"name": p.name, "role": p.role, "fingerprint": p.fingerprint, "public_key": p.public_key}
            for fp, p in sorted(keys.items(), key=lambda item: item[1].name) if fp in wanted]


def _evidence(document: DocumentData) -> dict[str, Any]:
    """Everything the report shows, as JSON: what it was built from (its stamp: project, audit
    head, evidence digest…) at the top, then the document as laid out, section by section."""
    data = asdict(document)
    return {**data.pop("stamp"), **data}


def document_tables(value: Any, where: str = "", chapter: str = "") -> Iterator[tuple[str, str, TableData]]:
    """Every ``TableData`` in the document, in reading order, with where it is and its chapter:
    the tables a bundle exports, and the ones a review import compares with them.

    Walking the document (rather than naming its fields) keeps the export complete when the
    report gains a table; a section's ``key`` names its chapter (its sub-sections have none).
    """
    if isinstance(value, TableData):
        yield where, chapter, value
    elif is_dataclass(value):
        chapter = getattr(value, "key", "") or chapter
        for f in fields(value):
            yield from document_tables(getattr(value, f.name), f"{where}.{f.name}" if where else f.name, chapter)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from document_tables(item, f"{where}[{i}]", chapter)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].rstrip("-") or "table"


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings rather than emit invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _write_json(path: Path, value: Any) -> None:
    _write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _write_csv(path: Path, table: TableData) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # utf-8-sig: spreadsheet programs then read "χ²", "±" and "—" in the headers correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.columns)
        writer.writerows(table.rows)


def _zip_folder(root: Path, archive: Path) -> None:
    first = [MANIFEST, MANIFEST_SIGNATURE, README]
    rest = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in first + [n for n in rest if n not in first]:
            zf.write(root / name, name)


def _tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def _readme(stamp: ReportStamp, digest: str) -> str:
    return f"""Evidence bundle of project {stamp.project_slug} ({stamp.project_name})
Written by the ML Lifecycle Workbench (`mlwb export`).

{REPORT_PDF:<32} the compliance report
{EVIDENCE_JSON:<32} everything the report shows, as laid out
{TABLES_DIR + '/':<32} one CSV per table of the report
{EVENTS:<32} the audit chain from event 1 to the head the report was built from:
{'':<32} this project's events in full, every other event as a placeholder
{'':<32} (its links and the SHA-256 of its content, nothing else)
{PUBLIC_KEYS:<32} the public keys of the people who signed this project's decisions
{SIGNED_RECORDS:<32} each decision with the statement its signer signed and the signature
{CHECKPOINT:<32} the head and evidence digest signed by the exporter (`mlwb audit anchor`'s form)
{MANIFEST:<32} SHA-256 and size of every other file, the head, the evidence digest
{MANIFEST_SIGNATURE:<32} the exporter's signature over the manifest's SHA-256

Audit chain head (printed in the report): {stamp.audit_head_seq} {stamp.audit_head_hash}
Evidence digest of the exported events:   {digest}

To check the bundle on any machine (no workspace needed):  mlwb verify-bundle PATH
It checks the manifest's signature (by a key a person event of the chain registered), the
files against the manifest, the chain's links (through the placeholders), the evidence digest,
the head printed in the PDF, every signature against the bundle's public keys, and the
checkpoint; it prints each signer's full fingerprint: compare it with the one its owner gave you.
It cannot check the events' HMAC hashes, whose key stays in the workspace: there,
`mlwb audit verify --checkpoint {CHECKPOINT}` (with this bundle's file) must prove the chain still
holds event {stamp.audit_head_seq} with the same hash and digest. The export itself is recorded
after it, as a '{EVENT}' event naming the manifest's SHA-256.
"""
