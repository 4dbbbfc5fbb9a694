"""The findings chapter: every finding raised on the project, by a validator's review or by the
workbench's own checks, with its status and its whole history (who moved it, when, why, and
the key that signed the move).

These are the *tracked* findings (``app.services.findings``, records someone raised and someone
must settle), not the issues ``reports.findings`` computes from the records for a reader to
look at. Built from ``ProjectRecords.tracked_findings`` only, so it renders in the worker.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from app.lifecycle import FINDING_SETTLED, FINDING_STATUSES
from app.signing import short_fingerprint
from reports.data import ProjectRecords, Prose, Section, TableData
from reports.evidence import when

TITLE = "Findings and their history"


def _open(status: str) -> bool:
    return status not in FINDING_SETTLED


def _overdue(due: str | None, status: str, today: str | None) -> bool:
    return bool(today and due and _open(status) and due < today)


def findings_section(records: ProjectRecords) -> Section:
    """The chapter's section: a summary, the findings, then every change of status."""
    found = records.tracked_findings
    if not found:
        return Section(TITLE, (Prose("No findings were raised on this project: no imported review asked for a fix "
                                     "and no check raised one.", "empty"),))
    # Overdue depends on the day: a deterministic build (same bytes every time) does not say it.
    today = None if records.deterministic else date.today().isoformat()
    open_ = [f for f in found if _open(f.status)]
    severities = Counter(f.severity for f in open_)
    statuses = Counter(f.status for f in found)
    overdue = [f for f in found if _overdue(f.due_date, f.status, today)]
    summary = (f"{len(found)} finding(s): " + ", ".join(f"{statuses[s]} {s}" for s in FINDING_STATUSES if statuses[s])
               + f". Unsettled: {severities['high']} high, {severities['medium']} medium, {severities['low']} low"
               + (f"; {len(overdue)} past their due date." if overdue else "."))
    findings = TableData(
        "Findings", ("#", "Version", "Severity", "Status", "Finding", "Concerns", "Remediation asked", "Due",
                     "Raised by"),
        tuple((str(f.id), f"v{f.version}" if f.version is not None else "project", f.severity.upper(), f.status,
               f.title, f.concerns or "—", f.remediation or "—",
               (f.due_date or "—") + (" (overdue)" if _overdue(f.due_date, f.status, today) else ""),
               f"{f.raised_by} ({f.source}" + (f", review #{f.review_id})" if f.review_id else ")"))
              for f in found),
        highlight=tuple(i for i, f in enumerate(found)
                        if _open(f.status) and (f.severity == "high" or _overdue(f.due_date, f.status, today))),
        note="An unsettled (open or remediated) high-severity finding blocks the promotion of its version; only "
             "someone other than the version's author may accept or close it.")
    history = TableData(
        "History of every finding", ("#", "When", "Change", "By", "Signed with key", "Why"),
        tuple((str(f.id), when(e.created_at), f"{e.from_status} → {e.to_status}" if e.from_status else "raised",
               e.actor, short_fingerprint(e.signer_fingerprint) if e.signer_fingerprint else "unsigned",
               e.reason or "—")
              for f in found for e in f.history),
        note="A signed change can be checked against the signer's public key: compare the fingerprint with the "
             "one you were given out of band.")
    return Section(TITLE, (
        Prose("Every finding raised on this project — by a validator's review of the exported evidence or by the "
              "workbench's own checks — with the remediation asked, its status, and each change of status: who, "
              "when, why and the key that signed it."),
        Prose(summary, "alert" if severities["high"] or overdue else "lead"),
        findings, history,
    ))
