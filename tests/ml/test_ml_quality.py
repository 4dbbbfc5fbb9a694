"""Quality report and distributions: each check fires on a planted problem, quiet otherwise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app.ml.demo_data import generate_interactions
from app.ml.findings import Finding
from app.ml.quality import column_distributions, quality_report


def clean_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 70, n),
        "income": rng.uniform(1_000, 5_000, n).round(2),
        "city": pd.array(rng.choice(["Lisbon", "Porto", "Braga"], n), dtype="str"),
        "label": np.arange(n) % 3 == 0,
    })


def by_check(findings: list[Finding], check: str) -> dict[str | None, Finding]:
    return {f.column: f for f in findings if f.check == check}


def test_clean_frame_has_no_findings() -> None:
    assert quality_report(clean_frame(), target="label", problem_type="binary_classification") == []


@pytest.mark.parametrize(("n_missing", "severity"), [(10, "info"), (100, "warning"), (250, "error")])
def test_missing_values_severity_grows_with_share(n_missing: int, severity: str) -> None:
    df = clean_frame()
    df.loc[: n_missing - 1, "income"] = np.nan
    finding = by_check(quality_report(df), "missing_values")["income"]
    assert finding.severity == severity
    assert f"missing in {n_missing:,} of 400 rows" in finding.detail


def test_duplicate_rows_are_counted() -> None:
    df = clean_frame()
    df = pd.concat([df, df.iloc[:7]], ignore_index=True)
    finding = by_check(quality_report(df), "duplicate_rows")[None]
    assert finding.severity == "warning" and finding.detail.startswith("7 of 407 rows")


def test_outliers_by_iqr_and_z_score() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(50, 5, 1000), [500.0, 600.0, -400.0]])
    df = pd.DataFrame({"v": values, "flag": np.arange(1003) % 50 == 0})
    findings = quality_report(df)
    finding = by_check(findings, "outliers")["v"]
    q1, q3 = np.percentile(values, [25, 75])
    fences = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))
    iqr_count = int(((values < fences[0]) | (values > fences[1])).sum())
    z = np.abs(values - values.mean()) / values.std()
    assert f"{iqr_count:,} values outside the 1.5×IQR fences" in finding.detail
    assert f"{int((z > 3).sum())} values with |z| > 3" in finding.detail
    assert "flag" not in by_check(findings, "outliers")  # two-valued columns are not "outliers"


def test_constant_and_high_cardinality() -> None:
    df = clean_frame()
    df["country"] = "PT"
    df["email"] = [f"user{i}@example.com" for i in range(len(df))]
    findings = quality_report(df)
    assert "single value 'PT'" in by_check(findings, "constant")["country"].detail
    high = by_check(findings, "high_cardinality")["email"]
    assert high.severity == "warning" and "400 distinct values in 400 rows" in high.detail
    assert "city" not in by_check(findings, "high_cardinality")


def test_mixed_types_in_a_frame() -> None:
    df = clean_frame()
    df["amount"] = pd.array([str(i) for i in range(390)] + ["n/a"] * 10, dtype="str")
    finding = by_check(quality_report(df), "mixed_types")["amount"]
    assert "390 of 400" in finding.detail


@pytest.mark.parametrize(("n_positive", "severity"), [(30, "warning"), (3, "error"), (100, None)])
def test_class_imbalance(n_positive: int, severity: str | None) -> None:
    df = clean_frame(1000)
    df["label"] = np.arange(1000) < n_positive
    findings = by_check(quality_report(df, target="label", problem_type="binary_classification"),
                        "class_imbalance")
    if severity is None:
        assert findings == {}
    else:
        assert findings["label"].severity == severity
        assert f"minority class True is {n_positive / 1000:.1%} of rows" in findings["label"].detail


def test_imbalance_is_info_for_anomaly_detection_and_skipped_for_regression() -> None:
    df = clean_frame(1000)
    df["label"] = np.arange(1000) < 3
    anomaly = quality_report(df, target="label", problem_type="anomaly_detection")
    assert by_check(anomaly, "class_imbalance")["label"].severity == "info"
    df["y"] = np.where(np.arange(1000) < 3, 1.0, 0.0)
    assert not by_check(quality_report(df, target="y", problem_type="regression"), "class_imbalance")


def test_demo_data_report_is_fast_enough_and_plain() -> None:
    df = generate_interactions(5_000, seed=2)
    findings = quality_report(df, target="clicked", problem_type="binary_classification")
    assert {f.check for f in findings} <= {"outliers", "duplicate_rows"}
    assert json.loads(json.dumps([f.as_dict() for f in findings])) == [f.as_dict() for f in findings]


def test_column_distributions_are_json_safe() -> None:
    df = clean_frame(500)
    df.loc[0, "income"] = np.inf
    df.loc[1, "income"] = np.nan
    df["many"] = pd.array([f"v{i % 25}" for i in range(500)], dtype="str")
    df["when"] = pd.date_range("2024-01-01", periods=500, freq="D")
    result = column_distributions(df, bins=5)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    income = result["income"]
    assert income["kind"] == "numeric" and income["missing"] == 1 and income["non_finite"] == 1
    assert len(income["histogram"]["edges"]) == 6 and sum(income["histogram"]["counts"]) == 498
    assert income["quantiles"]["min"] <= income["quantiles"]["p50"] <= income["quantiles"]["max"]
    many = result["many"]
    assert many["unique"] == 25 and len(many["top"]) == 10 and many["top"][0] == ["v0", 20]
    assert many["other"] == 500 - 200
    assert result["label"]["kind"] == "boolean" and result["label"]["top"][0][0] is False
    assert result["when"]["min"].startswith("2024-01-01")
