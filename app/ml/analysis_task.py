"""Worker task: error analysis of a run on its validation part (never the sealed test part)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PERMUTATION_METRIC = {"binary_classification": "roc_auc", "ranking": "roc_auc",
                      "multiclass_classification": "macro_f1", "regression": "r2"}


def error_analysis_task(
    payload: dict[str, Any], progress: Callable[[float, str], None], should_stop: Callable[[], bool]
) -> dict[str, Any]:
    from app.ml import evaluation
    from app.ml.errors import TrainingCancelled
    from app.ml.fitting import predict_output
    from app.ml.model_building import build_model
    from app.ml.model_files import load_model
    from app.ml.preparation import prepare_data
    from app.ml.tabular import read_table
    from app.ml.training_spec import TrainingSpec

    spec = TrainingSpec(**payload["spec"])
    problem = spec.problem_type
    progress(0.05, "loading the model and the validation rows")
    model = load_model(payload["model_bytes"])
    frame = read_table(spec.dataset_path)
    data = prepare_data(frame, spec)
    rows = data.parts["validation"]
    X, y = data.X.iloc[rows], data.y[rows] if data.y is not None else None
    if y is None:
        raise ValueError(f"error analysis needs a target; {problem} runs without one have none")
    y_pred, y_score = predict_output(model, X, problem, len(data.classes))
    result: dict[str, Any] = {"problem_type": problem, "rows": int(len(rows)),
                              "confusion": None, "roc": None, "pr": None, "calibration": None}
    if problem in ("binary_classification", "ranking", "multiclass_classification"):
        result["confusion"] = evaluation.confusion(y, y_pred)
    if problem in ("binary_classification", "ranking") and y_score is not None:
        result["roc"] = evaluation.roc_points(y, y_score)
        result["pr"] = evaluation.pr_points(y, y_score)
        result["calibration"] = evaluation.calibration(y, y_score)
    progress(0.3, "per-segment metrics")
    result["segments"] = {
        column: evaluation.segment_metrics(y, y_pred, y_score, frame[column].iloc[rows].tolist(), problem_type=problem)
        for column in payload.get("segments", []) if column in frame.columns
    }
    sensitive = payload.get("sensitive")
    result["fairness"] = None
    if sensitive and sensitive in frame.columns and problem in ("binary_classification", "ranking"):
        result["fairness"] = {"attribute": sensitive,
                              **evaluation.fairness(y, y_pred, frame[sensitive].iloc[rows].tolist())}
    if should_stop():
        raise TrainingCancelled()
    metric = PERMUTATION_METRIC.get(problem)
    result["permutation_importance"] = []
    if metric:
        progress(0.5, "permutation importance")
        result["permutation_importance"] = evaluation.permutation_importances(
            model, X, y, metric=metric, seed=spec.seed)
    result["learning_curve"] = None
    if payload.get("learning_curve") and metric:
        if should_stop():
            raise TrainingCancelled()
        progress(0.75, "learning curve (refits on growing shares of the train part)")
        train = data.parts["train"]
        result["learning_curve"] = evaluation.learning_curve_points(
            lambda: build_model(spec), data.X.iloc[train], data.y[train], metric=metric, seed=spec.seed)
    progress(1.0, "error analysis done")
    return result


def five_by_two_task(
    payload: dict[str, Any], progress: Callable[[float, str], None], should_stop: Callable[[], bool]
) -> dict[str, Any]:
    """Dietterich's 5×2cv paired t-test of two runs' model recipes on their train + validation rows.

    It refits each recipe ten times, so it tests the learning algorithms, not the two fitted
    models; the sealed test rows are not used.
    """
    import numpy as np

    from app.ml.comparison import five_by_two_cv
    from app.ml.tabular import read_table
    from app.ml.model_building import build_model
    from app.ml.preparation import prepare_data
    from app.ml.training_spec import TrainingSpec

    spec_a, spec_b = TrainingSpec(**payload["spec_a"]), TrainingSpec(**payload["spec_b"])
    data = prepare_data(read_table(spec_a.dataset_path), spec_a)
    rows = np.concatenate([data.parts["train"], data.parts["validation"]])
    return five_by_two_cv(
        lambda: build_model(spec_a, payload.get("params_a")), lambda: build_model(spec_b, payload.get("params_b")),
        data.X.iloc[rows], data.y[rows], metric=payload["metric"], seed=spec_a.seed,
        should_stop=should_stop, progress=progress)
