"""Statistical comparison of two models evaluated on the same rows.

The stage-4 gate says "the candidate beats the baseline with a significance test", so a
reviewer needs more than two metric values side by side: they need to know whether the gap is
bigger than the noise of the test set. Everything here is *paired* (both models scored on the
same rows), because pairing removes the row-to-row variance both models share and makes the
tests far more sensitive than comparing two independent confidence intervals.

Conventions used throughout, so callers never have to guess the sign:

* ``a`` is the reference (baseline / champion) and ``b`` the challenger;
* every ``difference`` is ``metric(b) - metric(a)`` in the metric's natural units (RMSE is
  a positive error, not sklearn's negated score);
* "better" depends on the metric: lower is better for ``rmse``, ``mae`` and ``log_loss``
  (``app.ml.catalogue.lower_is_better``), higher for the rest.

All results are JSON-safe (plain ``float``/``int``/``list``/``None``, never NaN) because they
are stored as run evidence and rendered in the TUI and PDF report.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import KFold, StratifiedKFold

from app.ml.catalogue import lower_is_better
from app.ml.errors import TrainingCancelled

#: Metrics the comparison functions understand.
CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "accuracy", "macro_f1", "log_loss")
REGRESSION_METRICS = ("r2", "rmse", "mae")
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS

#: Metrics computed from hard predictions (labels); the others need scores/probabilities.
LABEL_METRICS = frozenset({"accuracy", "macro_f1"})

#: sklearn scorer names for each metric (used for learning curves and permutation importance).
#: The ``neg_`` scorers are sklearn's "greater is better" orientation of the error metrics.
SKLEARN_SCORERS = {
    "roc_auc": "roc_auc",
    "pr_auc": "average_precision",
    "accuracy": "accuracy",
    "macro_f1": "f1_macro",
    "log_loss": "neg_log_loss",
    "r2": "r2",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
}

# Resamples are processed in blocks of about this many (resample x row) cells: small enough to
# stay in CPU cache (measured ~3x faster than 5M-cell blocks) and to bound memory on big sets.
_MAX_BLOCK_CELLS = 600_000
_EPS = 1e-15


def check_metric(metric: str) -> str:
    """Return ``metric`` if known, else raise ``ValueError`` naming the accepted ones.

    Done up front so a typo fails before minutes of resampling or fitting, not after.
    """
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose one of: {', '.join(METRICS)}.")
    return metric


# Lifecycle problem types (app.lifecycle.PROBLEM_TYPES and older names) -> the two kinds of
# prediction these functions understand. Kept here, not imported, because app.ml imports
# nothing outside itself.
_PROBLEM_KINDS = {
    "classification": "classification",
    "binary_classification": "classification",
    "multiclass_classification": "classification",
    "anomaly_detection": "classification",
    "regression": "regression",
    "forecasting": "regression",
}


def problem_kind(problem_type: str) -> str:
    """``"classification"`` or ``"regression"`` for a project's problem type.

    Callers pass the project's stored problem type as-is (``binary_classification``,
    ``forecasting``, ...); ranking and clustering have no paired test here yet.
    """
    kind = _PROBLEM_KINDS.get(problem_type)
    if kind is None:
        raise ValueError(
            f"No statistical comparison for problem type {problem_type!r}; "
            f"supported: {', '.join(sorted(_PROBLEM_KINDS))}."
        )
    return kind


def is_better(difference: float, metric: str) -> bool:
    """True when ``difference = metric(b) - metric(a)`` means b is better than a."""
    return difference < 0 if lower_is_better(metric) else difference > 0


# --------------------------------------------------------------------------- McNemar


def mcnemar(y_true: Sequence[Any], pred_a: Sequence[Any], pred_b: Sequence[Any]) -> dict[str, Any]:
    """McNemar's test on the rows where exactly one of the two classifiers is right.

    Only discordant rows carry information about which model is better, so the test looks at
    ``b`` (a right, b wrong) and ``c`` (a wrong, b right). With fewer than 25 discordant rows
    the chi-square approximation is poor, so the exact binomial test (``c ~ Bin(b + c, 0.5)``)
    is used; otherwise chi-square with Edwards' continuity correction, 1 dof. ``method`` says
    which one ran. No discordant rows means the models cannot be told apart: p = 1.
    """
    y = np.asarray(y_true)
    pa = np.asarray(pred_a)
    pb = np.asarray(pred_b)
    if not (y.shape[0] == pa.shape[0] == pb.shape[0]):
        raise ValueError("McNemar needs y_true, pred_a and pred_b of the same length (same rows).")
    a_right = pa == y
    b_right = pb == y
    b = int(np.sum(a_right & ~b_right))
    c = int(np.sum(~a_right & b_right))
    n = b + c
    if n == 0:
        return {"test": "mcnemar", "statistic": 0.0, "p_value": 1.0, "b": b, "c": c, "method": "exact"}
    if n < 25:
        statistic = float(min(b, c))
        p_value = float(stats.binomtest(min(b, c), n, 0.5, alternative="two-sided").pvalue)
        method = "exact"
    else:
        statistic = float((abs(b - c) - 1) ** 2 / n)
        p_value = float(stats.chi2.sf(statistic, df=1))
        method = "chi2"
    return {
        "test": "mcnemar",
        "statistic": statistic,
        "p_value": min(1.0, p_value),
        "b": b,
        "c": c,
        "method": method,
    }


# --------------------------------------------------------------------------- metrics


def _as_binary(y: np.ndarray) -> np.ndarray:
    """Map a two-valued target to 0/1 (positive = 1/True, else the larger sorted label).

    Matches sklearn's default positive label for 0/1 and boolean targets, and gives a
    deterministic choice for string labels.
    """
    labels = np.unique(y)
    if labels.shape[0] > 2:
        raise ValueError("This metric needs a binary target; the target has more than two values.")
    positive = labels[-1] if labels.shape[0] else 1
    return (y == positive).astype(np.float64)


def _labels_from_scores(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Hard labels for accuracy/F1 when the caller passed probabilities instead of labels.

    A 1-D array of non-integer values in [0, 1] with a binary 0/1 target is read as
    P(positive) and thresholded at 0.5; a 2-D array is read as class probabilities (argmax,
    classes in sorted order, as sklearn's ``predict_proba``). Anything else is taken as labels.
    """
    if s.ndim == 2:
        classes = np.unique(y)
        if s.shape[1] == classes.shape[0]:
            return classes[np.argmax(s, axis=1)]
        _class_columns(y, s)  # integer labels = columns, or a clear error
        return np.argmax(s, axis=1)
    if s.dtype.kind == "f" and s.size and np.all((s >= 0) & (s <= 1)) and np.any(s != np.round(s)):
        if set(np.unique(y).tolist()) <= {0, 1}:
            return (s >= 0.5).astype(y.dtype if y.dtype.kind in "iub" else np.int64)
    return s


def metric_value(metric: str, y_true: Sequence[Any], score: Sequence[Any]) -> float | None:
    """One metric on full data, in its natural orientation (RMSE positive, etc.).

    ``score`` is labels for accuracy/macro_f1 (probabilities are thresholded, see
    :func:`_labels_from_scores`), P(positive) or a class-probability matrix for
    roc_auc/pr_auc/log_loss, and predictions for regression. Returns ``None`` when the metric
    is undefined on these rows (e.g. AUC with a single class) instead of NaN.
    """
    check_metric(metric)
    y = np.asarray(y_true)
    s = _normalise_scores(metric, np.asarray(score))
    if metric == "accuracy":
        return float(accuracy_score(y, _labels_from_scores(y, s)))
    if metric == "macro_f1":
        return float(f1_score(y, _labels_from_scores(y, s), average="macro", zero_division=0))
    if metric == "roc_auc":
        if s.ndim == 2:
            return _finite(_ovr_auc_on(y, s, np.arange(y.shape[0])[None, :])[0])
        return _finite(_auc_on(_as_binary(y), s.astype(np.float64), np.arange(y.shape[0])[None, :])[0])
    if metric == "pr_auc":
        return _finite(_ap_on(_as_binary(y), s.astype(np.float64), np.arange(y.shape[0])[None, :])[0])
    if metric == "log_loss":
        if s.ndim == 2:
            classes, columns = _class_columns(y, s)
            column = columns[np.searchsorted(classes, y)]
            return float(np.mean(-np.log(np.clip(s[np.arange(y.shape[0]), column], _EPS, 1.0))))
        return float(np.mean(_row_log_loss(_as_binary(y), s.astype(np.float64))))
    yf = y.astype(np.float64)
    sf = s.astype(np.float64)
    if metric == "rmse":
        return float(np.sqrt(np.mean((yf - sf) ** 2)))
    if metric == "mae":
        return float(np.mean(np.abs(yf - sf)))
    ss_tot = float(np.sum((yf - yf.mean()) ** 2))
    if ss_tot == 0:
        return None
    return float(1.0 - np.sum((yf - sf) ** 2) / ss_tot)


def _normalise_scores(metric: str, s: np.ndarray) -> np.ndarray:
    """Reduce a two-column probability matrix to P(positive) for the probability metrics.

    Callers often store ``predict_proba`` output as-is; for a binary target its second column
    is what the AUCs and log loss need. Wider matrices stay (multiclass); 2-D input with
    ``pr_auc`` is refused because average precision is defined here for binary targets only.
    """
    if metric in ("roc_auc", "pr_auc", "log_loss") and s.ndim == 2:
        if s.shape[1] == 2:
            return s[:, 1]
        if s.shape[1] == 1:
            return s[:, 0]
        if metric == "pr_auc":
            raise ValueError("pr_auc is defined for binary targets only; use roc_auc or log_loss.")
    return s


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _row_log_loss(y01: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(y01 * np.log(p) + (1 - y01) * np.log(1 - p))


def _group_counts(
    y01: np.ndarray, score: np.ndarray, idx: np.ndarray, descending: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per resample (row of ``idx``), how many drawn positives/negatives fall in each tie group.

    Tie groups are the distinct score values, sorted ascending (or descending). One
    ``np.bincount`` over (resample, group, class) keys does all resamples at once; no
    per-resample sort is needed because the groups are ranked once on the full data.
    """
    unique, group = np.unique(score, return_inverse=True)
    n_groups = unique.shape[0]
    if descending:
        group = n_groups - 1 - group
    key = 2 * group.astype(np.int64) + y01.astype(np.int64)
    size = idx.shape[0]
    flat = (key[idx] + (np.arange(size, dtype=np.int64) * (2 * n_groups))[:, None]).ravel()
    counts = np.bincount(flat, minlength=size * 2 * n_groups).reshape(size, n_groups, 2)
    return counts[:, :, 1], counts[:, :, 0]


def _auc_on(y01: np.ndarray, score: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """ROC AUC for each resample (row of ``idx``: the row numbers drawn).

    AUC equals the Mann-Whitney probability P(score_pos > score_neg) + 0.5 P(tie), which is
    exactly what sklearn's trapezoidal ``roc_auc_score`` computes, so per resample it only
    needs per-tie-group counts and a cumulative sum. NaN where a resample has one class only.
    """
    pos, neg = _group_counts(y01, score, idx, descending=False)
    neg_below = np.cumsum(neg, axis=1) - neg
    numerator = np.einsum("ij,ij->i", pos, neg_below).astype(np.float64)
    numerator += 0.5 * np.einsum("ij,ij->i", pos, neg)
    denominator = pos.sum(axis=1).astype(np.float64) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def _class_columns(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The classes present in ``y`` and the ``proba`` column of each.

    One column per present class: sorted order (``predict_proba``). More columns than present
    classes happens when a validation part lacks a rare class; with integer-encoded labels
    (what training stores) the label is the column. Anything else cannot be aligned safely.
    """
    classes = np.unique(y)
    if proba.shape[1] == classes.shape[0]:
        return classes, np.arange(classes.shape[0])
    if y.dtype.kind in "iu" and classes.size and classes[0] >= 0 and classes[-1] < proba.shape[1]:
        return classes, classes.astype(np.int64)
    raise ValueError("The probability matrix needs one column per class (in sorted class order).")


def _ovr_auc_on(y: np.ndarray, proba: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Multiclass one-vs-rest macro ROC AUC (sklearn's ``multi_class="ovr"``) per resample.

    Columns of ``proba`` are the sorted classes of ``y`` (``predict_proba`` order); each
    class's AUC is a binary AUC of "this class vs the rest", then they are averaged.
    """
    classes, columns = _class_columns(y, proba)
    per_class = [
        _auc_on((y == k).astype(np.float64), proba[:, j].astype(np.float64), idx)
        for j, k in zip(columns, classes, strict=True)
    ]
    return np.mean(np.vstack(per_class), axis=0)


def _ap_on(y01: np.ndarray, score: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Average precision (sklearn's ``average_precision_score``) for each resample.

    AP = sum over distinct thresholds (descending) of recall increment x precision at that
    threshold; a tie group's recall increment is its positive count / total positives, so
    groups absent from a resample contribute nothing. NaN when a resample has no positives.
    """
    pos, neg = _group_counts(y01, score, idx, descending=True)
    tp = np.cumsum(pos, axis=1).astype(np.float64)
    predicted = tp + np.cumsum(neg, axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    total_pos = tp[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.sum(pos * precision, axis=1) / np.where(total_pos > 0, total_pos, 1)
    return np.where(total_pos > 0, ap, np.nan)


def _weighted_macro_f1(y: np.ndarray, pred: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro F1 per resample, over the labels present in y_true or pred *of that resample*.

    That label set is what sklearn's ``f1_score(average="macro")`` uses, so a class that a
    resample happens to miss entirely does not drag the average to zero.
    """
    classes = np.unique(np.concatenate([y, pred]))
    f1s = []
    present = []
    for k in classes:
        t = y == k
        p = pred == k
        tp = weights @ (t & p).astype(np.float64)
        t_count = weights @ t.astype(np.float64)
        p_count = weights @ p.astype(np.float64)
        denom = t_count + p_count
        f1s.append(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0))
        present.append(denom > 0)
    f1 = np.vstack(f1s)
    mask = np.vstack(present)
    return np.sum(f1 * mask, axis=0) / np.maximum(mask.sum(axis=0), 1)


def _weights(idx: np.ndarray, n_rows: int) -> np.ndarray:
    """(resamples x rows) matrix of how often each row was drawn in each resample."""
    size = idx.shape[0]
    flat = (idx + (np.arange(size, dtype=np.int64) * n_rows)[:, None]).ravel()
    return np.bincount(flat, minlength=size * n_rows).astype(np.float64).reshape(size, n_rows)


def _resampled_metric(metric: str, y: np.ndarray, s: np.ndarray, idx: np.ndarray, weights: Any) -> np.ndarray:
    """``metric`` for every resample; ``idx[r]`` are the rows drawn in resample r.

    The AUCs work on ``idx`` directly (per-tie-group counts); every other metric is a function
    of weighted sums over rows, so ``weights()`` (a lazily built count matrix) and a few
    matrix-vector products replace a Python loop over resamples.
    """
    if metric == "roc_auc":
        if s.ndim == 2:
            return _ovr_auc_on(y, s, idx)
        return _auc_on(_as_binary(y), s.astype(np.float64), idx)
    if metric == "pr_auc":
        return _ap_on(_as_binary(y), s.astype(np.float64), idx)
    w = weights()
    n = w.sum(axis=1)
    if metric == "accuracy":
        return w @ (_labels_from_scores(y, s) == y).astype(np.float64) / n
    if metric == "macro_f1":
        return _weighted_macro_f1(y, _labels_from_scores(y, s), w)
    if metric == "log_loss":
        if s.ndim == 2:
            classes, columns = _class_columns(y, s)
            column = columns[np.searchsorted(classes, y)]
            per_row = -np.log(np.clip(s[np.arange(y.shape[0]), column], _EPS, 1.0))
        else:
            per_row = _row_log_loss(_as_binary(y), s.astype(np.float64))
        return w @ per_row / n
    yf = y.astype(np.float64)
    err = yf - s.astype(np.float64)
    if metric == "rmse":
        return np.sqrt(w @ (err**2) / n)
    if metric == "mae":
        return w @ np.abs(err) / n
    # r2: 1 - SS_res / SS_tot with SS_tot = sum(w y^2) - (sum(w y))^2 / n; NaN if y constant.
    ss_res = w @ (err**2)
    ss_tot = w @ (yf**2) - (w @ yf) ** 2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 1e-12 * np.maximum(w @ (yf**2), 1), 1 - ss_res / ss_tot, np.nan)


def _bootstrap_differences(
    metric: str, y: np.ndarray, sa: np.ndarray, sb: np.ndarray, n_resamples: int, seed: int
) -> np.ndarray:
    """metric(b) - metric(a) on each of ``n_resamples`` paired resamples (NaN if undefined).

    Resamples are drawn in small blocks: besides bounding memory, blocks that fit in CPU
    cache made the whole bootstrap several times faster than one big block in measurements.
    """
    n_rows = y.shape[0]
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, _MAX_BLOCK_CELLS // max(n_rows, 1)))
    out = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        idx = rng.integers(0, n_rows, size=(size, n_rows), dtype=np.int64)
        # Built at most once per block, and only for metrics that need it (not the AUCs).
        weights = functools.cache(lambda idx=idx: _weights(idx, n_rows))
        out[start : start + size] = _resampled_metric(metric, y, sb, idx, weights) - _resampled_metric(
            metric, y, sa, idx, weights
        )
    return out


def paired_bootstrap(
    y_true: Sequence[Any],
    score_a: Sequence[Any],
    score_b: Sequence[Any],
    metric: str,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Paired bootstrap of ``metric(b) - metric(a)``: its percentile CI and a two-sided p-value.

    Rows are resampled with replacement and *both* models are scored on the same resample,
    so the interval reflects test-set noise in the difference, not in each metric. Works for
    any metric (AUCs have no simple McNemar analogue), which is why it is the primary test.

    ``p_value`` is twice the share of resamples whose difference is not on the same side of
    zero as the full-data difference (a zero counts against, so two identical models get
    p = 1), clipped to [1/n_resamples, 1] because a bootstrap cannot resolve smaller p.
    Resamples where the metric is undefined (e.g. one class only) are dropped and counted in
    ``n_undefined``.
    """
    check_metric(metric)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1.")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1.")
    y = np.asarray(y_true)
    sa = _normalise_scores(metric, np.asarray(score_a))
    sb = _normalise_scores(metric, np.asarray(score_b))
    if not (y.shape[0] == sa.shape[0] == sb.shape[0]):
        raise ValueError("The bootstrap needs y_true, score_a and score_b for the same rows.")
    if y.shape[0] == 0:
        raise ValueError("The bootstrap needs at least one row.")
    va = metric_value(metric, y, sa)
    vb = metric_value(metric, y, sb)
    if va is None or vb is None:
        raise ValueError(f"{metric} is undefined on these rows (for example, only one class).")
    difference = vb - va
    diffs = _bootstrap_differences(metric, y, sa, sb, n_resamples, seed)
    valid = diffs[np.isfinite(diffs)]
    if valid.size == 0:
        raise ValueError(f"{metric} is undefined on every bootstrap resample of these rows.")
    low, high = np.percentile(valid, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    if difference == 0:
        p_value = 1.0
    else:
        against = np.sum(valid <= 0) if difference > 0 else np.sum(valid >= 0)
        p_value = float(np.clip(2 * against / valid.size, 1 / valid.size, 1.0))
    return {
        "test": "paired_bootstrap",
        "metric": metric,
        "metric_a": float(va),
        "metric_b": float(vb),
        "difference": float(difference),
        "ci": [float(low), float(high)],
        "p_value": p_value,
        "n_resamples": int(n_resamples),
        "n_undefined": int(diffs.size - valid.size),
    }


# --------------------------------------------------------------------------- 5x2cv


def _take(data: Any, rows: np.ndarray) -> Any:
    return data.iloc[rows] if hasattr(data, "iloc") else np.asarray(data)[rows]


def _fitted_metric(model: Any, metric: str, X: Any, y: np.ndarray) -> float:
    """Score a fitted estimator with ``metric`` using the output the metric needs."""
    if metric in ("roc_auc", "pr_auc", "log_loss"):
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(X))
            classes = np.asarray(getattr(model, "classes_", np.unique(y)))
            if proba.shape[1] == 2:
                score = proba[:, 1]
            else:
                # Align columns to the labels present in this fold's y (sorted, like metric_value).
                present = np.unique(y)
                score = proba[:, np.searchsorted(classes, present)]
                score = score / np.clip(score.sum(axis=1, keepdims=True), _EPS, None)
        elif metric != "log_loss" and hasattr(model, "decision_function"):
            score = np.asarray(model.decision_function(X))
        else:
            raise ValueError(f"{metric} needs an estimator with predict_proba.")
    else:
        score = np.asarray(model.predict(X))
    value = metric_value(metric, y, score)
    if value is None:
        raise ValueError(f"{metric} is undefined on one of the 5x2cv folds (for example, one class only).")
    return value


def five_by_two_cv(
    make_a: Callable[[], Any],
    make_b: Callable[[], Any],
    X: Any,
    y: Sequence[Any],
    *,
    metric: str,
    seed: int = 0,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[float, str], None] = lambda f, m: None,
) -> dict[str, Any]:
    """Dietterich's 5x2cv paired t-test: is training procedure b better than a on this data?

    Unlike the bootstrap (which compares two *fitted* models on one test set), this compares
    the learning algorithms, refitting both on 5 repetitions of a 2-fold split, and keeps the
    type I error near nominal where the naive k-fold t-test does not (Dietterich 1998).
    Classification metrics use stratified folds, regression metrics plain ``KFold``.

    ``t = p_1^(1) / sqrt(mean_i s_i^2)`` with ``p_i^(j)`` the fold difference b - a and
    ``s_i^2`` the variance of repetition i; two-sided p from Student t with 5 dof.
    ``difference`` is the mean of the ten fold differences. ``make_a``/``make_b`` must return
    fresh unfitted estimators. ``should_stop`` is polled before each fit (raises
    ``TrainingCancelled``); ``progress(fraction, message)`` is called after each fold.
    """
    check_metric(metric)
    y_arr = np.asarray(y)
    n_rows = y_arr.shape[0]
    if n_rows != (X.shape[0] if hasattr(X, "shape") else len(X)):
        raise ValueError("X and y must have the same number of rows.")
    folds: list[dict[str, Any]] = []
    variances: list[float] = []
    first: float | None = None
    for rep in range(5):
        splitter_cls = KFold if metric in REGRESSION_METRICS else StratifiedKFold
        splitter = splitter_cls(n_splits=2, shuffle=True, random_state=seed + rep)
        rep_diffs: list[float] = []
        for fold, (train, test) in enumerate(splitter.split(np.zeros(n_rows), y_arr)):
            values = []
            for make in (make_a, make_b):
                if should_stop():
                    raise TrainingCancelled("5x2cv comparison cancelled.")
                model = make()
                model.fit(_take(X, train), y_arr[train])
                values.append(_fitted_metric(model, metric, _take(X, test), y_arr[test]))
            diff = values[1] - values[0]
            rep_diffs.append(diff)
            folds.append(
                {
                    "repetition": rep + 1,
                    "fold": fold + 1,
                    "metric_a": values[0],
                    "metric_b": values[1],
                    "difference": diff,
                }
            )
            progress((2 * rep + fold + 1) / 10, f"5x2cv: repetition {rep + 1}/5, fold {fold + 1}/2")
        if first is None:
            first = rep_diffs[0]
        mean = (rep_diffs[0] + rep_diffs[1]) / 2
        variances.append((rep_diffs[0] - mean) ** 2 + (rep_diffs[1] - mean) ** 2)
    assert first is not None
    denominator = math.sqrt(sum(variances) / 5)
    statistic: float | None
    if denominator > 0:
        statistic = first / denominator
        p_value = float(2 * stats.t.sf(abs(statistic), df=5))
    else:
        # Zero variance: identical fold differences. 0/0 -> no evidence (p = 1); x/0 is the
        # limit of an ever-larger t (p -> 0). The statistic itself is not finite -> None.
        statistic = None if first != 0 else 0.0
        p_value = 1.0 if first == 0 else 0.0
    return {
        "test": "5x2cv_t",
        "metric": metric,
        "statistic": None if statistic is None else float(statistic),
        "p_value": p_value,
        "difference": float(np.mean([f["difference"] for f in folds])),
        "folds": folds,
    }


# --------------------------------------------------------------------------- contract


def compare_runs(
    y_true: Sequence[Any],
    a: dict[str, Any],
    b: dict[str, Any],
    *,
    problem_type: str,
    metric: str,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare two runs' test-set predictions: the record stored as a Comparison.

    ``problem_type`` is a lifecycle problem type (see :func:`problem_kind`). ``a``/``b`` are
    ``{"y_pred": [...], "y_score": [...]}`` for the same rows (``y_score`` is
    P(positive) or a probability matrix; optional for regression and for label metrics). For
    classifiers McNemar runs on ``y_pred`` (reported as ``mcnemar_p``) next to the paired
    bootstrap on ``metric``; the bootstrap's p is *the* ``p_value`` because it tests the
    metric the project chose, which McNemar (accuracy only) does not.

    ``significant`` is true only when p < alpha *and* b is better than a in the metric's
    direction, so a "significant" result always means "the challenger wins", never "the
    challenger is significantly worse".
    """
    check_metric(metric)
    problem_type = problem_kind(problem_type)
    if problem_type == "regression" and metric not in REGRESSION_METRICS:
        raise ValueError(
            f"{metric} is not a regression metric; choose one of: {', '.join(REGRESSION_METRICS)}."
        )
    if problem_type == "classification" and metric not in CLASSIFICATION_METRICS:
        raise ValueError(
            f"{metric} is not a classification metric; choose one of: {', '.join(CLASSIFICATION_METRICS)}."
        )

    def scores(run: dict[str, Any], name: str) -> Any:
        key = "y_pred" if metric in LABEL_METRICS or problem_type == "regression" else "y_score"
        value = run.get(key)
        if value is None or len(value) == 0:  # training stores [] when a model has no scores
            raise ValueError(f"Run {name} has no {key!r} predictions, which {metric} needs.")
        return value

    boot = paired_bootstrap(y_true, scores(a, "a"), scores(b, "b"), metric, seed=seed, alpha=alpha)
    result: dict[str, Any] = {
        "test": "paired_bootstrap",
        "metric": metric,
        "metric_a": boot["metric_a"],
        "metric_b": boot["metric_b"],
        "difference": boot["difference"],
        "ci": boot["ci"],
        "p_value": boot["p_value"],
        "n_resamples": boot["n_resamples"],
        "alpha": float(alpha),
        "lower_is_better": lower_is_better(metric),
    }
    if problem_type == "classification":
        if not len(a.get("y_pred") or []) or not len(b.get("y_pred") or []):
            raise ValueError("Both runs need 'y_pred' (predicted labels) for McNemar's test.")
        mc = mcnemar(y_true, a["y_pred"], b["y_pred"])
        result["test"] = "mcnemar+paired_bootstrap"
        result["mcnemar_p"] = mc["p_value"]
        result["mcnemar"] = mc
    result["significant"] = bool(boot["p_value"] < alpha and is_better(boot["difference"], metric))
    return result
