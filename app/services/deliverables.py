"""Stage 1 and 2 documents: the problem statement, the ML checklist and the framing.

Each save is one audited revision; the audit payload records which fields changed, so the
trail alone answers "who changed the success threshold, and when".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.lifecycle import FRAMING_FIELDS, ML_CHECKLIST, STATEMENT_FIELDS
from app.ml.catalogue import PROBLEM_TYPES, stated_metric, stated_threshold
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import DatasetVersion, Project, StageDeliverable

STATEMENT = "problem_statement"
CHECKLIST = "ml_checklist"
FRAMING = "framing"
#: Feature guesses made from a dataset's profile (``propose_features``), kept apart from the
#: framing so no gate, trainer or report ever reads a guess as a person's decision.
FRAMING_PROPOSAL = "framing_proposal"
FEATURE_TYPES = ("numeric", "categorical", "boolean", "datetime", "text")
KIND_STAGE = {STATEMENT: 1, CHECKLIST: 1, FRAMING: 2}
_STAGE_OF = {**KIND_STAGE, FRAMING_PROPOSAL: 2}


def _comparison(text: object) -> str:
    """The comparison a statement's threshold means: ≤ for a stated error (RMSE, log loss), else ≥."""
    from app.ml.catalogue import lower_is_better

    try:
        return "≤" if text and lower_is_better(stated_metric(str(text))) else "≥"
    except ValueError:
        return "≥"


def stage1_outcomes(s: dict[str, Any], checklist: dict[str, Any]) -> dict[str, tuple[bool | None, str]]:
    """The stage 1 gate's checks on a statement and a checklist: (passed, detail) by check id.

    Here, beside the documents, so the stage gate (``app.services.gates``) and the data import's
    stage-order rule (``app.services.datasets``) judge "the statement is approved" one way.
    """
    need = ["objective", "stakeholders_gain", "stakeholders_lose", "feasibility_data"]
    missing = [k for k in need if not s.get(k)]
    answered = [k for k, v in checklist.items() if k != "notes"]
    no = [k for k in answered if checklist[k] is False]
    unanswered = [k for k, _ in ML_CHECKLIST if k not in checklist]
    return {
        "statement_complete": (not missing, "missing: " + ", ".join(missing) if missing else "complete"),
        "metrics_linked": (
            bool(s.get("business_metric") and s.get("ml_metric") and s.get("ml_metric_threshold")),
            (f"{s.get('business_metric', '?')} ← {s.get('ml_metric', '?')} {_comparison(s.get('ml_metric'))} "
             f"{s.get('ml_metric_threshold', '?')}"),
        ),
        "baseline_named": (bool(s.get("baseline_heuristic")), s.get("baseline_heuristic", "none")),
        "ml_appropriate": (
            len(answered) == len(ML_CHECKLIST) and not no,
            f"answered no: {', '.join(no)}" if no else (
                "not answered" if not answered else
                f"unanswered: {', '.join(unanswered)}" if unanswered else "answered in favour"),
        ),
    }


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
            project_id=project.id, stage=_STAGE_OF[kind], kind=kind, content=content, revision=1,
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


def statement_content(fields: dict[str, Any], problem_type: str | None = None) -> dict[str, str]:
    """The statement ``fields`` as they would be stored, or a WorkbenchError saying what is wrong.

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
    return content


def save_statement_in(uow: UnitOfWork, project: Project, content: dict[str, str],
                      problem_type: str | None = None) -> int:
    """Store checked statement content (``statement_content``) in the caller's unit of work."""
    if problem_type is not None and problem_type != project.problem_type:
        uow.audit("project.problem_type_changed", "project", project.id, project=project.slug,
                  before=project.problem_type, after=problem_type)
        project.problem_type = problem_type
    return _save(uow, project, STATEMENT, content)


def save_problem_statement(
    wb: Workbench, slug: str, fields: dict[str, Any], *, problem_type: str | None = None
) -> int:
    """Save the whole stage 1 statement (fields left out are cleared); returns the new revision."""
    content = statement_content(fields, problem_type)
    with wb.unit_of_work() as uow:
        return save_statement_in(uow, uow.project(slug), content, problem_type)


def checklist_content(answers: dict[str, bool | None], notes: str = "") -> dict[str, Any]:
    """The checklist as it would be stored; an answer of None (or left out) is unanswered."""
    keys = {k for k, _ in ML_CHECKLIST}
    unknown = sorted(set(answers) - keys)
    if unknown:
        raise WorkbenchError(f"unknown checklist item(s) {', '.join(unknown)}: allowed are {', '.join(sorted(keys))}")
    content: dict[str, Any] = {k: bool(answers[k]) for k, _ in ML_CHECKLIST if answers.get(k) is not None}
    if notes.strip():
        content["notes"] = notes.strip()
    return content


def save_checklist_in(uow: UnitOfWork, project: Project, content: dict[str, Any]) -> int:
    return _save(uow, project, CHECKLIST, content)


def save_ml_checklist(wb: Workbench, slug: str, answers: dict[str, bool], notes: str = "") -> int:
    content = checklist_content(answers, notes)
    with wb.unit_of_work() as uow:
        return save_checklist_in(uow, uow.project(slug), content)


def framing_content(fields: dict[str, Any], features: list[dict[str, Any]]) -> dict[str, Any]:
    """The framing as it would be stored; each feature: name, type, source, available_at_serving, pii
    (True, False, or None for "not yet said")."""
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
        for flag in ("available_at_serving", "pii"):
            if feature.get(flag) not in (True, False, None):
                raise WorkbenchError(f"feature '{name}' has {flag} = {feature.get(flag)!r}: say yes, no or leave it open")
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
    return content


def save_framing_in(uow: UnitOfWork, project: Project, content: dict[str, Any]) -> int:
    return _save(uow, project, FRAMING, content)


def save_framing(wb: Workbench, slug: str, fields: dict[str, Any], features: list[dict[str, Any]]) -> int:
    """Save the stage 2 framing; each feature: name, type, source, available_at_serving, pii."""
    content = framing_content(fields, features)
    with wb.unit_of_work() as uow:
        return save_framing_in(uow, uow.project(slug), content)


# --- Feature guesses a person confirms -------------------------------------------------------
#
# `mlwb frame --infer-from DATASET` reads a dataset version's schema and column names and
# proposes each feature's type, serving-time availability and personal-data flag. Guesses are
# stored as their own document (FRAMING_PROPOSAL), never in the framing: the stage 2 gate, the
# trainer and the reports read only the framing, so nothing guessed counts until a person
# confirms it (`mlwb frame --confirm`), and the audit trail says who confirmed what.

_PII_WORDS = ("name", "email", "e_mail", "mail", "phone", "mobile", "address", "street", "zip", "zipcode",
              "postcode", "postal", "ssn", "passport", "birth", "dob", "birthday", "age", "gender", "sex",
              "ip", "ipaddress", "iban", "account", "card", "lat", "lon", "latitude", "longitude", "user",
              "customer", "patient", "person", "religion", "ethnicity", "race", "nationality")
_AFTER_OUTCOME_WORDS = ("outcome", "result", "label", "after", "future", "post", "resolved", "refund",
                        "chargeback", "closed", "final", "settled")


def _words(name: str) -> set[str]:
    """The words of a column name: ``customerEmail`` and ``customer_email`` both give customer, email."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w}


def infer_feature(name: str, kind: str, unique: int, n_rows: int, target: str | None) -> dict[str, Any]:
    """One column's proposed feature entry, with ``basis``: why each guess was made."""
    words = _words(name)
    pii_hit = sorted(words & set(_PII_WORDS))
    after_hit = sorted(words & set(_AFTER_OUTCOME_WORDS))
    target_words = _words(target) if target else set()
    echoes_target = bool(target_words and target_words <= words)
    ftype = kind if kind in FEATURE_TYPES else "categorical"
    type_basis = f"stored as {kind}"
    if kind == "categorical" and n_rows and unique > 0.5 * n_rows:
        type_basis += f"; {unique:,} distinct values in {n_rows:,} rows: an identifier or free text?"
    if after_hit or echoes_target:
        serving, serving_basis = False, (
            f"the name ({', '.join(after_hit) or 'it repeats the target'}) suggests it is known only after the outcome")
    else:
        serving, serving_basis = True, "nothing in the name suggests it arrives after prediction time"
    if pii_hit:
        pii, pii_basis = True, f"the name suggests personal data ({', '.join(pii_hit)})"
    else:
        pii, pii_basis = False, "the name does not suggest personal data: look at the values"
    return {"name": name, "type": ftype, "source": "", "available_at_serving": serving, "pii": pii,
            "basis": {"type": type_basis, "available_at_serving": serving_basis, "pii": pii_basis}}


def propose_features(wb: Workbench, slug: str, dataset_id: int | None, *, target: str | None = None) -> dict[str, Any]:
    """Guess the feature spec from a dataset version and keep it as a proposal (audited); the
    framing itself is not touched. Returns the stored proposal."""
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        dataset = _dataset(uow.session, project, dataset_id)
        target = target or dataset.target
        if target and target not in dataset.schema:
            raise WorkbenchError(f"target '{target}' is not a column of dataset version {dataset.id} "
                                 f"(columns: {', '.join(dataset.schema)})")
        columns = dataset.profile.get("columns", dataset.profile)
        features = [
            infer_feature(name, kind, int((columns.get(name) or {}).get("unique", 0)), dataset.n_rows, target)
            for name, kind in dataset.schema.items() if name != target
        ]
        for f in features:
            f["source"] = f"dataset version {dataset.id} ({dataset.source_name})"
        proposal = {"dataset_version": dataset.id, "target": target, "proposed_by": uow.actor,
                    "features": features}
        _save(uow, project, FRAMING_PROPOSAL, proposal)
        return proposal


def _dataset(session: Session, project: Project, dataset_id: int | None) -> DatasetVersion:
    """A training dataset version of ``project`` (the latest when ``dataset_id`` is None)."""
    query = select(DatasetVersion).where(DatasetVersion.project_id == project.id)
    if dataset_id is None:
        row = session.scalars(query.where(DatasetVersion.role == "training").order_by(DatasetVersion.id.desc())).first()
    else:
        row = session.scalars(query.where(DatasetVersion.id == dataset_id)).first()
    if row is None:
        which = f"no dataset version {dataset_id}" if dataset_id is not None else "no training dataset yet"
        raise NotFound(f"project '{project.slug}' has {which}: list them with `mlwb data list {project.slug}`")
    return row


def framing_proposal(wb: Workbench, slug: str) -> dict[str, Any]:
    with wb.read() as session:
        return deliverable(session, find_project(session, slug), FRAMING_PROPOSAL)


@dataclass(frozen=True)
class Confirmation:
    """What ``confirm_proposals`` did: the features it took into the framing, the proposals it
    left because the framing already says something about that feature, and the new revision."""

    confirmed: tuple[str, ...]
    kept_existing: tuple[str, ...]
    revision: int


def confirm_proposals(wb: Workbench, slug: str, names: list[str] | None = None) -> Confirmation:
    """Take proposed features (all, or ``names``) into the framing as this person's decision.

    A feature the framing already lists keeps what the person wrote there. The proposal keeps
    what was not confirmed, so it can be confirmed later or overridden one by one.
    """
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        proposal = deliverable(uow.session, project, FRAMING_PROPOSAL)
        proposed = {f["name"]: f for f in proposal.get("features", [])}
        if not proposed:
            raise WorkbenchError(f"'{slug}' has no proposed features: make some with "
                                 f"`mlwb frame {slug} --infer-from DATASET`")
        wanted = list(proposed) if not names else names
        unknown = [n for n in wanted if n not in proposed]
        if unknown:
            raise WorkbenchError(f"no proposed feature named {', '.join(unknown)}: proposed are {', '.join(proposed)}")
        framing = deliverable(uow.session, project, FRAMING)
        spec = list(framing.get("features", []))
        existing = {f["name"] for f in spec}
        taken = [n for n in wanted if n not in existing]
        kept = [n for n in wanted if n in existing]
        spec += [{k: proposed[n][k] for k in ("name", "type", "source", "available_at_serving", "pii")} for n in taken]
        fields = {k: v for k, v in framing.items() if k != "features"}
        if not fields.get("target") and proposal.get("target"):
            fields["target"] = proposal["target"]
        revision = _save(uow, project, FRAMING, framing_content(fields, spec))
        remaining = [f for n, f in proposed.items() if n not in wanted]
        _save(uow, project, FRAMING_PROPOSAL, {**proposal, "features": remaining})
        uow.audit("framing.proposals_confirmed", "project", project.id, project=slug,
                  dataset_version=proposal.get("dataset_version"), confirmed=taken, kept_existing=kept)
        return Confirmation(tuple(taken), tuple(kept), revision)
