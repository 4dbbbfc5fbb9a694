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


def save_model(model: Any) -> bytes:
    """The model as skops bytes, for the artifact store."""
    return sio.dumps(model)


def load_model(data: bytes) -> Any:
    """Load a model saved by ``save_model``, refusing any type not on ``TRUSTED_TYPES``.

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
