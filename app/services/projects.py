"""Creating projects, listing them with where they stand in the lifecycle, and what the model
inventory records about each (risk tier, owner)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from app.errors import WorkbenchError
from app.lifecycle import MATURITIES, RISK_TIERS, check_title, stage
from app.ml.catalogue import PROBLEM_TYPES
from app.services.gates import evaluate_gate
from app.services.workbench import Workbench, find_project
from storage.models import Project

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class ProjectSummary:
    slug: str
    name: str
    problem_type: str
    maturity: str
    current_stage: int
    stage_title: str
    gate_passed: bool
    checks_passed: int
    checks_total: int
    risk_tier: str = "medium"  # low | medium | high: sets how often the model is revalidated
    owner: str = ""  # who answers for the model (the inventory's owner), "" until someone is named


def create_project(
    wb: Workbench, slug: str, *, problem_type: str, maturity: str = "startup", name: str | None = None
) -> ProjectSummary:
    if not SLUG_RE.match(slug):
        raise WorkbenchError(
            f"'{slug}' is not a valid project slug: use 2–63 lowercase letters, digits and dashes, "
            "starting with a letter or digit"
        )
    if problem_type not in PROBLEM_TYPES:
        raise WorkbenchError(f"unknown problem type '{problem_type}': choose one of {', '.join(PROBLEM_TYPES)}")
    if maturity not in MATURITIES:
        raise WorkbenchError(f"unknown maturity '{maturity}': choose one of {', '.join(MATURITIES)}")
    try:
        name = check_title("a project name", name) if name is not None else None
    except ValueError as exc:
        raise WorkbenchError(str(exc)) from None
    with wb.unit_of_work() as uow:
        if uow.session.scalars(select(Project.id).where(Project.slug == slug)).first() is not None:
            raise WorkbenchError(f"project '{slug}' already exists: pick another slug or open it")
        project = Project(
            slug=slug,
            name=name or slug,
            problem_type=problem_type,
            maturity=maturity,
            current_stage=1,
            created_by=uow.actor,
        )
        uow.session.add(project)
        uow.session.flush()
        uow.audit(
            "project.created", "project", project.id, project=slug,
            name=project.name, problem_type=problem_type, maturity=maturity,
        )
    return project_summary(wb, slug)


def set_maturity(wb: Workbench, slug: str, maturity: str, *, reason: str) -> ProjectSummary:
    """Change the maturity profile (a startup that grows up); the gates tighten or relax from
    the next check on, and the audit trail says who changed it and why."""
    if maturity not in MATURITIES:
        raise WorkbenchError(f"unknown maturity '{maturity}': choose one of {', '.join(MATURITIES)}")
    if not reason.strip():
        raise WorkbenchError("say why the maturity profile changes (a reviewer will read it)")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        if project.maturity != maturity:
            uow.audit("project.maturity_changed", "project", project.id, project=slug,
                      from_maturity=project.maturity, to_maturity=maturity, reason=reason.strip())
            project.maturity = maturity
    return project_summary(wb, slug)


def set_inventory(wb: Workbench, slug: str, *, risk_tier: str | None = None, owner: str | None = None,
                  reason: str = "") -> ProjectSummary:
    """Set what the model inventory records about a project: its risk tier (which sets the
    periodic review, ``app.lifecycle.PERIODIC_REVIEW_MONTHS``) and its owner. Audited with the
    old and the new value; setting what is already there records nothing."""
    if risk_tier is None and owner is None:
        raise WorkbenchError("say what to set: --risk-tier and/or --owner")
    if risk_tier is not None and risk_tier not in RISK_TIERS:
        raise WorkbenchError(f"unknown risk tier '{risk_tier}': choose one of {', '.join(RISK_TIERS)}")
    if owner is not None and not owner.strip():
        raise WorkbenchError("an owner needs a name (the person who answers for the model)")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        changes: dict[str, dict[str, str]] = {}
        if risk_tier is not None and risk_tier != project.risk_tier:
            changes["risk_tier"] = {"from": project.risk_tier, "to": risk_tier}
            project.risk_tier = risk_tier
        if owner is not None and owner.strip() != project.owner:
            changes["owner"] = {"from": project.owner, "to": owner.strip()}
            project.owner = owner.strip()
        if changes:
            uow.audit("project.inventory_changed", "project", project.id, project=slug, changes=changes,
                      reason=reason.strip())
    return project_summary(wb, slug)


def _summarise(session, project: Project) -> ProjectSummary:  # type: ignore[no-untyped-def]
    gate = evaluate_gate(session, project, project.current_stage)
    return ProjectSummary(
        slug=project.slug,
        name=project.name,
        problem_type=project.problem_type,
        maturity=project.maturity,
        current_stage=project.current_stage,
        stage_title=stage(project.current_stage).title,
        gate_passed=gate.passed,
        checks_passed=sum(c.passed for c in gate.checks),
        checks_total=len(gate.checks),
        risk_tier=project.risk_tier,
        owner=project.owner,
    )


def list_projects(wb: Workbench) -> list[ProjectSummary]:
    with wb.read() as session:
        return [_summarise(session, p) for p in session.scalars(select(Project).order_by(Project.slug))]


def project_summary(wb: Workbench, slug: str) -> ProjectSummary:
    with wb.read() as session:
        return _summarise(session, find_project(session, slug))
