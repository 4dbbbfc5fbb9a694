"""Building the model for a kind: the unfitted scikit-learn pipeline (preprocessing + estimator)
each rung of the ladder trains, and the hyper-parameters it records.

What each kind is (rung, problem types, description) is in ``app.ml.catalogue``; this module
is how it is made, so it is the one that imports the estimators.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
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

from app.ml.catalogue import MODEL_KINDS
from app.ml.estimators import BaselineRuleClassifier, CategoryAsText
from app.ml.training_spec import TrainingSpec


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


def effective_params(model: Any, spec: TrainingSpec) -> dict[str, Any]:
    """The final estimator's hyper-parameters as JSON-safe values, plus how the run was set up."""
    estimator = model[-1] if isinstance(model, Pipeline) else model
    params: dict[str, Any] = {}
    for name, value in sorted(estimator.get_params(deep=False).items()):
        params[name] = json_safe(value)
    params["seed"] = spec.seed
    if spec.kind == "popularity_baseline":  # other kinds ignore it, so it is not theirs to record
        params["baseline_feature"] = spec.baseline_feature
    return params


def json_safe(value: Any) -> Any:
    """Scalars as they are, sequences as lists, anything else as its repr."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return repr(value)
