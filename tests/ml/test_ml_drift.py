"""Drift tests: quiet on same-distribution data, loud on the demo's strong drift."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from app.ml.demo_data import generate_interactions
from app.ml.drift import feature_drift, psi
from app.ml.errors import DataFileError

FEATURES = {
    "user_age": "numeric",
    "user_location": "categorical",
    "item_genre": "categorical",
    "item_popularity": "numeric",
}


def by_test(results: list[dict], feature: str, test: str) -> dict:
    return next(r for r in results if r["feature"] == feature and r["test"] == test)


def test_same_distribution_is_not_drift() -> None:
    reference = generate_interactions(4000, seed=1)
    current = generate_interactions(4000, seed=2)
    results = feature_drift(reference, current, FEATURES)
    assert len(results) == 6  # ks + psi for 2 numeric, psi for 2 categorical
    for row in results:
        assert row["drifted"] is False, row
        if row["test"] == "psi":
            assert row["statistic"] < 0.05
        else:
            assert row["p_value"] > 0.01


def test_strong_demo_drift_is_flagged() -> None:
    reference = generate_interactions(4000, seed=1)
    results = feature_drift(reference, generate_interactions(2000, seed=3, drift=0.8), FEATURES)
    assert max(r["statistic"] for r in results if r["test"] == "psi") > 0.25
    assert by_test(results, "user_age", "ks")["drifted"] is True
    assert by_test(results, "user_location", "psi")["drifted"] is True


def test_drift_grows_with_the_drift_knob() -> None:
    reference = generate_interactions(4000, seed=1)
    maxima = []
    for level in (0.1, 0.3, 0.8):
        results = feature_drift(reference, generate_interactions(2000, seed=5, drift=level), FEATURES)
        maxima.append(max(r["statistic"] for r in results if r["test"] == "psi"))
    assert maxima[0] < 0.1 < maxima[2]
    assert maxima == sorted(maxima) and maxima[2] > 0.25


def test_psi_numeric_and_categorical_by_hand() -> None:
    rng = np.random.default_rng(0)
    same = rng.normal(size=5000)
    assert psi(same, rng.normal(size=5000), "numeric") < 0.02
    assert psi(same, rng.normal(loc=1.0, size=5000), "numeric") > 0.5
    # Categorical: 50/50 against 25/75, the PSI formula written out by hand.
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(["a", "b"] * 50, ["a"] * 25 + ["b"] * 75, "categorical") == pytest.approx(expected)


def test_unseen_category_counts_as_its_own_bucket() -> None:
    value = psi(["a", "b"] * 50, ["a", "b", "c", "c"] * 25, "categorical")
    assert value > 0.25


def test_missing_values_dropped_and_all_missing_noted() -> None:
    reference = pd.DataFrame({"x": [1.0, 2.0, None, 4.0] * 50, "c": ["a", None] * 100, "e": [None] * 200})
    current = pd.DataFrame({"x": [1.0, None, 3.0, 4.0] * 50, "c": ["a", "a"] * 100, "e": [None] * 200})
    results = feature_drift(reference, current, {"x": "numeric", "c": "categorical", "e": "numeric"})
    assert {r["test"] for r in results if r["feature"] == "x"} == {"ks", "psi"}
    assert by_test(results, "c", "psi")["statistic"] == pytest.approx(0.0, abs=1e-9)
    empty = [r for r in results if r["feature"] == "e"]
    assert empty == [
        {"feature": "e", "kind": "numeric", "test": "psi", "statistic": None,
         "p_value": None, "drifted": False, "note": "no values"}
    ]
    assert math.isnan(psi([None, None], [1.0], "numeric"))


def test_missing_feature_column_is_named() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3]})
    with pytest.raises(DataFileError, match="'y'"):
        feature_drift(frame, frame, {"y": "numeric"})
