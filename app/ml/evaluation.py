"""Error analysis for a trained model: where it is wrong, for whom, and how sure it is.

A stage-4 reviewer challenges a model on more than one headline number: the confusion matrix,
ROC/PR curves, calibration, per-segment metrics (a good average can hide a bad segment),
fairness across a sensitive attribute, learning curves (more data or more capacity?) and
permutation importance (is the model leaning on a leaky feature?). This module computes those
as plain data; the TUI draws them as terminal charts and the PDF report prints them.

Every result is JSON-safe (``int``/``float``/``str``/``list``/``None``, never NaN or numpy
scalars) because it is stored as run evidence and hashed into the audit chain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve
from sklearn.model_selection import KFold, StratifiedKFold, learning_curve

from app.ml.catalogue import lower_is_better
from app.ml.comparison import (
    REGRESSION_METRICS,
    SKLEARN_SCORERS,
    check_metric,
    metric_value,
    problem_kind,
)
from app.ml.errors import DataFileError


def _plain(value: Any) -> Any:
    """A JSON-safe Python value: numpy scalars unwrapped, NaN/inf -> None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _positive_label(y: np.ndarray) -> Any:
    """The positive class of a binary target: 1 for 0/1 or boolean targets, else the larger label.

    Same choice as sklearn's default for 0/1 targets, deterministic for string labels, and
    still right for a 0/1 target that happens to contain a single class in a subset.
    """
    labels = np.unique(y)
    if labels.shape[0] > 2:
        raise DataFileError("This chart needs a binary target; the target has more than two values.")
    if labels.dtype.kind in "biuf" and set(labels.tolist()) <= {0, 1}:
        return 1
    return labels[-1] if labels.shape[0] else 1


def _downsample(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[list[float], list[float]]:
    """At most ``max_points`` curve points, evenly spaced along the curve, ends kept.

    A terminal chart is ~100 columns wide; storing thousands of thresholds adds evidence size
    and nothing visible.
    """
    if max_points < 2:
        raise ValueError("max_points must be at least 2.")
    if x.shape[0] > max_points:
        keep = np.unique(np.round(np.linspace(0, x.shape[0] - 1, max_points)).astype(int))
        x, y = x[keep], y[keep]
    return [float(v) for v in x], [float(v) for v in y]


# --------------------------------------------------------------------------- confusion & curves


def confusion(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> dict[str, Any]:
    """Confusion matrix with its label order made explicit (rows = true, columns = predicted).

    Without ``labels`` the order is the sorted union of true and predicted labels (sklearn's
    ``unique_labels``), so a class the model never predicts still gets a column.
    """
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    order = np.unique(np.concatenate([yt, yp])) if labels is None else np.asarray(labels)
    matrix = confusion_matrix(yt, yp, labels=order)
    return {
        "labels": [_plain(v) for v in order.tolist()],
        "matrix": [[int(v) for v in row] for row in matrix],
    }


def _binary_inputs(y_true: Sequence[Any], y_score: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true)
    ys = np.asarray(y_score, dtype=np.float64)
    if ys.ndim == 2 and ys.shape[1] == 2:
        ys = ys[:, 1]
    if yt.shape[0] != ys.shape[0]:
        raise ValueError("y_true and y_score must be for the same rows.")
    if np.unique(yt).shape[0] != 2:
        raise DataFileError("ROC and precision-recall curves need both classes in y_true.")
    return (yt == _positive_label(yt)).astype(int), ys


def roc_points(y_true: Sequence[Any], y_score: Sequence[Any], max_points: int = 101) -> dict[str, Any]:
    """ROC curve (x = false positive rate, y = true positive rate), downsampled, with its AUC.

    The AUC is computed on the full curve, not the downsampled points, so it equals the
    run's stored ``roc_auc``.
    """
    yt, ys = _binary_inputs(y_true, y_score)
    fpr, tpr, _ = roc_curve(yt, ys)
    x, y = _downsample(fpr, tpr, max_points)
    return {"x": x, "y": y, "auc": float(metric_value("roc_auc", yt, ys) or 0.0)}


def pr_points(y_true: Sequence[Any], y_score: Sequence[Any], max_points: int = 101) -> dict[str, Any]:
    """Precision-recall curve (x = recall, y = precision), downsampled, with average precision.

    ``auc`` is average precision (the step-wise area), the same number as the run's
    ``pr_auc``; trapezoidal PR area is optimistic and is deliberately not used. Points are
    ordered by increasing recall so the chart reads left to right.
    """
    yt, ys = _binary_inputs(y_true, y_score)
    precision, recall, _ = precision_recall_curve(yt, ys)
    x, y = _downsample(recall[::-1], precision[::-1], max_points)
    return {"x": x, "y": y, "auc": float(metric_value("pr_auc", yt, ys) or 0.0)}


def calibration(y_true: Sequence[Any], y_prob: Sequence[Any], bins: int = 10) -> dict[str, Any]:
    """Reliability diagram on equal-width probability bins, and expected calibration error.

    ECE = sum over bins of (share of rows) x |fraction positive - mean predicted|: a model
    whose 0.8 means "80 % of the time" has ECE near 0. Empty bins are left out (nothing to
    plot, zero weight in the ECE). ``lower``/``upper`` give each bin's edges.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1.")
    y_arr = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    if y_arr.shape[0] != p.shape[0]:
        raise ValueError("y_true and y_prob must be for the same rows.")
    yt = (y_arr == _positive_label(y_arr)).astype(np.float64)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError("Calibration needs probabilities between 0 and 1.")
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = p.shape[0]
    out = []
    ece = 0.0
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if count == 0:
            continue
        mean_predicted = float(p[mask].mean())
        fraction_positive = float(yt[mask].mean())
        ece += count / total * abs(fraction_positive - mean_predicted)
        out.append(
            {
                "lower": b / bins,
                "upper": (b + 1) / bins,
                "mean_predicted": mean_predicted,
                "fraction_positive": fraction_positive,
                "count": count,
            }
        )
    return {"bins": out, "ece": float(ece)}


# --------------------------------------------------------------------------- segments & fairness


def _segment_labels(values: pd.Series) -> pd.Series:
    """Group keys for one column: quartile ranges for numeric columns, values otherwise.

    Numeric columns with more than four distinct values are cut into quartiles (fewer bins
    when quantiles coincide) because per-value segments of a continuous column are each a
    handful of rows. Missing values form their own "(missing)" segment: models often fail
    exactly there.
    """
    is_numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if is_numeric and values.nunique(dropna=True) > 4:
        binned = pd.qcut(values, q=4, duplicates="drop")
        labels = binned.astype(object).map(
            lambda iv: f"{iv.left:.4g} to {iv.right:.4g}" if pd.notna(iv) else None
        )
    else:
        labels = values.astype(object).map(lambda v: None if pd.isna(v) else str(_plain(v)))
    return labels.where(labels.notna(), "(missing)")


def _segment_row_metrics(
    problem_type: str, y: np.ndarray, pred: np.ndarray, score: np.ndarray | None
) -> dict[str, float | None]:
    if problem_type == "regression":
        return {m: metric_value(m, y, pred) for m in ("rmse", "mae", "r2")}
    out: dict[str, float | None] = {
        "accuracy": metric_value("accuracy", y, pred),
        "macro_f1": metric_value("macro_f1", y, pred),
        "roc_auc": None,
    }
    if score is not None and np.unique(y).shape[0] == 2:
        out["roc_auc"] = metric_value("roc_auc", y, score)
    return out


def segment_metrics(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    y_score: Sequence[Any] | None,
    segment: Sequence[Any] | pd.Series | pd.DataFrame,
    *,
    problem_type: str,
    min_rows: int = 30,
) -> list[dict[str, Any]]:
    """Metrics per segment, so a good average cannot hide a segment the model fails.

    ``segment`` is one column (any sequence / Series) or a DataFrame of several; every column
    is segmented (numeric ones into quartiles, see :func:`_segment_labels`) and each row of
    the result names its ``column`` (the Series/column name, or None). Classification rows
    carry accuracy, macro_f1 and roc_auc (binary, with ``y_score``); regression rows rmse,
    mae and r2. Segments smaller than ``min_rows`` are still listed, with ``too_small`` true
    and metrics None: metrics on a few rows are noise, but hiding the segment would hide
    that the test set barely covers it.
    """
    problem_type = problem_kind(problem_type)
    y = np.asarray(y_true)
    pred = np.asarray(y_pred)
    score = None if y_score is None else np.asarray(y_score)
    if score is not None and score.ndim == 2 and score.shape[1] == 2:
        score = score[:, 1]
    if isinstance(segment, pd.DataFrame):
        columns = [(str(name), segment[name].reset_index(drop=True)) for name in segment.columns]
    else:
        if isinstance(segment, pd.Series):
            series = segment.reset_index(drop=True)
        else:
            series = pd.Series(list(segment))
        columns = [(None if series.name is None else str(series.name), series)]
    if problem_type == "regression":
        metric_names: tuple[str, ...] = ("rmse", "mae", "r2")
    else:
        metric_names = ("accuracy", "macro_f1", "roc_auc")
    results: list[dict[str, Any]] = []
    for name, values in columns:
        if values.shape[0] != y.shape[0]:
            raise ValueError("The segment column must have one value per prediction row.")
        labels = _segment_labels(values)
        # Quartile labels sort by their lower edge; categories alphabetically.
        groups = labels.groupby(labels, sort=False).indices.items()
        for key, rows in sorted(groups, key=lambda kv: _sort_key(values, kv)):
            row: dict[str, Any] = {"column": name, "segment": str(key), "rows": int(rows.shape[0])}
            if rows.shape[0] < min_rows:
                row.update({m: None for m in metric_names})
                row["too_small"] = True
            else:
                part_score = None if score is None else score[rows]
                row.update(_segment_row_metrics(problem_type, y[rows], pred[rows], part_score))
                row["too_small"] = False
            results.append(row)
    return results


def _sort_key(values: pd.Series, item: tuple[Any, np.ndarray]) -> tuple[int, Any]:
    key, rows = item
    if key == "(missing)":
        return (2, "")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return (0, float(np.nanmin(values.to_numpy(dtype=np.float64)[rows])))
    return (1, str(key))


def fairness(y_true: Sequence[Any], y_pred: Sequence[Any], sensitive: Sequence[Any]) -> dict[str, Any]:
    """Group fairness of binary predictions across the values of a sensitive attribute.

    * demographic parity difference: max - min selection rate (share predicted positive);
      ``demographic_parity_ratio`` (min / max) is the "four-fifths rule" form;
    * equalized odds difference: the larger of the TPR gap and the FPR gap across groups
      (the fairlearn definition); a group without positives (or negatives) has no TPR (FPR)
      and is left out of that gap.

    Differences of 0 mean parity. The per-group rates are returned so a reviewer can see
    which group drives a gap.
    """
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    groups = pd.Series(list(sensitive)).astype(object)
    if not (yt.shape[0] == yp.shape[0] == groups.shape[0]):
        raise ValueError("y_true, y_pred and sensitive must have one value per row.")
    positive = _positive_label(np.concatenate([yt, yp]))
    actual = yt == positive
    predicted = yp == positive
    keys = groups.map(lambda v: "(missing)" if pd.isna(v) else str(_plain(v)))
    per_group = []
    for key, rows in sorted(keys.groupby(keys, sort=False).indices.items()):
        a = actual[rows]
        p = predicted[rows]
        per_group.append(
            {
                "group": key,
                "rows": int(rows.shape[0]),
                "positives": int(a.sum()),
                "selection_rate": float(p.mean()),
                "tpr": float(p[a].mean()) if a.any() else None,
                "fpr": float(p[~a].mean()) if (~a).any() else None,
            }
        )

    def gap(name: str) -> float | None:
        values = [g[name] for g in per_group if g[name] is not None]
        return float(max(values) - min(values)) if values else None

    selection = [g["selection_rate"] for g in per_group]
    tpr_gap, fpr_gap = gap("tpr"), gap("fpr")
    odds = [v for v in (tpr_gap, fpr_gap) if v is not None]
    return {
        "demographic_parity_difference": gap("selection_rate"),
        "demographic_parity_ratio": (
            float(min(selection) / max(selection)) if selection and max(selection) > 0 else None
        ),
        "equalized_odds_difference": float(max(odds)) if odds else None,
        "tpr_difference": tpr_gap,
        "fpr_difference": fpr_gap,
        "groups": per_group,
    }


#: Fewest rows (and actual positives) a group needs before a rate of 0 or a gap is a finding:
#: below that a rate is noise, and the concern names the group as too small to judge.
FAIRNESS_MIN_ROWS = 30
FAIRNESS_MIN_POSITIVES = 10


def fairness_concerns(result: dict[str, Any], *, max_disparity: float, label: str = "",
                      min_rows: int = FAIRNESS_MIN_ROWS,
                      min_positives: int = FAIRNESS_MIN_POSITIVES) -> list[dict[str, str]]:
    """What a fairness result (:func:`fairness`, with its ``attribute``) asks a reviewer to settle,
    as findings (title, severity, concerns, remediation), titles stable for the same result.

    * a group the model never selects (selection rate 0): high, it is served nothing;
    * a group whose actual positives it never finds (true-positive rate 0): high;
    * a demographic parity or equalized odds difference over ``max_disparity``: medium.

    Only groups of at least ``min_rows`` rows (and ``min_positives`` positives for the TPR) are
    judged, and the gaps are taken over those groups: a rate on five rows is noise. ``label``
    prefixes each title (the run it is about).
    """
    attribute = str(result.get("attribute") or "the sensitive attribute")
    groups = list(result.get("groups") or [])
    judged = [g for g in groups if int(g.get("rows", 0)) >= min_rows]
    small = [str(g["group"]) for g in groups if int(g.get("rows", 0)) < min_rows]
    note = (f" Groups under {min_rows} rows were not judged: {', '.join(small)}." if small else "")
    prefix = f"{label}: " if label else ""
    out: list[dict[str, str]] = []
    for g in judged:
        where = f"{attribute} = {g['group']}"
        if g.get("selection_rate") == 0:
            out.append({
                "title": f"{prefix}the model never selects {where} (selection rate 0 on {g['rows']} rows)",
                "severity": "high",
                "concerns": f"fairness by {attribute}: group {g['group']}",
                "remediation": "Find out why this group never gets a positive prediction (few positives in "
                               "training, a feature standing in for the group); retrain with more or re-weighted "
                               "data or a group-aware threshold, or accept the risk with a reason." + note,
            })
        elif g.get("tpr") == 0 and int(g.get("positives", min_positives)) >= min_positives:
            out.append({
                "title": f"{prefix}the model finds none of the positives of {where} (true-positive rate 0 of "
                         f"{g.get('positives', '?')})",
                "severity": "high",
                "concerns": f"fairness by {attribute}: group {g['group']}",
                "remediation": "The model misses every actual positive in this group: check its features and "
                               "labels there, retrain or set a group-aware threshold, or accept the risk with a "
                               "reason." + note,
            })

    def gap(name: str, enough: Any = lambda g: True) -> float | None:
        values = [g[name] for g in judged if g.get(name) is not None and enough(g)]
        return float(max(values) - min(values)) if len(values) >= 2 else None

    selection = gap("selection_rate")
    tpr = gap("tpr", lambda g: int(g.get("positives", min_positives)) >= min_positives)
    odds = [v for v in (tpr, gap("fpr")) if v is not None]
    for name, value in (("demographic parity difference", selection),
                        ("equalized odds difference", max(odds) if odds else None)):
        if value is not None and value > max_disparity:
            out.append({
                "title": f"{prefix}{name} by {attribute} is {value:.3f}, over the {max_disparity:g} allowed",
                "severity": "medium",
                "concerns": f"fairness by {attribute}: {name}",
                "remediation": f"Narrow the gap between groups of {attribute} (data, features, thresholds) or "
                               "accept it with a reason that says why it is justified." + note,
            })
    return out


# --------------------------------------------------------------------------- model-based


def _natural(metric: str, values: np.ndarray) -> np.ndarray:
    """sklearn ``neg_*`` scorer values back to the metric's natural sign (RMSE positive)."""
    return -values if lower_is_better(metric) else values


def learning_curve_points(
    make_estimator: Callable[[], Any],
    X: Any,
    y: Sequence[Any],
    *,
    metric: str,
    train_sizes: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 1.0),
    seed: int = 0,
    cv: int = 3,
) -> dict[str, Any]:
    """Train and validation score vs training-set size: would more data help?

    Uses shuffled (stratified for classification metrics) folds because sklearn's default
    unshuffled folds give nonsense on sorted data. Scores are in the metric's natural
    orientation (RMSE as a positive error). A size where fitting failed (e.g. a subset with
    one class) gives None rather than aborting the whole curve.
    """
    check_metric(metric)
    y_arr = np.asarray(y)
    splitter_cls = KFold if metric in REGRESSION_METRICS else StratifiedKFold
    splitter = splitter_cls(n_splits=cv, shuffle=True, random_state=seed)
    sizes, train, validation = learning_curve(
        make_estimator(),
        X,
        y_arr,
        train_sizes=np.asarray(train_sizes, dtype=np.float64),
        cv=splitter,
        scoring=SKLEARN_SCORERS[metric],
        shuffle=True,
        random_state=seed,
        n_jobs=1,
        error_score=np.nan,
    )
    train = _natural(metric, np.asarray(train, dtype=np.float64))
    validation = _natural(metric, np.asarray(validation, dtype=np.float64))

    def summary(values: np.ndarray, fn: Callable[[np.ndarray], np.floating]) -> list[float | None]:
        out = []
        for row in values:
            finite = row[np.isfinite(row)]
            out.append(_plain(float(fn(finite))) if finite.size else None)
        return out

    return {
        "metric": metric,
        "sizes": [int(s) for s in sizes],
        "train": summary(train, np.mean),
        "validation": summary(validation, np.mean),
        "train_std": summary(train, np.std),
        "validation_std": summary(validation, np.std),
    }


def permutation_importances(
    model: Any,
    X: Any,
    y: Sequence[Any],
    *,
    metric: str,
    n_repeats: int = 5,
    seed: int = 0,
    max_rows: int = 5000,
) -> list[dict[str, Any]]:
    """How much ``metric`` drops when each feature's values are shuffled, largest first.

    Model-agnostic and measured on held-out rows, so it shows what the fitted model actually
    relies on (a suspiciously dominant feature is a leakage hint). At most ``max_rows``
    rows (a seeded random sample) keep it interactive. Importance is the drop in sklearn's
    greater-is-better score, so a positive value always means "the feature helps", also for
    error metrics.
    """
    check_metric(metric)
    y_arr = np.asarray(y)
    n_rows = y_arr.shape[0]
    if n_rows > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n_rows, size=max_rows, replace=False))
        X = X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows]
        y_arr = y_arr[rows]
    if hasattr(X, "columns"):
        names = [str(c) for c in X.columns]
    else:
        names = [f"x{i}" for i in range(np.asarray(X).shape[1])]
    result = permutation_importance(
        model, X, y_arr, scoring=SKLEARN_SCORERS[metric], n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
    out = [
        {"feature": name, "importance_mean": _plain(float(m)), "importance_std": _plain(float(s))}
        for name, m, s in zip(names, result.importances_mean, result.importances_std, strict=True)
    ]
    out.sort(key=lambda r: -(r["importance_mean"] if r["importance_mean"] is not None else -math.inf))
    return out
