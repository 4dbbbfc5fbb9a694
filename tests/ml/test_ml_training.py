"""Training each kind of the baseline ladder on small demo data, and loading models safely."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from app.ml.demo_data import generate_interactions
from app.ml.errors import DataFileError, TrainingCancelled
from app.ml.split import stratified_split
from app.ml.training import (
    MODEL_KINDS,
    TrainingResult,
    TrainingSpec,
    load_model,
    score,
    train_model,
)

FEATURES = {
    "user_age": "numeric",
    "user_location": "categorical",
    "item_genre": "categorical",
    "item_popularity": "numeric",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, TrainingSpec]:
    frame = generate_interactions(3000, seed=11)
    path = tmp_path_factory.mktemp("ml") / "clicks.csv"
    frame.to_csv(path, index=False)
    spec = TrainingSpec(
        kind="logistic_regression",
        dataset_path=str(path),
        target="clicked",
        features=FEATURES,
        assignments=stratified_split(frame["clicked"].tolist(), seed=11),
        seed=11,
        baseline_feature="item_popularity",
    )
    return frame, spec


@pytest.fixture(scope="module")
def results(demo: tuple[pd.DataFrame, TrainingSpec]) -> dict[str, TrainingResult]:
    _, spec = demo
    return {kind: train_model(replace(spec, kind=kind)) for kind in MODEL_KINDS}


@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_each_kind_reports_metrics_and_json_safe_evidence(
    kind: str, results: dict[str, TrainingResult], demo: tuple[pd.DataFrame, TrainingSpec]
) -> None:
    result = results[kind]
    _, spec = demo
    assert result.kind == kind
    for key in (
        "train_roc_auc", "val_roc_auc", "test_roc_auc", "test_log_loss", "test_accuracy",
        "test_pr_auc", "test_ctr_at_top10pct", "test_base_rate",
    ):
        assert key in result.metrics and np.isfinite(result.metrics[key]), key
    assert 0.5 < result.metrics["test_roc_auc"] <= 1.0
    assert result.n_train == len(spec.assignments["train"])
    assert result.n_test == len(spec.assignments["test"])
    assert result.positive_label == "1"
    assert {"python", "sklearn", "numpy", "pandas", "scipy"} <= set(result.environment)
    json.dumps([result.params, result.metrics, result.environment], allow_nan=False)
    assert result.duration_s > 0


def test_ladder_order_on_demo_data(results: dict[str, TrainingResult]) -> None:
    auc = {kind: r.metrics["test_roc_auc"] for kind, r in results.items()}
    assert auc["hist_gradient_boosting"] > auc["popularity_baseline"] + 0.05
    assert auc["logistic_regression"] > auc["popularity_baseline"]
    top = results["hist_gradient_boosting"].metrics
    assert top["test_ctr_at_top10pct"] > top["test_base_rate"]


@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_load_model_round_trip_gives_same_scores(
    kind: str, results: dict[str, TrainingResult], demo: tuple[pd.DataFrame, TrainingSpec]
) -> None:
    frame, spec = demo
    model = load_model(results[kind].model_bytes)
    test_rows = frame.iloc[spec.assignments["test"]]
    scores = score(model, test_rows)  # the frame still holds the target: it must be ignored
    assert scores.shape == (len(test_rows),)
    assert np.all((scores >= 0) & (scores <= 1))
    again = score(load_model(results[kind].model_bytes), test_rows[list(reversed(FEATURES))])
    np.testing.assert_allclose(scores, again)


def test_unseen_category_and_missing_values_still_score(
    results: dict[str, TrainingResult],
) -> None:
    rows = pd.DataFrame(
        {
            "user_age": [30, None],
            "user_location": ["Oslo", None],
            "item_genre": ["drama", "western"],
            "item_popularity": [0.4, None],
        }
    )
    for result in results.values():
        scores = score(load_model(result.model_bytes), rows)
        assert np.all(np.isfinite(scores))


def test_training_is_deterministic(
    results: dict[str, TrainingResult], demo: tuple[pd.DataFrame, TrainingSpec]
) -> None:
    frame, spec = demo
    again = train_model(replace(spec, kind="random_forest"))
    assert again.metrics == results["random_forest"].metrics
    np.testing.assert_array_equal(
        score(load_model(again.model_bytes), frame),
        score(load_model(results["random_forest"].model_bytes), frame),
    )


def test_progress_is_reported_and_cancel_raises(demo: tuple[pd.DataFrame, TrainingSpec]) -> None:
    _, spec = demo
    seen: list[tuple[float, str]] = []
    train_model(replace(spec, kind="hist_gradient_boosting"), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(fractions) >= 6
    assert all(message for _, message in seen)

    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    progress: list[float] = []
    with pytest.raises(TrainingCancelled):
        train_model(
            replace(spec, kind="hist_gradient_boosting"),
            progress=lambda f, m: progress.append(f),
            should_stop=stop_after_three,
        )
    assert progress and progress[-1] < 1.0


def test_params_override_and_unknown_param(demo: tuple[pd.DataFrame, TrainingSpec]) -> None:
    _, spec = demo
    result = train_model(replace(spec, kind="logistic_regression", params={"C": 0.01}))
    assert result.params["C"] == 0.01 and result.params["seed"] == 11
    assert "baseline_feature" not in result.params
    with pytest.raises(ValueError, match="no hyper-parameter 'depth'"):
        train_model(replace(spec, kind="random_forest", params={"depth": 3}))


def test_target_checks(tmp_path: Path, demo: tuple[pd.DataFrame, TrainingSpec]) -> None:
    frame, spec = demo
    three = frame.assign(clicked=frame["clicked"] + (frame.index % 3 == 0))
    path = tmp_path / "three.csv"
    three.to_csv(path, index=False)
    with pytest.raises(DataFileError, match="3 distinct values"):
        train_model(replace(spec, dataset_path=str(path)))

    words = frame.assign(clicked=np.where(frame["clicked"] == 1, "yes", "no"))
    path = tmp_path / "words.csv"
    words.to_csv(path, index=False)
    result = train_model(replace(spec, dataset_path=str(path), kind="popularity_baseline"))
    assert result.positive_label == "yes"

    with pytest.raises(DataFileError, match="no column 'nope'"):
        train_model(replace(spec, features={**FEATURES, "nope": "numeric"}))
    with pytest.raises(ValueError, match="unknown model kind"):
        train_model(replace(spec, kind="deep_net"))


def test_load_model_refuses_untrusted_types_and_garbage() -> None:
    hostile = Pipeline([("run", FunctionTransformer(os.system))])
    with pytest.raises(ValueError, match=r"not on the allow-list: .*system"):
        load_model(sio.dumps(hostile))
    with pytest.raises(ValueError, match="not a readable skops file"):
        load_model(b"\x80\x04 this is a pickle, not a model")
