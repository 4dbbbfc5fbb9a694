"""Stage 4: training runs in worker processes and logging them with their lineage.

A run is written only after its worker succeeded, together with the job's success and the
audit event, in one transaction: a cancelled or failed job leaves no partial run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.errors import WorkbenchError
from app.services import jobs as job_records
from app.services.comparison import primary_metric
from app.services.datasets import dataset_path, latest_training_dataset, split_assignments
from app.services.deliverables import FRAMING, STATEMENT, deliverable
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import DatasetVersion, Experiment, Project, Run, Split

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback

BASELINE_KINDS = frozenset({"popularity_baseline"})
DEFAULT_EXPERIMENT = "default"


@dataclass(frozen=True)
class RunView:
    id: int
    experiment: str
    model_kind: str
    is_baseline: bool
    seed: int
    params: dict[str, Any]
    metrics: dict[str, float]
    environment: dict[str, Any]
    dataset_version_id: int
    split_id: int
    artifact_sha256: str
    duration_s: float
    created_at: datetime
    created_by: str


def _run_view(run: Run, experiment: str) -> RunView:
    return RunView(
        run.id, experiment, run.model_kind, run.is_baseline, run.seed, dict(run.params), dict(run.metrics),
        dict(run.environment), run.dataset_version_id, run.split_id, run.artifact_sha256, run.duration_s,
        run.created_at, run.created_by,
    )


def model_kinds() -> dict[str, str]:
    from app.ml.training import MODEL_KINDS

    return dict(MODEL_KINDS)


def _serving_features(session, project: Project, dataset: DatasetVersion) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The framing's features that exist at serving time: only these may train a model."""
    framing = deliverable(session, project, FRAMING)
    spec = framing.get("features") or []
    if not spec:
        raise WorkbenchError(
            f"project '{project.slug}' has no feature spec: write the stage 2 framing before training"
        )
    usable = {f["name"]: ("numeric" if f["type"] == "numeric" else "categorical")
              for f in spec if f.get("available_at_serving") is True}
    absent = [name for name in usable if name not in dataset.schema]
    if absent:
        raise WorkbenchError(
            f"feature(s) {', '.join(absent)} from the framing are not columns of dataset version {dataset.id}"
        )
    if not usable:
        raise WorkbenchError("no feature in the framing is available at serving time: nothing can be trained")
    return usable


def _baseline_feature(session, project: Project, features: dict[str, str]) -> str | None:  # type: ignore[no-untyped-def]
    """The numeric feature the statement's baseline heuristic names (e.g. 'rank by item_popularity')."""
    text = deliverable(session, project, STATEMENT).get("baseline_heuristic", "")
    for name, kind in features.items():
        if kind == "numeric" and re.search(rf"\b{re.escape(name)}\b", text):
            return name
    return None


@dataclass(frozen=True)
class TrainingPlan:
    job_id: int
    payload: dict[str, Any]
    split_id: int
    dataset_version_id: int


def plan_training(
    wb: Workbench, slug: str, kind: str, *, seed: int = 0, params: dict[str, Any] | None = None
) -> TrainingPlan:
    """Resolve data, split and features for one run and queue its job."""
    kinds = model_kinds()
    if kind not in kinds:
        raise WorkbenchError(f"unknown model kind '{kind}': choose one of {', '.join(kinds)}")
    with wb.read() as session:
        project = find_project(session, slug)
        dataset = latest_training_dataset(session, project)
        split = session.scalars(
            select(Split).where(Split.dataset_version_id == dataset.id).order_by(Split.id.desc())
        ).first()
        if split is None:
            raise WorkbenchError(f"dataset version {dataset.id} has no split: create one with `mlwb data split {slug}`")
        features = _serving_features(session, project, dataset)
        baseline_feature = _baseline_feature(session, project, features)
        if kind in BASELINE_KINDS and baseline_feature is None:
            raise WorkbenchError(
                "the baseline heuristic in the problem statement names no numeric feature: "
                "write it like 'rank items by item_popularity'"
            )
        payload = {
            "kind": kind,
            "dataset_path": str(dataset_path(wb, dataset)),
            "target": dataset.target,
            "features": features,
            "assignments": split_assignments(wb, split),
            "seed": seed,
            "params": params or {},
            "baseline_feature": baseline_feature,
        }
        split_id, dataset_id = split.id, dataset.id
    job_id = job_records.create_job(
        wb, "train", slug, {"kind": kind, "seed": seed, "split": split_id, "dataset_version": dataset_id,
                            "params": params or {}},
    )
    return TrainingPlan(job_id, payload, split_id, dataset_id)


def _experiment(uow: UnitOfWork, project: Project, name: str) -> Experiment:
    experiment = uow.session.scalars(
        select(Experiment).where(Experiment.project_id == project.id, Experiment.name == name)
    ).first()
    if experiment is None:
        experiment = Experiment(project_id=project.id, name=name)
        uow.session.add(experiment)
        uow.session.flush()
        uow.audit("experiment.created", "experiment", experiment.id, project=project.slug, name=name)
    return experiment


def record_run(wb: Workbench, slug: str, plan: TrainingPlan, result: Any, *, experiment: str = DEFAULT_EXPERIMENT) -> RunView:
    """Persist a finished training: model artifact, run row, job success and audit, together."""
    artifact = wb.artifacts.put_bytes(result.model_bytes, ".skops")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        exp = _experiment(uow, project, experiment)
        run = Run(
            experiment_id=exp.id, dataset_version_id=plan.dataset_version_id, split_id=plan.split_id,
            job_id=plan.job_id, model_kind=result.kind, is_baseline=result.kind in BASELINE_KINDS,
            seed=plan.payload["seed"],
            params={**result.params, "features": plan.payload["features"], "target": plan.payload["target"]}, metrics=result.metrics,
            environment=result.environment, artifact_sha256=artifact, duration_s=result.duration_s,
            created_by=uow.actor,
        )
        uow.session.add(run)
        uow.session.flush()
        metric = primary_metric(project)
        uow.audit("run.logged", "run", run.id, project=slug, kind=result.kind, artifact=artifact,
                  split=plan.split_id, dataset_version=plan.dataset_version_id,
                  **{metric: result.metrics.get(metric)})
        job_records.complete_job(uow, plan.job_id, {"run_id": run.id})
        return _run_view(run, exp.name)


def train(
    wb: Workbench,
    runner: JobRunner,
    slug: str,
    kind: str,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    on_queued: Any = None,
) -> RunView:
    """Train one model in a worker process and log the run (blocks; call from a worker thread)."""
    plan = plan_training(wb, slug, kind, seed=seed, params=params)
    if on_queued is not None:
        on_queued(plan.job_id)
    result = runner.execute(plan.job_id, "app.ml.tasks:train_task", plan.payload, on_progress)
    try:
        return record_run(wb, slug, plan, result)
    except Exception as exc:  # the run was not written: the job must not stay "running"
        job_records.mark_failed(wb, plan.job_id, f"could not record the run: {exc}")
        raise


def list_runs(wb: Workbench, slug: str) -> list[RunView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.execute(
            select(Run, Experiment.name).join(Experiment, Run.experiment_id == Experiment.id)
            .where(Experiment.project_id == project.id).order_by(Run.id)
        ).all()
        return [_run_view(r, name) for r, name in rows]
