"""Re-scoring a saved model on the validation part of another split: how a retraining compares
the new run with the models it would replace. No database here.

A retraining trains on more rows, so it makes a new split, and a comparison is only fair on the
same rows (``app.services.comparison``). The baseline and the production model are not refitted:
their saved files are loaded (through the allow-list) and scored as they are on the new split's
validation rows, which is the question a promotion asks ("is the new model better than the one
serving, on the data we have now?"). The sealed test part is never read.

A retraining splits old and new rows together, so some of the new validation rows were
training rows of the model being re-scored, where it would look better than it is. Given the
rows it was trained on (``trained_on``), those rows are left out (matched by content: the
feature and target values), and the comparison is made on the validation rows it never saw
(``app.services.comparison`` pairs the new run's predictions on the same rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from app.ml.fitting import metrics_of, predict_output, predictions_json
from app.ml.model_files import load_model
from app.ml.preparation import prepare_data
from app.ml.tabular import read_table
from app.ml.training_spec import TrainingSpec, check_spec


def _row_keys(frame: Any, columns: list[str]) -> np.ndarray:
    """One hashable key per row over ``columns``, the same for the same values whatever the
    file format made of their dtypes (an int column read back as float, strings as objects)."""
    import pandas as pd

    parts = []
    for name in columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            parts.append(column.astype("float64").map(repr))
        else:
            parts.append(column.astype(str))
    return pd.util.hash_pandas_object(pd.concat(parts, axis=1), index=False).to_numpy()


def unseen_rows(frame: Any, rows: np.ndarray, trained_on: dict[str, Any]) -> np.ndarray:
    """``rows`` of ``frame`` whose values are not among the rows a model was trained on
    (``trained_on``: the path of its dataset and the positions of its train rows)."""
    columns = [c for c in trained_on["columns"] if c in frame.columns]
    seen_frame = read_table(trained_on["dataset_path"])
    seen = _row_keys(seen_frame.iloc[np.asarray(trained_on["rows"], dtype=np.int64)], columns)
    keys = _row_keys(frame.iloc[rows], columns)
    return rows[~np.isin(keys, seen)]


def score_on_validation(model_bytes: bytes, spec: TrainingSpec, *, classes: list[str] | None = None,
                        trained_on: dict[str, Any] | None = None) -> dict[str, Any]:
    """"val_…" metrics and per-row predictions of a saved model on ``spec``'s validation part.

    ``classes`` are the classes the model was trained with (a classifier's codes are positions in
    that list): data whose classes differ would be scored under the wrong codes, so it is refused.
    """
    check_spec(spec)
    started = time.perf_counter()
    model = load_model(model_bytes)
    frame = read_table(spec.dataset_path)
    data = prepare_data(frame, spec)
    if classes and list(data.classes) and list(map(str, data.classes)) != list(map(str, classes)):
        raise ValueError(f"the new data has the classes {list(data.classes)}, the model was trained on {classes}: "
                         "it cannot be re-scored on them")
    rows = data.parts.get("validation", np.empty(0, dtype=np.int64))
    if len(rows) == 0:
        raise ValueError("the split has no validation part: make a split with a validation part to compare on")
    n_all = len(rows)
    if trained_on is not None:
        rows = unseen_rows(frame, rows, trained_on)
        if len(rows) == 0:
            raise ValueError("every validation row of the new split was one of its training rows: "
                             "there is nothing fair to score it on")
    y_pred, y_score = predict_output(model, data.X.iloc[rows], spec.problem_type, len(data.classes))
    part = metrics_of(spec, data, rows, y_pred, y_score, model)
    return {
        "metrics": {f"val_{name}": value for name, value in part.items()},
        "predictions": predictions_json(data, rows, y_pred, y_score) | {"unseen_only": trained_on is not None},
        "n_validation": int(len(rows)),
        "n_left_out": int(n_all - len(rows)),
        "duration_s": round(time.perf_counter() - started, 4),
    }


def rescore_task(payload: dict[str, Any], progress: Callable[[float, str], None],
                 should_stop: Callable[[], bool]) -> dict[str, Any]:
    """Worker task: re-score ``payload["model_bytes"]`` on the validation part of ``payload["spec"]``."""
    progress(0.1, "loading the model and the new split's validation rows")
    result = score_on_validation(payload["model_bytes"], TrainingSpec(**payload["spec"]),
                                 classes=payload.get("classes"), trained_on=payload.get("trained_on"))
    progress(1.0, f"re-scored on {result['n_validation']:,} validation rows "
                  f"({result['n_left_out']:,} it was trained on left out)")
    return result
