"""Fitting a built model on rows of a prepared dataset, and reading what a fitted model says:
its prediction and score per row, and the problem type's metrics on those rows.

Training, cross-validation, tuning, the sealed test and serving all predict through
``predict_output``, so a number means the same thing wherever it is reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline

from app.ml.errors import DataFileError
from app.ml.metrics import clustering_metrics, metrics_for
from app.ml.preparation import PreparedData
from app.ml.training_spec import Progress, TrainingSpec

_SCORED = ("binary_classification", "ranking")  # one positive-class score per row
# Chunks in which the tree ensembles grow (warm start), so progress moves and a cancel is
# honoured within a fraction of the fit instead of only after it.
_FIT_CHUNKS = 5


def _size_param(estimator: Any) -> str | None:
    """The parameter a warm-started ensemble grows by, if the estimator is one."""
    if isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        return "max_iter"
    if isinstance(estimator, (RandomForestClassifier, RandomForestRegressor, IsolationForest)):
        return "n_estimators"
    return None


def fit_model(
    model: Pipeline,
    data: PreparedData,
    rows: np.ndarray,
    kind: str,
    step: Progress | None = None,
    span: tuple[float, float] = (0.2, 0.8),
) -> Pipeline:
    """Fit on ``rows``; with ``step``, ensembles grow in chunks so progress and cancel work mid-fit."""
    X = data.X.iloc[rows]
    y = None if data.y is None else data.y[rows]
    estimator = model[-1]
    size_param = _size_param(estimator)
    if step is None or size_param is None or len(model) < 2:
        model.fit(X, y)
        return model
    prepared = model[:-1].fit_transform(X, y)
    total = int(estimator.get_params()[size_param])
    estimator.set_params(warm_start=True)
    lo, hi = span
    for chunk in range(1, _FIT_CHUNKS + 1):
        estimator.set_params(**{size_param: max(1, math.ceil(total * chunk / _FIT_CHUNKS))})
        estimator.fit(prepared, y)
        if chunk < _FIT_CHUNKS:
            step(lo + (hi - lo) * chunk / _FIT_CHUNKS, f"fitting {kind}: {chunk}/{_FIT_CHUNKS}")
    estimator.set_params(warm_start=False)
    return model


def predict_output(
    model: Any, X: pd.DataFrame, problem_type: str, n_classes: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """(prediction, score) per row for the problem type.

    binary / ranking: 0/1 at 0.5 and the positive-class probability; multiclass: class code
    and an (n, n_classes) probability matrix aligned to all classes (a class the model never
    saw gets 0); regression: the number and no score; clustering: the cluster and no score;
    anomaly detection: 1 where flagged and the anomaly score (higher is more anomalous).
    """
    if problem_type in _SCORED:
        scores = np.asarray(model.predict_proba(X)[:, 1], dtype="float64")
        return (scores >= 0.5).astype("int64"), scores
    if problem_type == "multiclass_classification":
        seen = np.asarray(model.predict_proba(X), dtype="float64")
        proba = np.zeros((len(X), max(n_classes, seen.shape[1])))
        proba[:, np.asarray(model.classes_, dtype="int64")] = seen
        return np.argmax(proba, axis=1).astype("int64"), proba
    if problem_type == "regression":
        return np.asarray(model.predict(X), dtype="float64"), None
    if problem_type == "clustering":
        return np.asarray(model.predict(X), dtype="int64"), None
    anomaly = -np.asarray(model.decision_function(X), dtype="float64")
    return (anomaly > 0).astype("int64"), anomaly


def metrics_of(
    spec: TrainingSpec,
    data: PreparedData,
    rows: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray | None,
    model: Any,
) -> dict[str, float]:
    """The problem type's metrics for already predicted ``rows``."""
    pt = spec.problem_type
    y = None if data.y is None else data.y[rows]
    if pt == "clustering":
        prepared = model[:-1].transform(data.X.iloc[rows]) if len(model) > 1 else data.X.iloc[rows]
        return clustering_metrics(prepared, y_pred, seed=spec.seed)
    if pt == "regression" or (pt == "multiclass_classification" and y_score is None):
        return metrics_for(pt, y, y_pred)
    groups = data.groups[rows] if (pt == "ranking" and data.groups is not None) else None
    return metrics_for(pt, y, y_score, groups=groups, k=spec.k, extra=spec.extra_metrics)


def evaluate(model: Any, data: PreparedData, rows: np.ndarray, spec: TrainingSpec) -> dict[str, float]:
    """Predict ``rows`` and compute the problem type's metrics (no prefix)."""
    if len(rows) == 0:
        return {}
    y_pred, y_score = predict_output(model, data.X.iloc[rows], spec.problem_type, len(data.classes))
    return metrics_of(spec, data, rows, y_pred, y_score, model)


def predictions_json(
    data: PreparedData, rows: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None
) -> dict[str, Any]:
    """Per-row predictions as plain JSON: positions, truth, prediction and score (or [])."""
    out: dict[str, Any] = {
        "rows": [int(r) for r in rows],
        "y_true": [] if data.y is None else data.y[rows].tolist(),
        "y_pred": np.asarray(y_pred).tolist(),
        "y_score": [] if y_score is None else np.round(np.asarray(y_score, dtype="float64"), 10).tolist(),
    }
    if data.groups is not None:
        out["groups"] = [str(g) for g in data.groups[rows]]
    return out


def score(model: Any, df: pd.DataFrame) -> np.ndarray:
    """Positive-class probabilities for each row of ``df`` (binary classifiers and rankers).

    Selects the model's own input columns, so a frame with extra columns (the target, ids)
    scores the same as one with only the features.
    """
    columns = [str(c) for c in getattr(model, "feature_names_in_", [])]
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise DataFileError(
            f"the data has no column {', '.join(map(repr, absent))} that the model needs: "
            "add it to the batch"
        )
    X = df[columns] if columns else df
    return np.asarray(model.predict_proba(X)[:, 1], dtype="float64")
