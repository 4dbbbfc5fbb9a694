"""Error analysis of a run: where and for whom it fails, computed in a worker on validation data.

The result is stored as a JSON artifact linked from the run (the newest analysis wins) and
audited, so the report and a reviewer read the same evidence.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from app.errors import WorkbenchError
from app.services import jobs as job_records
from app.services.datasets import dataset_columns
from app.services.training import project_run, spec_of
from app.services.workbench import Workbench, find_project
from storage.models import Run

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
        uow.audit("run.analysed", "run", run_id, project=slug, artifact=artifact, segments=list(segments),
                  sensitive=sensitive, demographic_parity_difference=fair.get("demographic_parity_difference"),
                  equalized_odds_difference=fair.get("equalized_odds_difference"))
        job_records.complete_job(uow, job_id, {"run": run_id, "artifact": artifact})
    return result


def latest_analysis(wb: Workbench, slug: str, run_id: int) -> dict[str, Any] | None:
    with wb.read() as session:
        run = project_run(session, find_project(session, slug), run_id)
        sha = run.analysis_sha256
    return json.loads(wb.artifacts.get_bytes(sha, ".json")) if sha else None
