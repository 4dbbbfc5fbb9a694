"""The two small estimators of our own that go inside saved models.

They live in their own module because saved model files name them by import path
(``app.ml.estimators.…``) on the loading allow-list: moving or renaming them breaks old
artifacts, so this module should change rarely and only by adding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

MISSING_CATEGORY = "(missing)"


class CategoryAsText(TransformerMixin, BaseEstimator):
    """Turn categorical columns into plain text, with missing values as their own category.

    Why: the same categorical column can arrive as int64 (codes), pandas ``str`` or object
    from two file formats, and encoders refuse mixed or missing values. Text with an explicit
    "(missing)" makes training and scoring see the same categories.
    """

    def fit(self, X: Any, y: Any = None) -> CategoryAsText:
        """Nothing to learn; records the input width as sklearn transformers do."""
        self.n_features_in_ = np.asarray(X).shape[1] if np.ndim(X) == 2 else 1
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Return an object array of str, missing values replaced by ``MISSING_CATEGORY``."""
        frame = pd.DataFrame(X)
        out = np.empty(frame.shape, dtype=object)
        for j, column in enumerate(frame.columns):
            series = frame[column]
            text = series.astype(object).where(series.notna(), MISSING_CATEGORY)
            out[:, j] = [str(v) for v in text]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Same names in, same names out, so a ColumnTransformer can report feature names."""
        return np.asarray(input_features if input_features is not None else [], dtype=object)


class BaselineRuleClassifier(ClassifierMixin, BaseEstimator):
    """The heuristic baseline: score each row by one named feature, higher is more likely.

    It ranks rows exactly as the rule in the problem statement does and learns nothing but the
    feature's range on the training rows, used to map scores into [0, 1] so that the same
    metrics (log loss, accuracy) can be computed for it as for fitted models. Its
    probabilities are therefore not calibrated; its ROC AUC is the rule's own.
    """

    def __init__(self, feature: str = "", higher_is_positive: bool = True) -> None:
        self.feature = feature
        self.higher_is_positive = higher_is_positive

    def fit(self, X: pd.DataFrame, y: Any) -> BaselineRuleClassifier:
        """Record the classes and the feature's observed range; no parameter is fitted."""
        values = self._values(X)
        finite = values[np.isfinite(values)]
        self.low_ = float(finite.min()) if len(finite) else 0.0
        self.high_ = float(finite.max()) if len(finite) else 1.0
        self.classes_ = np.unique(np.asarray(y))
        self.feature_names_in_ = np.asarray([self.feature], dtype=object)
        self.n_features_in_ = 1
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns (negative, positive); rows with a missing feature get the neutral 0.5."""
        values = self._values(X)
        span = self.high_ - self.low_
        scaled = (values - self.low_) / span if span > 0 else np.full_like(values, 0.5)
        scaled = np.clip(scaled, 0.0, 1.0)
        if not self.higher_is_positive:
            scaled = 1.0 - scaled
        scaled = np.where(np.isfinite(scaled), scaled, 0.5)
        return np.column_stack([1.0 - scaled, scaled])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The positive class where the scaled score is at least 0.5."""
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def _values(self, X: pd.DataFrame) -> np.ndarray:
        """The rule's feature as floats; a frame without it is a caller error."""
        if isinstance(X, pd.DataFrame):
            column = X[self.feature]
        else:
            column = pd.Series(np.asarray(X)[:, 0])
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
