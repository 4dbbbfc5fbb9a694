"""Tuning: grid, random and Bayesian search select on validation only, then refit on train."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from app.ml.errors import TrainingCancelled
from app.ml.training import train_model
from app.ml.training_spec import TrainingSpec
from app.ml.tuning import GRID_SPACES, tune_spec

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def spec(click_spec: Callable[..., tuple[pd.DataFrame, TrainingSpec]]) -> TrainingSpec:
    return click_spec("decision_tree", rows=2000, seed=4)[1]


def _check_best_on_validation(result, n_trials: int) -> None:  # type: ignore[no-untyped-def]
    trials = result.trials
    assert len(trials) == n_trials
    assert [t["number"] for t in trials] == list(range(n_trials))
    for trial in trials:
        assert set(trial) == {"number", "params", "val_roc_auc", "duration_s"}
        assert trial["duration_s"] >= 0
    best = max(trials, key=lambda t: t["val_roc_auc"])
    assert result.best_params == best["params"]
    for name, value in best["params"].items():  # the final model carries the best parameters
        assert result.params[name] == value
    # Refit on train with the best parameters gives the best trial's validation value back.
    assert result.metrics["val_roc_auc"] == pytest.approx(best["val_roc_auc"])
    assert not [k for k in result.metrics if k.startswith("test_")]


def test_grid_search_walks_the_whole_grid(spec: TrainingSpec) -> None:
    result = train_model(replace(spec, tune={"method": "grid"}))
    size = int(np.prod([len(v) for v in GRID_SPACES["decision_tree"].values()]))
    _check_best_on_validation(result, size)
    assert len({tuple(sorted(t["params"].items())) for t in result.trials}) == size


def test_random_search_is_seeded(spec: TrainingSpec) -> None:
    tuned = replace(spec, tune={"method": "random", "trials": 6})
    result = train_model(tuned)
    _check_best_on_validation(result, 6)
    again = train_model(tuned)
    assert [t["params"] for t in again.trials] == [t["params"] for t in result.trials]
    assert again.best_params == result.best_params
    other = train_model(replace(tuned, seed=5))
    assert [t["params"] for t in other.trials] != [t["params"] for t in result.trials]


def test_bayes_search_with_optuna(spec: TrainingSpec) -> None:
    tuned = replace(spec, tune={"method": "bayes", "trials": 6})
    result = train_model(tuned)
    _check_best_on_validation(result, 6)
    assert train_model(tuned).best_params == result.best_params


def test_custom_space_and_lower_is_better_metric(spec: TrainingSpec, tmp_path) -> None:  # type: ignore[no-untyped-def]
    space = {"alpha": {"low": 0.01, "high": 100.0, "log": True}}
    frame = pd.read_csv(spec.dataset_path)
    frame["spend"] = 3 * frame["item_popularity"] - 0.01 * frame["user_age"] + frame["clicked"]
    path = tmp_path / "spend.csv"
    frame.to_csv(path, index=False)
    regression = replace(spec, kind="linear_regression", problem_type="regression", target="spend",
                         dataset_path=str(path), tune={"method": "grid", "space": space})
    outcome = tune_spec(regression)
    assert [t["params"]["alpha"] for t in outcome.trials] == pytest.approx([0.01, 1.0, 100.0])
    assert outcome.metric == "val_r2"
    assert outcome.best_value == max(t["val_r2"] for t in outcome.trials)


def test_tuning_selects_without_reading_the_test_part(spec: TrainingSpec, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Scramble the test rows' targets: selection on validation only cannot change.
    frame = pd.read_csv(spec.dataset_path)
    test_rows = spec.assignments["test"]
    frame.loc[test_rows, "clicked"] = 1 - frame.loc[test_rows, "clicked"]
    path = tmp_path / "scrambled.csv"
    frame.to_csv(path, index=False)
    tuned = replace(spec, tune={"method": "random", "trials": 4})
    a = train_model(tuned)
    b = train_model(replace(tuned, dataset_path=str(path)))
    def strip(trials: list[dict]) -> list[tuple]:  # durations differ from run to run
        return [(t["params"], t["val_roc_auc"]) for t in trials]

    assert strip(a.trials) == strip(b.trials) and a.best_params == b.best_params
    assert a.metrics == b.metrics


def test_should_stop_cancels_between_trials(spec: TrainingSpec) -> None:
    messages: list[str] = []

    def stop_after_three_trials() -> bool:
        return sum("trial" in m for m in messages) >= 3

    with pytest.raises(TrainingCancelled):
        train_model(replace(spec, tune={"method": "random", "trials": 8}),
                    progress=lambda f, m: messages.append(m), should_stop=stop_after_three_trials)
    assert sum("trial" in m for m in messages) == 3


def test_tuning_refusals(spec: TrainingSpec) -> None:
    with pytest.raises(ValueError, match="no hyper-parameters to tune"):
        train_model(replace(spec, kind="majority_baseline", tune={"method": "grid"}))
    with pytest.raises(ValueError, match="unknown tuning method"):
        train_model(replace(spec, tune={"method": "annealing"}))
    no_validation = {k: v for k, v in spec.assignments.items() if k != "validation"}
    with pytest.raises(ValueError, match="selects on the validation part"):
        train_model(replace(spec, assignments=no_validation, tune={"method": "random", "trials": 2}))
    with pytest.raises(ValueError, match="no hyper-parameter 'depth'"):
        train_model(replace(spec, tune={"method": "grid", "space": {"depth": [1, 2]}}))
