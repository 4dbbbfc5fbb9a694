"""Training one run of the model ladder (baseline -> simple -> complex) and loading saved models.

Runs in a worker process: it reads the dataset itself (only a path crosses the process
boundary), reports progress through a callback, polls ``should_stop`` between steps and
returns plain data plus the model as skops bytes. Models are never pickled: a model file is
evidence that auditors may open later, and loading a pickle runs whatever code it names.

The test part is sealed: ``train_model`` fits on train, selects (tuning) and reports on
validation, cross-validates inside train, and never reads a test row's target or score.
Only ``score_on_test``, behind the explicit "evaluate on test" action, scores the test part.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy
import skops
import skops.io as sio
import sklearn
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from app.ml.catalogue import KIND_INFO, MODEL_KINDS, check_trainable, kinds_for, primary_metric
from app.ml.errors import DataFileError, TrainingCancelled
from app.ml.estimators import BaselineRuleClassifier, CategoryAsText
from app.ml.metrics import clustering_metrics, metrics_for
from app.ml.tabular import read_table

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]

_CLASSIFICATION = ("binary_classification", "multiclass_classification")
_SCORED = ("binary_classification", "ranking")  # one positive-class score per row


# Types a model file may contain beyond skops' own defaults. It lives here, in our code,
# never in the artifact; anything else in a file is refused by ``load_model``.
# HistGradientBoosting with categorical features keeps an internal ColumnTransformer whose
# numeric branch is FunctionTransformer(functools.partial(check_array, ...)); the partial is
# only trusted together with that one named function, and nothing calls it while loading.
TRUSTED_TYPES: list[str] = [
    "app.ml.estimators.BaselineRuleClassifier",
    "functools.partial",
    "app.ml.estimators.CategoryAsText",
    "numpy.dtype",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.utils.validation.check_array",
    "sklearn.tree._tree.Tree",
    # Added with the full ladder (baselines, regressors, clustering, anomaly detection).
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._iforest.IsolationForest",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn.cluster._kmeans.KMeans",
]

# Chunks in which the tree ensembles grow (warm start), so progress moves and a cancel is
# honoured within a fraction of the fit instead of only after it.
_FIT_CHUNKS = 5
_MAX_CLASSES = 50


@dataclass(frozen=True)
class TrainingSpec:
    """Everything a worker process needs to train one run; plain data, so it pickles.

    ``target`` may be "" for clustering and for anomaly detection without labels.
    ``cv``: {"kind": "kfold" | "stratified" | "timeseries", "k": 5} on the train part.
    ``tune``: {"method": "grid" | "random" | "bayes", "trials": 20, "space": {...}} selecting
    on the validation part. ``k`` is the cut-off of NDCG@k for ranking.
    """

    kind: str
    dataset_path: str
    target: str
    features: dict[str, str]
    assignments: dict[str, list[int]]
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    baseline_feature: str | None = None
    problem_type: str = "binary_classification"
    group_column: str | None = None
    time_column: str | None = None
    cv: dict[str, Any] | None = None
    tune: dict[str, Any] | None = None
    k: int = 10


@dataclass(frozen=True)
class TrainingResult:
    """What a run produced: the evidence stored with the Run and the model's bytes.

    ``metrics`` holds validation metrics ("val_…"), the train primary metric ("train_…") and,
    with CV, the primary metric's CV mean and std ("cv_…_mean", "cv_…_std"); never a test
    metric. ``positive_label`` records which target value the probabilities are for (the
    target is re-coded to 0/1 before fitting); ``classes`` are the multiclass labels in the
    order of the probability columns and of the codes in ``val_predictions``.
    """

    kind: str
    params: dict[str, Any]
    metrics: dict[str, float]
    model_bytes: bytes
    environment: dict[str, str]
    duration_s: float
    n_train: int
    n_test: int
    positive_label: str = "1"
    problem_type: str = "binary_classification"
    cv_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    best_params: dict[str, Any] | None = None
    val_predictions: dict[str, Any] = field(default_factory=dict)
    n_validation: int = 0
    classes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TestScore:
    """The one look at the sealed test part: "test_…" metrics and per-row predictions."""

    __test__ = False  # not a pytest test class, despite the name

    kind: str
    problem_type: str
    metrics: dict[str, float]
    predictions: dict[str, Any]
    n_test: int
    positive_label: str = "1"
    classes: list[str] = field(default_factory=list)


@dataclass
class PreparedData:
    """The dataset read once: features, encoded target and the checked parts."""

    X: pd.DataFrame
    y: np.ndarray | None
    parts: dict[str, np.ndarray]
    positive: str = "1"
    classes: list[str] = field(default_factory=list)
    groups: np.ndarray | None = None
    time: pd.Series | None = None


def check_spec(spec: TrainingSpec) -> None:
    """Refuse a spec whose kind, problem type, CV or tuning settings do not fit together."""
    check_trainable(spec.problem_type)
    if spec.kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {spec.kind!r}: choose one of {', '.join(MODEL_KINDS)}")
    if spec.problem_type not in KIND_INFO[spec.kind].problem_types:
        raise ValueError(
            f"{spec.kind} cannot be trained for {spec.problem_type}: choose one of "
            f"{', '.join(kinds_for(spec.problem_type))}"
        )
    if spec.problem_type == "ranking" and not spec.group_column:
        raise ValueError("ranking needs group_column: name the column that groups rows (user, session)")
    if int(spec.k) < 1:
        raise ValueError(f"k (the NDCG cut-off) must be at least 1, got {spec.k}")
    if spec.cv is not None:
        kind = spec.cv.get("kind", "kfold")
        if kind not in ("kfold", "stratified", "timeseries"):
            raise ValueError(f"unknown cv kind {kind!r}: use 'kfold', 'stratified' or 'timeseries'")
        if int(spec.cv.get("k", 5)) < 2:
            raise ValueError(f"cross-validation needs k >= 2 folds, got {spec.cv.get('k')}")
        if kind == "timeseries" and not spec.time_column:
            raise ValueError("time-series cross-validation needs time_column: name the time column")
        if kind == "stratified" and spec.problem_type in ("regression", "clustering"):
            raise ValueError(f"stratified folds need classes; {spec.problem_type} has none: use 'kfold'")
    if spec.tune is not None:
        method = spec.tune.get("method", "random")
        if method not in ("grid", "random", "bayes"):
            raise ValueError(f"unknown tuning method {method!r}: use 'grid', 'random' or 'bayes'")
        if int(spec.tune.get("trials", 20)) < 1:
            raise ValueError("tuning needs at least one trial")


def train_model(
    spec: TrainingSpec,
    progress: Progress = lambda f, m: None,
    should_stop: ShouldStop = lambda: False,
) -> TrainingResult:
    """Read the data, (tune on validation,) cross-validate in train, fit on train, score validation.

    The test part is not scored: use ``score_on_test``. Deterministic for a given seed.
    Raises ``DataFileError`` for data the user must fix, ``ValueError`` for a bad spec and
    ``TrainingCancelled`` when ``should_stop()`` is true at a step boundary.
    """
    started = time.perf_counter()

    def step(fraction: float, message: str) -> None:
        if should_stop():
            raise TrainingCancelled(f"training cancelled before: {message}")
        progress(fraction, message)

    check_spec(spec)
    step(0.0, "reading the dataset")
    frame = read_table(spec.dataset_path)
    step(0.05, "checking target and features")
    data = prepare_data(frame, spec)
    train_rows = data.parts["train"]

    # Progress spans: tuning and CV (when asked) before the final fit.
    weights = [("tune", 3.0 if spec.tune else 0.0), ("cv", 2.0 if spec.cv else 0.0), ("fit", 1.5)]
    total = sum(w for _, w in weights)
    spans: dict[str, tuple[float, float]] = {}
    low = 0.1
    for name, weight in weights:
        spans[name] = (low, low + 0.75 * weight / total)
        low = spans[name][1]

    def within(name: str) -> Progress:
        lo, hi = spans[name]
        return lambda f, m: progress(lo + (hi - lo) * min(max(f, 0.0), 1.0), m)

    params = dict(spec.params)
    trials: list[dict[str, Any]] = []
    best_params: dict[str, Any] | None = None
    if spec.tune:
        from app.ml.tuning import tune_spec

        step(spans["tune"][0], f"tuning {spec.kind} ({spec.tune.get('method', 'random')})")
        outcome = tune_spec(spec, data, progress=within("tune"), should_stop=should_stop)
        trials, best_params = outcome.trials, outcome.best_params
        params.update(best_params)
    cv_metrics: dict[str, dict[str, Any]] = {}
    if spec.cv:
        from app.ml.crossval import cross_validate_spec

        step(spans["cv"][0], f"cross-validating {spec.kind}")
        cv_metrics = cross_validate_spec(
            spec, data, params=params, progress=within("cv"), should_stop=should_stop
        )
    model = build_model(spec, params)
    fit_lo, fit_hi = spans["fit"]
    step(fit_lo, f"fitting {spec.kind} on {len(train_rows):,} rows")
    fit_model(model, data, train_rows, spec.kind, step, span=(fit_lo, fit_hi))
    step(0.87, "scoring the validation part")
    primary = primary_metric(spec.problem_type, spec.k)
    metrics: dict[str, float] = {}
    train_metrics = evaluate(model, data, train_rows, spec)
    if primary in train_metrics:  # the gap to the validation value is the overfitting signal
        metrics[f"train_{primary}"] = train_metrics[primary]
    val_rows = data.parts.get("validation", np.empty(0, dtype=np.int64))
    val_predictions: dict[str, Any] = {}
    if len(val_rows):
        y_pred, y_score = predict_output(model, data.X.iloc[val_rows], spec.problem_type, len(data.classes))
        part = metrics_of(spec, data, val_rows, y_pred, y_score, model)
        metrics.update({f"val_{name}": value for name, value in part.items()})
        val_predictions = predictions_json(data, val_rows, y_pred, y_score)
    if primary in cv_metrics:
        metrics[f"cv_{primary}_mean"] = cv_metrics[primary]["mean"]
        metrics[f"cv_{primary}_std"] = cv_metrics[primary]["std"]
    step(0.93, "saving the model")
    model_bytes = sio.dumps(model)
    step(1.0, "done")
    return TrainingResult(
        kind=spec.kind,
        params=_effective_params(model, spec),
        metrics=metrics,
        model_bytes=model_bytes,
        environment=environment(),
        duration_s=round(time.perf_counter() - started, 4),
        n_train=int(len(train_rows)),
        n_test=int(len(data.parts.get("test", ()))),
        positive_label=data.positive,
        problem_type=spec.problem_type,
        cv_metrics=cv_metrics,
        trials=trials,
        best_params=best_params,
        val_predictions=val_predictions,
        n_validation=int(len(val_rows)),
        classes=list(data.classes),
    )


def score_on_test(model_bytes: bytes, spec: TrainingSpec) -> TestScore:
    """Score a trained model on the sealed test part: the explicit "evaluate on test" action.

    Loads the model through the allow-list, reads the same dataset and split as training and
    returns "test_…" metrics plus per-row predictions for statistical comparison.
    """
    check_spec(spec)
    model = load_model(model_bytes)
    data = prepare_data(read_table(spec.dataset_path), spec)
    rows = data.parts.get("test", np.empty(0, dtype=np.int64))
    if len(rows) == 0:
        raise ValueError("the split has no test part: make a split with a test part to evaluate on")
    y_pred, y_score = predict_output(model, data.X.iloc[rows], spec.problem_type, len(data.classes))
    part = metrics_of(spec, data, rows, y_pred, y_score, model)
    return TestScore(
        kind=spec.kind,
        problem_type=spec.problem_type,
        metrics={f"test_{name}": value for name, value in part.items()},
        predictions=predictions_json(data, rows, y_pred, y_score),
        n_test=int(len(rows)),
        positive_label=data.positive,
        classes=list(data.classes),
    )


def prepare_data(frame: pd.DataFrame, spec: TrainingSpec) -> PreparedData:
    """The feature frame, the target encoded for the problem type, groups, time and parts."""
    names = list(spec.features)
    if not names:
        raise ValueError("the spec has no features: choose at least one feature column")
    has_target = bool(spec.target) and spec.problem_type != "clustering"
    if not spec.target and spec.problem_type not in ("clustering", "anomaly_detection"):
        raise ValueError(f"{spec.problem_type} needs a target column: name it in the spec")
    extra = [c for c in (spec.group_column, spec.time_column) if c]
    needed = [*([spec.target] if has_target else []), *names, *extra]
    absent = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if absent:
        raise DataFileError(
            f"the dataset has no column {', '.join(map(repr, absent))}: check the feature spec "
            "against the dataset's schema"
        )
    if spec.target and spec.target in spec.features:
        raise DataFileError(
            f"the target {spec.target!r} is also listed as a feature: remove it from the features"
        )
    for name, kind in spec.features.items():
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"feature {name!r} has kind {kind!r}: use 'numeric' or 'categorical'")
    X = frame[names].copy()
    for name, kind in spec.features.items():
        if kind == "numeric":
            converted = pd.to_numeric(X[name], errors="coerce")
            bad = int((converted.isna() & X[name].notna()).sum())
            if bad:
                raise DataFileError(
                    f"feature {name!r} is declared numeric but {bad} values are not numbers: "
                    "declare it categorical or clean those values"
                )
            X[name] = converted.astype("float64")
    y: np.ndarray | None = None
    positive = "1"
    classes: list[str] = []
    if has_target:
        target = frame[spec.target]
        if spec.problem_type in ("binary_classification", "ranking", "anomaly_detection"):
            y, positive = _binary_target(target, spec.target)
        elif spec.problem_type == "multiclass_classification":
            y, classes = _class_codes(target, spec.target)
        else:
            y = _numeric_target(target, spec.target)
    if spec.kind == "popularity_baseline":
        if not spec.baseline_feature:
            raise ValueError(
                "popularity_baseline needs baseline_feature: name the feature the rule ranks by"
            )
        if spec.features.get(spec.baseline_feature) != "numeric":
            raise DataFileError(
                f"the baseline feature {spec.baseline_feature!r} must be one of the numeric "
                "features: add it to the features as numeric or pick another"
            )
    groups = None
    if spec.group_column:
        raw = frame[spec.group_column]
        if raw.isna().any():
            raise DataFileError(
                f"the group column {spec.group_column!r} is missing in {int(raw.isna().sum())} rows: "
                "fill or drop them before training"
            )
        groups = raw.astype(str).to_numpy(dtype=object)
    time_values = _time_values(frame[spec.time_column], spec.time_column) if spec.time_column else None
    parts = _checked_parts(spec.assignments, len(frame))
    train_rows = parts["train"]
    if y is not None and spec.problem_type in (*_CLASSIFICATION, "ranking"):
        if len(np.unique(y[train_rows])) < 2:
            raise DataFileError(
                f"the train part has only one value of {spec.target!r}: use a stratified split"
            )
    return PreparedData(X=X, y=y, parts=parts, positive=positive, classes=classes,
                        groups=groups, time=time_values)


def _binary_target(target: pd.Series, name: str) -> tuple[np.ndarray, str]:
    """Re-code a two-valued target to 0/1; 1/True is positive, otherwise the larger value."""
    _refuse_missing(target, name)
    values = pd.unique(target)
    if len(values) != 2:
        shown = ", ".join(repr(v) for v in list(values)[:5])
        raise DataFileError(
            f"the target {name!r} has {len(values)} distinct values ({shown}) but training "
            "needs exactly two: choose a binary target or derive one"
        )
    plain = [v.item() if isinstance(v, np.generic) else v for v in values]
    if set(plain) == {0, 1}:  # also True/False, since True == 1
        positive = next(v for v in plain if v == 1)
    else:
        positive = max(plain, key=lambda v: str(v))
    y = (target.to_numpy(dtype=object) == positive).astype("int64")
    return y, str(positive)


def _class_codes(target: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """Codes 0..C-1 for a multiclass target, classes ordered by their text (stable across runs)."""
    _refuse_missing(target, name)
    text = target.map(lambda v: str(v.item() if isinstance(v, np.generic) else v))
    classes = sorted(pd.unique(text), key=str)
    if len(classes) < 3:
        raise DataFileError(
            f"the target {name!r} has {len(classes)} distinct values: multiclass needs at least "
            "three, use binary_classification"
        )
    if len(classes) > _MAX_CLASSES:
        raise DataFileError(
            f"the target {name!r} has {len(classes)} distinct values, more than {_MAX_CLASSES}: "
            "for a number use regression, otherwise group rare classes"
        )
    index = {c: i for i, c in enumerate(classes)}
    return text.map(index).to_numpy(dtype="int64"), [str(c) for c in classes]


def _numeric_target(target: pd.Series, name: str) -> np.ndarray:
    _refuse_missing(target, name)
    converted = pd.to_numeric(target, errors="coerce")
    bad = int(converted.isna().sum())
    if bad:
        raise DataFileError(
            f"the target {name!r} has {bad} values that are not numbers: regression needs a "
            "numeric target"
        )
    values = converted.to_numpy(dtype="float64")
    if not np.all(np.isfinite(values)):
        raise DataFileError(f"the target {name!r} has infinite values: clean them before training")
    return values


def _refuse_missing(target: pd.Series, name: str) -> None:
    missing = int(target.isna().sum())
    if missing:
        raise DataFileError(
            f"the target {name!r} is missing in {missing} rows: fill or drop them before training"
        )


def _time_values(column: pd.Series, name: str) -> pd.Series:
    """A sortable time column: numbers as they are, anything else parsed as dates."""
    if column.isna().any():
        raise DataFileError(
            f"the time column {name!r} is missing in {int(column.isna().sum())} rows: fill or "
            "drop them before time-ordered validation"
        )
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return column.reset_index(drop=True)
    try:
        return pd.to_datetime(column, format="mixed").reset_index(drop=True)
    except (ValueError, TypeError) as exc:
        raise DataFileError(
            f"the time column {name!r} is neither numbers nor dates ({exc}): pick another column"
        ) from exc


def _checked_parts(assignments: dict[str, list[int]], n_rows: int) -> dict[str, np.ndarray]:
    """Row positions per part, refusing unknown positions and overlap between parts."""
    if not assignments.get("train"):
        raise ValueError("the split has no train rows: make a split before training")
    parts = {name: np.asarray(sorted(rows), dtype=np.int64) for name, rows in assignments.items()}
    for name, rows in parts.items():
        if len(rows) and (rows[0] < 0 or rows[-1] >= n_rows):
            raise DataFileError(
                f"the {name} part refers to rows outside the dataset's {n_rows} rows: "
                "the split belongs to another dataset version, make a new split"
            )
    names = list(parts)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            shared = np.intersect1d(parts[first], parts[second])
            if len(shared):
                raise DataFileError(
                    f"the {first} and {second} parts share {len(shared)} rows: make a new split "
                    "without overlap"
                )
    return parts


def _linear_prep(numeric: list[str], categorical: list[str], dense: bool = False) -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                  ("scale", StandardScaler())]), numeric),
            ("categorical", Pipeline([("text", CategoryAsText()),
                                      ("onehot", OneHotEncoder(handle_unknown="ignore",
                                                               sparse_output=not dense))]),
             categorical),
        ]
    )


def _tree_prep(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    """Ordinal codes are enough for trees and far faster than one-hot."""
    return ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), numeric),
            ("categorical", Pipeline([("text", CategoryAsText()),
                                      ("ordinal", OrdinalEncoder(
                                          handle_unknown="use_encoded_value",
                                          unknown_value=-1))]),
             categorical),
        ]
    )


def build_model(spec: TrainingSpec, params: dict[str, Any] | None = None) -> Pipeline:
    """The unfitted pipeline (preprocessing + estimator) for the spec's kind and problem type.

    ``params`` (default: the spec's) override the estimator's hyper-parameters.
    """
    numeric = [n for n, k in spec.features.items() if k == "numeric"]
    categorical = [n for n, k in spec.features.items() if k == "categorical"]
    regression = spec.problem_type == "regression"
    kind, seed = spec.kind, spec.seed
    prep: Any = None
    if kind == "majority_baseline":
        estimator: Any = DummyClassifier(strategy="prior")
    elif kind == "mean_baseline":
        estimator = DummyRegressor(strategy="mean")
    elif kind == "popularity_baseline":
        estimator = BaselineRuleClassifier(feature=spec.baseline_feature or "")
    elif kind == "logistic_regression":
        prep = _linear_prep(numeric, categorical)
        estimator = LogisticRegression(max_iter=1000, random_state=seed)
    elif kind == "linear_regression":
        prep = _linear_prep(numeric, categorical)
        estimator = Ridge(alpha=1.0)
    elif kind == "kmeans":
        prep = _linear_prep(numeric, categorical, dense=True)
        estimator = KMeans(n_clusters=4, n_init=3, random_state=seed)
    elif kind == "hist_gradient_boosting":
        # Unknown categories become NaN, which the trees route like a missing value.
        prep = ColumnTransformer(
            [
                ("numeric", "passthrough", numeric),
                ("categorical", Pipeline([("text", CategoryAsText()),
                                          ("ordinal", OrdinalEncoder(
                                              handle_unknown="use_encoded_value",
                                              unknown_value=np.nan, max_categories=255))]),
                 categorical),
            ]
        )
        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        estimator = cls(
            max_iter=150,
            learning_rate=0.05,
            max_leaf_nodes=15,
            l2_regularization=1.0,
            early_stopping=False,
            categorical_features=list(range(len(numeric), len(numeric) + len(categorical))) or None,
            random_state=seed,
        )
    elif kind == "decision_tree":
        prep = _tree_prep(numeric, categorical)
        cls = DecisionTreeRegressor if regression else DecisionTreeClassifier
        estimator = cls(max_depth=8, min_samples_leaf=20, random_state=seed)
    elif kind == "random_forest":
        prep = _tree_prep(numeric, categorical)
        cls = RandomForestRegressor if regression else RandomForestClassifier
        estimator = cls(
            n_estimators=100, max_depth=10, min_samples_leaf=20, max_samples=0.5,
            n_jobs=1, random_state=seed,
        )
    elif kind == "isolation_forest":
        prep = _tree_prep(numeric, categorical)
        estimator = IsolationForest(n_estimators=100, n_jobs=1, random_state=seed)
    else:
        raise ValueError(f"unknown model kind {kind!r}: choose one of {', '.join(MODEL_KINDS)}")
    _apply_params(estimator, kind, spec.params if params is None else params)
    steps = [("prepare", prep)] if prep is not None else []
    return Pipeline([*steps, ("model", estimator)])


def _apply_params(estimator: Any, kind: str, params: dict[str, Any]) -> None:
    """Apply hyper-parameter overrides, naming any the estimator does not have."""
    known = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"{kind} has no hyper-parameter {', '.join(map(repr, unknown))}: "
            f"known ones are {', '.join(sorted(known))}"
        )
    if params:
        estimator.set_params(**params)


def _size_param(estimator: Any) -> str | None:
    """The parameter a warm-started ensemble grows by, if the estimator is one."""
    if isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        return "max_iter"
    if isinstance(estimator, (RandomForestClassifier, RandomForestRegressor, IsolationForest)):
        return "n_estimators"
    return None


def fit_model(
    model: Pipeline,
    data: PreparedData,
    rows: np.ndarray,
    kind: str,
    step: Progress | None = None,
    span: tuple[float, float] = (0.2, 0.8),
) -> Pipeline:
    """Fit on ``rows``; with ``step``, ensembles grow in chunks so progress and cancel work mid-fit."""
    X = data.X.iloc[rows]
    y = None if data.y is None else data.y[rows]
    estimator = model[-1]
    size_param = _size_param(estimator)
    if step is None or size_param is None or len(model) < 2:
        model.fit(X, y)
        return model
    prepared = model[:-1].fit_transform(X, y)
    total = int(estimator.get_params()[size_param])
    estimator.set_params(warm_start=True)
    lo, hi = span
    for chunk in range(1, _FIT_CHUNKS + 1):
        estimator.set_params(**{size_param: max(1, math.ceil(total * chunk / _FIT_CHUNKS))})
        estimator.fit(prepared, y)
        if chunk < _FIT_CHUNKS:
            step(lo + (hi - lo) * chunk / _FIT_CHUNKS, f"fitting {kind}: {chunk}/{_FIT_CHUNKS}")
    estimator.set_params(warm_start=False)
    return model


def predict_output(
    model: Any, X: pd.DataFrame, problem_type: str, n_classes: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """(prediction, score) per row for the problem type.

    binary / ranking: 0/1 at 0.5 and the positive-class probability; multiclass: class code
    and an (n, n_classes) probability matrix aligned to all classes (a class the model never
    saw gets 0); regression: the number and no score; clustering: the cluster and no score;
    anomaly detection: 1 where flagged and the anomaly score (higher is more anomalous).
    """
    if problem_type in _SCORED:
        scores = np.asarray(model.predict_proba(X)[:, 1], dtype="float64")
        return (scores >= 0.5).astype("int64"), scores
    if problem_type == "multiclass_classification":
        seen = np.asarray(model.predict_proba(X), dtype="float64")
        proba = np.zeros((len(X), max(n_classes, seen.shape[1])))
        proba[:, np.asarray(model.classes_, dtype="int64")] = seen
        return np.argmax(proba, axis=1).astype("int64"), proba
    if problem_type == "regression":
        return np.asarray(model.predict(X), dtype="float64"), None
    if problem_type == "clustering":
        return np.asarray(model.predict(X), dtype="int64"), None
    anomaly = -np.asarray(model.decision_function(X), dtype="float64")
    return (anomaly > 0).astype("int64"), anomaly


def metrics_of(
    spec: TrainingSpec,
    data: PreparedData,
    rows: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray | None,
    model: Any,
) -> dict[str, float]:
    """The problem type's metrics for already predicted ``rows``."""
    pt = spec.problem_type
    y = None if data.y is None else data.y[rows]
    if pt == "clustering":
        prepared = model[:-1].transform(data.X.iloc[rows]) if len(model) > 1 else data.X.iloc[rows]
        return clustering_metrics(prepared, y_pred, seed=spec.seed)
    if pt == "regression" or (pt == "multiclass_classification" and y_score is None):
        return metrics_for(pt, y, y_pred)
    groups = data.groups[rows] if (pt == "ranking" and data.groups is not None) else None
    return metrics_for(pt, y, y_score, groups=groups, k=spec.k)


def evaluate(model: Any, data: PreparedData, rows: np.ndarray, spec: TrainingSpec) -> dict[str, float]:
    """Predict ``rows`` and compute the problem type's metrics (no prefix)."""
    if len(rows) == 0:
        return {}
    y_pred, y_score = predict_output(model, data.X.iloc[rows], spec.problem_type, len(data.classes))
    return metrics_of(spec, data, rows, y_pred, y_score, model)


def predictions_json(
    data: PreparedData, rows: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None
) -> dict[str, Any]:
    """Per-row predictions as plain JSON: positions, truth, prediction and score (or [])."""
    out: dict[str, Any] = {
        "rows": [int(r) for r in rows],
        "y_true": [] if data.y is None else data.y[rows].tolist(),
        "y_pred": np.asarray(y_pred).tolist(),
        "y_score": [] if y_score is None else np.round(np.asarray(y_score, dtype="float64"), 10).tolist(),
    }
    if data.groups is not None:
        out["groups"] = [str(g) for g in data.groups[rows]]
    return out


def _effective_params(model: Any, spec: TrainingSpec) -> dict[str, Any]:
    """The final estimator's hyper-parameters as JSON-safe values, plus how the run was set up."""
    estimator = model[-1] if isinstance(model, Pipeline) else model
    params: dict[str, Any] = {}
    for name, value in sorted(estimator.get_params(deep=False).items()):
        params[name] = _json_safe(value)
    params["seed"] = spec.seed
    if spec.kind == "popularity_baseline":  # other kinds ignore it, so it is not theirs to record
        params["baseline_feature"] = spec.baseline_feature
    return params


def _json_safe(value: Any) -> Any:
    """Scalars as they are, sequences as lists, anything else as its repr."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return repr(value)


def environment() -> dict[str, str]:
    """Versions that decide whether a run can be reproduced, stored with every run."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
    }


def load_model(data: bytes) -> Any:
    """Load a model saved by ``train_model``, refusing any type not on ``TRUSTED_TYPES``.

    The allow-list is ours, not the file's, so a tampered artifact cannot widen it.
    """
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # not a skops file at all (zip or schema errors)
        raise ValueError(f"the model file is not a readable skops file ({exc}): retrain the model") from exc
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise ValueError(
            f"the model file contains types that are not on the allow-list: {', '.join(refused)}; "
            "it was not loaded"
        )
    return sio.loads(data, trusted=TRUSTED_TYPES)


def score(model: Any, df: pd.DataFrame) -> np.ndarray:
    """Positive-class probabilities for each row of ``df`` (binary classifiers and rankers).

    Selects the model's own input columns, so a frame with extra columns (the target, ids)
    scores the same as one with only the features.
    """
    columns = [str(c) for c in getattr(model, "feature_names_in_", [])]
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise DataFileError(
            f"the data has no column {', '.join(map(repr, absent))} that the model needs: "
            "add it to the batch"
        )
    X = df[columns] if columns else df
    return np.asarray(model.predict_proba(X)[:, 1], dtype="float64")
