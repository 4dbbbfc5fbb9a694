"""Findings: what a validator's review or the workbench's own checks ask to be fixed, tracked.

A finding is raised (by a review import, or by an analysis such as fairness) and then moves
open → remediated → closed, or open → accepted (the risk is taken knowingly); a remediated
finding can be reopened. Every change is a ``FindingEvent`` with who, why and, when the person
has a key, a signature, audited in the same transaction. Closing or accepting a finding is a
decision about someone's model, so it follows the four-eyes rule of approvals: someone other
than the version's author (another key, another name) with a deciding role, and on the growth
and enterprise profiles a signature by a registered key.

An open high-severity finding on a version blocks its promotion (the release check
``no_open_high_findings``, evaluated by ``release_outcome``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.lifecycle import FINDING_SETTLED, FINDING_SEVERITIES, FINDING_STATUSES, check_title
from app.services.registry import model_version
from app.services.signatures import DECIDING_ROLES, SIGNATURE_REQUIRED, sign_decision
from app.services.workbench import UnitOfWork, Workbench, find_project
from app.signing import SigningKey
from storage.models import Finding, FindingEvent, ModelVersion, Project, utcnow

SEVERITIES = FINDING_SEVERITIES
STATUSES = FINDING_STATUSES
#: Where a finding may go from each status.
MOVES: dict[str, tuple[str, ...]] = {
    "open": ("remediated", "accepted", "closed"),
    "remediated": ("closed", "open"),
    "accepted": ("open",),
    "closed": ("open",),
}
#: Statuses that settle a finding (it no longer blocks anything).
SETTLED = FINDING_SETTLED


@dataclass(frozen=True)
class FindingEventView:
    """One step of a finding's history: raised (``from_status`` None) or a status change."""

    from_status: str | None
    to_status: str
    actor: str
    reason: str
    created_at: datetime
    signer_fingerprint: str | None


@dataclass(frozen=True)
class FindingView:
    id: int
    project: str
    version: int | None
    source: str
    title: str
    severity: str
    concerns: str
    remediation: str
    due_date: str | None
    status: str
    raised_by: str
    created_at: datetime
    history: tuple[FindingEventView, ...]
    review_id: int | None = None  # the imported review that raised it

    @property
    def is_open(self) -> bool:
        return self.status not in SETTLED

    @property
    def moves(self) -> tuple[str, ...]:
        """The statuses it may go to next."""
        return MOVES[self.status]

    def overdue(self, today: date | None = None) -> bool:
        """Still open after its due date."""
        return bool(self.is_open and self.due_date and self.due_date < (today or date.today()).isoformat())


def _check(severity: str, title: str, due_date: str | None) -> None:
    if severity not in SEVERITIES:
        raise WorkbenchError(f"severity must be one of {', '.join(SEVERITIES)}, not '{severity}'")
    if not title.strip():
        raise WorkbenchError("a finding needs a title that says what is wrong")
    try:
        check_title("a finding's title", title)
    except ValueError as exc:
        raise WorkbenchError(str(exc)) from None
    if due_date:
        try:
            date.fromisoformat(due_date)
        except ValueError:
            raise WorkbenchError(f"due date '{due_date}' is not a date: write it as YYYY-MM-DD") from None


def raise_finding(uow: UnitOfWork, project: Project, mv: ModelVersion | None, *, source: str, title: str,
                  severity: str, concerns: str = "", remediation: str = "", due_date: str | None = None,
                  review_id: int | None = None, raised_by: str | None = None) -> Finding:
    """Record a new open finding inside the caller's transaction (a review import, an analysis)."""
    _check(severity, title, due_date)
    row = Finding(project_id=project.id, model_version_id=mv.id if mv else None, review_id=review_id, source=source,
                  title=title.strip(), severity=severity, concerns=concerns.strip(), remediation=remediation.strip(),
                  due_date=due_date or None, status="open", raised_by=raised_by or uow.actor)
    uow.session.add(row)
    uow.session.flush()
    uow.session.add(FindingEvent(finding_id=row.id, from_status=None, to_status="open", actor=row.raised_by,
                                 reason=f"raised by {source}"))
    uow.audit("finding.raised", "finding", row.id, project=project.slug, version=mv.version if mv else None,
              source=source, title=row.title, severity=severity, concerns=row.concerns,
              remediation=row.remediation, due_date=row.due_date, review=review_id, raised_by=row.raised_by)
    return row


def record_finding(wb: Workbench, slug: str, *, title: str, severity: str, version: int | None = None,
                   concerns: str = "", remediation: str = "", due_date: str | None = None) -> FindingView:
    """A finding someone writes down by hand (``mlwb findings add``)."""
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        mv = model_version(uow.session, project, version) if version is not None else None
        row = raise_finding(uow, project, mv, source="manual", title=title, severity=severity, concerns=concerns,
                            remediation=remediation, due_date=due_date)
        return _view(uow.session, row, project.slug)


def set_status(wb: Workbench, slug: str, finding_id: int, status: str, reason: str, *,
               signer: SigningKey | None = None) -> FindingView:
    """Move a finding to ``status``, saying why; signed when the person has a key.

    Accepting or closing a finding on a version is a decision for someone other than the
    version's author (four-eyes, as for approvals); the author may mark it remediated. A
    finding about the project as a whole (no version) has no author to be independent of and
    nothing to sign over: its changes are recorded under the acting name, unsigned.
    """
    reason = reason.strip()
    if status not in STATUSES:
        raise WorkbenchError(f"status must be one of {', '.join(STATUSES)}, not '{status}'")
    if not reason:
        raise WorkbenchError("a status change needs a reason (what was done, or why the risk is accepted)")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        row = uow.session.get(Finding, finding_id)
        if row is None or row.project_id != project.id:
            raise NotFound(f"project '{slug}' has no finding {finding_id}: list them with `mlwb findings {slug}`")
        if status not in MOVES[row.status]:
            raise WorkbenchError(f"finding {finding_id} is {row.status}; it can go to {', '.join(MOVES[row.status])}, "
                                 f"not {status}")
        mv = uow.session.get(ModelVersion, row.model_version_id) if row.model_version_id else None
        if mv is None and signer is not None:
            raise WorkbenchError(f"finding {finding_id} is about the project, not a model version, so its status "
                                 f"changes are recorded unsigned under your own name: leave out the key")
        decider = None
        if mv is not None:
            decider = sign_decision(uow, signer, kind="finding", project=project, mv=mv, decision=status,
                                    comment=reason, finding=row.id, title=row.title)
            if status in SETTLED:
                verb = "accept" if status == "accepted" else "close"
                if decider.is_author_of(mv):
                    raise WorkbenchError(f"{mv.created_by} registered version {mv.version}: someone else must "
                                         f"{verb} its findings (four-eyes rule)")
                if decider.signed is None and project.maturity in SIGNATURE_REQUIRED:
                    raise WorkbenchError(f"on the {project.maturity} profile a finding is settled by a signed "
                                         f"decision: create your key with `mlwb people init` to {verb} it")
                if decider.person is not None and decider.person.role not in DECIDING_ROLES:
                    raise WorkbenchError(f"{decider.name} is registered as {decider.person.role} and cannot "
                                         f"{verb} a finding")
        name = decider.name if decider else uow.actor
        columns = decider.columns if decider else {}
        uow.session.add(FindingEvent(finding_id=row.id, from_status=row.status, to_status=status, actor=name,
                                     reason=reason, **columns))
        uow.audit("finding.status_changed", "finding", row.id, project=slug, version=mv.version if mv else None,
                  title=row.title, severity=row.severity, from_status=row.status, to_status=status, reason=reason,
                  decided_by=name, **(decider.audit_fields if decider else {"signer": None, "signed": False}))
        row.status, row.updated_at = status, utcnow()
        uow.session.flush()
        return _view(uow.session, row, project.slug)


def _view(session: Session, row: Finding, slug: str) -> FindingView:
    version = session.get(ModelVersion, row.model_version_id).version if row.model_version_id else None
    history = tuple(
        FindingEventView(e.from_status, e.to_status, e.actor, e.reason, e.created_at, e.signer_fingerprint)
        for e in session.scalars(select(FindingEvent).where(FindingEvent.finding_id == row.id)
                                 .order_by(FindingEvent.id)))
    return FindingView(row.id, slug, version, row.source, row.title, row.severity, row.concerns, row.remediation,
                       row.due_date, row.status, row.raised_by, row.created_at, history, row.review_id)


def list_findings(wb: Workbench, slug: str, *, open_only: bool = False,
                  version: int | None = None) -> list[FindingView]:
    with wb.read() as session:
        project = find_project(session, slug)
        query = select(Finding).where(Finding.project_id == project.id).order_by(Finding.id)
        if open_only:
            query = query.where(Finding.status.not_in(SETTLED))
        if version is not None:
            query = query.where(Finding.model_version_id == model_version(session, project, version).id)
        return [_view(session, f, slug) for f in session.scalars(query)]


def open_findings(session: Session, mv: ModelVersion, *, severity: str | None = None) -> list[Finding]:
    """The unsettled findings on a version (of one severity): what a release check looks at."""
    query = select(Finding).where(Finding.model_version_id == mv.id, Finding.status.not_in(SETTLED))
    if severity:
        query = query.where(Finding.severity == severity)
    return list(session.scalars(query.order_by(Finding.id)))



def release_outcome(session: Session, mv: ModelVersion) -> tuple[bool, str]:
    """The release check ``no_open_high_findings`` of ``mv``: passed when no high-severity
    finding on it is open or remediated (still to be closed by someone else)."""
    high = open_findings(session, mv, severity="high")
    if not high:
        return True, "no open high-severity finding"
    listed = "; ".join(f"#{f.id} {f.title} ({f.status}" + (f", due {f.due_date})" if f.due_date else ")")
                       for f in high[:3])
    more = f" and {len(high) - 3} more" if len(high) > 3 else ""
    return False, f"{len(high)} open high-severity finding(s): {listed}{more}"


def open_counts(session: Session, project: Project) -> dict[str, int]:
    """Unsettled findings of a project by severity, every severity present (zero when none)."""
    rows = session.execute(select(Finding.severity, func.count(Finding.id))
                           .where(Finding.project_id == project.id, Finding.status.not_in(SETTLED))
                           .group_by(Finding.severity)).all()
    found = {severity: count for severity, count in rows}
    return {severity: found.get(severity, 0) for severity in reversed(SEVERITIES)}
