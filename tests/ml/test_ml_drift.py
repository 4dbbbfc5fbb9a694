"""Drift on the demo data: quiet on same-distribution data, loud on the demo's strong drift."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from app.ml.demo_data import generate_interactions
from app.ml.drift import DriftResult, compare_frames, psi
from app.ml.errors import DataFileError

FEATURES = {
    "user_age": "numeric",
    "user_location": "categorical",
    "item_genre": "categorical",
    "item_popularity": "numeric",
}


def by_feature(results: list[DriftResult], feature: str) -> DriftResult:
    return next(r for r in results if r.feature == feature)


def test_same_distribution_is_not_drift() -> None:
    reference = generate_interactions(4000, seed=1)
    current = generate_interactions(4000, seed=2)
    results = compare_frames(reference, current, FEATURES)
    assert [r.feature for r in results] == list(FEATURES)
    for row in results:
        assert row.drifted is False and row.reasons == (), row
        assert row.psi is not None and row.psi < 0.05
        pvalue = row.ks_pvalue if row.kind == "numeric" else row.chi2_pvalue
        assert pvalue is not None and pvalue > 0.01


def test_strong_demo_drift_is_flagged() -> None:
    reference = generate_interactions(4000, seed=1)
    results = compare_frames(reference, generate_interactions(2000, seed=3, drift=0.8), FEATURES)
    assert max(r.psi for r in results if r.psi is not None) > 0.25
    assert by_feature(results, "user_age").drifted is True
    location = by_feature(results, "user_location")
    assert location.drifted is True
    assert any(reason.startswith("psi ") for reason in location.reasons)


def test_drift_grows_with_the_drift_knob() -> None:
    reference = generate_interactions(4000, seed=1)
    maxima = []
    for level in (0.1, 0.3, 0.8):
        results = compare_frames(reference, generate_interactions(2000, seed=5, drift=level), FEATURES)
        maxima.append(max(r.psi for r in results if r.psi is not None))
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
    results = compare_frames(reference, current, {"x": "numeric", "c": "categorical", "e": "numeric"})
    x, c, e = results
    assert (x.n_reference, x.n_current) == (150, 150)
    assert x.ks is not None and x.psi is not None and x.chi2 is None
    assert c.psi == pytest.approx(0.0, abs=1e-9) and c.ks is None and c.n_reference == 100
    assert e == DriftResult(
        feature="e", kind="numeric", n_reference=0, n_current=0, ks=None, ks_pvalue=None, psi=None,
        chi2=None, chi2_pvalue=None, js=None, drifted=False, reasons=(),
        note="no values in the reference data nor in the current batch",
    )
    assert e.as_json() == {"drifted": False}
    assert math.isnan(psi([None, None], [1.0], "numeric"))


def test_missing_feature_column_is_named() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3]})
    with pytest.raises(DataFileError, match="'y'"):
        compare_frames(frame, frame, {"y": "numeric"})


