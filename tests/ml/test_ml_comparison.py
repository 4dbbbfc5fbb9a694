"""Comparison tests: known p-values, the sign conventions, and significance in both directions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from app.ml.comparison import compare_runs, five_by_two_cv, mcnemar, metric_value, paired_bootstrap
from app.ml.errors import TrainingCancelled


def pairs(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, ...]:
    """Rows where both / only a / only b / neither classifier is right (y is all ones)."""
    right = np.ones(1, dtype=int)
    wrong = np.zeros(1, dtype=int)
    counts = (both, only_a, only_b, neither)
    pa = np.concatenate([np.repeat(v, k) for v, k in zip((right, right, wrong, wrong), counts, strict=True)])
    pb = np.concatenate([np.repeat(v, k) for v, k in zip((right, wrong, right, wrong), counts, strict=True)])
    return np.ones(pa.shape[0], dtype=int), pa, pb


def test_mcnemar_exact_matches_binomial() -> None:
    y, pa, pb = pairs(both=50, only_a=2, only_b=10, neither=8)
    result = mcnemar(y, pa, pb)
    assert (result["b"], result["c"]) == (2, 10)
    assert result["method"] == "exact"
    # Hand computation: 2 * P(X <= 2), X ~ Bin(12, 0.5) = 2 * (1 + 12 + 66) / 4096.
    assert result["p_value"] == pytest.approx(2 * 79 / 4096)
    assert result["p_value"] == pytest.approx(stats.binomtest(2, 12, 0.5).pvalue)


def test_mcnemar_chi_square_with_continuity_correction() -> None:
    y, pa, pb = pairs(both=100, only_a=10, only_b=30, neither=5)
    result = mcnemar(y, pa, pb)
    assert result["method"] == "chi2"
    assert result["statistic"] == pytest.approx((abs(10 - 30) - 1) ** 2 / 40)
    assert result["p_value"] == pytest.approx(stats.chi2.sf(361 / 40, 1))


def test_mcnemar_identical_models_is_p_one() -> None:
    y, pa, _ = pairs(both=10, only_a=0, only_b=0, neither=3)
    assert mcnemar(y, pa, pa)["p_value"] == 1.0


@pytest.fixture(scope="module")
def binary_scores() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 2000
    y = rng.integers(0, 2, n)
    weak = np.clip(0.5 + 0.15 * (y - 0.5) + rng.normal(0, 0.2, n), 0.001, 0.999)
    strong = np.clip(0.5 + 0.6 * (y - 0.5) + rng.normal(0, 0.2, n), 0.001, 0.999)
    return y, weak, strong


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "accuracy", "macro_f1", "log_loss"])
def test_bootstrap_detects_a_clearly_better_model(binary_scores, metric: str) -> None:
    y, weak, strong = binary_scores
    result = paired_bootstrap(y, weak, strong, metric, n_resamples=400, seed=1)
    json.dumps(result)  # JSON-safe
    low, high = result["ci"]
    assert low <= result["difference"] <= high
    assert result["p_value"] < 0.05
    if metric == "log_loss":  # lower is better: the stronger model has a negative difference
        assert high < 0
    else:
        assert low > 0


def test_bootstrap_ci_contains_true_difference() -> None:
    """Simulated population: a is right 70 % of the time, b 80 %: true difference 0.10."""
    rng = np.random.default_rng(5)
    n = 4000
    y = np.ones(n, dtype=int)
    pa = (rng.random(n) < 0.70).astype(int)
    pb = (rng.random(n) < 0.80).astype(int)
    result = paired_bootstrap(y, pa, pb, "accuracy", n_resamples=500, seed=2)
    assert result["ci"][0] < 0.10 < result["ci"][1]
    assert result["p_value"] < 0.01


def test_bootstrap_equal_models_not_significant(binary_scores) -> None:
    y, weak, _ = binary_scores
    rng = np.random.default_rng(9)
    # Same quality, independent noise: the CI must straddle zero.
    other = np.clip(0.5 + 0.15 * (y - 0.5) + rng.normal(0, 0.2, y.shape[0]), 0.001, 0.999)
    result = paired_bootstrap(y, weak, other, "roc_auc", n_resamples=500, seed=4)
    assert result["ci"][0] < 0 < result["ci"][1]
    assert result["p_value"] > 0.05
    identical = paired_bootstrap(y, weak, weak, "roc_auc", n_resamples=200)
    assert identical["p_value"] == 1.0 and identical["difference"] == 0.0


def test_vectorised_metrics_match_sklearn_on_a_resample(binary_scores) -> None:
    """The resampled AUC/AP/F1 must be sklearn's numbers, ties included."""
    y, weak, _ = binary_scores
    rounded = np.round(weak, 2)  # many ties
    rows = np.random.default_rng(0).integers(0, y.shape[0], y.shape[0])
    assert metric_value("roc_auc", y[rows], rounded[rows]) == pytest.approx(
        roc_auc_score(y[rows], rounded[rows])
    )
    assert metric_value("pr_auc", y[rows], rounded[rows]) == pytest.approx(
        average_precision_score(y[rows], rounded[rows])
    )
    labels = (rounded > 0.5).astype(int)
    assert metric_value("macro_f1", y[rows], labels[rows]) == pytest.approx(
        f1_score(y[rows], labels[rows], average="macro")
    )


def test_regression_error_metrics_point_lower_is_better() -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(0, 1, 1500)
    rough = y + rng.normal(0, 1.0, y.shape[0])
    fine = y + rng.normal(0, 0.3, y.shape[0])
    for metric in ("rmse", "mae"):
        result = compare_runs(
            y, {"y_pred": rough}, {"y_pred": fine}, problem_type="regression", metric=metric
        )
        assert result["test"] == "paired_bootstrap"
        assert result["difference"] < 0 and result["significant"] is True
        backwards = compare_runs(
            y, {"y_pred": fine}, {"y_pred": rough}, problem_type="regression", metric=metric
        )
        assert backwards["difference"] > 0 and backwards["significant"] is False
    r2 = compare_runs(y, {"y_pred": rough}, {"y_pred": fine}, problem_type="regression", metric="r2")
    assert r2["difference"] > 0 and r2["significant"] is True


def test_compare_runs_classification_contract(binary_scores) -> None:
    y, weak, strong = binary_scores
    a = {"y_pred": (weak >= 0.5).astype(int).tolist(), "y_score": weak.tolist()}
    b = {"y_pred": (strong >= 0.5).astype(int).tolist(), "y_score": strong.tolist()}
    result = compare_runs(y, a, b, problem_type="classification", metric="log_loss", seed=3)
    json.dumps(result)
    assert result["test"] == "mcnemar+paired_bootstrap"
    assert {"p_value", "mcnemar_p", "metric", "difference", "ci", "significant", "alpha"} <= set(result)
    assert result["difference"] < 0 and result["significant"] is True
    assert result["mcnemar_p"] < 0.05
    worse = compare_runs(y, b, a, problem_type="classification", metric="log_loss", seed=3)
    assert worse["difference"] > 0 and worse["p_value"] < 0.05 and worse["significant"] is False
    with pytest.raises(ValueError):
        compare_runs(y, a, b, problem_type="classification", metric="rmse")
    # The project's stored problem type is accepted as-is.
    stored = compare_runs(y, a, b, problem_type="binary_classification", metric="roc_auc")
    assert stored["test"] == "mcnemar+paired_bootstrap" and stored["significant"] is True
    with pytest.raises(ValueError, match="problem type"):
        compare_runs(y, a, b, problem_type="ranking", metric="roc_auc")


@pytest.fixture(scope="module")
def separable() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    n = 400
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_five_by_two_cv_better_vs_dummy(separable) -> None:
    X, y = separable
    seen: list[float] = []
    result = five_by_two_cv(
        lambda: DummyClassifier(strategy="prior"),
        lambda: LogisticRegression(),
        X,
        y,
        metric="roc_auc",
        progress=lambda f, m: seen.append(f),
    )
    json.dumps(result)
    assert result["test"] == "5x2cv_t"
    assert len(result["folds"]) == 10 and seen[-1] == 1.0
    assert result["difference"] > 0.3
    assert result["p_value"] < 0.05


def test_five_by_two_cv_equal_models(separable) -> None:
    X, y = separable
    result = five_by_two_cv(LogisticRegression, lambda: LogisticRegression(C=0.9), X, y, metric="accuracy")
    assert result["p_value"] > 0.05
    same = five_by_two_cv(LogisticRegression, LogisticRegression, X, y, metric="accuracy")
    assert same["p_value"] == 1.0 and same["difference"] == 0.0


def test_five_by_two_cv_can_be_cancelled(separable) -> None:
    X, y = separable
    calls = iter(range(100))
    with pytest.raises(TrainingCancelled):
        five_by_two_cv(
            LogisticRegression,
            LogisticRegression,
            X,
            y,
            metric="accuracy",
            should_stop=lambda: next(calls) >= 3,
        )


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown metric"):
        paired_bootstrap([0, 1], [0.1, 0.9], [0.2, 0.8], "auc")


def test_multiclass_probability_matrices() -> None:
    """One-vs-rest AUC matches sklearn; extra columns (a class absent from y) align by label."""
    rng = np.random.default_rng(8)
    n = 600
    y = rng.integers(0, 3, n)
    weak = rng.dirichlet([1, 1, 1], n)
    strong = 0.5 * weak + 0.5 * np.eye(3)[y]
    assert metric_value("roc_auc", y, weak) == pytest.approx(roc_auc_score(y, weak, multi_class="ovr"))
    result = paired_bootstrap(y, weak, strong, "roc_auc", n_resamples=200)
    assert result["ci"][0] > 0 and result["p_value"] < 0.05
    four_columns = np.c_[strong, np.zeros(n)]  # model knew a 4th class the validation rows lack
    assert metric_value("log_loss", y, four_columns) == pytest.approx(metric_value("log_loss", y, strong))
