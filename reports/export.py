"""Exporting a project's compliance PDF: collect through services, then render.

Exporting is not itself audited: an event appended after the report was built would move the
chain head past the one printed in it, and the printed head must match `mlwb audit verify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.errors import WorkbenchError
from app.services.reporting import collect_report_data
from app.services.workbench import Workbench


@dataclass(frozen=True)
class ExportedReport:
    path: Path
    head_seq: int
    head_hash: str


def export_compliance_report(wb: Workbench, slug: str, out: str | Path) -> ExportedReport:
    from reports.compliance import render_compliance_report

    target = Path(out).expanduser()
    if target.suffix.lower() != ".pdf":
        raise WorkbenchError(f"{target} does not end in .pdf: name the report like report.pdf")
    if not target.parent.exists():
        raise WorkbenchError(f"folder {target.parent} does not exist: create it or choose another path")
    data = collect_report_data(wb, slug)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        render_compliance_report(data, tmp)
        tmp.replace(target)
    except OSError as exc:
        raise WorkbenchError(f"could not write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportedReport(target, data.audit_head_seq, data.audit_head_hash)
