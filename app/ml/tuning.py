"""Hyper-parameter tuning that selects on the validation part only.

Every trial fits a fresh pipeline on the train part with the trial's parameters and scores it
on the validation part; the test part is never read. Grid search walks a small default grid
per kind (sklearn ``ParameterGrid``), random search samples the kind's ranges
(``ParameterSampler`` seeded by the spec's seed) and Bayesian search uses optuna's TPE sampler
(seeded, in memory, its logging silenced). ``train_model`` then refits the final model on the
train part with the best parameters.

A search space maps a hyper-parameter to either a list of values or a range
``{"low": 0.01, "high": 1.0, "log": true, "type": "float" | "int"}``. Grid search turns a
range into a few points (three, log-spaced when ``log``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.ml.catalogue import greater_is_better, primary_metric
from app.ml.errors import TrainingCancelled
from app.ml.fitting import evaluate, fit_model
from app.ml.model_building import build_model, json_safe
from app.ml.preparation import PreparedData, prepare_data
from app.ml.training_spec import TrainingSpec, check_spec

# Ranges for random and Bayesian search.
SEARCH_SPACES: dict[str, dict[str, Any]] = {
    "logistic_regression": {"C": {"low": 1e-3, "high": 100.0, "log": True}},
    "linear_regression": {"alpha": {"low": 1e-2, "high": 1e3, "log": True}},
    "decision_tree": {
        "max_depth": {"low": 2, "high": 12, "type": "int"},
        "min_samples_leaf": [1, 5, 20, 50, 100],
    },
    "hist_gradient_boosting": {
        "learning_rate": {"low": 0.02, "high": 0.3, "log": True},
        "max_leaf_nodes": [7, 15, 31],
        "max_iter": {"low": 50, "high": 200, "type": "int"},
        "l2_regularization": [0.0, 1.0],
    },
    "random_forest": {
        "max_depth": [6, 10, 14],
        "min_samples_leaf": [5, 20, 50],
        "max_features": ["sqrt", 0.5],
    },
    "kmeans": {"n_clusters": {"low": 2, "high": 8, "type": "int"}},
    "isolation_forest": {
        "n_estimators": [50, 100, 200],
        "max_samples": ["auto", 0.5],
        "max_features": [0.5, 1.0],
    },
}

# Small exhaustive grids: grid search cost is the product of the list lengths.
GRID_SPACES: dict[str, dict[str, list[Any]]] = {
    "logistic_regression": {"C": [0.01, 0.1, 1.0, 10.0]},
    "linear_regression": {"alpha": [0.1, 1.0, 10.0, 100.0]},
    "decision_tree": {"max_depth": [3, 6, 10], "min_samples_leaf": [5, 50]},
    "hist_gradient_boosting": {
        "learning_rate": [0.05, 0.1],
        "max_leaf_nodes": [15, 31],
        "max_iter": [100, 200],
    },
    "random_forest": {"max_depth": [6, 10], "min_samples_leaf": [5, 20]},
    "kmeans": {"n_clusters": [2, 3, 4, 5, 6, 8]},
    "isolation_forest": {"n_estimators": [50, 100, 200], "max_samples": ["auto", 0.5]},
}

_GRID_LIMIT = 200


@dataclass(frozen=True)
class TuningOutcome:
    """The trials in the order run, the winner's parameters and its validation value."""

    metric: str
    trials: list[dict[str, Any]]
    best_params: dict[str, Any]
    best_value: float


def default_space(kind: str, method: str) -> dict[str, Any]:
    """The search space a method uses for ``kind`` when the spec gives none."""
    spaces = GRID_SPACES if method == "grid" else SEARCH_SPACES
    if kind not in spaces:
        raise ValueError(f"{kind} has no hyper-parameters to tune: train it without tuning")
    return spaces[kind]


def tune_spec(
    spec: TrainingSpec,
    data: PreparedData | None = None,
    *,
    progress: Callable[[float, str], None] = lambda f, m: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TuningOutcome:
    """Run ``spec.tune``'s trials, each fitted on train and scored on validation only.

    Progress is reported per trial; ``should_stop`` is checked before every trial and raises
    ``TrainingCancelled``. Trial records are
    ``{"number", "params", "val_<primary>": value or None, "duration_s"}``.
    """
    check_spec(spec)
    if not spec.tune:
        raise ValueError("the spec has no tune settings: pass tune={'method': 'random', 'trials': 20}")
    method = spec.tune.get("method", "random")
    n_trials = int(spec.tune.get("trials", 20))
    space = spec.tune.get("space") or default_space(spec.kind, method)
    _check_space(space)
    if data is None:
        from app.ml.tabular import read_table

        data = prepare_data(read_table(spec.dataset_path), spec)
    val_rows = data.parts.get("validation", np.empty(0, dtype=np.int64))
    if len(val_rows) == 0:
        raise ValueError("tuning selects on the validation part, and the split has none: "
                         "make a split with a validation part")
    metric = primary_metric(spec.problem_type, spec.k)
    if spec.problem_type == "anomaly_detection" and data.y is None:
        raise ValueError("anomaly detection without a target has no metric to tune on: "
                         "name a binary target or train without tuning")
    key = f"val_{metric}"
    higher = greater_is_better(metric)
    trials: list[dict[str, Any]] = []

    def run_trial(number: int, params: dict[str, Any], total: int) -> float | None:
        if should_stop():
            raise TrainingCancelled(f"tuning cancelled before trial {number + 1}/{total}")
        progress(number / total, f"tuning trial {number + 1}/{total}")
        started = time.perf_counter()
        model = fit_model(build_model(spec, {**spec.params, **params}), data, data.parts["train"], spec.kind)
        value = evaluate(model, data, val_rows, spec).get(metric)
        trials.append({
            "number": number,
            "params": json_safe(params),
            key: value,
            "duration_s": round(time.perf_counter() - started, 4),
        })
        return value

    if method == "grid":
        from sklearn.model_selection import ParameterGrid

        grid = list(ParameterGrid({name: _grid_values(v) for name, v in space.items()}))
        if len(grid) > _GRID_LIMIT:
            raise ValueError(f"the grid has {len(grid)} points, more than {_GRID_LIMIT}: "
                             "use random or bayes, or a smaller space")
        for number, params in enumerate(grid):
            run_trial(number, _plain(params), len(grid))
    elif method == "random":
        from sklearn.model_selection import ParameterSampler

        distributions = {name: _distribution(v) for name, v in space.items()}
        with warnings.catch_warnings():  # a small all-list space is sampled without repeats
            warnings.simplefilter("ignore", UserWarning)
            sampled = list(ParameterSampler(distributions, n_iter=n_trials, random_state=spec.seed))
        for number, params in enumerate(sampled):
            run_trial(number, _plain(params), len(sampled))
    else:
        _bayes(spec, space, n_trials, higher, run_trial)

    if should_stop():
        raise TrainingCancelled("tuning cancelled after the last trial")
    scored = [t for t in trials if t[key] is not None and math.isfinite(t[key])]
    if not scored:
        raise ValueError(f"no tuning trial produced {key}: check the validation part's target")
    best = (max if higher else min)(scored, key=lambda t: t[key])  # first of equals wins
    progress(1.0, f"tuning done: best {key} {best[key]:.4f} in trial {best['number'] + 1}")
    return TuningOutcome(metric=key, trials=trials, best_params=dict(best["params"]), best_value=best[key])


def _bayes(
    spec: TrainingSpec,
    space: dict[str, Any],
    n_trials: int,
    higher: bool,
    run_trial: Callable[[int, dict[str, Any], int], float | None],
) -> None:
    try:
        import optuna
    except ImportError as exc:
        raise ValueError("Bayesian tuning needs the optuna package: install it, "
                         "or use grid or random search") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if higher else "minimize",
        sampler=optuna.samplers.TPESampler(seed=spec.seed),
    )
    for number in range(n_trials):
        trial = study.ask()
        params = {name: _suggest(trial, name, values) for name, values in space.items()}
        value = None
        try:
            value = run_trial(number, params, n_trials)
        finally:
            if value is None or not math.isfinite(value):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)


def _check_space(space: Any) -> None:
    if not isinstance(space, dict) or not space:
        raise ValueError("the tuning space must map hyper-parameter names to values or ranges")
    for name, values in space.items():
        if isinstance(values, dict):
            if not {"low", "high"} <= set(values) or values["low"] > values["high"]:
                raise ValueError(f"the range for {name!r} needs low <= high")
            if values.get("log") and values["low"] <= 0:
                raise ValueError(f"the log range for {name!r} needs low > 0")
        elif not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"{name!r} needs a non-empty list of values or a range")


def _is_int(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "int" or (
        spec.get("type") is None and isinstance(spec["low"], int) and isinstance(spec["high"], int)
    )


def _grid_values(values: Any) -> list[Any]:
    if not isinstance(values, dict):
        return list(values)
    low, high = values["low"], values["high"]
    points = np.geomspace(low, high, 3) if values.get("log") else np.linspace(low, high, 3)
    if _is_int(values):
        return sorted({int(round(p)) for p in points})
    return [float(p) for p in points]


def _distribution(values: Any) -> Any:
    if not isinstance(values, dict):
        return list(values)
    from scipy import stats

    low, high = values["low"], values["high"]
    if _is_int(values):
        return stats.randint(int(low), int(high) + 1)
    if values.get("log"):
        return stats.loguniform(low, high)
    return stats.uniform(low, high - low)


def _suggest(trial: Any, name: str, values: Any) -> Any:
    if not isinstance(values, dict):
        return trial.suggest_categorical(name, list(values))
    if _is_int(values):
        return trial.suggest_int(name, int(values["low"]), int(values["high"]), log=bool(values.get("log")))
    return trial.suggest_float(name, float(values["low"]), float(values["high"]), log=bool(values.get("log")))


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars to Python ones, so parameters are JSON-safe and sklearn-valid."""
    return {name: (v.item() if isinstance(v, np.generic) else v) for name, v in params.items()}
