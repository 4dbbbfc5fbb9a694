"""Training each kind of the model ladder for every problem type, the sealed test part, and
loading models safely."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from app.ml.catalogue import MODEL_KINDS, PRIMARY_METRIC, TRAINABLE_PROBLEM_TYPES, kinds_for, model_catalogue
from app.ml.demo_data import generate_interactions
from app.ml.errors import DataFileError, TrainingCancelled
from app.ml.split import stratified_split
from app.ml.fitting import score
from app.ml.model_files import load_model
from app.ml.sealed_test import TestScore, score_on_test
from app.ml.training import TrainingResult, train_model
from app.ml.training_spec import TrainingSpec

SYNTH_FEATURES = {"x1": "numeric", "x2": "numeric", "colour": "categorical"}
BINARY_KINDS = kinds_for("binary_classification")

pytestmark = pytest.mark.usefixtures("one_thread")


def synthetic(problem_type: str, n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Small data with a learnable signal for each problem type (target column ``label``)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    effect = pd.Series(colour).map({"red": 1.0, "green": 0.0, "blue": -1.0}).to_numpy()
    frame = pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "t": np.arange(n)})
    if problem_type == "multiclass_classification":
        logits = np.column_stack([2 * x1, 2 * x2, 2 * effect]) + rng.gumbel(size=(n, 3))
        frame["label"] = np.array(["alpha", "beta", "gamma"])[np.argmax(logits, axis=1)]
    elif problem_type == "regression":
        frame["label"] = 3 * x1 - 2 * x2 + effect + rng.normal(scale=0.5, size=n)
    elif problem_type == "ranking":
        frame["user"] = [f"u{i // 10}" for i in range(n)]
        frame["label"] = (x1 + effect + rng.normal(scale=0.7, size=n) > 1.0).astype(int)
    elif problem_type == "clustering":
        centre = rng.integers(0, 3, size=n)
        frame["x1"] = 0.3 * x1 + np.array([-4.0, 0.0, 4.0])[centre]
        frame["x2"] = 0.3 * x2 + np.array([0.0, 4.0, 0.0])[centre]
    elif problem_type == "anomaly_detection":
        outlier = rng.random(n) < 0.05
        frame.loc[outlier, "x1"] = rng.normal(8, 1, outlier.sum())
        frame.loc[outlier, "x2"] = rng.normal(-8, 1, outlier.sum())
        frame["label"] = outlier.astype(int)
    else:
        frame["label"] = (x1 + effect + rng.normal(size=n) > 0).astype(int)
    return frame


def synthetic_spec(tmp: Path, problem_type: str, kind: str, n: int = 600) -> TrainingSpec:
    """A spec over ``synthetic`` data written to CSV, 60/20/20 split (by user for ranking)."""
    frame = synthetic(problem_type, n)
    path = tmp / f"{problem_type}.csv"
    frame.to_csv(path, index=False)
    rng = np.random.default_rng(3)
    unit = np.arange(n) // 10 if problem_type == "ranking" else np.arange(n)
    order = rng.permutation(np.unique(unit))
    cut1, cut2 = int(0.6 * len(order)), int(0.8 * len(order))
    part_of = {u: ("train" if i < cut1 else "validation" if i < cut2 else "test") for i, u in enumerate(order)}
    assignments: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for row, u in enumerate(unit):
        assignments[part_of[u]].append(row)
    return TrainingSpec(
        kind=kind,
        dataset_path=str(path),
        target="" if problem_type == "clustering" else "label",
        features=SYNTH_FEATURES,
        assignments=assignments,
        seed=5,
        baseline_feature="x1",
        problem_type=problem_type,
        group_column="user" if problem_type == "ranking" else None,
    )


@pytest.fixture(scope="module")
def demo(click_spec: Callable[..., tuple[pd.DataFrame, TrainingSpec]]) -> tuple[pd.DataFrame, TrainingSpec]:
    # click data: a click-through project, whose runs also record the CTR of their top 10 %
    return click_spec("logistic_regression", rows=3000, seed=11, baseline_feature="item_popularity",
                      extra_metrics=["ctr_at_top10pct"])


@pytest.fixture(scope="module")
def results(demo: tuple[pd.DataFrame, TrainingSpec]) -> dict[str, TrainingResult]:
    _, spec = demo
    return {kind: train_model(replace(spec, kind=kind)) for kind in BINARY_KINDS}


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic")


def test_catalogue_names_rung_and_problem_types() -> None:
    catalogue = model_catalogue()
    assert [entry["kind"] for entry in catalogue] == list(MODEL_KINDS)
    for entry in catalogue:
        assert entry["rung"] in ("baseline", "simple", "complex")
        assert entry["problem_types"] and set(entry["problem_types"]) <= set(TRAINABLE_PROBLEM_TYPES)
        assert entry["description"]
    for problem_type in TRAINABLE_PROBLEM_TYPES:
        kinds = kinds_for(problem_type)
        assert kinds, problem_type
        rungs = [next(e["rung"] for e in catalogue if e["kind"] == k) for k in kinds]
        assert rungs == sorted(rungs, key=("baseline", "simple", "complex").index)
    assert kinds_for("binary_classification")[:2] == ["majority_baseline", "popularity_baseline"]
    assert kinds_for("regression")[0] == "mean_baseline"
    assert kinds_for("clustering") == ["kmeans"]
    assert kinds_for("anomaly_detection") == ["isolation_forest"]
    with pytest.raises(ValueError, match="unknown problem type"):
        kinds_for("forecasting")


@pytest.mark.parametrize("kind", BINARY_KINDS)
def test_each_binary_kind_reports_validation_metrics_and_json_safe_evidence(
    kind: str, results: dict[str, TrainingResult], demo: tuple[pd.DataFrame, TrainingSpec]
) -> None:
    result = results[kind]
    _, spec = demo
    assert result.kind == kind and result.problem_type == "binary_classification"
    for key in (
        "train_roc_auc", "val_roc_auc", "val_log_loss", "val_accuracy", "val_f1", "val_brier",
        "val_pr_auc", "val_ctr_at_top10pct", "val_base_rate", "val_recall",
    ):
        assert key in result.metrics and np.isfinite(result.metrics[key]), key
    assert not [k for k in result.metrics if k.startswith("test_")]  # the test part is sealed
    assert 0.5 <= result.metrics["val_roc_auc"] <= 1.0
    assert result.n_train == len(spec.assignments["train"])
    assert result.n_test == len(spec.assignments["test"])
    assert result.n_validation == len(spec.assignments["validation"])
    assert result.positive_label == "1"
    assert result.cv_metrics == {} and result.trials == [] and result.best_params is None
    predictions = result.val_predictions
    assert predictions["rows"] == sorted(spec.assignments["validation"])
    assert len(predictions["y_true"]) == len(predictions["y_pred"]) == len(predictions["y_score"])
    assert set(predictions["y_pred"]) <= {0, 1}
    assert {"python", "sklearn", "numpy", "pandas", "scipy"} <= set(result.environment)
    json.dumps([result.params, result.metrics, result.environment, result.val_predictions],
               allow_nan=False)
    assert result.duration_s > 0


def test_the_click_metric_is_recorded_only_when_the_project_asks_for_it(
    results: dict[str, TrainingResult], demo: tuple[pd.DataFrame, TrainingSpec]
) -> None:
    _, spec = demo
    plain = train_model(replace(spec, kind="logistic_regression", extra_metrics=[]))
    assert "val_ctr_at_top10pct" not in plain.metrics
    assert {k: v for k, v in plain.metrics.items()} == {
        k: v for k, v in results["logistic_regression"].metrics.items() if k != "val_ctr_at_top10pct"}


def test_ladder_order_on_validation(results: dict[str, TrainingResult]) -> None:
    auc = {kind: r.metrics["val_roc_auc"] for kind, r in results.items()}
    assert auc["majority_baseline"] == pytest.approx(0.5)
    assert auc["hist_gradient_boosting"] > auc["popularity_baseline"] + 0.05
    assert auc["logistic_regression"] > auc["popularity_baseline"]
    top = results["hist_gradient_boosting"].metrics
    assert top["val_ctr_at_top10pct"] > top["val_base_rate"]


def test_hgb_clearly_beats_popularity_on_40k_demo_rows(tmp_path: Path, click_features: dict[str, str]) -> None:
    frame = generate_interactions(40_000, seed=7)
    path = tmp_path / "clicks.csv"
    frame.to_csv(path, index=False)
    spec = TrainingSpec(
        kind="hist_gradient_boosting", dataset_path=str(path), target="clicked",
        features=click_features, assignments=stratified_split(frame["clicked"].tolist(), seed=7),
        seed=7, baseline_feature="item_popularity",
    )
    hgb = train_model(spec).metrics["val_roc_auc"]
    popularity = train_model(replace(spec, kind="popularity_baseline")).metrics["val_roc_auc"]
    assert hgb > popularity + 0.10


def test_score_on_test_is_the_only_test_evaluation(
    results: dict[str, TrainingResult], demo: tuple[pd.DataFrame, TrainingSpec]
) -> None:
    frame, spec = demo
    hgb = replace(spec, kind="hist_gradient_boosting")
    scored = score_on_test(results["hist_gradient_boosting"].model_bytes, hgb)
    assert isinstance(scored, TestScore) and scored.n_test == len(spec.assignments["test"])
    assert scored.metrics and all(k.startswith("test_") for k in scored.metrics)
    for key in ("test_roc_auc", "test_pr_auc", "test_log_loss", "test_accuracy", "test_f1",
                "test_brier", "test_ctr_at_top10pct", "test_base_rate", "test_precision", "test_recall"):
        assert np.isfinite(scored.metrics[key]), key
    assert 0.6 < scored.metrics["test_roc_auc"] < 1.0
    rows = scored.predictions["rows"]
    assert rows == sorted(spec.assignments["test"])
    model = load_model(results["hist_gradient_boosting"].model_bytes)
    np.testing.assert_allclose(scored.predictions["y_score"], score(model, frame.iloc[rows]), atol=1e-9)
    assert scored.predictions["y_true"] == frame["clicked"].iloc[rows].tolist()
    json.dumps([scored.metrics, scored.predictions], allow_nan=False)
    no_test = {k: v for k, v in spec.assignments.items() if k != "test"}
    with pytest.raises(ValueError, match="no test part"):
        score_on_test(results["hist_gradient_boosting"].model_bytes, replace(hgb, assignments=no_test))


@pytest.mark.parametrize("kind", BINARY_KINDS)
def test_load_model_round_trip_gives_same_scores(
    kind: str, results: dict[str, TrainingResult], demo: tuple[pd.DataFrame, TrainingSpec]
) -> None:
    frame, spec = demo
    model = load_model(results[kind].model_bytes)
    assert isinstance(model, Pipeline)  # preprocessing travels with the model
    val_rows = frame.iloc[spec.assignments["validation"]]
    scores = score(model, val_rows)  # the frame still holds the target: it must be ignored
    assert scores.shape == (len(val_rows),)
    assert np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_allclose(scores, results[kind].val_predictions["y_score"], atol=1e-9)
    again = score(load_model(results[kind].model_bytes), val_rows[list(reversed(spec.features))])
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
    assert again.val_predictions == results["random_forest"].val_predictions
    np.testing.assert_array_equal(
        score(load_model(again.model_bytes), frame),
        score(load_model(results["random_forest"].model_bytes), frame),
    )
    other_seed = train_model(replace(spec, kind="random_forest", seed=12))
    assert other_seed.metrics != results["random_forest"].metrics


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


def test_spec_checks(tmp_path: Path, demo: tuple[pd.DataFrame, TrainingSpec]) -> None:
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
        train_model(replace(spec, features={**spec.features, "nope": "numeric"}))
    with pytest.raises(ValueError, match="unknown model kind"):
        train_model(replace(spec, kind="deep_net"))
    with pytest.raises(ValueError, match="unknown problem type"):
        train_model(replace(spec, problem_type="forecasting"))
    with pytest.raises(ValueError, match="linear_regression cannot be trained for binary"):
        train_model(replace(spec, kind="linear_regression"))
    with pytest.raises(ValueError, match="ranking needs group_column"):
        train_model(replace(spec, problem_type="ranking"))
    with pytest.raises(DataFileError, match="multiclass needs at least three"):
        train_model(replace(spec, problem_type="multiclass_classification"))
    with pytest.raises(DataFileError, match="not numbers: regression"):
        train_model(replace(spec, dataset_path=str(path), kind="decision_tree", problem_type="regression"))


@pytest.mark.parametrize(
    "problem_type", ["multiclass_classification", "regression", "ranking", "clustering", "anomaly_detection"]
)
def test_every_problem_type_trains_every_kind_end_to_end(problem_type: str, synth_dir: Path) -> None:
    primary = PRIMARY_METRIC[problem_type]
    values: dict[str, float] = {}
    for kind in kinds_for(problem_type):
        spec = synthetic_spec(synth_dir, problem_type, kind)
        result = train_model(spec)
        assert result.problem_type == problem_type
        assert f"val_{primary}" in result.metrics, (kind, result.metrics)
        assert f"train_{primary}" in result.metrics, (kind, result.metrics)
        assert not [k for k in result.metrics if k.startswith("test_")]
        assert all(np.isfinite(v) for v in result.metrics.values())
        json.dumps([result.params, result.metrics, result.val_predictions], allow_nan=False)
        values[kind] = result.metrics[f"val_{primary}"]
        assert len(result.val_predictions["rows"]) == len(spec.assignments["validation"])

        # The saved pipeline loads through the allow-list and predicts as it did in training.
        model = load_model(result.model_bytes)
        assert isinstance(model, Pipeline)
        scored = score_on_test(result.model_bytes, spec)
        assert f"test_{primary}" in scored.metrics and all(k.startswith("test_") for k in scored.metrics)
        assert scored.predictions["rows"] == sorted(spec.assignments["test"])
        frame = pd.read_csv(spec.dataset_path)
        val = frame.iloc[result.val_predictions["rows"]][list(SYNTH_FEATURES)]
        if problem_type in ("regression", "clustering"):
            np.testing.assert_allclose(model.predict(val), result.val_predictions["y_pred"])

    if problem_type == "multiclass_classification":
        assert values["logistic_regression"] > values["majority_baseline"] + 0.3
        result = train_model(synthetic_spec(synth_dir, problem_type, "logistic_regression"))
        assert result.classes == ["alpha", "beta", "gamma"]
        assert all(len(row) == 3 and abs(sum(row) - 1) < 1e-6 for row in result.val_predictions["y_score"])
        assert {"val_accuracy", "val_log_loss", "val_roc_auc_ovr"} <= set(result.metrics)
    elif problem_type == "regression":
        assert values["linear_regression"] > 0.9 and abs(values["mean_baseline"]) < 0.1
        result = train_model(synthetic_spec(synth_dir, problem_type, "linear_regression"))
        assert {"val_rmse", "val_mae"} <= set(result.metrics)
    elif problem_type == "ranking":
        assert max(values.values()) > values["popularity_baseline"]
        assert all(0 < v <= 1 for v in values.values())
        result = train_model(synthetic_spec(synth_dir, problem_type, "logistic_regression"))
        assert "val_roc_auc" in result.metrics
        assert len(result.val_predictions["groups"]) == len(result.val_predictions["rows"])
    elif problem_type == "clustering":
        assert values["kmeans"] > 0.3
        result = train_model(synthetic_spec(synth_dir, problem_type, "kmeans"))
        assert {"val_davies_bouldin", "val_calinski_harabasz"} <= set(result.metrics)
    else:
        assert values["isolation_forest"] > 0.9
        unlabelled = replace(synthetic_spec(synth_dir, problem_type, "isolation_forest"), target="")
        result = train_model(unlabelled)
        assert set(result.metrics) == {"val_share_flagged"}
        assert 0 < result.metrics["val_share_flagged"] < 0.5


def test_ranking_ndcg_cutoff_follows_k(synth_dir: Path) -> None:
    spec = replace(synthetic_spec(synth_dir, "ranking", "logistic_regression"), k=3)
    result = train_model(spec)
    assert "val_ndcg_at_3" in result.metrics and "val_ndcg_at_10" not in result.metrics


def test_load_model_refuses_untrusted_types_and_garbage() -> None:
    hostile = Pipeline([("run", FunctionTransformer(os.system))])
    with pytest.raises(ValueError, match=r"not on the allow-list: .*system"):
        load_model(sio.dumps(hostile))
    with pytest.raises(ValueError, match="not a readable skops file"):
        load_model(b"\x80\x04 this is a pickle, not a model")
