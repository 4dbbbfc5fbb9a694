"""Building a report in a worker process, and the list of reports built.

Collect first, render second: the frozen data is collected here, in the parent, through the
same services the screens use (it carries the audit-chain head it describes); the PDF is laid
out in a worker process (``reports.tasks:render_task``, so the screen keeps answering keys)
into a private folder next to the target and renamed into place only once it is whole. For the
documents that print the audit trail (``CHAIN_DOCUMENTS``) the worker also verifies the chain
through the collected head and computes its evidence digest, over the events this process
read up to that head as plain rows (``audit_trail.chain_check``): on a long trail that walk is
seconds of pure Python, which would otherwise run in the TUI's process, and the worker never
opens the registry.

What a build changes in the records:

- A normal build records ONE ``report.built`` event naming the document, its scope, the file,
  its SHA-256, its pages and the audit head printed in it, and nothing else: the worker runs
  without a job row, whose audited states would be records too. The head printed in the PDF
  is the head *before* the build (the records the report describes); the event repeats it, so
  a reviewer finds the report in the trail and sees exactly which state it showed.
- A ``deterministic`` build is a reproduction for comparison: it changes nothing at all, so two
  of them from the same records are byte-identical. Its PDF says "deterministic build" where
  the build time would be (the collectors' ``deterministic``).

Progress reaches ``on_progress`` with the key ``NO_JOB``; ``cancel`` stops a build. A failed or
cancelled build leaves no file (the private folder is removed) and no event.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.errors import JobCancelled, WorkbenchError
from app.services import audit_trail, state_binding
from app.services.reporting import COLLECTORS
from app.services.workbench import Workbench, find_project
from storage.models import AuditEvent, ModelVersion, MonitoringBatch

if TYPE_CHECKING:
    from app.audit import ChainVerdict
    from app.jobs import JobRunner, ProgressCallback
    from app.signing import SigningKey
    from reports.data import DocumentData

RENDER_TASK = "reports.tasks:render_task"
EVENT = "report.built"
NO_JOB = 0  # the key a build's progress carries: a report build has no job row


@dataclass(frozen=True)
class BuiltReport:
    """One written report. ``file_state`` is filled by `recent_reports`: "ok" (the file is there
    with its recorded SHA-256), "changed" (there, different bytes) or "missing"."""

    kind: str
    path: Path
    sha256: str
    pages: int
    head_seq: int
    head_hash: str
    built_at: datetime
    deterministic: bool
    project: str = ""
    scope: dict[str, Any] = field(default_factory=dict)
    built_by: str = ""
    event_seq: int | None = None
    file_state: str = "ok"

    @property
    def title(self) -> str:
        return document_titles().get(self.kind, self.kind)

    @property
    def scope_text(self) -> str:
        return describe_scope(self.scope)


def document_titles() -> dict[str, str]:
    """kind → title of every document the renderer knows (``reports.render.DOCUMENTS``)."""
    from reports.render import DOCUMENTS

    return dict(DOCUMENTS)


def describe_scope(scope: dict[str, Any]) -> str:
    if scope.get("version") is not None:
        return f"v{scope['version']}"
    batches = scope.get("batches") or ()
    if len(batches) == 1:
        return f"batch {batches[0]}"
    if len(batches) == 2:
        return f"batches {batches[0]} to {batches[1]}"
    return "whole project"


# --- collectors ---------------------------------------------------------------------------------
#
# The ONE place a document kind is mapped to the service that collects it is
# ``app.services.reporting.COLLECTORS`` (kind -> callable(wb, slug, *, deterministic, <scope>)):
# a new document is a new entry there (and in ``reports.render.DOCUMENTS``). The scope a document
# takes is read from its collector's keyword parameters, so it cannot disagree with it.

SCOPE_KEYWORDS = ("version", "batches")


def _scopes() -> dict[str, tuple[str, ...]]:
    """kind -> the scope keywords its collector takes ("version", "batches")."""
    return {kind: tuple(k for k in SCOPE_KEYWORDS if k in inspect.signature(collect).parameters)
            for kind, collect in COLLECTORS.items()}


SCOPES: dict[str, tuple[str, ...]] = _scopes()
#: The documents that print the audit trail: their chain is verified in the rendering worker.
CHAIN_DOCUMENTS = frozenset(kind for kind, collect in COLLECTORS.items()
                            if "verify_chain" in inspect.signature(collect).parameters)


# --- validation ------------------------------------------------------------------------------


def check_kind(kind: str) -> str:
    titles = document_titles()
    if kind not in titles:
        raise WorkbenchError(f"unknown document '{kind}': choose one of {', '.join(titles)}")
    if kind not in COLLECTORS:
        raise WorkbenchError(f"the {titles[kind].lower()} cannot be collected by this build of the workbench yet; "
                             f"choose one of {', '.join(k for k in titles if k in COLLECTORS)}")
    return kind


def parse_batches(batches: str | Sequence[str] | None) -> tuple[str, ...]:
    """"LABEL" or "FIRST:LAST" (or a 1- or 2-item sequence) → a tuple of one or two labels."""
    if batches is None or batches == "" or batches == ():
        return ()
    labels = tuple(batches.split(":")) if isinstance(batches, str) else tuple(batches)
    labels = tuple(label.strip() for label in labels)
    if not 1 <= len(labels) <= 2 or not all(labels):
        raise WorkbenchError(f"batches '{batches}' is not LABEL or FIRST:LAST (labels as `mlwb monitor list` shows)")
    return labels


def _requested_scope(kind: str, version: int | None, batches: tuple[str, ...]) -> dict[str, Any]:
    """The scope keywords for the collector; a scope the document does not take is refused (the
    collector itself checks that the version or batches exist)."""
    takes = SCOPES.get(kind, ())
    title = document_titles()[kind].lower()
    if version is not None and "version" not in takes:
        raise WorkbenchError(f"the {title} is not about one model version: leave out --version "
                             f"(it applies to {', '.join(k for k, v in SCOPES.items() if 'version' in v)})")
    if batches and "batches" not in takes:
        raise WorkbenchError(f"the {title} is not about monitoring batches: leave out --batches "
                             f"(it applies to {', '.join(k for k, v in SCOPES.items() if 'batches' in v)})")
    scope: dict[str, Any] = {}
    if version is not None:
        scope["version"] = version
    if batches:
        scope["batches"] = batches
    return scope


def _resolved_scope(kind: str, data: Any, requested: dict[str, Any]) -> dict[str, Any]:
    """What the document turned out to cover, for the record: the version the collector chose
    (the production one when none was asked for) and the first and last batch of a drift report."""
    takes = SCOPES.get(kind, ())
    scope: dict[str, Any] = {}
    if "version" in takes:
        version = getattr(data, "version", None)
        if version is None:
            version = requested.get("version")
        if version is not None:
            scope["version"] = int(version)
    if "batches" in takes:
        labels = tuple(getattr(data, "batch_labels", ()) or requested.get("batches", ()))
        if labels:
            scope["batches"] = [labels[0]] if len(labels) == 1 else [labels[0], labels[-1]]
    return scope


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def default_out(wb: Workbench, slug: str, kind: str, folder: Path | None = None) -> Path:
    """``{slug}-{kind}-{timestamp}.pdf`` in the workspace's exports folder (or ``folder``),
    with ``-2``, ``-3``… added rather than overwriting a report built in the same second."""
    folder = folder or wb.workspace.exports_dir
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{_safe(slug)}-{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    candidate, n = folder / f"{stem}.pdf", 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}-{n}.pdf"
    return candidate


def resolve_out(wb: Workbench, slug: str, kind: str, out: str | os.PathLike[str] | None) -> Path:
    """Where the PDF goes: ``out`` (a .pdf in an existing folder, or an existing folder for the
    default name), else the exports folder. Raises before anything is written."""
    if out is None or str(out) == "":
        return default_out(wb, slug, kind)
    target = Path(out).expanduser()
    if target.is_dir():
        return default_out(wb, slug, kind, target.resolve())
    if target.suffix.lower() != ".pdf":
        raise WorkbenchError(f"{target} does not end in .pdf: name the report like report.pdf, or give a folder")
    if not target.parent.is_dir():
        raise WorkbenchError(f"folder {target.parent} does not exist: create it or choose another path")
    if not os.access(target.parent, os.W_OK):
        raise WorkbenchError(f"folder {target.parent} is not writable: choose another path")
    return target.resolve()


# --- building ----------------------------------------------------------------------------------


def build_report(
    wb: Workbench,
    runner: JobRunner,
    slug: str,
    kind: str = "compliance",
    out: str | os.PathLike[str] | None = None,
    *,
    version: int | None = None,
    batches: str | Sequence[str] | None = None,
    deterministic: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> BuiltReport:
    """Build document ``kind`` of project ``slug`` as a PDF (blocks; call from a worker thread).

    Building never changes the records except for one ``report.built`` event (the PDF is laid
    out in a worker process, but no job row is written); a ``deterministic`` build adds nothing
    at all, so two of them from the same records are
    byte-identical (see the module docstring). ``version`` scopes the documents about a model
    version (compliance, model card, validation; default: the production version) and
    ``batches`` ("LABEL" or "FIRST:LAST") a drift report (default: every batch); the scope the
    collector resolved is what the ``report.built`` event and the result record. ``cancel``
    (set from any thread) stops the build; a cancelled or failed build raises and leaves no
    file. Progress reports carry the key ``NO_JOB``.
    """
    check_kind(kind)
    requested = _requested_scope(kind, version, parse_batches(batches))
    with wb.read() as session:
        find_project(session, slug)  # an unknown project is refused before any path is touched
    target = resolve_out(wb, slug, kind, out)
    state_binding.require_intact_rows(wb, f"build the {kind} report")
    deferred = {"verify_chain": False} if kind in CHAIN_DOCUMENTS else {}
    data = COLLECTORS[kind](wb, slug, deterministic=deterministic, **requested, **deferred)
    head_seq, head_hash = data.audit_head_seq, data.audit_head_hash  # the head the document prints
    scope = _resolved_scope(kind, data, requested)
    if cancel is not None and cancel.is_set():
        raise JobCancelled("the report build was cancelled before it started; nothing was written")

    work_dir = Path(tempfile.mkdtemp(prefix=".mlwb-report-", dir=target.parent))
    try:
        payload = {"kind": kind, "data": data, "out": str(work_dir / target.name)}
        if deferred:  # the worker verifies the chain through the printed head (off this process's GIL)
            payload["chain"] = audit_trail.chain_check(wb, head_seq, head_hash)
        relay = None if on_progress is None else (lambda fraction, text: on_progress(NO_JOB, fraction, text))
        result = runner.run_unrecorded(RENDER_TASK, payload, "the report build", on_progress=relay, cancel=cancel)
        written, pages = Path(result["path"]), int(result["pages"])
        if deterministic:
            sha256 = _sha256(written)
            os.replace(written, target)
            return BuiltReport(kind, target, sha256, pages, head_seq, head_hash, datetime.now(UTC), True,
                               project=slug, scope=scope, built_by=wb.actor)
        return _record(wb, slug, kind, scope, target, written, pages, head_seq, head_hash)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record(wb: Workbench, slug: str, kind: str, scope: dict[str, Any], target: Path, written: Path,
            pages: int, head_seq: int, head_hash: str) -> BuiltReport:
    """One unit of work: the ``report.built`` event, with the rename into place as its last step,
    so a failed rename rolls the event back, and a failed commit removes the file it placed."""
    sha256 = _sha256(written)
    placed = False
    try:
        with wb.unit_of_work() as uow:
            uow.audit(EVENT, "report", sha256, project=slug, document=kind, scope=scope, file=target.name,
                      path=str(target), sha256=sha256, pages=pages, printed_head_seq=head_seq,
                      printed_head_hash=head_hash)
            actor = uow.actor
            os.replace(written, target)
            placed = True
    except BaseException:
        if placed:
            target.unlink(missing_ok=True)
        raise
    return BuiltReport(kind, target, sha256, pages, head_seq, head_hash, datetime.now(UTC), False, project=slug,
                       scope=scope, built_by=actor)


# --- exporting in this process ------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedReport:
    path: Path
    head_seq: int
    head_hash: str
    evidence_digest: str  # printed in the PDF: the digest of every event up to the head
    chain: ChainVerdict | None  # the verification the PDF prints
    document: DocumentData  # what the PDF shows, as laid out from the records
    checkpoint: dict[str, Any] | None = None  # the signed checkpoint of the head, printed in the PDF


def export_compliance_report(wb: Workbench, slug: str, out: str | os.PathLike[str], *,
                             checkpoint_key: SigningKey | None = None) -> ExportedReport:
    """Collect and render the compliance report of ``slug`` to ``out`` (a .pdf in an existing
    folder, or a folder for the default name) in this process: no job, no event.

    This is the call for code that holds no job runner and must not move the audit head: the
    evidence bundle (whose PDF must print the same head as the events it exports) and tests
    that read a PDF. It renders the same document as `mlwb report` (``COLLECTORS["compliance"]``,
    the production version, the chain verified here); the PDF is written to a temporary file and
    renamed, so nothing is left at ``out`` if rendering fails. Writing no ``report.built`` event,
    the head printed in the PDF stays the chain's head until the next change.

    With ``checkpoint_key`` (the evidence bundle's exporter), the head and evidence digest the
    records were collected at, on a chain the collector verified, are signed as a checkpoint
    (``app.services.checkpoint.sign_checkpoint``) before the PDF is laid out, and the PDF's audit
    appendix prints that record's signature and signer: the checkpoint returned is the one
    printed, over the head the PDF states.
    """
    from reports.data import PrintedCheckpoint
    from reports.render import build_document, render_document

    target = resolve_out(wb, slug, "compliance", out)
    records = COLLECTORS["compliance"](wb, slug)
    if records.chain is None or records.chain.ok:  # a broken chain is the first thing to report (the caller does)
        state_binding.require_intact_rows(wb, "export the compliance report")
    checkpoint = None
    if checkpoint_key is not None and records.chain is not None and records.chain.ok and records.evidence_digest:
        from app.services.checkpoint import sign_checkpoint
        from app.services.identity import person_by_fingerprint

        with wb.read() as session:
            person = person_by_fingerprint(session, checkpoint_key.fingerprint)
            who = (person.name, person.role) if person else None
        checkpoint = sign_checkpoint(wb, checkpoint_key, records.audit_head_seq, records.audit_head_hash,
                                     records.evidence_digest, signed_by=who[0] if who else None)
        statement = checkpoint["statement"]
        records = replace(records, checkpoint=PrintedCheckpoint(
            statement["seq"], statement["head"], statement["evidence_digest"], statement["made_at"],
            f"{who[0]} ({who[1]})" if who else "a key not registered in this workspace",
            checkpoint_key.fingerprint, checkpoint["signature"]))
    document = build_document("compliance", records)
    try:
        render_document("compliance", document, target)
    except OSError as exc:
        raise WorkbenchError(f"could not write {target}: {exc.strerror or exc}") from None
    return ExportedReport(target, records.audit_head_seq, records.audit_head_hash, records.evidence_digest,
                          records.chain, document, checkpoint)


# --- the reports built -------------------------------------------------------------------------


def _file_state(path: Path, sha256: str) -> str:
    try:
        return "ok" if _sha256(path) == sha256 else "changed"
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "missing"


def recent_reports(wb: Workbench, slug: str | None = None, limit: int = 20) -> list[BuiltReport]:
    """The last ``limit`` reports built (``report.built`` events, newest first), each with a
    check of its file: still there with the recorded SHA-256 ("ok"), "changed" or "missing"."""
    with wb.read() as session:
        query = select(AuditEvent).where(AuditEvent.action == EVENT)
        if slug:
            find_project(session, slug)
            query = query.where(AuditEvent.project_slug == slug)
        events = list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))
        rows = [(e.seq, e.ts, e.actor, e.project_slug or "", json.loads(e.payload)) for e in events]
    out = []
    for seq, ts, actor, project, p in rows:
        path = Path(p["path"])
        out.append(BuiltReport(
            kind=p["document"], path=path, sha256=p["sha256"], pages=int(p["pages"]),
            head_seq=int(p["printed_head_seq"]), head_hash=p["printed_head_hash"],
            built_at=datetime.fromisoformat(ts), deterministic=False, project=project, scope=dict(p.get("scope") or {}),
            built_by=actor, event_seq=seq, file_state=_file_state(path, p["sha256"]),
        ))
    return out


# --- what the reports screen offers --------------------------------------------------------------


@dataclass(frozen=True)
class ReportScopes:
    """What a project's documents can be scoped to: its model versions (newest first, with the
    default one — production, else the newest) and its monitoring batches in import order."""

    versions: tuple[tuple[int, str], ...]  # (version, "stage / alias")
    default_version: int | None
    batches: tuple[str, ...]


def report_scopes(wb: Workbench, slug: str) -> ReportScopes:
    with wb.read() as session:
        project = find_project(session, slug)
        models = list(session.scalars(select(ModelVersion).where(ModelVersion.project_id == project.id)
                                      .order_by(ModelVersion.version.desc())))
        batches = tuple(session.scalars(select(MonitoringBatch.label).where(MonitoringBatch.project_id == project.id)
                                        .order_by(MonitoringBatch.id)))
    versions = tuple((m.version, " / ".join(x for x in (m.stage, m.alias) if x and x != "none") or "registered")
                     for m in models)
    default = next((m.version for m in models if m.stage == "production"), models[0].version if models else None)
    return ReportScopes(versions, default, batches)
