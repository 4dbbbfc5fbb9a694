"""Stage 4: training runs in worker processes and logging them with their lineage; the metric
a project's runs are judged on, and a logged run found again (by id, or as the spec it was
trained from) for the services that compare, evaluate or reproduce it.

A run is written only after its worker succeeded, together with the job's success and the
audit event, in one transaction: a cancelled or failed job leaves no partial run. Training
never looks at the test part of the split: that is sealed until `evaluation.score_on_test`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import GateFailed, NotFound, WorkbenchError
from app.ml.catalogue import BASELINE_KINDS, DOMAIN_METRICS, MODEL_KINDS, project_metric, stated_metric
from app.services import jobs as job_records
from app.services.datasets import dataset_path, find_dataset, split_assignments
from app.services.deliverables import FRAMING, STATEMENT, deliverable
from app.services.numbering import next_number, numbers_of, run_label
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import DatasetVersion, Experiment, Project, Run, Split

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback

CV_KINDS = ("kfold", "stratified", "timeseries")
TUNE_METHODS = ("grid", "random", "bayes")
DEFAULT_EXPERIMENT = "default"


def primary_metric(project: Project) -> str:
    """The metric a project's runs are judged on (``app.ml.catalogue`` knows it per problem type)."""
    return project_metric(project.problem_type)


def validation_metric(project: Project) -> str:
    return f"val_{primary_metric(project)}"


_CLICK_THROUGH = re.compile(r"\bctr\b|click[\s-]?through", re.IGNORECASE)


def extra_metrics(problem_type: str, statement: dict[str, Any]) -> list[str]:
    """The metrics beyond the problem type's own that a project's runs record: the click-through
    metric of a ranking project or of one whose statement is about click-through (never of a
    loan or a medical model), and the NDCG cut-off a ranking statement names."""
    try:
        stated = stated_metric(str(statement["ml_metric"])) if statement.get("ml_metric") else None
    except ValueError:  # a statement saved before metrics were checked: judged as unknown at the gate
        stated = None
    out: list[str] = []
    about_clicks = any(_CLICK_THROUGH.search(str(statement.get(k) or ""))
                       for k in ("objective", "business_metric", "ml_metric"))
    if problem_type in DOMAIN_METRICS["ctr_at_top10pct"] and (
            problem_type == "ranking" or about_clicks or stated == "ctr_at_top10pct"):
        out.append("ctr_at_top10pct")
    if problem_type == "ranking" and stated and stated.startswith("ndcg_at_") and stated != "ndcg_at_10":
        out.append(stated)
    return out


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
    artifact_sha256: str | None
    duration_s: float
    created_at: datetime
    created_by: str
    problem_type: str = "binary_classification"
    parent_run_id: int | None = None
    cv_metrics: dict[str, Any] | None = None
    tuning: dict[str, Any] | None = None
    test_metrics: dict[str, Any] | None = None
    number: int | None = None  # "run 3" of the project (None: a tuning trial); ``app.services.numbering``
    dataset_number: int | None = None  # the number of the dataset version it was trained on
    parent_number: int | None = None  # a tuning trial's run, by number (``parent_run_id`` is its id)
    # "external": trained outside the workbench and logged through `mlwb` (app.services.external_runs)
    origin: str | None = None
    code_version: dict[str, Any] | None = None
    tags: dict[str, Any] | None = None
    metric_history: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return run_label(self.number)


def run_view(run: Run, experiment: str, dataset_number: int | None = None,
             parent_number: int | None = None) -> RunView:
    return RunView(
        run.id, experiment, run.model_kind, run.is_baseline, run.seed, dict(run.params), dict(run.metrics),
        dict(run.environment), run.dataset_version_id, run.split_id, run.artifact_sha256, run.duration_s,
        run.created_at, run.created_by, run.problem_type, run.parent_run_id, dict(run.cv_metrics),
        dict(run.tuning), dict(run.test_metrics), run.number, dataset_number, parent_number, run.origin,
        run.code_version, run.tags, run.metric_history,
    )


def project_run(session: Session, project: Project, run_id: int) -> Run:
    run = session.get(Run, run_id)
    experiment = session.get(Experiment, run.experiment_id) if run else None
    if run is None or experiment is None or experiment.project_id != project.id:
        raise NotFound(f"project '{project.slug}' has no run {run_id}: list runs with `mlwb runs {project.slug}`")
    return run


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


def _blocking_leaks(split: Split, features: dict[str, str]) -> list[dict[str, Any]]:
    """Error-level leakage that would make this run's metrics meaningless.

    A finding about a feature the run does not use (one unavailable at serving time, which
    training leaves out anyway) does not block it; shared rows and temporal overlap always do.
    """
    return [f for f in split.leakage
            if f.get("severity") == "error" and (f.get("feature") is None or f.get("feature") in features)]


@dataclass(frozen=True)
class TrainingPlan:
    job_id: int
    payload: dict[str, Any]
    split_id: int
    dataset_version_id: int


def plan_training(
    wb: Workbench,
    slug: str,
    kind: str,
    *,
    dataset_id: int | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    cv: int | None = None,
    cv_kind: str | None = None,
    tune: str | None = None,
    trials: int = 20,
    group_column: str | None = None,
    queue: bool = True,
) -> TrainingPlan:
    """Resolve data, split and features for one run, refuse leaked data, and queue the job."""
    if kind not in MODEL_KINDS:
        raise WorkbenchError(f"unknown model '{kind}': choose one of {', '.join(MODEL_KINDS)}")
    if tune is not None and tune not in TUNE_METHODS:
        raise WorkbenchError(f"unknown tuning method '{tune}': choose one of {', '.join(TUNE_METHODS)}")
    if cv is not None and cv < 2:
        raise WorkbenchError(f"--cv needs at least 2 folds, not {cv}")
    if trials < 1:
        raise WorkbenchError(f"--trials must be at least 1, not {trials}")
    with wb.read() as session:
        project = find_project(session, slug)
        dataset = find_dataset(session, project, dataset_id)
        split = session.scalars(
            select(Split).where(Split.dataset_version_id == dataset.id).order_by(Split.id.desc())
        ).first()
        if split is None:
            raise WorkbenchError(f"dataset version {dataset.id} has no split: create one with `mlwb data split {slug}`")
        features = _serving_features(session, project, dataset)
        leaks = _blocking_leaks(split, features)
        if leaks:
            found = "; ".join(f"{f['check']} {f.get('feature') or ''}: {f['evidence']}" for f in leaks)
            raise GateFailed(
                f"split {split.id} of dataset version {dataset.id} leaks — {found}. Fix the data, or mark the "
                "feature unavailable at serving time in the framing, then split again"
            )
        baseline_feature = _baseline_feature(session, project, features)
        if kind == "popularity_baseline" and baseline_feature is None:
            raise WorkbenchError(
                "the baseline heuristic in the problem statement names no numeric feature: "
                "write it like 'rank items by item_popularity'"
            )
        if group_column is not None and group_column not in dataset.schema:
            raise WorkbenchError(f"group column '{group_column}' is not a column of dataset version {dataset.id}")
        if project.problem_type == "ranking" and not (group_column or split.group_column):
            raise WorkbenchError("a ranking model needs the column that groups rows into queries "
                                 "(a user or session): pass --group-column COLUMN")
        classification = project.problem_type in ("binary_classification", "multiclass_classification")
        cv_spec = {"kind": cv_kind or ("stratified" if classification else "kfold"), "k": cv} if cv else None
        if cv_spec and cv_spec["kind"] not in CV_KINDS:
            raise WorkbenchError(f"unknown cross-validation '{cv_spec['kind']}': choose one of {', '.join(CV_KINDS)}")
        payload = {
            "kind": kind,
            "problem_type": project.problem_type,
            "dataset_path": str(dataset_path(wb, dataset)),
            "target": dataset.target or "",
            "features": features,
            "assignments": split_assignments(wb, split),
            "seed": seed,
            "params": params or {},
            "baseline_feature": baseline_feature,
            "group_column": group_column or split.group_column,
            "time_column": split.time_column or dataset.time_column,
            "cv": cv_spec,
            "tune": {"method": tune, "trials": trials} if tune else None,
            "extra_metrics": extra_metrics(project.problem_type, deliverable(session, project, STATEMENT)),
        }
        split_id, dataset_id = split.id, dataset.id
    job_id = 0
    if queue:
        job_id = job_records.create_job(
            wb, "train", slug, {"kind": kind, "seed": seed, "split": split_id, "dataset_version": dataset_id,
                                "params": params or {}, "cv": cv_spec, "tune": payload["tune"]},
        )
    return TrainingPlan(job_id, payload, split_id, dataset_id)


def spec_of(wb: Workbench, slug: str, run: Run) -> dict[str, Any]:
    """The training spec a run was made from, rebuilt from the registry (its own dataset and split)."""
    if run.origin == "external":
        raise WorkbenchError(f"run {run.id} was trained outside the workbench: it cannot be refitted here; "
                             f"re-run its code ({(run.code_version or {}).get('git_commit') or 'no git commit'})")
    params = dict(run.params)
    plan = plan_training(wb, slug, run.model_kind, dataset_id=run.dataset_version_id, seed=run.seed,
                         params=params.get("overrides") or {}, queue=False)
    if plan.split_id != run.split_id:
        raise WorkbenchError(f"run {run.id} was trained on split {run.split_id}, which is no longer the latest "
                             f"split of dataset version {run.dataset_version_id}: it cannot be re-run as it was")
    # A run logged before the project's extra metrics were recorded with it computed the
    # click-through metric for every binary run: reproduce it as it was.
    legacy = ["ctr_at_top10pct"] if run.problem_type == "binary_classification" else []
    return {**plan.payload, "features": params.get("features", plan.payload["features"]),
            "cv": params.get("cv"), "tune": params.get("tune"),
            "extra_metrics": params.get("extra_metrics", legacy)}


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
    """Persist a finished training: model and validation predictions, the run and its tuning
    trials as child runs, the job's success and the audit event, in one transaction."""
    artifact = wb.artifacts.put_bytes(result.model_bytes, ".skops")
    predictions = wb.artifacts.put_bytes(json.dumps(result.val_predictions, separators=(",", ":")).encode(), ".json")
    spec = plan.payload
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        exp = _experiment(uow, project, experiment)
        run = Run(
            project_id=project.id, number=next_number(uow.session, Run, project.id),
            experiment_id=exp.id, dataset_version_id=plan.dataset_version_id, split_id=plan.split_id,
            job_id=plan.job_id, model_kind=result.kind, problem_type=result.problem_type,
            is_baseline=result.kind in BASELINE_KINDS, seed=spec["seed"],
            params={**result.params, "features": spec["features"], "target": spec["target"],
                    "cv": spec["cv"], "tune": spec["tune"], "overrides": spec["params"],
                    "extra_metrics": spec.get("extra_metrics", [])},
            metrics=result.metrics, cv_metrics=result.cv_metrics,
            tuning={"best_params": result.best_params, "trials": len(result.trials)} if result.trials else {},
            environment=result.environment, artifact_sha256=artifact, predictions_sha256=predictions,
            duration_s=result.duration_s, created_by=uow.actor,
        )
        uow.session.add(run)
        uow.session.flush()
        for trial in result.trials:
            uow.session.add(Run(
                project_id=project.id, experiment_id=exp.id, dataset_version_id=plan.dataset_version_id, split_id=plan.split_id,
                job_id=plan.job_id, parent_run_id=run.id, model_kind=result.kind, problem_type=result.problem_type,
                is_baseline=run.is_baseline, seed=spec["seed"], params=dict(trial.get("params", {})),
                metrics={k: v for k, v in trial.items() if k.startswith("val_")},
                environment={}, artifact_sha256=None, duration_s=float(trial.get("duration_s", 0.0)),
                created_by=uow.actor,
            ))
        metric = validation_metric(project)
        uow.audit("run.logged", "run", run.id, project=slug, kind=result.kind, artifact=artifact,
                  split=plan.split_id, dataset_version=plan.dataset_version_id, trials=len(result.trials),
                  cv=spec["cv"], **{metric: result.metrics.get(metric)})
        job_records.complete_job(uow, plan.job_id, {"run_id": run.id})
        return run_view(run, exp.name, uow.session.get(DatasetVersion, plan.dataset_version_id).number)


def train(
    wb: Workbench,
    runner: JobRunner,
    slug: str,
    kind: str,
    *,
    on_progress: ProgressCallback | None = None,
    on_queued: Any = None,
    **options: Any,
) -> RunView:
    """Train one model in a worker process and log the run (blocks; call from a worker thread).

    ``options`` are those of `plan_training` (dataset_id, seed, params, cv, cv_kind, tune,
    trials, group_column).
    """
    plan = plan_training(wb, slug, kind, **options)
    if on_queued is not None:
        on_queued(plan.job_id)
    result = runner.execute(plan.job_id, "app.ml.tasks:train_task", plan.payload, on_progress)
    try:
        return record_run(wb, slug, plan, result)
    except Exception as exc:  # the run was not written: the job must not stay "running"
        job_records.mark_failed(wb, plan.job_id, f"could not record the run: {exc}")
        raise


def list_runs(wb: Workbench, slug: str, *, include_trials: bool = False) -> list[RunView]:
    """The project's runs; tuning trials (child runs) only when asked for."""
    with wb.read() as session:
        project = find_project(session, slug)
        query = (select(Run, Experiment.name).join(Experiment, Run.experiment_id == Experiment.id)
                 .where(Experiment.project_id == project.id))
        if not include_trials:
            query = query.where(Run.parent_run_id.is_(None))
        return run_views(session, session.execute(query.order_by(Run.id)).all())


def run_views(session: Session, rows: Sequence[tuple[Run, str]]) -> list[RunView]:
    """Views of (run, experiment name) rows, with their datasets' and parents' numbers read in
    two queries for the lot rather than one per run."""
    numbers = numbers_of(session, "dataset", {r.dataset_version_id for r, _ in rows})
    parents = numbers_of(session, "run", {r.parent_run_id for r, _ in rows if r.parent_run_id is not None})
    return [run_view(r, name, numbers.get(r.dataset_version_id), parents.get(r.parent_run_id or 0))
            for r, name in rows]
