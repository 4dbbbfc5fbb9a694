"""Metrics per problem type: names, values on hand-checked cases, undefined metrics left out."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from app.ml.catalogue import (
    COMPUTED_METRICS,
    GREATER_IS_BETTER,
    PRIMARY_METRIC,
    TRAINABLE_PROBLEM_TYPES,
    computable_metrics,
    greater_is_better,
    judged_metric,
    metric_direction,
    primary_metric,
    stated_metric,
    stated_threshold,
)
from app.ml.metrics import metrics_for


def test_primary_metric_per_problem_type_and_directions() -> None:
    assert PRIMARY_METRIC == {
        "binary_classification": "roc_auc",
        "multiclass_classification": "macro_f1",
        "regression": "r2",
        "ranking": "ndcg_at_10",
        "clustering": "silhouette",
        "anomaly_detection": "roc_auc",
    }
    assert set(PRIMARY_METRIC) == set(TRAINABLE_PROBLEM_TYPES)
    assert all(GREATER_IS_BETTER[m] for m in PRIMARY_METRIC.values())
    assert not GREATER_IS_BETTER["log_loss"] and not GREATER_IS_BETTER["rmse"]
    assert not greater_is_better("val_davies_bouldin") and greater_is_better("test_ndcg_at_5")
    assert primary_metric("ranking", 5) == "ndcg_at_5" and primary_metric("regression") == "r2"
    with pytest.raises(ValueError, match="unknown problem type"):
        metrics_for("forecasting", [1], [1])


def test_binary_metrics() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 0, 0, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.3, 0.6, 0.05, 0.7])
    m = metrics_for("binary_classification", y, p)
    assert set(m) == {"roc_auc", "pr_auc", "log_loss", "accuracy", "f1", "brier", "precision", "recall",
                      "base_rate"}  # no click metric unless the project is a click-through one
    assert m["base_rate"] == 0.4
    assert m["accuracy"] == 0.8  # 0.35 is a miss, 0.6 a false alarm
    assert m["precision"] == 0.75 and m["recall"] == 0.75  # 3 of 4 flagged are clicks, 3 of 4 clicks flagged
    assert m["roc_auc"] == pytest.approx(22 / 24)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    ctr = metrics_for("binary_classification", y, p, extra=("ctr_at_top10pct",))
    assert ctr["ctr_at_top10pct"] == 1.0  # the single top row (0.9) is a click
    assert "precision" not in metrics_for("binary_classification", y, np.full(10, 0.1))  # nothing flagged
    one_class = metrics_for("binary_classification", np.zeros(4, int), np.full(4, 0.2))
    assert "roc_auc" not in one_class and "pr_auc" not in one_class
    assert all(math.isfinite(v) for v in one_class.values())


def test_multiclass_metrics_with_probabilities_and_labels() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    proba = np.array([
        [0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7],
        [0.5, 0.2, 0.3], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1],
    ])
    m = metrics_for("multiclass_classification", y, proba)
    assert set(m) == {"accuracy", "macro_f1", "macro_precision", "macro_recall", "roc_auc_ovr", "log_loss"}
    assert m["macro_recall"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert m["accuracy"] == pytest.approx(5 / 6)
    named = metrics_for("multiclass_classification", np.array(["a", "b", "c", "c", "b", "a"]), proba,
                        classes=["a", "b", "c"])
    assert named == pytest.approx(m)
    hard = metrics_for("multiclass_classification", y, np.array([0, 1, 2, 0, 1, 0]))
    assert set(hard) == {"accuracy", "macro_f1", "macro_precision", "macro_recall"}
    missing_class = metrics_for("multiclass_classification", np.array([0, 1, 1]), proba[:3])
    assert "roc_auc_ovr" not in missing_class


def test_regression_metrics() -> None:
    m = metrics_for("regression", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    assert m["mae"] == 0.5 and m["rmse"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 4 / 5)
    assert m["mape"] == pytest.approx(0.5 / 4)  # only the last row is off, by 2 of 4
    with_zero = metrics_for("regression", [0.0, 2.0], [1.0, 3.0])
    assert with_zero["mape"] == pytest.approx(0.5)  # the row whose truth is 0 has no percentage error
    assert "mape" not in metrics_for("regression", [0.0, 0.0], [1.0, 3.0])


def test_ranking_ndcg_is_averaged_per_group() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 1, 0, 0])
    s = np.array([0.9, 0.5, 0.1, 0.2, 0.1, 0.3, 0.5, 0.4, 0.6])
    g = np.array(["a", "a", "a", "b", "b", "b", "c", "single", "d"])
    m = metrics_for("ranking", y, s, groups=g, k=10)
    expected_b = ndcg_score([[0, 1, 0]], [[0.2, 0.1, 0.3]])
    # group "a" is perfect; "single" has one row and "d" no relevant row: both skipped; "c" is
    # one relevant row alone, so it is skipped too.
    assert m["ndcg_at_10"] == pytest.approx((1.0 + expected_b) / 2)
    assert "roc_auc" in m
    assert "ndcg_at_1" in metrics_for("ranking", y, s, groups=g, k=1)
    extra = metrics_for("ranking", y, s, groups=g, k=10, extra=("ndcg_at_2", "ctr_at_top10pct"))
    assert extra["ndcg_at_10"] == m["ndcg_at_10"] and "ndcg_at_2" in extra and extra["ctr_at_top10pct"] == 1.0
    with pytest.raises(ValueError, match="need groups"):
        metrics_for("ranking", y, s)


def test_clustering_metrics_on_a_sample() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-5, 0.5, (1500, 2)), rng.normal(5, 0.5, (1500, 2))])
    labels = np.repeat([0, 1], 1500)
    m = metrics_for("clustering", X, labels)
    assert set(m) == {"silhouette", "davies_bouldin", "calinski_harabasz"}
    assert m["silhouette"] > 0.8 and m["davies_bouldin"] < 0.3
    assert metrics_for("clustering", X, np.zeros(3000, int)) == {}


def test_anomaly_metrics_with_and_without_labels() -> None:
    y = np.array([0, 0, 0, 1, 0, 1])
    scores = np.array([-0.2, -0.1, 0.05, 0.3, -0.3, 0.2])
    m = metrics_for("anomaly_detection", y, scores)
    assert m["roc_auc"] == 1.0 and m["share_flagged"] == pytest.approx(0.5)
    assert m["base_rate"] == pytest.approx(1 / 3)
    assert metrics_for("anomaly_detection", None, scores) == {"share_flagged": 0.5}


# --- the metric a problem statement names -------------------------------------------------------


@pytest.mark.parametrize(("text", "name"), [
    ("ROC AUC of click prediction on held-out interactions", "roc_auc"),
    ("recall ≥ 0.95", "recall"), ("Recall of fraud cases", "recall"), ("sensitivity", "recall"),
    ("Precision of the flagged claims", "precision"), ("F1-score", "f1"), ("macro-F1", "macro_f1"),
    ("PR-AUC", "pr_auc"), ("average precision", "pr_auc"), ("AUC", "roc_auc"), ("accuracy", "accuracy"),
    ("NDCG@5", "ndcg_at_5"), ("nDCG", "ndcg_at_10"), ("RMSE in euros", "rmse"), ("MAE", "mae"),
    ("MAPE of weekly demand", "mape"), ("R²", "r2"), ("log-loss", "log_loss"), ("Brier score", "brier"),
    ("CTR@top10%", "ctr_at_top10pct"), ("silhouette", "silhouette"),
])
def test_a_statement_names_one_metric(text: str, name: str) -> None:
    assert stated_metric(text) == name


@pytest.mark.parametrize(("text", "message"), [
    ("happiness index", "names no metric the workbench knows: name one of precision, recall"),
    ("precision and recall", "names 2 metrics \\(precision, recall\\)"),
])
def test_an_unknown_or_ambiguous_metric_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stated_metric(text)


def test_the_stated_metric_is_the_one_the_problem_type_records() -> None:
    assert judged_metric("recall", "binary_classification") == "recall"
    assert judged_metric("recall", "multiclass_classification") == "macro_recall"
    assert judged_metric("roc_auc", "multiclass_classification") == "roc_auc_ovr"
    assert judged_metric("ndcg_at_10", "binary_classification") is None
    assert judged_metric("ndcg_at_5", "ranking") is None and judged_metric("ndcg_at_5", "ranking", ["ndcg_at_5"])
    assert judged_metric("ctr_at_top10pct", "binary_classification") is None  # only a click project's
    assert judged_metric("mape", "forecasting") == "mape"  # judged like regression
    assert "MAPE" in computable_metrics("regression") and "NDCG@10" not in computable_metrics("regression")
    # every metric a trainable type computes has a direction, so a threshold can be compared
    assert all(metric_direction(m) is not None for names in COMPUTED_METRICS.values() for m in names)


def test_the_stated_threshold() -> None:
    assert stated_threshold("0.65", "roc_auc") == 0.65 and stated_threshold("≥ 0.95", "recall") == 0.95
    assert stated_threshold("95%", "recall") == 0.95 and stated_threshold("<= 12.5", "rmse") == 12.5
    with pytest.raises(ValueError, match="points the wrong way: RMSE is better lower, so write ≤ 12"):
        stated_threshold(">= 12", "rmse")
    with pytest.raises(ValueError, match="'high' is not a number"):
        stated_threshold("high", "recall")
