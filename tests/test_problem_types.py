"""Every problem type of stage 1 through the real services: import, split, train, compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.errors import WorkbenchError
from app.jobs import JobRunner
from app.services import comparison, datasets, deliverables, error_analysis, gates, projects, training
from app.services.workbench import Workbench

FEATURES = [{"name": n, "type": "numeric", "source": "synthetic", "available_at_serving": True, "pii": False}
            for n in ("x1", "x2", "x3")]


def _project(wb: Workbench, tmp_path: Path, slug: str, problem_type: str, frame: pd.DataFrame,
             target: str | None, features: list[dict] = FEATURES, maturity: str = "startup") -> int:  # type: ignore[assignment]
    projects.create_project(wb, slug, problem_type=problem_type, maturity=maturity)
    deliverables.save_framing(wb, slug, {"target": target or "", "label_strategy": "synthetic"}, features)
    path = tmp_path / f"{slug}.csv"
    frame.to_csv(path, index=False)
    version = datasets.import_dataset(wb, slug, path, target=target)
    datasets.create_split(wb, slug, seed=1)
    return version.id


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.uniform(size=n)})


def test_regression_ladder_and_significance(wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    frame = _frame(1500, 1)
    frame["y"] = 3 * frame["x1"] - 2 * frame["x2"] ** 2 + np.random.default_rng(2).normal(scale=0.3, size=1500)
    _project(wb, tmp_path, "reg", "regression", frame, "y")
    (split,) = datasets.list_splits(wb, "reg")
    assert split.strategy == "random"  # no classes to stratify
    base = training.train(wb, runner, "reg", "mean_baseline")
    model = training.train(wb, runner, "reg", "hist_gradient_boosting", cv=3)
    assert model.metrics["val_r2"] > 0.8 > base.metrics["val_r2"]
    assert model.cv_metrics
    result = comparison.compare_runs(wb, "reg", base.id, model.id)
    assert result.test == "paired_bootstrap" and result.significant and result.metric == "r2"


def test_multiclass_with_tuning_records_trials_as_child_runs(wb: Workbench, runner: JobRunner,
                                                              tmp_path: Path) -> None:
    frame = _frame(1200, 3)
    frame["label"] = np.select([frame["x1"] > 0.5, frame["x2"] > 0.3], ["a", "b"], "c")
    _project(wb, tmp_path, "multi", "multiclass_classification", frame, "label")
    run = training.train(wb, runner, "multi", "decision_tree", tune="random", trials=4)
    trials = [r for r in training.list_runs(wb, "multi", include_trials=True) if r.parent_run_id == run.id]
    assert len(trials) == 4 and run.tuning["trials"] == 4 and "val_macro_f1" in run.metrics
    base = training.train(wb, runner, "multi", "majority_baseline")
    assert comparison.compare_runs(wb, "multi", base.id, run.id).significant
    assert "val_macro_recall" in run.metrics and "val_macro_precision" in run.metrics
    fairness = _check(wb, "multi", "fairness_reviewed")  # no feature holds personal data
    assert fairness.passed and fairness.detail.startswith("no feature of the framing holds personal data")


def test_clustering_trains_without_a_target(wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    frame = _frame(900, 4)
    frame.loc[:299, "x1"] += 6
    _project(wb, tmp_path, "clusters", "clustering", frame, None)
    run = training.train(wb, runner, "clusters", "kmeans")
    assert "val_silhouette" in run.metrics
    with pytest.raises(WorkbenchError, match="cannot be compared"):
        comparison.compare_runs(wb, "clusters", run.id, training.train(wb, runner, "clusters", "kmeans", seed=1).id)


def test_ranking_needs_its_query_column_and_reports_ndcg(wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    frame = _frame(2000, 5)
    frame["user_id"] = np.repeat(np.arange(200), 10)
    frame["clicked"] = (frame["x1"] + np.random.default_rng(6).normal(scale=0.5, size=2000) > 0.8).astype(int)
    _project(wb, tmp_path, "rank", "ranking", frame, "clicked")
    deliverables.save_problem_statement(wb, "rank", {"ml_metric": "NDCG@5 of each user's list",
                                                     "ml_metric_threshold": "≥ 0.5"})
    with pytest.raises(WorkbenchError, match="--group-column"):
        training.train(wb, runner, "rank", "logistic_regression")
    run = training.train(wb, runner, "rank", "logistic_regression", group_column="user_id")
    assert run.metrics["val_ndcg_at_10"] > 0.5
    # the cut-off the statement names is measured too, and a ranking project has the click metric
    assert run.params["extra_metrics"] == ["ctr_at_top10pct", "ndcg_at_5"] and "val_ctr_at_top10pct" in run.metrics
    check = _check(wb, "rank", "stated_metric_met")
    assert check.passed and check.detail.startswith(f"NDCG@5 {run.metrics['val_ndcg_at_5']:.4f} on the validation")


def _check(wb: Workbench, slug: str, check_id: str) -> gates.CheckResult:
    return {c.id: c for c in gates.gate(wb, slug, 4).checks}[check_id]


def test_a_regression_on_people_is_examined_by_group_and_judged_on_its_stated_error(
        wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    frame = _frame(1200, 8)
    frame["y"] = 2 * frame["x1"] - 1.5 * frame["x2"] + np.random.default_rng(9).normal(scale=0.5, size=1200)
    features = [dict(f, pii=f["name"] == "x3") for f in FEATURES]  # x3 stands for, say, age
    _project(wb, tmp_path, "pay", "regression", frame, "y", features, maturity="growth")
    deliverables.save_problem_statement(wb, "pay", {"ml_metric": "RMSE in thousands", "ml_metric_threshold": "≤ 1.5"})
    run = training.train(wb, runner, "pay", "linear_regression")
    assert {"val_rmse", "val_mae", "val_mape", "val_r2"} <= set(run.metrics)
    check = _check(wb, "pay", "stated_metric_met")
    assert check.passed and check.detail == (f"RMSE {run.metrics['val_rmse']:.4f} on the validation part of run "
                                             f"{run.id} (best candidate on val_r2) meets the stated ≤ 1.5")
    fairness = _check(wb, "pay", "fairness_reviewed")
    assert not fairness.passed and f"no per-group analysis of run {run.number}" in fairness.detail
    assert fairness.detail.endswith("(personal data: x3)")
    error_analysis.analyse_run(wb, runner, "pay", run.id, segments=("x3",))
    fairness = _check(wb, "pay", "fairness_reviewed")
    assert fairness.passed and fairness.detail.startswith(f"per-segment metrics by x3 analysed on run {run.number}")


def test_five_by_two_cv_compares_two_recipes(wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    frame = _frame(800, 7)
    frame["y"] = (frame["x1"] * 2 + frame["x2"] > 0.2).astype(int)
    _project(wb, tmp_path, "five", "binary_classification", frame, "y")
    base = training.train(wb, runner, "five", "majority_baseline")
    model = training.train(wb, runner, "five", "logistic_regression")
    result = comparison.five_by_two(wb, runner, "five", base.id, model.id)
    assert result.test == "5x2cv_t" and result.significant and result.p_value < 0.05
    assert any(c.test == "5x2cv_t" for c in comparison.list_comparisons(wb, "five"))
