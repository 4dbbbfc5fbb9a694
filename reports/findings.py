"""Open findings: everything in the records a reviewer must look at, ranked by severity.

Computed from the records, never written by hand: failed or waived checks, data and leakage
errors, failed release analyses, open alerts, SLA breaches, unanswered retraining triggers,
open review requests and a broken audit chain. The executive summary, the limitations chapter
and the validation report all list the same findings.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.data import ProjectRecords, TableData
from reports.evidence import batches_in, check_result, sla_breaches, version_label, waiver_text

SEVERITIES = ("HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class Finding:
    severity: str  # HIGH | MEDIUM | LOW
    area: str
    finding: str
    evidence: str


def open_findings(records: ProjectRecords) -> list[Finding]:
    out: list[Finding] = []
    for gate in records.gates:
        for c in gate.checks:
            if not c.passed:
                out.append(Finding("HIGH" if c.required else "LOW", f"Stage {gate.stage} gate", c.label,
                                   (c.detail or "—") + ("" if c.required else " (optional under this profile)")))
    if records.promotion is not None:
        label = version_label(records)
        for c in records.promotion.checks:
            if c.passed:
                continue
            if c.waiver:
                out.append(Finding("MEDIUM", f"Promotion of {label}", f"{c.label}: waived",
                                   f"{c.detail}; {waiver_text(records, records.version, c.id)}"))
            else:
                out.append(Finding("HIGH" if c.required else "LOW", f"Promotion of {label}",
                                   f"{c.label}: {check_result(c).lower()}", c.detail))
    for d in records.datasets:
        if d.role != "training":
            continue
        for f in (*d.findings, *d.quality):
            severity = {"error": "HIGH", "warning": "MEDIUM"}.get(f.get("severity"))
            if severity:
                out.append(Finding(severity, f"Data v{d.id}", f"{f.get('check')}: {f.get('column') or '—'}",
                                   f.get("detail", "")))
    for s in records.splits:
        for f in s.leakage:
            out.append(Finding("HIGH" if f.get("severity") == "error" else "MEDIUM", f"Split {s.id}",
                               f"leakage: {f.get('check')} {f.get('feature') or ''}".strip(), f.get("evidence", "")))
    for a in records.release_analyses:
        if a.verdict == "failed" and a.version == records.version:
            out.append(Finding("HIGH", f"Release of v{a.version}", f"{a.kind} analysis failed", a.decision or "—"))
    for a in records.alerts:
        if a.status == "open":
            out.append(Finding("HIGH" if a.severity == "critical" else "MEDIUM", f"Monitoring {a.batch or ''}".strip(),
                               f"open {a.rule} alert #{a.id}", a.message))
    for label, rule, result in sla_breaches(batches_in(records) if records.batch_labels else list(records.batches)):
        value = result.get("value")
        out.append(Finding("HIGH" if result.get("severity") == "critical" else "MEDIUM", f"Monitoring {label}",
                           f"SLA breached: {rule}", f"measured {value:.4g}" if isinstance(value, float) else "—"))
    for t in records.triggers:
        if t.run_id is None and t.status not in ("answered", "dismissed", "cancelled"):
            out.append(Finding("MEDIUM", "Retraining", f"trigger #{t.id} not answered ({t.status})", t.reason))
    for r in records.review_requests:
        if r.status == "open":
            out.append(Finding("LOW", f"Review of v{r.version}", f"review request #{r.id} still open",
                               f"asked by {r.requested_by} of {r.reviewer or 'any reviewer'}"))
    if records.chain is not None and not records.chain.ok:
        out.append(Finding("HIGH", "Audit trail", "the audit chain does not verify", records.chain.describe()))
    return sorted(out, key=lambda f: SEVERITIES.index(f.severity))


def findings_table(findings: list[Finding], title: str = "Open findings", limit: int | None = None) -> TableData:
    shown = findings if limit is None else findings[:limit]
    more = len(findings) - len(shown)
    return TableData(title, ("Severity", "Area", "Finding", "Evidence"),
                     tuple((f.severity, f.area, f.finding, f.evidence or "—") for f in shown),
                     highlight=tuple(i for i, f in enumerate(shown) if f.severity == "HIGH"),
                     note=f"{more} more finding(s) of lower severity are listed in the limitations chapter."
                     if more > 0 else "")
