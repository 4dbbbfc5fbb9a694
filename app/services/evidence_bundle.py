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

Exporting is a read, like ``mlwb report``: it records no audit event. An event written after
the bundle would move the workspace's head past the one printed in the PDF and the manifest,
and a reviewer comparing them with ``mlwb audit verify`` would see a difference that is only
the export itself. The manifest says so (``exporting_is_audited: false``).

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

from app.bundle_verify import EVENTS, EVIDENCE_JSON, FORMAT, MANIFEST, README, REPORT_PDF, TABLES_DIR
from app.canonical import DIGEST_ALGORITHM, DIGEST_FIELD, EVENT_FIELDS, GENESIS, canonical_json, next_digest
from app.errors import WorkbenchError
from app.services.audit_trail import exported_events
from app.services.report_builder import ExportedReport, export_compliance_report
from app.services.workbench import Workbench
from reports.data import DocumentData, ReportStamp, TableData

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


def export_bundle(wb: Workbench, slug: str, out: str | os.PathLike[str]) -> ExportedBundle:
    """Write the evidence bundle of ``slug`` to the folder ``out``, or to a zip if it ends in .zip."""
    target, as_zip = _target(out)
    token = secrets.token_hex(4)
    staging = target.parent / f".{target.name}.{token}.partial"
    archive = target.parent / f".{target.name}.{token}.partial.zip"
    try:
        staging.mkdir()
        exported = _write_bundle(wb, slug, staging)
        if as_zip:
            _zip_folder(staging, archive)
            os.replace(archive, target)
        else:
            if target.is_dir():
                target.rmdir()  # checked empty in _target; a rename cannot replace a folder elsewhere
            os.replace(staging, target)
    except OSError as exc:
        raise WorkbenchError(f"could not write {target}: {exc.strerror or exc}; nothing was left behind") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
    return ExportedBundle(target, slug, exported.head_seq, exported.head_hash, exported.evidence_digest,
                          exported.files, exported.events)


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


def _write_report_pdf(wb: Workbench, slug: str, path: Path) -> ExportedReport:
    """The one place the bundle asks the report engine for its PDF; returns what it printed:
    the head, the evidence digest and the document. The report's collector verified the chain:
    a broken one stops the export here, since evidence from it would mislead a reviewer."""
    report = export_compliance_report(wb, slug, path)
    if report.chain is None or not report.chain.ok:
        found = report.chain.describe() if report.chain else "the audit chain was not verified"
        raise WorkbenchError(f"{found}. No bundle was written: evidence from a broken chain would mislead a "
                             "reviewer; run `mlwb audit verify` and restore the workspace from a backup")
    return report


def _exported_events(wb: Workbench, head_seq: int, head_hash: str) -> list[dict[str, Any]]:
    """Every event from 1 to the head, as the bundle stores them (``EVENT_FIELDS``). They were
    verified when the report was collected; the caller checks they give the digest it printed."""
    events = exported_events(wb, head_seq)
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


def _write_bundle(wb: Workbench, slug: str, root: Path) -> _Written:
    report = _write_report_pdf(wb, slug, root / REPORT_PDF)
    stamp, printed_digest = report.document.stamp, report.evidence_digest
    events = _exported_events(wb, report.head_seq, report.head_hash)

    digest, lines = GENESIS, []
    for event in events:
        digest = next_digest(digest, event)
        lines.append(canonical_json({**event, DIGEST_FIELD: digest}) + "\n")
    if digest != printed_digest:  # an event up to the head changed since it was verified
        raise WorkbenchError(f"the report printed evidence digest {printed_digest} but the exported events give "
                             f"{digest}: an event changed after it was verified; no bundle was written: run "
                             "`mlwb audit verify`")
    _write_text(root / EVENTS, "".join(lines))

    _write_text(root / EVIDENCE_JSON, json.dumps(_finite(_evidence(report.document)), indent=2, ensure_ascii=False,
                                                 allow_nan=False) + "\n")
    tables: dict[str, dict[str, str]] = {}
    for number, (where, chapter, table) in enumerate(_tables(report.document), start=1):
        name = f"{TABLES_DIR}/{number:02d}-{f'{chapter}-' if chapter else ''}{_slug(table.title)}.csv"
        _write_csv(root / name, table)
        tables[name] = {"title": table.title, "found_at": where}

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
            "count": len(events), "fields": [*EVENT_FIELDS, DIGEST_FIELD],
            "note": ("the whole chain up to the head (the chain is global, not per project); payload is the "
                     "stored canonical JSON text; hash = HMAC-SHA256(workspace key, prev_hash + canonical JSON "
                     "of seq..payload), checkable only in the workspace with `mlwb audit verify`; digest = the "
                     "evidence digest through this event"),
        },
        "evidence_digest": {"value": digest, "algorithm": DIGEST_ALGORITHM},
        "report": REPORT_PDF,
        "evidence": EVIDENCE_JSON,
        "tables": tables,
        "exporting_is_audited": False,
        "notes": ("Exporting is a read: no audit event records it, so the head above stays the workspace's "
                  "head until later work. Verify with `mlwb verify-bundle PATH` (no workspace needed)."),
        "files": files,
    }
    _write_text(root / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return _Written(stamp.audit_head_seq, stamp.audit_head_hash, digest, len(files), len(events))


def _evidence(document: DocumentData) -> dict[str, Any]:
    """Everything the report shows, as JSON: what it was built from (its stamp: project, audit
    head, evidence digest…) at the top, then the document as laid out, section by section."""
    data = asdict(document)
    return {**data.pop("stamp"), **data}


def _tables(value: Any, where: str = "", chapter: str = "") -> Iterator[tuple[str, str, TableData]]:
    """Every ``TableData`` in the document, in reading order, with the chapter it is in.

    Walking the document (rather than naming its fields) keeps the export complete when the
    report gains a table; a section's ``key`` names its chapter (its sub-sections have none).
    """
    if isinstance(value, TableData):
        yield where, chapter, value
    elif is_dataclass(value):
        chapter = getattr(value, "key", "") or chapter
        for f in fields(value):
            yield from _tables(getattr(value, f.name), f"{where}.{f.name}" if where else f.name, chapter)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tables(item, f"{where}[{i}]", chapter)


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


def _write_csv(path: Path, table: TableData) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # utf-8-sig: spreadsheet programs then read "χ²", "±" and "—" in the headers correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.columns)
        writer.writerows(table.rows)


def _zip_folder(root: Path, archive: Path) -> None:
    first = [MANIFEST, README]
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

{REPORT_PDF:<26} the compliance report
{EVIDENCE_JSON:<26} everything the report shows, as laid out
{TABLES_DIR + '/':<26} one CSV per table of the report
{EVENTS:<26} the audit chain from event 1 to the head the report was built from
{MANIFEST:<26} SHA-256 and size of every other file, the head, the evidence digest

Audit chain head (printed in the report): {stamp.audit_head_seq} {stamp.audit_head_hash}
Evidence digest of the exported events:   {digest}

To check the bundle on any machine (no workspace needed):  mlwb verify-bundle PATH
It checks the files against the manifest, the chain's links, the evidence digest and the head
printed in the PDF. It cannot check the events' HMAC hashes, whose key stays in the workspace:
there, `mlwb audit verify` must report the same event {stamp.audit_head_seq} with the same hash
(later events are later work). Exporting records no audit event.
"""
