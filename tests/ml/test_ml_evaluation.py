"""Error-analysis tests: known values on constructed cases, and JSON-safe outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from app.ml.errors import DataFileError
from app.ml.evaluation import (
    fairness_concerns,
    calibration,
    confusion,
    fairness,
    learning_curve_points,
    permutation_importances,
    pr_points,
    roc_points,
    segment_metrics,
)


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 2, n)
    score = np.clip(0.5 + 0.4 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1)
    return y, score


def test_confusion_label_order() -> None:
    y_true = ["cat", "dog", "dog", "bird", "cat"]
    y_pred = ["cat", "dog", "cat", "cat", "cat"]
    result = confusion(y_true, y_pred)
    assert result["labels"] == ["bird", "cat", "dog"]  # sorted; "bird" kept though never predicted
    assert result["matrix"] == [[0, 1, 0], [0, 2, 0], [0, 1, 1]]
    explicit = confusion(y_true, y_pred, labels=["dog", "cat", "bird"])
    assert explicit["labels"] == ["dog", "cat", "bird"]
    assert explicit["matrix"] == [[1, 1, 0], [0, 2, 0], [0, 1, 0]]
    json.dumps(confusion(np.array([0, 1, 1]), np.array([1, 1, 0])))


def test_curves_are_downsampled_and_keep_full_auc(scored) -> None:
    y, score = scored
    roc = roc_points(y, score, max_points=51)
    assert len(roc["x"]) <= 51 and roc["x"][0] == 0.0 and roc["x"][-1] == 1.0 and roc["y"][-1] == 1.0
    assert roc["auc"] == pytest.approx(roc_auc_score(y, score))
    assert all(a <= b for a, b in zip(roc["x"], roc["x"][1:], strict=False))
    pr = pr_points(y, score)
    assert len(pr["x"]) <= 101 and pr["x"][-1] == 1.0
    assert pr["auc"] == pytest.approx(average_precision_score(y, score))
    json.dumps(roc)
    json.dumps(pr)
    with pytest.raises(DataFileError):
        roc_points([1, 1, 1], [0.2, 0.5, 0.9])


def test_calibration_of_perfect_probabilities_is_small() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(20000)
    y = (rng.random(p.shape[0]) < p).astype(int)  # outcomes drawn with exactly these probabilities
    result = calibration(y, p, bins=10)
    assert result["ece"] < 0.02
    assert len(result["bins"]) == 10 and sum(b["count"] for b in result["bins"]) == p.shape[0]
    overconfident = calibration(y, np.where(p > 0.5, 0.99, 0.01))
    assert overconfident["ece"] > 0.2
    json.dumps(result)


def test_fairness_known_values() -> None:
    # Group A: 4 rows, y = [1,1,0,0], pred = [1,1,1,0] -> selection 0.75, TPR 1.0, FPR 0.5
    # Group B: 4 rows, y = [1,1,0,0], pred = [1,0,0,0] -> selection 0.25, TPR 0.5, FPR 0.0
    y_true = [1, 1, 0, 0, 1, 1, 0, 0]
    y_pred = [1, 1, 1, 0, 1, 0, 0, 0]
    group = ["A"] * 4 + ["B"] * 4
    result = fairness(y_true, y_pred, group)
    json.dumps(result)
    assert result["demographic_parity_difference"] == pytest.approx(0.5)
    assert result["demographic_parity_ratio"] == pytest.approx(1 / 3)
    assert result["tpr_difference"] == pytest.approx(0.5)
    assert result["fpr_difference"] == pytest.approx(0.5)
    assert result["equalized_odds_difference"] == pytest.approx(0.5)
    by_group = {g["group"]: g for g in result["groups"]}
    assert by_group["A"] == {"group": "A", "rows": 4, "positives": 2, "selection_rate": 0.75, "tpr": 1.0,
                             "fpr": 0.5}
    assert by_group["B"]["tpr"] == 0.5 and by_group["B"]["fpr"] == 0.0
    # Parity: identical behaviour in both groups -> zero gaps.
    fair = fairness([1, 0, 1, 0], [1, 0, 1, 0], ["x", "x", "y", "y"])
    assert fair["demographic_parity_difference"] == 0.0 and fair["equalized_odds_difference"] == 0.0


def test_segment_metrics_min_rows_and_quartiles(scored) -> None:
    y, score = scored
    pred = (score >= 0.5).astype(int)
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "tiny"], y.shape[0], p=[0.6, 0.395, 0.005]),
            "age": rng.normal(40, 12, y.shape[0]),
        }
    )
    rows = segment_metrics(y, pred, score, frame, problem_type="classification", min_rows=30)
    json.dumps(rows)
    region = {r["segment"]: r for r in rows if r["column"] == "region"}
    assert set(region) == {"north", "south", "tiny"}
    tiny = region["tiny"]
    assert tiny["rows"] < 30 and tiny["too_small"] is True and tiny["accuracy"] is None
    assert region["north"]["too_small"] is False and 0.5 < region["north"]["accuracy"] <= 1
    assert region["north"]["roc_auc"] is not None
    ages = [r for r in rows if r["column"] == "age"]
    assert len(ages) == 4 and sum(r["rows"] for r in ages) == y.shape[0]
    # A single Sequence works too, and min_rows above every segment blanks all metrics.
    single = segment_metrics(
        y, pred, None, list(frame["region"]), problem_type="classification", min_rows=10_000
    )
    assert all(r["too_small"] and r["accuracy"] is None for r in single)


def test_segment_metrics_regression() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=400)
    pred = y + np.where(np.arange(400) < 200, 0.1, 1.0) * rng.normal(size=400)
    rows = segment_metrics(y, pred, None, ["good"] * 200 + ["bad"] * 200, problem_type="regression")
    by = {r["segment"]: r for r in rows}
    assert by["bad"]["rmse"] > by["good"]["rmse"] and {"rmse", "mae", "r2"} <= set(by["good"])


@pytest.fixture(scope="module")
def informative() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(4)
    n = 600
    X = pd.DataFrame({name: rng.normal(size=n) for name in ("noise", "signal", "noise2")})
    y = (X["signal"] + 0.3 * rng.normal(size=n) > 0).astype(int).to_numpy()
    return X, y


def test_permutation_importance_ranks_signal_first(informative) -> None:
    X, y = informative
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X.iloc[:400], y[:400])
    result = permutation_importances(
        model, X.iloc[400:], y[400:], metric="roc_auc", n_repeats=3, max_rows=150
    )
    json.dumps(result)
    assert result[0]["feature"] == "signal"
    assert result[0]["importance_mean"] > 0.1 > abs(result[-1]["importance_mean"])
    means = [r["importance_mean"] for r in result]
    assert means == sorted(means, reverse=True)


def test_permutation_importance_error_metric_is_positive_when_useful() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2))
    y = 3 * X[:, 1] + 0.1 * rng.normal(size=300)
    model = LinearRegression().fit(X, y)
    result = permutation_importances(model, X, y, metric="rmse", n_repeats=3)
    assert result[0]["feature"] == "x1" and result[0]["importance_mean"] > 1


def test_learning_curve_points(informative) -> None:
    X, y = informative
    result = learning_curve_points(LogisticRegression, X, y, metric="log_loss", train_sizes=(0.2, 0.6, 1.0))
    json.dumps(result)
    assert len(result["sizes"]) == 3 and result["sizes"] == sorted(result["sizes"])
    assert all(v is not None and v > 0 for v in result["validation"])  # natural sign: a positive loss
    acc = learning_curve_points(LogisticRegression, X, y, metric="accuracy", train_sizes=(0.5, 1.0), cv=2)
    assert all(0.5 < v <= 1 for v in acc["validation"])


def _group(name: str, rows: int, positives: int, selection: float, tpr: float | None, fpr: float | None) -> dict:
    return {"group": name, "rows": rows, "positives": positives, "selection_rate": selection, "tpr": tpr, "fpr": fpr}


def test_fairness_concerns_name_the_groups_served_nothing_and_the_gaps_over_the_limit() -> None:
    """The demo's shape: three cities never selected, one whose positives are never found,
    gaps over the growth limit; a tiny group is not judged."""
    result = {"attribute": "city", "groups": [
        _group("Berlin", 166, 22, 0.0, 0.0, 0.0), _group("Dublin", 111, 27, 0.171, 0.519, 0.06),
        _group("Lisbon", 223, 21, 0.013, 0.0, 0.01), _group("Madrid", 132, 15, 0.0, 0.0, 0.0),
        _group("Tiny", 5, 1, 0.0, 0.0, 0.0), _group("Vienna", 113, 12, 0.0, 0.0, 0.0)]}
    concerns = fairness_concerns(result, max_disparity=0.1, label="run 3")
    titles = [c["title"] for c in concerns]
    assert titles == [
        "run 3: the model never selects city = Berlin (selection rate 0 on 166 rows)",
        "run 3: the model finds none of the positives of city = Lisbon (true-positive rate 0 of 21)",
        "run 3: the model never selects city = Madrid (selection rate 0 on 132 rows)",
        "run 3: the model never selects city = Vienna (selection rate 0 on 113 rows)",
        "run 3: demographic parity difference by city is 0.171, over the 0.1 allowed",
        "run 3: equalized odds difference by city is 0.519, over the 0.1 allowed",
    ]
    assert [c["severity"] for c in concerns] == ["high"] * 4 + ["medium"] * 2
    assert all("Groups under 30 rows were not judged: Tiny." in c["remediation"] for c in concerns)
    assert fairness_concerns(result, max_disparity=0.1, label="run 3") == concerns  # stable titles
    # a looser limit keeps the zero-rate findings and drops the parity gap
    loose = [c["title"] for c in fairness_concerns(result, max_disparity=0.2)]
    assert len(loose) == 5 and not any("demographic parity" in t for t in loose)


def test_fair_groups_raise_no_concern() -> None:
    result = {"attribute": "sex", "groups": [_group("f", 400, 80, 0.21, 0.71, 0.05),
                                             _group("m", 380, 70, 0.19, 0.69, 0.04)]}
    assert fairness_concerns(result, max_disparity=0.05) == []
