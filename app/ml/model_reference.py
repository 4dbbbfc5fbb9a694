"""The reference a monitoring batch is compared with: the model's training rows, what the model
said about them, and their labels, profiled once when the model version is registered."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# Columns of the reference (and of a batch) that are not model inputs. Double underscores keep
# them apart from any feature a user may name "prediction".
PREDICTION = "__prediction__"


def prediction_column(model: Any, frame: pd.DataFrame, features: list[str], problem_type: str,
                      n_classes: int = 0) -> np.ndarray:
    """One number (score or value) or class per row: what prediction drift is measured on."""
    from app.ml.fitting import predict_output

    predicted, score = predict_output(model, frame[features], problem_type, n_classes)
    return score if score is not None and np.ndim(score) == 1 else predicted


def prediction_kind(problem_type: str) -> str:
    return "categorical" if problem_type in ("multiclass_classification", "clustering") else "numeric"


def label_kind(problem_type: str) -> str:
    return "numeric" if problem_type == "regression" else "categorical"


def build_model_reference(
    frame: pd.DataFrame,
    rows: list[int],
    features: dict[str, str],
    *,
    model_bytes: bytes,
    problem_type: str,
    target: str | None,
    n_classes: int = 0,
) -> bytes:
    """Profile the training rows' features, the model's predictions on them and their labels."""
    from app.ml.drift_reference import build_reference
    from app.ml.model_files import load_model

    train = frame.iloc[rows]
    columns = {name: train[name] for name in features}
    kinds = dict(features)
    columns[PREDICTION] = pd.Series(
        prediction_column(load_model(model_bytes), train, list(features), problem_type, n_classes),
        index=train.index)
    kinds[PREDICTION] = prediction_kind(problem_type)
    if target and target in train.columns:
        columns[target] = train[target]
        kinds[target] = label_kind(problem_type)
    return build_reference(pd.DataFrame(columns), kinds).to_bytes()
