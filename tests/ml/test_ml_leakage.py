"""Leakage checks: each fires on a planted leak and stays quiet on clean demo data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ml.demo_data import generate_interactions
from app.ml.errors import DataFileError
from app.ml.findings import LeakageFinding
from app.ml.leakage import leakage_findings, shared_rows
from app.ml.split import make_split

FEATURES = ["user_age", "user_location", "item_genre", "item_popularity"]
N = 6_000


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    df = generate_interactions(N, seed=11)
    df["event_time"] = pd.date_range("2024-01-01", periods=N, freq="min")
    df["session_id"] = [f"s{i:05d}" for i in range(N)]
    return df


@pytest.fixture(scope="module")
def parts(clean: pd.DataFrame) -> dict[str, list[int]]:
    return make_split(clean, "stratified", target="clicked", seed=0)


def run(df: pd.DataFrame, parts: dict[str, list[int]], **kwargs: object) -> list[LeakageFinding]:
    options: dict[str, object] = {"target": "clicked", "features": FEATURES,
                                  "problem_type": "binary_classification"}
    options.update(kwargs)
    return leakage_findings(df, parts, **options)  # type: ignore[arg-type]


def named(findings: list[LeakageFinding], check: str) -> list[LeakageFinding]:
    return [f for f in findings if f.check == check]


def test_clean_demo_data_has_no_findings(clean: pd.DataFrame) -> None:
    temporal = make_split(clean, "temporal", time_column="event_time")
    assert run(clean, temporal, time_column="event_time",
               unavailable_at_serving=["not_a_feature"]) == []


def test_clean_regression_has_no_findings(clean: pd.DataFrame) -> None:
    df = clean.copy()
    rng = np.random.default_rng(0)
    df["spend"] = df["item_popularity"] * 3 + rng.normal(0, 0.5, N)
    random = make_split(df, "random", seed=1)
    assert leakage_findings(df, random, target="spend", features=FEATURES,
                            problem_type="regression") == []


def test_shared_rows_fires_on_a_test_row_copied_into_train(
    clean: pd.DataFrame, parts: dict[str, list[int]]
) -> None:
    df = clean.copy()
    source, into = parts["test"][4], parts["train"][0]
    df.loc[into, FEATURES + ["clicked"]] = df.loc[source, FEATURES + ["clicked"]].to_numpy()
    [finding] = named(run(df, parts), "shared_rows")
    assert finding.severity == "warning"  # 1 of 900 test rows: below the 1 % error share
    assert finding.evidence.startswith("1 of 900 test rows (0.11%) have an identical twin in train")
    assert f"first row positions: {source}" in finding.evidence
    assert shared_rows(df, parts["train"], parts["test"], FEATURES + ["clicked"]) == 1

    many = clean.copy()
    for source, into in zip(parts["test"][:20], parts["train"][:20]):
        many.loc[into, FEATURES + ["clicked"]] = many.loc[source, FEATURES + ["clicked"]].to_numpy()
    [finding] = named(run(many, parts), "shared_rows")
    assert finding.severity == "error" and finding.evidence.startswith("20 of 900 test rows")


def test_temporal_overlap_fires_on_a_random_split_of_time_data(
    clean: pd.DataFrame, parts: dict[str, list[int]]
) -> None:
    findings = named(run(clean, parts, time_column="event_time"), "temporal_overlap")
    assert [(f.severity, f.feature) for f in findings] == [("error", "event_time"),
                                                          ("warning", "event_time")]
    train_max = clean["event_time"].iloc[parts["train"]].max()
    test_min = clean["event_time"].iloc[parts["test"]].min()
    assert f"newest train time {train_max.isoformat(sep=' ')}" in findings[0].evidence
    assert f"oldest test time {test_min.isoformat(sep=' ')}" in findings[0].evidence


def test_temporal_overlap_with_text_dates(clean: pd.DataFrame) -> None:
    df = clean.copy()
    df["day"] = pd.array(df["event_time"].dt.strftime("%Y-%m-%d"), dtype="str")
    temporal = make_split(df, "temporal", time_column="day")
    assert run(df, temporal, time_column="day") == []
    overlapping = dict(temporal, train=temporal["train"] + temporal["test"][-1:],
                       test=temporal["test"][:-1])
    test_part, validation_part = named(run(df, overlapping, time_column="day"), "temporal_overlap")
    assert test_part.severity == "error" and validation_part.severity == "warning"
    assert "newest train time 2024-01-05 is not before the oldest test time" in test_part.evidence


def test_single_feature_predictive_fires_on_a_noisy_copy_of_the_target(
    clean: pd.DataFrame, parts: dict[str, list[int]]
) -> None:
    df = clean.copy()
    flip = np.random.default_rng(3).random(N) < 0.01
    df["clicked_later"] = np.where(flip, 1 - df["clicked"], df["clicked"])
    [finding] = named(run(df, parts, features=FEATURES + ["clicked_later"]),
                      "single_feature_predictive")
    assert finding.feature == "clicked_later" and finding.severity == "error"
    assert "feature 'clicked_later' alone reaches ROC AUC 0.9" in finding.evidence


def test_single_feature_predictive_for_regression_and_multiclass(clean: pd.DataFrame) -> None:
    df = clean.copy()
    rng = np.random.default_rng(4)
    df["spend"] = df["item_popularity"] * 3 + rng.normal(0, 0.5, N)
    df["spend_copy"] = df["spend"] + rng.normal(0, 0.01 * df["spend"].std(), N)
    random = make_split(df, "random", seed=1)
    [finding] = leakage_findings(df, random, target="spend", features=FEATURES + ["spend_copy"],
                                 problem_type="regression")
    assert finding.check == "single_feature_predictive" and "R² 0.99" in finding.evidence

    df["genre_code"] = df["item_genre"].str.upper()
    stratified = make_split(df, "stratified", target="item_genre")
    findings = leakage_findings(df, stratified, target="item_genre",
                                features=["user_age", "item_popularity", "genre_code"],
                                problem_type="multiclass_classification")
    assert [(f.check, f.feature) for f in findings] == [("single_feature_predictive", "genre_code")]
    assert "ROC AUC 1.000" in findings[0].evidence


def test_unavailable_at_serving(clean: pd.DataFrame, parts: dict[str, list[int]]) -> None:
    findings = run(clean, parts, unavailable_at_serving=["item_popularity", "not_used"])
    assert [(f.check, f.feature, f.severity) for f in findings] == [
        ("unavailable_at_serving", "item_popularity", "error")]
    assert "not available at serving time" in findings[0].evidence


def test_target_derived_identifier(clean: pd.DataFrame, parts: dict[str, list[int]]) -> None:
    df = clean.copy()
    df["click_id"] = [f"{i}_{c}" for i, c in enumerate(df["clicked"])]
    [as_column] = named(run(df, parts), "target_derived_identifier")
    assert as_column.feature == "click_id" and as_column.severity == "warning"
    assert "its last part predicts the target with ROC AUC 1.000" in as_column.evidence
    assert "(e.g. '0_" in as_column.evidence
    [as_feature] = named(run(df, parts, features=FEATURES + ["click_id"]), "target_derived_identifier")
    assert as_feature.severity == "error" and "a model input" in as_feature.evidence


def test_identifier_sorted_by_label_and_regression_value_inside(clean: pd.DataFrame) -> None:
    df = clean.copy()
    order = np.argsort(df["clicked"].to_numpy(), kind="stable")
    row_key = np.empty(N, dtype=np.int64)
    row_key[order] = np.arange(N)
    df["row_key"] = row_key  # ids handed out after sorting by the label
    parts = make_split(df, "stratified", target="clicked")
    [finding] = named(run(df, parts), "target_derived_identifier")
    assert finding.feature == "row_key" and "its sort order predicts" in finding.evidence

    rng = np.random.default_rng(5)
    df["spend"] = np.round(rng.gamma(2.0, 10.0, N), 2)
    df["order_ref"] = [f"ord-{i}-{s:.2f}" for i, s in enumerate(df["spend"])]
    random = make_split(df, "random")
    [finding] = leakage_findings(df.drop(columns="row_key"), random, target="spend",
                                 features=FEATURES, problem_type="regression")
    assert finding.check == "target_derived_identifier" and finding.feature == "order_ref"
    assert "the target value appears inside it in 100.0% of rows" in finding.evidence


def test_bad_inputs_are_refused(clean: pd.DataFrame, parts: dict[str, list[int]]) -> None:
    with pytest.raises(DataFileError, match="'nope' is not in the table"):
        run(clean, parts, features=["nope"])
    with pytest.raises(DataFileError, match="no train or no test rows"):
        run(clean, {"train": parts["train"], "test": []})


def test_clustering_skips_target_checks(clean: pd.DataFrame, parts: dict[str, list[int]]) -> None:
    df = clean.copy()
    df["copy"] = df["clicked"]
    assert run(df, parts, features=FEATURES + ["copy"], problem_type="clustering") == []


# --- a real dataset with a genuinely strong feature --------------------------------------------


@pytest.fixture(scope="module")
def breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    return frame


SEEDS = range(10)


def test_a_strong_honest_feature_never_blocks_training(breast_cancer: pd.DataFrame) -> None:
    """'worst perimeter' has ROC AUC ≈ 0.975 over all 569 rows; on the 172 validation + test rows
    of some splits it crosses 0.98 by chance (seeds 5 and 7 here). The bound does not."""
    features = [c for c in breast_cancer.columns if c != "target"]
    for seed in SEEDS:
        parts = make_split(breast_cancer, "stratified", target="target", seed=seed)
        findings = leakage_findings(breast_cancer, parts, target="target", features=features,
                                    problem_type="binary_classification", seed=seed)
        assert [f for f in findings if f.severity == "error"] == [], (seed, findings)


def test_a_noisy_copy_of_the_target_still_blocks_on_the_same_data(breast_cancer: pd.DataFrame) -> None:
    df = breast_cancer.copy()
    df["diagnosis_score"] = df["target"] + np.random.default_rng(1).normal(0, 0.1, len(df))
    features = [c for c in df.columns if c != "target"]
    for seed in SEEDS:
        parts = make_split(df, "stratified", target="target", seed=seed)
        findings = leakage_findings(df, parts, target="target", features=features,
                                    problem_type="binary_classification", seed=seed)
        assert [(f.check, f.feature, f.severity) for f in findings] == [
            ("single_feature_predictive", "diagnosis_score", "error")], (seed, findings)
        assert "over 569 rows it did not see" in findings[0].evidence
        assert "lower end of its 95 % interval" in findings[0].evidence


def test_a_perfect_feature_on_a_few_rows_is_only_a_warning() -> None:
    """Twenty rows of each class that separate perfectly are not near-certain leakage: the rule of
    three caps the bound at 1 − 3/20."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": [0, 1] * 20, "noise": rng.normal(size=40)})
    df["copy"] = df["y"]
    parts = make_split(df, "stratified", target="y", seed=0)
    [finding] = leakage_findings(df, parts, target="y", features=["noise", "copy"],
                                 problem_type="binary_classification")
    assert (finding.feature, finding.severity) == ("copy", "warning")
    assert "ROC AUC 1.000" in finding.evidence and "below the threshold" in finding.evidence


@pytest.mark.parametrize("make_id", [
    lambda label, n: f"{'A' if label else 'B'}-{n}",          # a prefix: 'A-123' / 'B-456'
    lambda label, n: f"{n}{'P' if label else 'N'}",           # a suffix without a separator
    lambda label, n: f"H{n % 10}{'M' if label else 'X'}{n}",  # a code in the middle
    lambda label, n: int(f"{n}{7 if label else 3}{n % 10}"),  # a digit code inside a number
], ids=["prefix", "suffix", "middle", "digit"])
def test_an_identifier_whose_pattern_encodes_the_target(breast_cancer: pd.DataFrame, make_id) -> None:  # type: ignore[no-untyped-def]
    df = breast_cancer.copy()
    numbers = np.random.default_rng(2).permutation(np.arange(100, 100 + len(df)))
    df["record"] = [make_id(label, int(n)) for label, n in zip(df["target"], numbers)]
    features = [c for c in breast_cancer.columns if c != "target"]
    parts = make_split(df, "stratified", target="target", seed=0)
    [finding] = leakage_findings(df, parts, target="target", features=features,
                                 problem_type="binary_classification")
    assert (finding.check, finding.feature, finding.severity) == ("target_derived_identifier", "record", "warning")
    assert "not a feature now, but would leak if added" in finding.evidence
    [as_feature] = leakage_findings(df, parts, target="target", features=[*features, "record"],
                                    problem_type="binary_classification")
    assert as_feature.severity == "error" and "predicts the target with ROC AUC 1.000" in as_feature.evidence

    df["record"] = [make_id(bool(label), int(n)) for label, n in
                    zip(np.random.default_rng(3).integers(0, 2, len(df)), numbers)]
    assert leakage_findings(df, parts, target="target", features=[*features, "record"],
                            problem_type="binary_classification") == []
