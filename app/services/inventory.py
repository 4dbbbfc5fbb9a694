"""The model inventory across projects (SR 11-7): one entry per project, saying how material the
model is, who answers for it, who last validated it and when it must be validated again.

The entry describes the version in use: the production version, else (nothing is in use yet)
the newest registered one. Its last validation is the later of its standing approval, when a
registered key signed it, and the latest review imported for it (``review.json``, always
signed); the validator is the person who signed that. The periodic review falls due
``app.lifecycle.PERIODIC_REVIEW_MONTHS[risk tier]`` months after the last validation; a model
in production whose review date has passed, or that was never validated, is overdue. A model
not in production owes no periodic review (its gate asks for an approval instead).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.lifecycle import PERIODIC_REVIEW_MONTHS, stage
from app.services.findings import open_counts
from app.services.registry import standing_approval
from app.services.workbench import Workbench
from storage.models import Approval, ModelCard, ModelVersion, Project, Review

#: The columns of ``mlwb inventory --csv``, in order (also the keys of ``InventoryEntry.row``).
CSV_COLUMNS = ("project", "name", "risk_tier", "owner", "validator", "validator_fingerprint", "validated_by",
               "intended_use", "stage", "production_version", "version", "open_high", "open_medium", "open_low",
               "last_validated", "next_review", "overdue", "review_status")


@dataclass(frozen=True)
class InventoryEntry:
    """One model in the inventory (one project): what SR 11-7 asks an inventory to hold."""

    slug: str
    name: str
    risk_tier: str
    owner: str
    maturity: str
    stage: int
    stage_title: str
    production_version: int | None
    version: int | None  # the version described: production, else the newest registered (None: none yet)
    intended_use: str  # from that version's model card, "" when not written
    intended_use_drafted: bool  # the card's intended use is still machine-drafted
    validator: str | None  # who signed the last validation
    validator_fingerprint: str | None
    validated_by: str | None  # "approval" | "review (<conclusion>)": what the last validation was
    last_validated: date | None
    next_review: date | None
    overdue: bool
    open_findings: dict[str, int]  # unsettled findings of the project by severity: high, medium, low

    @property
    def review_months(self) -> int:
        return PERIODIC_REVIEW_MONTHS[self.risk_tier]

    def review_status(self, today: date | None = None) -> str:
        """What a reader should know about the periodic review, in a few words."""
        today = today or date.today()
        if self.production_version is None:
            return "not in production"
        if self.last_validated is None:
            return "OVERDUE: in production, never validated"
        assert self.next_review is not None
        if self.overdue:
            return f"OVERDUE since {self.next_review.isoformat()}"
        return f"due in {(self.next_review - today).days} day(s)"

    def row(self, today: date | None = None) -> dict[str, str | int | bool | None]:
        """Plain values by ``CSV_COLUMNS`` (dates as ISO text), for JSON and CSV."""
        return {
            "project": self.slug, "name": self.name, "risk_tier": self.risk_tier, "owner": self.owner,
            "validator": self.validator, "validator_fingerprint": self.validator_fingerprint,
            "validated_by": self.validated_by, "intended_use": self.intended_use,
            "stage": f"{self.stage} {self.stage_title}", "production_version": self.production_version,
            "version": self.version, "open_high": self.open_findings["high"],
            "open_medium": self.open_findings["medium"], "open_low": self.open_findings["low"],
            "last_validated": self.last_validated.isoformat() if self.last_validated else None,
            "next_review": self.next_review.isoformat() if self.next_review else None,
            "overdue": self.overdue, "review_status": self.review_status(today),
        }


def add_months(day: date, months: int) -> date:
    """``day`` plus whole calendar months, on the month's last day when it is shorter
    (31 August + 6 months = 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _utc(moment: datetime) -> datetime:
    """Naive UTC (what the database gives back), so times from different rows compare."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _last_validation(session: Session, project: Project,
                     mv: ModelVersion) -> tuple[datetime, str, str | None, str] | None:
    """(when, who, their key's fingerprint, what) of the latest signed validation of ``mv``."""
    found: list[tuple[datetime, str, str | None, str]] = []
    decisions = list(session.scalars(select(Approval).where(Approval.model_version_id == mv.id)))
    approval, _ = standing_approval(session, project, mv, decisions)
    if approval is not None and approval.signature:
        found.append((_utc(approval.created_at), approval.approver, approval.signer_fingerprint, "approval"))
    review = session.scalars(select(Review).where(Review.model_version_id == mv.id)
                             .order_by(Review.reviewed_at.desc(), Review.id.desc())).first()
    if review is not None:
        found.append((_utc(review.reviewed_at), review.reviewer, review.signer_fingerprint,
                      f"review ({review.conclusion})"))
    return max(found, key=lambda f: f[0]) if found else None


def _entry(session: Session, project: Project, today: date) -> InventoryEntry:
    versions = list(session.scalars(select(ModelVersion).where(ModelVersion.project_id == project.id)
                                    .order_by(ModelVersion.version)))
    production = next((v for v in versions if v.stage == "production"), None)
    mv = production or (versions[-1] if versions else None)
    card = (session.scalars(select(ModelCard).where(ModelCard.model_version_id == mv.id)).first()
            if mv is not None else None)
    intended = str(card.content.get("intended_use") or "").strip() if card else ""
    validation = _last_validation(session, project, mv) if mv is not None else None
    last = validation[0].date() if validation else None
    next_review = add_months(last, PERIODIC_REVIEW_MONTHS[project.risk_tier]) if last else None
    overdue = production is not None and (next_review is None or next_review < today)
    return InventoryEntry(
        slug=project.slug, name=project.name, risk_tier=project.risk_tier, owner=project.owner,
        maturity=project.maturity, stage=project.current_stage, stage_title=stage(project.current_stage).title,
        production_version=production.version if production else None, version=mv.version if mv else None,
        intended_use=intended, intended_use_drafted=bool(card and intended and "intended_use" in (card.drafted or ())),
        validator=validation[1] if validation else None, validator_fingerprint=validation[2] if validation else None,
        validated_by=validation[3] if validation else None, last_validated=last, next_review=next_review,
        overdue=overdue, open_findings=open_counts(session, project),
    )


def inventory(wb: Workbench, *, today: date | None = None) -> list[InventoryEntry]:
    """Every project's inventory entry, by slug; ``today`` decides what is overdue."""
    today = today or date.today()
    with wb.read() as session:
        return [_entry(session, p, today) for p in session.scalars(select(Project).order_by(Project.slug))]
