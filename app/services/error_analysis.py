"""Error analysis of a run: where and for whom it fails, computed in a worker on validation data.

The result is stored as a JSON artifact linked from the run (the newest analysis wins) and
audited, so the report and a reviewer read the same evidence. A fairness analysis that finds a
group the model never selects (or whose positives it never finds), or a gap between groups over
the profile's ``FAIRNESS_MAX_DISPARITY``, raises findings in the same transaction, on the model
version registered from the run if there is one; the stage 4 gate's ``fairness_reviewed`` check
waits until they are closed or accepted. Running the same analysis again raises nothing new.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import WorkbenchError
from app.lifecycle import FAIRNESS_MAX_DISPARITY, MAX_TITLE_CHARS
from app.services import jobs as job_records
from app.services.datasets import dataset_columns
from app.services.findings import raise_finding
from app.services.training import project_run, spec_of
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import AuditEvent, Finding, ModelVersion, Project, Run

FAIRNESS = "fairness"  # the source of the findings a fairness analysis raises

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback


def analyse_run(
    wb: Workbench,
    runner: JobRunner,
    slug: str,
    run_id: int,
    *,
    segments: tuple[str, ...] = (),
    sensitive: str | None = None,
    learning_curve: bool = False,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    with wb.read() as session:
        project = find_project(session, slug)
        run = project_run(session, project, run_id)
        if run.artifact_sha256 is None:
            raise WorkbenchError(f"run {run_id} is a tuning trial without a model: analyse its parent run")
        model_bytes = wb.artifacts.get_bytes(run.artifact_sha256, ".skops")
    spec = spec_of(wb, slug, run)
    known = dataset_columns(wb, slug, run.dataset_version_id)
    unknown = [c for c in (*segments, *( [sensitive] if sensitive else [])) if c not in known]
    if unknown:
        raise WorkbenchError(f"column(s) {', '.join(unknown)} are not in dataset version {run.dataset_version_id}")
    job_id = job_records.create_job(wb, "error_analysis", slug, {"run": run_id, "segments": list(segments),
                                                                 "sensitive": sensitive})
    result = runner.execute(job_id, "app.ml.analysis_task:error_analysis_task",
                            {"model_bytes": model_bytes, "spec": spec, "segments": list(segments),
                             "sensitive": sensitive, "learning_curve": learning_curve}, on_progress)
    artifact = wb.artifacts.put_bytes(json.dumps(result, separators=(",", ":")).encode(), ".json")
    with wb.unit_of_work() as uow:
        run = uow.session.get(Run, run_id)
        run.analysis_sha256 = artifact
        fair = result.get("fairness") or {}
        raised = _raise_fairness_findings(uow, uow.project(slug), run, fair) if fair else []
        uow.audit("run.analysed", "run", run_id, project=slug, artifact=artifact, segments=list(segments),
                  sensitive=sensitive, fairness=bool(fair),
                  demographic_parity_difference=fair.get("demographic_parity_difference"),
                  equalized_odds_difference=fair.get("equalized_odds_difference"), fairness_findings=raised)
        job_records.complete_job(uow, job_id, {"run": run_id, "artifact": artifact})
    return result


def _raise_fairness_findings(uow: UnitOfWork, project: Project, run: Run, fair: dict[str, Any]) -> list[int]:
    """Findings for what the fairness result shows (``app.ml.evaluation.fairness_concerns`` at the
    profile's disparity limit), skipping any this project already has with the same title."""
    from app.ml.evaluation import fairness_concerns

    concerns = fairness_concerns(fair, max_disparity=FAIRNESS_MAX_DISPARITY[project.maturity], label=f"run {run.id}")
    known = set(uow.session.scalars(select(Finding.title).where(Finding.project_id == project.id,
                                                                  Finding.source == FAIRNESS)))
    mv = uow.session.scalars(select(ModelVersion).where(ModelVersion.run_id == run.id)).first()
    raised = []
    for concern in concerns:
        if len(concern["title"]) > MAX_TITLE_CHARS:  # a long group name: the whole title goes in concerns
            concern = concern | {"title": concern["title"][:MAX_TITLE_CHARS - 1] + "…",
                                 "concerns": f"{concern['concerns']} ({concern['title']})"}
        if concern["title"] in known:
            continue
        raised.append(raise_finding(uow, project, mv, source=FAIRNESS, **concern).id)
    return raised


#: The problem types whose error analysis measures group fairness (selection and error rates).
FAIRNESS_MEASURED = ("binary_classification", "ranking")


def groups_examined(session: Session, project: Project) -> dict[int, list[str]]:
    """Per run of ``project``, the columns its error analyses examined group by group: the
    sensitive attribute fairness was measured across, then the segmented columns (read from the
    audited analyses)."""
    import json

    out: dict[int, list[str]] = {}
    for entity_id, payload in session.execute(select(AuditEvent.entity_id, AuditEvent.payload).where(
            AuditEvent.project_slug == project.slug, AuditEvent.action == "run.analysed").order_by(AuditEvent.seq)):
        event = json.loads(payload)
        # Events before the "fairness" flag: a parity difference was recorded when fairness was measured.
        measured = event.get("fairness", event.get("demographic_parity_difference") is not None)
        columns = out.setdefault(int(entity_id), [])
        if measured and event.get("sensitive"):
            columns.insert(0, str(event["sensitive"]))
        columns.extend(str(c) for c in event.get("segments") or ())
    return {run: list(dict.fromkeys(columns)) for run, columns in out.items()}


def fairness_analyses(session: Session, project: Project) -> dict[int, str]:
    """The runs of ``project`` whose error analysis measured group fairness, with the attribute
    (an analysis without a sensitive attribute does not count)."""
    import json

    out: dict[int, str] = {}
    for entity_id, payload in session.execute(select(AuditEvent.entity_id, AuditEvent.payload).where(
            AuditEvent.project_slug == project.slug, AuditEvent.action == "run.analysed").order_by(AuditEvent.seq)):
        event = json.loads(payload)
        measured = event.get("fairness", event.get("demographic_parity_difference") is not None)
        if measured and event.get("sensitive"):
            out[int(entity_id)] = str(event["sensitive"])
    return out


def open_fairness_findings(session: Session, project: Project) -> list[Finding]:
    """The project's fairness findings not yet closed or accepted."""
    from app.services.findings import SETTLED

    return list(session.scalars(select(Finding).where(
        Finding.project_id == project.id, Finding.source == FAIRNESS, Finding.status.not_in(SETTLED))
        .order_by(Finding.id)))


def latest_analysis(wb: Workbench, slug: str, run_id: int) -> dict[str, Any] | None:
    with wb.read() as session:
        run = project_run(session, find_project(session, slug), run_id)
        sha = run.analysis_sha256
    return json.loads(wb.artifacts.get_bytes(sha, ".json")) if sha else None
