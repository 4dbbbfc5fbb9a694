"""Exporting a project's compliance report in the calling process: no job, unrecorded.

This is the library call for code that holds no job runner and must not move the audit head:
the evidence bundle (whose PDF must print the same head as the events it exports) and tests
that read a PDF. It renders the same document as `mlwb report` (``COLLECTORS["compliance"]``,
the production version). The CLI and the TUI build documents through
``app.services.report_builder`` instead: a worker process lays the PDF out, and the build is
recorded as one ``report.built`` audit event. This export writes no event, so the head printed
in its PDF stays the chain's head until the next change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.audit import ChainVerdict
from app.errors import WorkbenchError
from app.services.report_builder import resolve_out
from app.services.reporting import COLLECTORS
from app.services.workbench import Workbench


@dataclass(frozen=True)
class ExportedReport:
    path: Path
    head_seq: int
    head_hash: str
    evidence_digest: str  # printed in the PDF: the digest of every event up to the head
    chain: ChainVerdict | None  # the verification the PDF prints


def export_compliance_report(wb: Workbench, slug: str, out: str | Path) -> ExportedReport:
    """Collect and render the compliance report of ``slug`` to ``out`` (a .pdf in an existing
    folder, or a folder for the default name); nothing is left at ``out`` if rendering fails."""
    from reports.render import render_document

    target = resolve_out(wb, slug, "compliance", out)
    records = COLLECTORS["compliance"](wb, slug)
    try:
        render_document("compliance", records, target)  # writes a temp file and renames it
    except OSError as exc:
        raise WorkbenchError(f"could not write {target}: {exc.strerror or exc}") from None
    return ExportedReport(target, records.audit_head_seq, records.audit_head_hash, records.evidence_digest,
                          records.chain)
