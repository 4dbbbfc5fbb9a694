"""The statistical comparison of two runs of a project (the metric it judges them on is
``training.primary_metric``).

Comparisons use the runs' stored *validation* predictions on the same split, so the sealed
test part is never consulted to choose between models.

A pair is compared once per metric and test: the first comparison of run A with run B on the
project's metric (McNemar with a paired bootstrap on the validation rows, or the 5×2cv refits)
is the record, and asking again returns it, writing nothing. The bootstrap's interval depends on
its seed, so a second call with another seed would add a second, different row for the same
question, and re-running until an interval looks better is selective reporting; reports would
print the same comparison twice. A different test (5×2cv after McNemar) or another metric is
another question and is recorded once in its turn. The seed a comparison used is kept with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.errors import WorkbenchError
from app.ml.catalogue import greater_is_better
from app.services import jobs as job_records
from app.services.numbering import next_number, numbers_of, run_label
from app.services.training import RunView, primary_metric, project_run, run_view, spec_of, validation_metric
from app.services.workbench import Workbench, find_project
from storage.models import Comparison, DatasetVersion, Experiment, Run, Split

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback

ALPHA = 0.05


@dataclass(frozen=True)
class ComparisonView:
    id: int
    run_a: int
    run_b: int
    test: str
    metric: str
    difference: float
    ci: tuple[float, float]
    p_value: float
    alpha: float
    significant: bool
    data_part: str
    created_at: datetime
    created_by: str
    seed: int | None = None  # the bootstrap's seed (None: not recorded, or a test without one)
    repeated: bool = False  # this call found the comparison already recorded and wrote nothing
    run_a_number: int | None = None  # the runs' numbers in their project ("run 3"); run_a/run_b are ids
    run_b_number: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"test": self.test, "p_value": self.p_value, "metric": self.metric, "difference": self.difference,
                "ci": list(self.ci), "significant": self.significant, "alpha": self.alpha,
                "run_a": self.run_a, "run_b": self.run_b, "run_a_number": self.run_a_number,
                "run_b_number": self.run_b_number, "data": self.data_part, "seed": self.seed,
                "recorded_before": self.repeated}


def comparison_view(c: Comparison, *, repeated: bool = False) -> ComparisonView:
    """The view of ``c``, read while its session is open (the runs' numbers come from it)."""
    seed = (c.details or {}).get("seed")
    session = object_session(c)
    numbers = numbers_of(session, "run", {c.run_a_id, c.run_b_id}) if session is not None else {}
    return ComparisonView(c.id, c.run_a_id, c.run_b_id, c.test, c.metric, c.difference, (c.ci_low, c.ci_high),
                          c.p_value, c.alpha, c.significant, c.data_part, c.created_at, c.created_by,
                          seed if isinstance(seed, int) else None, repeated,
                          numbers.get(c.run_a_id), numbers.get(c.run_b_id))


VALIDATION = "validation"
REFITS = "train+validation (refits)"


def _recorded(session: Session, project_id: int, run_a: int, run_b: int, metric: str,
              data_part: str) -> Comparison | None:
    """The comparison of this pair on this metric and data already on record (the first one)."""
    return session.scalars(select(Comparison).where(
        Comparison.project_id == project_id, Comparison.run_a_id == run_a, Comparison.run_b_id == run_b,
        Comparison.metric == metric, Comparison.data_part == data_part).order_by(Comparison.id)).first()


def _aligned(pred_a: dict[str, Any], pred_b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Both runs' predictions on the same rows when one is a re-scoring kept to the validation
    rows its model never trained on (``rescore_run``) and the other scored all of them: the other
    is cut to those rows, so the pair is judged on rows neither model learned from. None when the
    rows differ otherwise."""
    def subset(full: dict[str, Any], rows: list[int]) -> dict[str, Any] | None:
        where = {r: i for i, r in enumerate(full.get("rows") or [])}
        if not rows or any(r not in where for r in rows):
            return None
        index = [where[r] for r in rows]
        return {**full, "rows": list(rows), **{k: [full[k][i] for i in index] for k in
                                                ("y_true", "y_pred", "y_score", "groups") if full.get(k)}}

    if pred_a.get("unseen_only"):
        cut = subset(pred_b, pred_a["rows"])
        return (pred_a, cut) if cut is not None else None
    if pred_b.get("unseen_only"):
        cut = subset(pred_a, pred_b["rows"])
        return (cut, pred_b) if cut is not None else None
    return None


def compare_runs(wb: Workbench, slug: str, run_a: int, run_b: int, *, seed: int = 0) -> ComparisonView:
    """Is run B better than run A on the same validation rows? Stored and audited.

    Classifiers get McNemar's test on their decisions and a paired bootstrap of the metric
    difference; regressors the bootstrap. B is significantly better when p < 0.05 and the
    difference points the right way. A pair already compared on the metric returns the recorded
    comparison (``repeated``) and writes nothing, whatever ``seed`` is given (module docstring).
    """
    from app.ml.comparison import compare_runs as compare_predictions

    if run_a == run_b:
        raise WorkbenchError("compare two different runs: RUN_A and RUN_B are the same")
    with wb.read() as session:
        project = find_project(session, slug)
        a, b = project_run(session, project, run_a), project_run(session, project, run_b)
        pair = f"{run_label(a.number)} and {run_label(b.number)}"
        if a.split_id != b.split_id:
            raise WorkbenchError(
                f"{pair} were trained on different splits ({a.split_id} and {b.split_id}): "
                "compare runs of the same split, or retrain one of them"
            )
        metric = primary_metric(project)
        recorded = _recorded(session, project.id, run_a, run_b, metric, VALIDATION)
        if recorded is not None:
            return comparison_view(recorded, repeated=True)
        missing = [run_label(r.number) for r in (a, b) if not r.predictions_sha256]
        from app.services.external_runs import imported_without_model

        for run in (a, b):
            if imported_without_model(run):
                raise WorkbenchError(f"{run_label(run.number)} {imported_without_model(run)}")
        if missing:
            raise WorkbenchError(f"{' and '.join(missing)} kept no validation predictions: retrain them")
        pred_a = json.loads(wb.artifacts.get_bytes(a.predictions_sha256, ".json"))
        pred_b = json.loads(wb.artifacts.get_bytes(b.predictions_sha256, ".json"))
        problem_type = project.problem_type
    if pred_a.get("rows") != pred_b.get("rows"):
        aligned = _aligned(pred_a, pred_b)
        if aligned is None:
            raise WorkbenchError(f"{pair} scored different validation rows: retrain one of them")
        pred_a, pred_b = aligned
    if problem_type in ("clustering", "ranking") or not pred_a.get("y_true"):
        raise WorkbenchError(
            f"runs of a {problem_type} project cannot be compared by McNemar or a paired bootstrap yet: "
            "compare their validation metrics in `mlwb runs`")
    try:
        result = compare_predictions(pred_a["y_true"], pred_a, pred_b, problem_type=problem_type, metric=metric,
                                     alpha=ALPHA, seed=seed)
    except ValueError as exc:
        raise WorkbenchError(f"{pair} cannot be compared: {exc}") from None
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        recorded = _recorded(uow.session, project.id, run_a, run_b, result["metric"], VALIDATION)
        if recorded is not None:  # another process recorded it while this one computed
            return comparison_view(recorded, repeated=True)
        row = Comparison(
            project_id=project.id, run_a_id=run_a, run_b_id=run_b, data_part=VALIDATION, test=result["test"],
            metric=result["metric"], difference=float(result["difference"]), ci_low=float(result["ci"][0]),
            ci_high=float(result["ci"][1]), p_value=float(result["p_value"]), alpha=ALPHA,
            significant=bool(result["significant"]),
            details={k: v for k, v in result.items() if k not in ("ci",)}
            | {"seed": seed, "n_rows": len(pred_a.get("rows") or [])}, created_by=uow.actor,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit("runs.compared", "comparison", row.id, project=slug, run_a=run_a, run_b=run_b,
                  test=row.test, metric=row.metric, difference=row.difference, p_value=row.p_value,
                  significant=row.significant)
        return comparison_view(row)


def list_comparisons(wb: Workbench, slug: str) -> list[ComparisonView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.scalars(select(Comparison).where(Comparison.project_id == project.id).order_by(Comparison.id))
        return [comparison_view(c) for c in rows]


def five_by_two(wb: Workbench, runner: JobRunner, slug: str, run_a: int, run_b: int, *,
                on_progress: ProgressCallback | None = None) -> ComparisonView:
    """The 5×2cv paired t-test of two runs' recipes (refitted ten times each, in a worker)."""
    if run_a == run_b:
        raise WorkbenchError("compare two different runs: RUN_A and RUN_B are the same")
    with wb.read() as session:
        project = find_project(session, slug)
        a, b = project_run(session, project, run_a), project_run(session, project, run_b)
        if a.dataset_version_id != b.dataset_version_id:
            raise WorkbenchError(f"{run_label(a.number)} and {run_label(b.number)} were trained on different "
                                 "dataset versions")
        metric, problem_type = primary_metric(project), project.problem_type
        recorded = _recorded(session, project.id, run_a, run_b, metric, REFITS)
        if recorded is not None:
            return comparison_view(recorded, repeated=True)
        params_a, params_b = a.tuning.get("best_params"), b.tuning.get("best_params")
    if problem_type not in ("binary_classification", "multiclass_classification", "regression"):
        raise WorkbenchError(f"the 5×2cv test needs a classifier or a regressor, not a {problem_type} project")
    payload = {"spec_a": spec_of(wb, slug, a), "spec_b": spec_of(wb, slug, b), "metric": metric,
               "params_a": params_a, "params_b": params_b}
    job_id = job_records.create_job(wb, "compare", slug, {"run_a": run_a, "run_b": run_b, "test": "5x2cv"})
    result = runner.execute(job_id, "app.ml.analysis_task:five_by_two_task", payload, on_progress)
    difference = float(result["difference"])
    better = difference > 0 if greater_is_better(metric) else difference < 0
    spread = [float(f.get("difference", 0.0)) for f in result.get("folds", []) if isinstance(f, dict)]
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        recorded = _recorded(uow.session, project.id, run_a, run_b, metric, REFITS)
        if recorded is not None:
            job_records.complete_job(uow, job_id, {"comparison": recorded.id, "recorded_before": True})
            return comparison_view(recorded, repeated=True)
        row = Comparison(
            project_id=project.id, run_a_id=run_a, run_b_id=run_b, data_part=REFITS,
            test="5x2cv_t", metric=metric, difference=difference,
            ci_low=min(spread, default=difference), ci_high=max(spread, default=difference),
            p_value=float(result["p_value"]), alpha=ALPHA, significant=bool(result["p_value"] < ALPHA and better),
            details={k: v for k, v in result.items() if k != "folds"} | {"ci_is_fold_range": True},
            created_by=uow.actor,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit("runs.compared", "comparison", row.id, project=slug, run_a=run_a, run_b=run_b, test=row.test,
                  metric=metric, difference=difference, p_value=row.p_value, significant=row.significant)
        job_records.complete_job(uow, job_id, {"comparison": row.id})
        return comparison_view(row)


def _rescored(session: Session, run: Run, split_id: int) -> Run | None:
    """The re-scoring of ``run`` on ``split_id`` already on record (its first one)."""
    return next((r for r in session.scalars(select(Run).where(
        Run.experiment_id == run.experiment_id, Run.split_id == split_id, Run.artifact_sha256 == run.artifact_sha256,
        Run.parent_run_id.is_(None)).order_by(Run.id)) if (r.params or {}).get("rescored_from") == run.id), None)


def rescore_run(wb: Workbench, runner: JobRunner, slug: str, run_id: int, *, dataset_id: int,
                on_progress: ProgressCallback | None = None) -> RunView:
    """Score run ``run_id``'s saved model, as it is (no refit), on the validation part of the
    latest split of dataset version ``dataset_id``, in a worker, and record the result as a run of
    that split, so it can be compared with runs trained there (``compare_runs``).

    The new run keeps the model file of the original (same ``artifact_sha256``) and says which run
    it re-scores (``params["rescored_from"]``); a baseline stays a baseline. A run already on that
    split is returned as it is, and a re-scoring already recorded is returned without a new job.
    Rows of the new validation part that were training rows of the original model (a split of
    old and new rows together) are left out, matched by their values (``app.ml.rescoring``): a
    model scored on rows it learned from looks better than it is. ``compare_runs`` judges the
    pair on the rows that remain.
    """
    from app.services.datasets import dataset_path, split_assignments
    from app.services.training import plan_training

    with wb.read() as session:
        project = find_project(session, slug)
        run = project_run(session, project, run_id)
        if run.artifact_sha256 is None:
            raise WorkbenchError("this run is a tuning trial without a model: re-score its parent run")
    plan = plan_training(wb, slug, run.model_kind, dataset_id=dataset_id, seed=run.seed,
                         params=(run.params or {}).get("overrides") or {}, queue=False)
    with wb.read() as session:
        if run.split_id == plan.split_id:
            return run_view(run, session.get(Experiment, run.experiment_id).name)
        done = _rescored(session, run, plan.split_id)
        if done is not None:
            return run_view(done, session.get(Experiment, done.experiment_id).name)
        model_bytes = wb.artifacts.get_bytes(run.artifact_sha256, ".skops")
        trained_on = {"dataset_path": str(dataset_path(wb, session.get(DatasetVersion, run.dataset_version_id))),
                      "rows": [int(r) for r in split_assignments(wb, session.get(Split, run.split_id))["train"]],
                      "columns": [*((run.params or {}).get("features") or {}), plan.payload["target"]]}
    features = dict((run.params or {}).get("features") or plan.payload["features"])
    absent = [name for name in features if name not in plan.payload["features"]]
    if absent:
        raise WorkbenchError(f"{run_label(run.number)} uses feature(s) {', '.join(absent)} that the new dataset version "
                             "does not offer at serving time: it cannot be re-scored there")
    legacy = ["ctr_at_top10pct"] if run.problem_type == "binary_classification" else []
    spec = {**plan.payload, "features": features, "cv": None, "tune": None,
            "extra_metrics": (run.params or {}).get("extra_metrics", legacy)}
    job_id = job_records.create_job(wb, "rescore", slug, {"run": run_id, "split": plan.split_id,
                                                          "dataset_version": dataset_id})
    result = runner.execute(job_id, "app.ml.rescoring:rescore_task",
                            {"model_bytes": model_bytes, "spec": spec, "classes": (run.params or {}).get("classes"),
                             "trained_on": trained_on}, on_progress)
    predictions = wb.artifacts.put_bytes(json.dumps(result["predictions"], separators=(",", ":")).encode(), ".json")
    try:
        with wb.unit_of_work() as uow:
            project = uow.project(slug)
            original = uow.session.get(Run, run_id)
            done = _rescored(uow.session, original, plan.split_id)
            if done is not None:  # another process recorded it while this one scored
                job_records.complete_job(uow, job_id, {"run_id": done.id, "recorded_before": True})
                return run_view(done, uow.session.get(Experiment, done.experiment_id).name)
            row = Run(
                project_id=project.id, number=next_number(uow.session, Run, project.id),
                experiment_id=original.experiment_id, dataset_version_id=dataset_id, split_id=plan.split_id,
                job_id=job_id, model_kind=original.model_kind, problem_type=original.problem_type,
                is_baseline=original.is_baseline, seed=original.seed,
                params={**original.params, "features": features, "rescored_from": original.id},
                metrics=dict(result["metrics"]), environment=dict(original.environment),
                artifact_sha256=original.artifact_sha256, predictions_sha256=predictions,
                duration_s=float(result["duration_s"]), created_by=uow.actor,
            )
            uow.session.add(row)
            uow.session.flush()
            metric = validation_metric(project)
            uow.audit("run.rescored", "run", row.id, project=slug, rescored_from=original.id,
                      artifact=original.artifact_sha256, split=plan.split_id, dataset_version=dataset_id,
                      n_validation=result["n_validation"], left_out_as_trained_on=result["n_left_out"],
                      **{metric: result["metrics"].get(metric)})
            job_records.complete_job(uow, job_id, {"run_id": row.id})
            return run_view(row, uow.session.get(Experiment, row.experiment_id).name)
    except Exception as exc:  # nothing was written: the job must not stay "running"
        job_records.mark_failed(wb, job_id, f"could not record the re-scored run: {exc}")
        raise
