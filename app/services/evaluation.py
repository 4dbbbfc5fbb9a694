"""Opening the sealed test set, and reproducing a run.

The test part of a split is sealed: training and comparisons never read it. Scoring a run on
it is an explicit, audited action, and a second look within one experiment is flagged by the
stage 4 gate (choosing among models by their test scores would make the test set a second
validation set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from app.errors import NotFound, WorkbenchError
from app.services import jobs as job_records
from app.services.training import project_run, spec_of
from app.services.workbench import Workbench, find_project
from storage.models import Run, utcnow

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback

REPRODUCE_TOLERANCE = 1e-9


def project_of_run(session, run_id: int) -> str:  # type: ignore[no-untyped-def]
    from storage.models import Experiment, Project

    row = session.execute(select(Project.slug).join(Experiment, Experiment.project_id == Project.id)
                          .join(Run, Run.experiment_id == Experiment.id).where(Run.id == run_id)).first()
    if row is None:
        raise NotFound(f"no run {run_id}: list a project's runs with `mlwb runs PROJECT`")
    return row[0]


@dataclass(frozen=True)
class TestEvaluation:
    run_id: int
    metrics: dict[str, float]
    looks_in_experiment: int
    run_number: int | None = None  # "run 3" of the project


def score_on_test(
    wb: Workbench, runner: JobRunner, slug: str, run_id: int, *, on_progress: ProgressCallback | None = None
) -> TestEvaluation:
    with wb.read() as session:
        project = find_project(session, slug)
        run = project_run(session, project, run_id)
        if run.artifact_sha256 is None:
            raise WorkbenchError(f"run {run_id} is a tuning trial without a model: score its parent run instead")
        if run.test_scored_at is not None:
            return TestEvaluation(run.id, dict(run.test_metrics), 1, run.number)
        model_bytes = wb.artifacts.get_bytes(run.artifact_sha256, ".skops")
    spec = spec_of(wb, slug, run)
    job_id = job_records.create_job(wb, "test", slug, {"run": run_id})
    metrics: dict[str, float] = runner.execute(job_id, "app.ml.sealed_test:test_task",
                                               {"model_bytes": model_bytes, "spec": spec}, on_progress)
    with wb.unit_of_work() as uow:
        run = uow.session.get(Run, run_id)
        run.test_metrics, run.test_scored_at, run.test_scored_by = metrics, utcnow(), uow.actor
        looks = sum(1 for r in uow.session.query(Run).filter(Run.experiment_id == run.experiment_id,
                                                            Run.test_scored_at.is_not(None)))
        uow.audit("run.test_scored", "run", run_id, project=slug, metrics=metrics, looks_in_experiment=looks)
        job_records.complete_job(uow, job_id, {"run": run_id})
        return TestEvaluation(run_id, metrics, looks, run.number)


@dataclass(frozen=True)
class Reproduction:
    run_id: int
    matches: bool
    max_difference: float
    original: dict[str, float]
    reproduced: dict[str, float]
    run_number: int | None = None  # "run 3" of the project
    project: str | None = None


def reproduce_run(
    wb: Workbench, runner: JobRunner, slug: str | None, run_id: int, *, on_progress: ProgressCallback | None = None
) -> Reproduction:
    """Retrain a run from its recorded inputs and say whether every validation metric matches.

    ``slug`` may be None: run ids are unique across projects, so the run names its project.
    """
    with wb.read() as session:
        if slug is None:
            slug = project_of_run(session, run_id)
        run = project_run(session, find_project(session, slug), run_id)
        if run.parent_run_id is not None:
            raise WorkbenchError(f"run {run_id} is a tuning trial: reproduce its parent run {run.parent_run_id}")
        original = {k: float(v) for k, v in run.metrics.items() if isinstance(v, (int, float))}
    spec = spec_of(wb, slug, run)
    job_id = job_records.create_job(wb, "reproduce", slug, {"run": run_id})
    result = runner.execute(job_id, "app.ml.tasks:train_task", spec, on_progress)
    reproduced = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float))}
    shared = set(original) & set(reproduced)
    diffs = [abs(original[k] - reproduced[k]) for k in shared if not (math.isnan(original[k]) and math.isnan(reproduced[k]))]
    max_diff = max(diffs, default=0.0)
    matches = bool(shared) and set(original) == set(reproduced) and max_diff <= REPRODUCE_TOLERANCE
    with wb.unit_of_work() as uow:
        uow.audit("run.reproduced", "run", run_id, project=slug, matches=matches, max_difference=max_diff)
        job_records.complete_job(uow, job_id, {"run": run_id, "matches": matches, "max_difference": max_diff})
    return Reproduction(run_id, matches, max_diff, original, reproduced, run.number, slug)
