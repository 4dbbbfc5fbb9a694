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
