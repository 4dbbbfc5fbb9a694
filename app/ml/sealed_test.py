"""The sealed test part: scoring a trained model on it, the explicit "evaluate on test" action,
and the worker task that runs it. No database here either.

Training never reads a test row's target or score (``app.ml.training``); this is the one
place that does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.ml.fitting import metrics_of, predict_output, predictions_json
from app.ml.model_files import load_model
from app.ml.preparation import prepare_data
from app.ml.tabular import read_table
from app.ml.training_spec import TrainingSpec, check_spec


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


def test_task(payload: dict[str, Any], progress: Callable[[float, str], None], should_stop: Callable[[], bool]) -> dict:
    """Score a saved model on the test part of its split; returns metrics only (no predictions kept)."""
    progress(0.1, "loading the model and the test rows")
    score = score_on_test(payload["model_bytes"], TrainingSpec(**payload["spec"]))
    progress(1.0, "scored on the sealed test part")
    return dict(score.metrics)
