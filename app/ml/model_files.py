"""Model files: a fitted model saved as skops bytes, and loaded back only through our allow-list.

Models are never pickled: a model file is evidence that auditors may open later, and loading a
pickle runs whatever code it names. The artifact store checks a file's SHA-256 against the
registry before its bytes reach ``load_model``.
"""

from __future__ import annotations

from typing import Any

import skops.io as sio

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

# Model families a person may train outside the workbench and log through the `mlwb` module
# (``app.services.external_runs``). Each family's types are named one by one, never a whole
# module: a LightGBM or XGBoost model carries its booster, whose state skops stores as the
# library's own model text or bytes (restored by the booster's ``__setstate__``, no pickle).
# A model holding any type outside these lists is refused when it is logged
# (``save_model_checked``) and could not be loaded anyway (``load_model``).
FAMILY_TYPES: dict[str, tuple[str, ...]] = {
    "scikit-learn": (
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.linear_model._logistic.LogisticRegressionCV",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.ExponentialLoss",
        "sklearn.dummy.DummyClassifier",
        "collections.OrderedDict",
    ),
    "lightgbm": (
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.basic.Booster",
        "collections.OrderedDict",
    ),
    "xgboost": (
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "xgboost.core.Booster",
    ),
}
#: Everything a model file may hold: the built-in kinds' types and every family's.
ALLOWED_TYPES: list[str] = sorted({*TRUSTED_TYPES, *(t for types in FAMILY_TYPES.values() for t in types)})


class UnsafeModel(ValueError):
    """A model that cannot be saved as a file the workbench would load: it holds a type on no
    family's allow-list (a custom class, a lambda, a library not vetted here)."""


def model_family(model: Any) -> str:
    """The family an estimator comes from, by the top-level module of its class (a pipeline by
    its last step): "scikit-learn", "lightgbm", "xgboost", or the module's own name."""
    final = model.steps[-1][1] if hasattr(model, "steps") and getattr(model, "steps", None) else model
    root = type(final).__module__.partition(".")[0]
    return {"sklearn": "scikit-learn"}.get(root, root)


def save_model_checked(model: Any) -> bytes:
    """The model as skops bytes, refused (``UnsafeModel``) unless every type in the file is on
    the allow-list and the file loads back through it: what is stored is what will be served."""
    try:
        data = sio.dumps(model)
    except Exception as exc:  # skops has no safe representation of some part (a lambda, a handle)
        raise UnsafeModel(f"skops cannot save this {type(model).__name__} safely ({exc})") from exc
    refused = sorted(set(sio.get_untrusted_types(data=data)) - set(ALLOWED_TYPES))
    if refused:
        raise UnsafeModel(
            f"the model holds types that are on no model family's allow-list: {', '.join(refused)} "
            f"(families: {', '.join(FAMILY_TYPES)}); use an estimator of one of them, or add the types "
            "to app.ml.model_files.FAMILY_TYPES after checking that loading them runs no code")
    try:
        sio.loads(data, trusted=ALLOWED_TYPES)
    except Exception as exc:
        raise UnsafeModel(f"the saved {type(model).__name__} does not load back ({exc})") from exc
    return data


def save_model(model: Any) -> bytes:
    """The model as skops bytes, for the artifact store."""
    return sio.dumps(model)


def load_model(data: bytes) -> Any:
    """Load a model saved by ``save_model`` (or ``save_model_checked``), refusing any type not on
    ``ALLOWED_TYPES`` (the built-in kinds' ``TRUSTED_TYPES`` and the families' ``FAMILY_TYPES``).

    The allow-list is ours, not the file's, so a tampered artifact cannot widen it.
    """
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # not a skops file at all (zip or schema errors)
        raise ValueError(f"the model file is not a readable skops file ({exc}): retrain the model") from exc
    refused = sorted(set(untrusted) - set(ALLOWED_TYPES))
    if refused:
        raise ValueError(
            f"the model file contains types that are not on the allow-list: {', '.join(refused)}; "
            "it was not loaded"
        )
    return sio.loads(data, trusted=ALLOWED_TYPES)
