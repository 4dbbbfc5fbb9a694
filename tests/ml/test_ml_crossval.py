"""Cross-validation inside the train part: fold kinds, mean ± std shape, progress and cancel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from app.ml.crossval import cross_validate_spec, fold_indices
from app.ml.errors import TrainingCancelled
from app.ml.preparation import prepare_data
from app.ml.training import train_model
from app.ml.training_spec import TrainingSpec

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def spec(click_spec: Callable[..., tuple[pd.DataFrame, TrainingSpec]]) -> TrainingSpec:
    def extend(frame: pd.DataFrame) -> None:
        frame["day"] = np.random.default_rng(1).permutation(len(frame))  # time order ≠ row order
        frame["session"] = [f"s{i % 150}" for i in range(len(frame))]

    return click_spec("logistic_regression", rows=2000, seed=3, extend=extend, time_column="day",
                      cv={"kind": "stratified", "k": 5})[1]


@pytest.mark.parametrize("kind", ["kfold", "stratified", "timeseries"])
def test_cv_reports_mean_std_and_folds(spec: TrainingSpec, kind: str) -> None:
    seen: list[tuple[float, str]] = []
    cv = cross_validate_spec(replace(spec, cv={"kind": kind, "k": 4}), progress=lambda f, m: seen.append((f, m)))
    assert {"roc_auc", "log_loss", "accuracy", "pr_auc"} <= set(cv)
    for name, summary in cv.items():
        assert set(summary) == {"mean", "std", "folds"}, name
        assert len(summary["folds"]) == 4
        assert summary["mean"] == pytest.approx(np.mean(summary["folds"]))
        assert summary["std"] == pytest.approx(np.std(summary["folds"], ddof=1))
    assert 0.6 < cv["roc_auc"]["mean"] < 1.0 and cv["roc_auc"]["std"] < 0.1
    fold_messages = [m for _, m in seen if "fold" in m]
    assert len(fold_messages) >= 4 and [f for f, _ in seen] == sorted(f for f, _ in seen)


def test_folds_use_train_rows_only_and_time_order(spec: TrainingSpec) -> None:
    data = prepare_data(pd.read_csv(spec.dataset_path), spec)
    train = set(spec.assignments["train"])
    ts_spec = replace(spec, cv={"kind": "timeseries", "k": 4})
    folds = list(fold_indices(ts_spec, data))
    assert len(folds) == 4
    for fit_rows, val_rows in folds:
        assert set(fit_rows) <= train and set(val_rows) <= train
        assert not set(fit_rows) & set(val_rows)
        assert data.time.iloc[fit_rows].max() < data.time.iloc[val_rows].min()  # no peeking ahead
    for fit_rows, val_rows in fold_indices(replace(spec, cv={"kind": "kfold", "k": 5}), data):
        assert set(fit_rows) | set(val_rows) == train


def test_ranking_groups_stay_in_one_fold(spec: TrainingSpec) -> None:
    ranking = replace(spec, problem_type="ranking", group_column="session", cv={"kind": "kfold", "k": 3})
    data = prepare_data(pd.read_csv(spec.dataset_path), ranking)
    for fit_rows, val_rows in fold_indices(ranking, data):
        assert not set(data.groups[fit_rows]) & set(data.groups[val_rows])
    cv = cross_validate_spec(ranking, data)
    assert "ndcg_at_10" in cv and len(cv["ndcg_at_10"]["folds"]) == 3


def test_train_model_with_cv_keeps_test_sealed(spec: TrainingSpec) -> None:
    result = train_model(spec)
    assert len(result.cv_metrics["roc_auc"]["folds"]) == 5
    assert result.metrics["cv_roc_auc_mean"] == result.cv_metrics["roc_auc"]["mean"]
    assert "val_roc_auc" in result.metrics
    assert not [k for k in result.metrics if k.startswith("test_")]
    again = train_model(spec)
    assert again.cv_metrics == result.cv_metrics  # deterministic for a seed


def test_should_stop_cancels_between_folds(spec: TrainingSpec) -> None:
    progress: list[str] = []

    def stop_after_two_folds() -> bool:
        return sum("fold" in m for m in progress) >= 2

    with pytest.raises(TrainingCancelled):
        train_model(spec, progress=lambda f, m: progress.append(m), should_stop=stop_after_two_folds)
    assert sum("fold" in m for m in progress) == 2
    assert not any(m == "done" for m in progress)


def test_bad_cv_settings_are_refused(spec: TrainingSpec) -> None:
    with pytest.raises(ValueError, match="unknown cv kind"):
        train_model(replace(spec, cv={"kind": "loo"}))
    with pytest.raises(ValueError, match="k >= 2"):
        train_model(replace(spec, cv={"kind": "kfold", "k": 1}))
    with pytest.raises(ValueError, match="needs time_column"):
        train_model(replace(spec, time_column=None, cv={"kind": "timeseries", "k": 3}))
    with pytest.raises(ValueError, match="stratified folds need classes"):
        train_model(replace(spec, kind="linear_regression", problem_type="regression",
                            cv={"kind": "stratified", "k": 3}))
