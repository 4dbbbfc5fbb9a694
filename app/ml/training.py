"""Training one run of the model ladder (baseline -> simple -> complex): tune on validation,
cross-validate in train, fit on train, score validation, save the model.

Runs in a worker process: it reads the dataset itself (only a path crosses the process
boundary), reports progress through a callback, polls ``should_stop`` between steps and
returns plain data plus the model as skops bytes (``app.ml.model_files``).

The test part is sealed: ``train_model`` fits on train, selects (tuning) and reports on
validation, cross-validates inside train, and never reads a test row's target or score.
Only ``app.ml.sealed_test.score_on_test``, behind the explicit "evaluate on test" action,
scores the test part.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy
import skops
import sklearn

from app.ml.catalogue import primary_metric
from app.ml.crossval import cross_validate_spec
from app.ml.errors import TrainingCancelled
from app.ml.fitting import evaluate, fit_model, metrics_of, predict_output, predictions_json
from app.ml.model_building import build_model, effective_params
from app.ml.model_files import save_model
from app.ml.preparation import prepare_data
from app.ml.tabular import read_table
from app.ml.training_spec import Progress, ShouldStop, TrainingSpec, check_spec
from app.ml.tuning import tune_spec


@dataclass(frozen=True)
class TrainingResult:
    """What a run produced: the evidence stored with the Run and the model's bytes.

    ``metrics`` holds validation metrics ("val_…"), the train primary metric ("train_…") and,
    with CV, the primary metric's CV mean and std ("cv_…_mean", "cv_…_std"); never a test
    metric. ``positive_label`` records which target value the probabilities are for (the
    target is re-coded to 0/1 before fitting); ``classes`` are the multiclass labels in the
    order of the probability columns and of the codes in ``val_predictions``.
    """

    kind: str
    params: dict[str, Any]
    metrics: dict[str, float]
    model_bytes: bytes
    environment: dict[str, str]
    duration_s: float
    n_train: int
    n_test: int
    positive_label: str = "1"
    problem_type: str = "binary_classification"
    cv_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    best_params: dict[str, Any] | None = None
    val_predictions: dict[str, Any] = field(default_factory=dict)
    n_validation: int = 0
    classes: list[str] = field(default_factory=list)


def train_model(
    spec: TrainingSpec,
    progress: Progress = lambda f, m: None,
    should_stop: ShouldStop = lambda: False,
) -> TrainingResult:
    """Read the data, (tune on validation,) cross-validate in train, fit on train, score validation.

    The test part is not scored: use ``app.ml.sealed_test.score_on_test``. Deterministic for
    a given seed. Raises ``DataFileError`` for data the user must fix, ``ValueError`` for a bad spec and
    ``TrainingCancelled`` when ``should_stop()`` is true at a step boundary.
    """
    started = time.perf_counter()

    def step(fraction: float, message: str) -> None:
        if should_stop():
            raise TrainingCancelled(f"training cancelled before: {message}")
        progress(fraction, message)

    check_spec(spec)
    step(0.0, "reading the dataset")
    frame = read_table(spec.dataset_path)
    step(0.05, "checking target and features")
    data = prepare_data(frame, spec)
    train_rows = data.parts["train"]

    # Progress spans: tuning and CV (when asked) before the final fit.
    weights = [("tune", 3.0 if spec.tune else 0.0), ("cv", 2.0 if spec.cv else 0.0), ("fit", 1.5)]
    total = sum(w for _, w in weights)
    spans: dict[str, tuple[float, float]] = {}
    low = 0.1
    for name, weight in weights:
        spans[name] = (low, low + 0.75 * weight / total)
        low = spans[name][1]

    def within(name: str) -> Progress:
        lo, hi = spans[name]
        return lambda f, m: progress(lo + (hi - lo) * min(max(f, 0.0), 1.0), m)

    params = dict(spec.params)
    trials: list[dict[str, Any]] = []
    best_params: dict[str, Any] | None = None
    if spec.tune:
        step(spans["tune"][0], f"tuning {spec.kind} ({spec.tune.get('method', 'random')})")
        outcome = tune_spec(spec, data, progress=within("tune"), should_stop=should_stop)
        trials, best_params = outcome.trials, outcome.best_params
        params.update(best_params)
    cv_metrics: dict[str, dict[str, Any]] = {}
    if spec.cv:
        step(spans["cv"][0], f"cross-validating {spec.kind}")
        cv_metrics = cross_validate_spec(
            spec, data, params=params, progress=within("cv"), should_stop=should_stop
        )
    model = build_model(spec, params)
    fit_lo, fit_hi = spans["fit"]
    step(fit_lo, f"fitting {spec.kind} on {len(train_rows):,} rows")
    fit_model(model, data, train_rows, spec.kind, step, span=(fit_lo, fit_hi))
    step(0.87, "scoring the validation part")
    primary = primary_metric(spec.problem_type, spec.k)
    metrics: dict[str, float] = {}
    train_metrics = evaluate(model, data, train_rows, spec)
    if primary in train_metrics:  # the gap to the validation value is the overfitting signal
        metrics[f"train_{primary}"] = train_metrics[primary]
    val_rows = data.parts.get("validation", np.empty(0, dtype=np.int64))
    val_predictions: dict[str, Any] = {}
    if len(val_rows):
        y_pred, y_score = predict_output(model, data.X.iloc[val_rows], spec.problem_type, len(data.classes))
        part = metrics_of(spec, data, val_rows, y_pred, y_score, model)
        metrics.update({f"val_{name}": value for name, value in part.items()})
        val_predictions = predictions_json(data, val_rows, y_pred, y_score)
    if primary in cv_metrics:
        metrics[f"cv_{primary}_mean"] = cv_metrics[primary]["mean"]
        metrics[f"cv_{primary}_std"] = cv_metrics[primary]["std"]
    step(0.93, "saving the model")
    model_bytes = save_model(model)
    step(1.0, "done")
    return TrainingResult(
        kind=spec.kind,
        params=effective_params(model, spec),
        metrics=metrics,
        model_bytes=model_bytes,
        environment=environment(),
        duration_s=round(time.perf_counter() - started, 4),
        n_train=int(len(train_rows)),
        n_test=int(len(data.parts.get("test", ()))),
        positive_label=data.positive,
        problem_type=spec.problem_type,
        cv_metrics=cv_metrics,
        trials=trials,
        best_params=best_params,
        val_predictions=val_predictions,
        n_validation=int(len(val_rows)),
        classes=list(data.classes),
    )


def environment() -> dict[str, str]:
    """Versions that decide whether a run can be reproduced, stored with every run."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
    }
