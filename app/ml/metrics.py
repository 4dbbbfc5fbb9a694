"""Metrics per problem type (which one is primary, and which way each is better, is in
``app.ml.catalogue``).

Pure functions over arrays: training, cross-validation, tuning and the sealed test evaluation
all call ``metrics_for`` so a number means the same thing wherever it is reported. A metric
that is undefined on the given rows (ROC AUC with one class, silhouette with one cluster) is
left out rather than reported as NaN, so every value in a result is a finite float.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    calinski_harabasz_score,
    davies_bouldin_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    ndcg_score,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    silhouette_score,
)

from app.ml.catalogue import check_trainable

TOP_FRACTION = 0.10
SILHOUETTE_SAMPLE = 2000


def metrics_for(
    problem_type: str,
    y_true: Any,
    y_score_or_pred: Any,
    *,
    groups: Any = None,
    k: int = 10,
    classes: Any = None,
    extra: Sequence[str] = (),
) -> dict[str, float]:
    """Every metric of ``problem_type`` for one set of rows (``catalogue.COMPUTED_METRICS``), so a
    problem statement's ML metric, whichever of them it names, is measured.

    ``extra`` asks for metrics only some projects have: the domain metric ``ctr_at_top10pct``
    (binary or ranking, for a click-through project) and ``ndcg_at_<k>`` at cut-offs other than
    ``k`` (ranking). A name that does not apply to the problem type is ignored.

    - binary_classification: ``y_true`` 0/1, ``y_score_or_pred`` positive-class probabilities;
      the decision metrics (accuracy, precision, recall, F1) are at the 0.5 threshold every
      prediction of the workbench uses.
    - multiclass_classification: ``y_true`` class labels (codes 0..C-1 unless ``classes`` names
      the columns), ``y_score_or_pred`` an (n, C) probability matrix or 1-D predicted labels
      (then only accuracy and macro F1).
    - regression: true and predicted numbers.
    - ranking: binary relevance, scores and ``groups`` (one id per row); NDCG@k is computed per
      group with at least two rows and one relevant row, then averaged.
    - clustering: ``y_true`` is the (prepared) feature matrix, ``y_score_or_pred`` the cluster
      labels; computed on a fixed sample of at most 2,000 rows.
    - anomaly_detection: ``y_true`` 0/1 or None, ``y_score_or_pred`` the anomaly score (higher is
      more anomalous, flagged where > 0).
    """
    check_trainable(problem_type)
    if problem_type == "binary_classification":
        y, scores = np.asarray(y_true, dtype="int64"), np.asarray(y_score_or_pred, dtype="float64")
        out = _binary(y, scores)
        if "ctr_at_top10pct" in extra and len(y):
            out["ctr_at_top10pct"] = _top_share(y, scores)
        return out
    if problem_type == "multiclass_classification":
        return _multiclass(np.asarray(y_true), np.asarray(y_score_or_pred), classes)
    if problem_type == "regression":
        return _regression(np.asarray(y_true, dtype="float64"), np.asarray(y_score_or_pred, dtype="float64"))
    if problem_type == "ranking":
        if groups is None:
            raise ValueError("ranking metrics need groups: pass one group id per row")
        y, scores = np.asarray(y_true, dtype="float64"), np.asarray(y_score_or_pred, dtype="float64")
        cutoffs = [k, *(int(m[len("ndcg_at_"):]) for m in extra
                        if m.startswith("ndcg_at_") and m[len("ndcg_at_"):].isdigit())]
        out = {}
        for cutoff in dict.fromkeys(cutoffs):
            out.update(_ranking(y, scores, np.asarray(groups), cutoff))
        if "ctr_at_top10pct" in extra and len(y):
            out["ctr_at_top10pct"] = _top_share((y > 0).astype("int64"), scores)
        return out
    if problem_type == "clustering":
        return clustering_metrics(y_true, np.asarray(y_score_or_pred))
    return _anomaly(None if y_true is None else np.asarray(y_true, dtype="int64"),
                    np.asarray(y_score_or_pred, dtype="float64"))


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {name: float(v) for name, v in values.items() if v is not None and math.isfinite(v)}


def _binary(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    if len(y) == 0:
        return {}
    predicted = (scores >= 0.5).astype("int64")
    out: dict[str, float] = {
        "base_rate": float(y.mean()),
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted, zero_division=0.0)),
        "brier": float(brier_score_loss(y, np.clip(scores, 0.0, 1.0), labels=[0, 1])),
        "log_loss": float(log_loss(y, np.clip(scores, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }
    # Precision is undefined when nothing is predicted positive, recall when nothing is positive:
    # left out then, rather than reported as a 0 the model did not earn.
    if predicted.any():
        out["precision"] = float(precision_score(y, predicted, zero_division=0.0))
    if y.any():
        out["recall"] = float(recall_score(y, predicted, zero_division=0.0))
    if len(np.unique(y)) == 2:
        out["roc_auc"] = float(roc_auc_score(y, scores))
        out["pr_auc"] = float(average_precision_score(y, scores))
    return _finite(out)


def _top_share(y: np.ndarray, scores: np.ndarray) -> float:
    """The share of positives (clicks) among the top 10 % of rows by score: a click-through
    project's metric, for a feed that shows the best-scored tenth."""
    top = np.argsort(-scores, kind="stable")[: max(1, math.ceil(TOP_FRACTION * len(y)))]
    return float(y[top].mean())


def _multiclass(y: np.ndarray, scores: np.ndarray, classes: Any) -> dict[str, float]:
    if len(y) == 0:
        return {}
    if scores.ndim == 1:  # hard predictions only
        labels = list(classes) if classes is not None else sorted(set(y.tolist()) | set(scores.tolist()))
        return _finite({
            "accuracy": accuracy_score(y, scores),
            "macro_f1": f1_score(y, scores, labels=labels, average="macro", zero_division=0.0),
            "macro_precision": precision_score(y, scores, labels=labels, average="macro", zero_division=0.0),
            "macro_recall": recall_score(y, scores, labels=labels, average="macro", zero_division=0.0),
        })
    labels = np.asarray(list(classes) if classes is not None else range(scores.shape[1]))
    if len(labels) != scores.shape[1]:
        raise ValueError(
            f"{scores.shape[1]} probability columns but {len(labels)} classes: pass the model's classes"
        )
    predicted = labels[np.argmax(scores, axis=1)]
    out: dict[str, float] = {
        "accuracy": accuracy_score(y, predicted),
        "macro_f1": f1_score(y, predicted, labels=labels, average="macro", zero_division=0.0),
        "macro_precision": precision_score(y, predicted, labels=labels, average="macro", zero_division=0.0),
        "macro_recall": recall_score(y, predicted, labels=labels, average="macro", zero_division=0.0),
    }
    proba = np.clip(scores, 1e-15, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    out["log_loss"] = log_loss(y, proba, labels=labels)
    if set(np.unique(y).tolist()) == set(labels.tolist()):  # every class present: AUC defined
        out["roc_auc_ovr"] = roc_auc_score(y, proba, multi_class="ovr", labels=labels)
    return _finite(out)


def _regression(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    if len(y) == 0:
        return {}
    out = {
        "rmse": math.sqrt(mean_squared_error(y, predicted)),
        "mae": mean_absolute_error(y, predicted),
    }
    # MAPE on the rows whose true value is not 0 (their percentage error is undefined; sklearn
    # would divide by machine epsilon and report a meaningless 10^15); left out when all are 0.
    nonzero = y != 0
    if nonzero.any():
        out["mape"] = mean_absolute_percentage_error(y[nonzero], predicted[nonzero])
    if len(y) >= 2 and np.ptp(y) > 0:
        out["r2"] = r2_score(y, predicted)
    return _finite(out)


def _ranking(y: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int) -> dict[str, float]:
    if len(y) == 0:
        return {}
    if k < 1:
        raise ValueError(f"NDCG@k needs k >= 1, got {k}")
    out: dict[str, float] = {}
    gains: list[float] = []
    order = np.argsort(groups, kind="stable")
    boundaries = np.flatnonzero(groups[order][1:] != groups[order][:-1]) + 1
    for rows in np.split(order, boundaries):
        # A group with one row has no order to judge, one without a relevant row has no ideal.
        if len(rows) < 2 or not np.any(y[rows] > 0):
            continue
        gains.append(ndcg_score(y[rows][None, :], scores[rows][None, :], k=k))
    if gains:
        out[f"ndcg_at_{k}"] = float(np.mean(gains))
    if len(np.unique(y)) == 2:
        out["roc_auc"] = roc_auc_score(y, scores)
    return _finite(out)


def clustering_metrics(
    X: Any, labels: np.ndarray, *, sample_size: int = SILHOUETTE_SAMPLE, seed: int = 0
) -> dict[str, float]:
    """Silhouette, Davies-Bouldin and Calinski-Harabasz on one fixed sample of rows."""
    labels = np.asarray(labels)
    n = len(labels)
    if n == 0:
        return {}
    rows = np.arange(n)
    if n > sample_size:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=sample_size, replace=False))
    sample = X[rows]
    if hasattr(sample, "toarray"):
        sample = sample.toarray()
    sample = np.asarray(sample, dtype="float64")
    found = len(np.unique(labels[rows]))
    if found < 2 or found >= len(rows):
        return {}
    return _finite({
        "silhouette": silhouette_score(sample, labels[rows]),
        "davies_bouldin": davies_bouldin_score(sample, labels[rows]),
        "calinski_harabasz": calinski_harabasz_score(sample, labels[rows]),
    })


def _anomaly(y: np.ndarray | None, scores: np.ndarray) -> dict[str, float]:
    if len(scores) == 0:
        return {}
    out: dict[str, float] = {"share_flagged": float(np.mean(scores > 0))}
    if y is not None:
        out["base_rate"] = float(y.mean())
        if len(np.unique(y)) == 2:
            out["roc_auc"] = roc_auc_score(y, scores)
            out["pr_auc"] = average_precision_score(y, scores)
    return _finite(out)
