"""Training one run of the baseline ladder (rule, linear, trees) and loading saved models.

Runs in a worker process: it reads the dataset itself (only a path crosses the process
boundary), reports progress through a callback, polls ``should_stop`` between steps and
returns plain data plus the model as skops bytes. Models are never pickled: a model file is
evidence that auditors may open later, and loading a pickle runs whatever code it names.
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
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from app.ml.errors import DataFileError, TrainingCancelled
from app.ml.estimators import BaselineRuleClassifier, CategoryAsText
from app.ml.tabular import read_table

MODEL_KINDS: dict[str, str] = {
    "popularity_baseline": "Rule: score = one named baseline feature, no fitting (the heuristic)",
    "logistic_regression": "Scaled numerics + one-hot categoricals into a logistic regression",
    "hist_gradient_boosting": "Histogram gradient boosting with native categorical splits",
    "random_forest": "Random forest of 100 depth-limited trees (one thread)",
}

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
]

# Chunks in which the tree ensembles grow (warm start), so progress moves and a cancel is
# honoured within a fraction of the fit instead of only after it.
_FIT_CHUNKS = 5
_TOP_FRACTION = 0.10


@dataclass(frozen=True)
class TrainingSpec:
    """Everything a worker process needs to train one run; plain data, so it pickles."""

    kind: str
    dataset_path: str
    target: str
    features: dict[str, str]
    assignments: dict[str, list[int]]
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    baseline_feature: str | None = None


@dataclass(frozen=True)
class TrainingResult:
    """What a run produced: the evidence stored with the Run and the model's bytes.

    ``positive_label`` records which target value the probabilities are for (the target is
    re-coded to 0/1 before fitting), so a reviewer can read the metrics the right way round.
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


def train_model(
    spec: TrainingSpec,
    progress: Callable[[float, str], None] = lambda f, m: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainingResult:
    """Read the data, fit the chosen kind on the train part, score validation and test.

    Deterministic for a given seed. Raises ``DataFileError`` for data the user must fix,
    ``ValueError`` for a bad spec and ``TrainingCancelled`` when ``should_stop()`` is true at
    a step boundary.
    """
    started = time.perf_counter()

    def step(fraction: float, message: str) -> None:
        if should_stop():
            raise TrainingCancelled(f"training cancelled before: {message}")
        progress(fraction, message)

    if spec.kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {spec.kind!r}: choose one of {', '.join(MODEL_KINDS)}")
    step(0.0, "reading the dataset")
    frame = read_table(spec.dataset_path)
    step(0.1, "checking target and features")
    X, y, positive = _prepared(frame, spec)
    parts = _checked_parts(spec.assignments, len(frame))
    train_rows = parts["train"]
    y_train = y[train_rows]
    if len(np.unique(y_train)) < 2:
        raise DataFileError(
            f"the train part has only one value of {spec.target!r}: use a stratified split"
        )
    model = _build(spec, X)
    step(0.2, f"fitting {spec.kind} on {len(train_rows):,} rows")
    _fit(model, X.iloc[train_rows], y_train, spec.kind, step)
    step(0.8, "scoring validation and test")
    metrics: dict[str, float] = {}
    for part, prefix in (("train", "train"), ("validation", "val"), ("test", "test")):
        rows = parts.get(part, np.empty(0, dtype=np.int64))
        if len(rows) == 0:
            continue
        scores = score(model, X.iloc[rows])
        part_metrics = _metrics(y[rows], scores)
        if part == "train":  # only AUC: the gap to val/test AUC is the overfitting signal
            part_metrics = {k: v for k, v in part_metrics.items() if k == "roc_auc"}
        metrics.update({f"{prefix}_{name}": value for name, value in part_metrics.items()})
    step(0.9, "saving the model")
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
        n_test=int(len(parts.get("test", ()))),
        positive_label=positive,
    )


def _prepared(frame: pd.DataFrame, spec: TrainingSpec) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The feature frame, the target re-coded to 0/1, and the label called positive."""
    names = list(spec.features)
    if not names:
        raise ValueError("the spec has no features: choose at least one feature column")
    absent = [c for c in [spec.target, *names] if c not in frame.columns]
    if absent:
        raise DataFileError(
            f"the dataset has no column {', '.join(map(repr, absent))}: check the feature spec "
            "against the dataset's schema"
        )
    if spec.target in spec.features:
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
    y, positive = _binary_target(frame[spec.target], spec.target)
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
    return X, y, positive


def _binary_target(target: pd.Series, name: str) -> tuple[np.ndarray, str]:
    """Re-code a two-valued target to 0/1; 1/True is positive, otherwise the larger value."""
    missing = int(target.isna().sum())
    if missing:
        raise DataFileError(
            f"the target {name!r} is missing in {missing} rows: fill or drop them before training"
        )
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


def _build(spec: TrainingSpec, X: pd.DataFrame) -> Any:
    """The unfitted estimator or pipeline for the spec's kind, with the spec's overrides."""
    numeric = [n for n, k in spec.features.items() if k == "numeric"]
    categorical = [n for n, k in spec.features.items() if k == "categorical"]
    if spec.kind == "popularity_baseline":
        estimator: Any = BaselineRuleClassifier(feature=spec.baseline_feature or "")
        _apply_params(estimator, spec)
        return estimator
    if spec.kind == "logistic_regression":
        prep = ColumnTransformer(
            [
                ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                      ("scale", StandardScaler())]), numeric),
                ("categorical", Pipeline([("text", CategoryAsText()),
                                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]),
                 categorical),
            ]
        )
        estimator = LogisticRegression(max_iter=1000, random_state=spec.seed)
    elif spec.kind == "hist_gradient_boosting":
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
        estimator = HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.05,
            max_leaf_nodes=15,
            l2_regularization=1.0,
            early_stopping=False,
            categorical_features=list(range(len(numeric), len(numeric) + len(categorical))) or None,
            random_state=spec.seed,
        )
    else:  # random_forest: ordinal codes are enough for trees and far faster than one-hot
        prep = ColumnTransformer(
            [
                ("numeric", SimpleImputer(strategy="median"), numeric),
                ("categorical", Pipeline([("text", CategoryAsText()),
                                          ("ordinal", OrdinalEncoder(
                                              handle_unknown="use_encoded_value",
                                              unknown_value=-1))]),
                 categorical),
            ]
        )
        estimator = RandomForestClassifier(
            n_estimators=100,
            max_depth=10,
            min_samples_leaf=20,
            max_samples=0.5,
            n_jobs=1,
            random_state=spec.seed,
        )
    _apply_params(estimator, spec)
    return Pipeline([("prepare", prep), ("model", estimator)])


def _apply_params(estimator: Any, spec: TrainingSpec) -> None:
    """Apply hyper-parameter overrides, naming any the estimator does not have."""
    known = estimator.get_params(deep=False)
    unknown = sorted(set(spec.params) - set(known))
    if unknown:
        raise ValueError(
            f"{spec.kind} has no hyper-parameter {', '.join(map(repr, unknown))}: "
            f"known ones are {', '.join(sorted(known))}"
        )
    if spec.params:
        estimator.set_params(**spec.params)


def _fit(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    kind: str,
    step: Callable[[float, str], None],
) -> None:
    """Fit; tree ensembles grow in chunks (warm start) so progress and cancel work mid-fit."""
    if not isinstance(model, Pipeline) or kind == "logistic_regression":
        model.fit(X, y)
        return
    prepared = model[:-1].fit_transform(X, y)
    estimator = model[-1]
    size_param = "max_iter" if kind == "hist_gradient_boosting" else "n_estimators"
    total = int(estimator.get_params()[size_param])
    estimator.set_params(warm_start=True)
    for chunk in range(1, _FIT_CHUNKS + 1):
        estimator.set_params(**{size_param: max(1, math.ceil(total * chunk / _FIT_CHUNKS))})
        estimator.fit(prepared, y)
        if chunk < _FIT_CHUNKS:
            step(0.2 + 0.6 * chunk / _FIT_CHUNKS, f"fitting {kind}: {chunk}/{_FIT_CHUNKS}")
    estimator.set_params(warm_start=False)


def _metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Ranking, probability and business metrics; a metric undefined on one class is left out."""
    out: dict[str, float] = {
        "base_rate": float(y.mean()),
        "accuracy": float(accuracy_score(y, (scores >= 0.5).astype(int))),
        "log_loss": float(log_loss(y, np.clip(scores, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }
    if len(np.unique(y)) == 2:
        out["roc_auc"] = float(roc_auc_score(y, scores))
        out["pr_auc"] = float(average_precision_score(y, scores))
    k = max(1, math.ceil(_TOP_FRACTION * len(y)))
    top = np.argsort(-scores, kind="stable")[:k]
    out["ctr_at_top10pct"] = float(y[top].mean())
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
    """Positive-class probabilities for each row of ``df``, for every model kind.

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
