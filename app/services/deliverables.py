"""Stage 1 and 2 documents: the problem statement, the ML checklist and the framing.

Each save is one audited revision; the audit payload records which fields changed, so the
trail alone answers "who changed the success threshold, and when".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import WorkbenchError
from app.lifecycle import FRAMING_FIELDS, ML_CHECKLIST, STATEMENT_FIELDS
from app.ml.catalogue import PROBLEM_TYPES, stated_metric, stated_threshold
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import Project, StageDeliverable

STATEMENT = "problem_statement"
CHECKLIST = "ml_checklist"
FRAMING = "framing"
FEATURE_TYPES = ("numeric", "categorical", "boolean", "datetime", "text")
KIND_STAGE = {STATEMENT: 1, CHECKLIST: 1, FRAMING: 2}


def deliverable(session: Session, project: Project, kind: str) -> dict[str, Any]:
    row = session.scalars(
        select(StageDeliverable).where(StageDeliverable.project_id == project.id, StageDeliverable.kind == kind)
    ).first()
    return dict(row.content) if row else {}


def deliverables(wb: Workbench, slug: str) -> dict[str, dict[str, Any]]:
    with wb.read() as session:
        project = find_project(session, slug)
        return {kind: deliverable(session, project, kind) for kind in KIND_STAGE}


def _save(uow: UnitOfWork, project: Project, kind: str, content: dict[str, Any]) -> int:
    row = uow.session.scalars(
        select(StageDeliverable).where(StageDeliverable.project_id == project.id, StageDeliverable.kind == kind)
    ).first()
    before = dict(row.content) if row else {}
    changed = sorted(k for k in set(before) | set(content) if before.get(k) != content.get(k))
    if row is None:
        row = StageDeliverable(
            project_id=project.id, stage=KIND_STAGE[kind], kind=kind, content=content, revision=1,
            updated_by=uow.actor,
        )
        uow.session.add(row)
    elif not changed:
        return row.revision
    else:
        row.content = content
        row.revision += 1
        row.updated_by = uow.actor
    uow.session.flush()
    uow.audit(
        f"{kind}.saved", "stage_deliverable", row.id, project=project.slug,
        revision=row.revision, changed={k: content.get(k) for k in changed},
    )
    return row.revision


def _clean_text(fields: dict[str, Any], allowed: tuple[tuple[str, str], ...]) -> dict[str, str]:
    keys = {k for k, _ in allowed}
    unknown = sorted(set(fields) - keys)
    if unknown:
        raise WorkbenchError(f"unknown field(s) {', '.join(unknown)}: allowed are {', '.join(sorted(keys))}")
    return {k: str(v).strip() for k, v in fields.items() if v is not None and str(v).strip()}


def save_problem_statement(
    wb: Workbench, slug: str, fields: dict[str, Any], *, problem_type: str | None = None
) -> int:
    """Save the whole stage 1 statement (fields left out are cleared); returns the new revision.

    The ML metric must name one metric the workbench knows (the stage 4 gate judges the chosen
    model on it) and its threshold must be a number, compared the way the metric is better.
    """
    content = _clean_text(fields, STATEMENT_FIELDS)
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise WorkbenchError(f"unknown problem type '{problem_type}': choose one of {', '.join(PROBLEM_TYPES)}")
    metric = None
    try:
        if content.get("ml_metric"):
            metric = stated_metric(content["ml_metric"])
        if content.get("ml_metric_threshold"):
            stated_threshold(content["ml_metric_threshold"], metric or "")
    except ValueError as exc:
        raise WorkbenchError(str(exc)) from None
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        if problem_type is not None and problem_type != project.problem_type:
            uow.audit("project.problem_type_changed", "project", project.id, project=slug,
                      before=project.problem_type, after=problem_type)
            project.problem_type = problem_type
        return _save(uow, project, STATEMENT, content)


def save_ml_checklist(wb: Workbench, slug: str, answers: dict[str, bool], notes: str = "") -> int:
    keys = {k for k, _ in ML_CHECKLIST}
    unknown = sorted(set(answers) - keys)
    if unknown:
        raise WorkbenchError(f"unknown checklist item(s) {', '.join(unknown)}: allowed are {', '.join(sorted(keys))}")
    content: dict[str, Any] = {k: bool(answers[k]) for k in keys if k in answers}
    if notes.strip():
        content["notes"] = notes.strip()
    with wb.unit_of_work() as uow:
        return _save(uow, uow.project(slug), CHECKLIST, content)


def save_framing(wb: Workbench, slug: str, fields: dict[str, Any], features: list[dict[str, Any]]) -> int:
    """Save the stage 2 framing; each feature: name, type, source, available_at_serving, pii."""
    content: dict[str, Any] = _clean_text(fields, FRAMING_FIELDS)
    seen: set[str] = set()
    spec = []
    for i, feature in enumerate(features, start=1):
        name = str(feature.get("name", "")).strip()
        if not name:
            raise WorkbenchError(f"feature {i} has no name: give every feature a column name")
        if name in seen:
            raise WorkbenchError(f"feature '{name}' is listed twice: keep one entry per feature")
        seen.add(name)
        ftype = str(feature.get("type", "")).strip()
        if ftype not in FEATURE_TYPES:
            raise WorkbenchError(f"feature '{name}' has type '{ftype}': choose one of {', '.join(FEATURE_TYPES)}")
        spec.append(
            {
                "name": name,
                "type": ftype,
                "source": str(feature.get("source", "")).strip(),
                "available_at_serving": feature.get("available_at_serving"),
                "pii": feature.get("pii"),
            }
        )
    content["features"] = spec
    with wb.unit_of_work() as uow:
        return _save(uow, uow.project(slug), FRAMING, content)
