"""The worker side of monitoring a batch: drift of features, predictions and labels against the
model's stored reference, and the model's performance once labels are known (concept drift).

Runs in a worker process; plain data in, plain data out. The labelled rows are written to a
file the parent imports as a dataset version, so retraining can learn from them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from app.ml.errors import DataFileError, TrainingCancelled
from app.ml.model_reference import PREDICTION, label_kind, prediction_column

Progress = Any
ShouldStop = Any


def performance(problem_type: str, y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """The model's metrics on labelled production rows, plus the error rates SLA rules name."""
    from app.ml.metrics import metrics_for

    if len(y) == 0:
        return {}
    if problem_type in ("binary_classification", "ranking"):
        y = y.astype("int64")
        out = metrics_for("binary_classification", y, prediction)
        decided = prediction >= 0.5
        negatives, positives = (y == 0).sum(), (y == 1).sum()
        if negatives:
            out["false_positive_rate"] = float((decided & (y == 0)).sum() / negatives)
        if positives:
            out["false_negative_rate"] = float((~decided & (y == 1)).sum() / positives)
        return out
    if problem_type == "regression":
        return metrics_for("regression", y, prediction)
    if problem_type == "multiclass_classification":
        return {"accuracy": float(np.mean(np.asarray(y).astype(str) == np.asarray(prediction).astype(str)))}
    return {}


def _join_labels(batch: pd.DataFrame, labels: dict[str, Any], target: str) -> pd.DataFrame:
    from app.ml.tabular import read_table

    table = read_table(labels["path"])
    id_column, label_column = labels["id_column"], labels["label_column"]
    batch_id = labels["batch_id_column"]
    for name, frame, where in ((id_column, table, "labels file"), (label_column, table, "labels file"),
                               (batch_id, batch, "batch")):
        if name not in frame.columns:
            raise DataFileError(f"the {where} has no column '{name}': name the id and label columns it has")
    if table[id_column].duplicated().any():
        dup = table.loc[table[id_column].duplicated(), id_column].iloc[0]
        raise DataFileError(f"the labels file gives id {dup!r} more than once: keep one label per id")
    mapping = pd.Series(table[label_column].to_numpy(), index=table[id_column].astype(str).to_numpy())
    out = batch.copy()
    out[target] = batch[batch_id].astype(str).map(mapping)
    return out


def monitoring_task(payload: dict[str, Any], progress: Progress, should_stop: ShouldStop) -> dict[str, Any]:
    from app.ml.drift import compare
    from app.ml.drift_reference import ReferenceProfile
    from app.ml.tabular import read_table

    progress(0.02, "loading the reference profile")
    with open(payload["reference_path"], "rb") as fh:
        reference = ReferenceProfile.from_bytes(fh.read())
    progress(0.05, "reading the batch")
    batch = read_table(payload["batch_path"])
    features: dict[str, str] = payload["features"]
    missing = [f for f in features if f not in batch.columns]
    if missing:
        raise DataFileError(f"the batch lacks feature column(s) {', '.join(missing)}: "
                            "export it with the model's features")
    problem_type, target = payload["problem_type"], payload.get("target") or None
    if PREDICTION not in batch.columns:
        progress(0.15, "scoring the batch with the production model")
        from app.ml.model_files import load_model

        with open(payload["model_path"], "rb") as fh:
            model = load_model(fh.read())
        batch[PREDICTION] = prediction_column(model, batch, list(features), problem_type,
                                              payload.get("n_classes", 0))
    if should_stop():
        raise TrainingCancelled()
    if payload.get("labels"):
        progress(0.25, "joining the labels that arrived")
        batch = _join_labels(batch, payload["labels"], target)
    labelled = batch[batch[target].notna()] if target and target in batch.columns else batch.iloc[0:0]

    results: list[dict[str, Any]] = []
    subjects = {**{f: "feature" for f in features}, PREDICTION: "prediction"}
    if payload.get("drift", True):
        kinds = {f: k for f, k in reference.features.items() if f in subjects}

        def drift_progress(fraction: float, message: str) -> None:
            progress(0.3 + 0.55 * fraction, message)

        for d in compare(reference, batch, features=kinds, thresholds=payload.get("thresholds"),
                         progress=drift_progress):
            results.append({**asdict(d), "subject": subjects[d.feature]})
    if len(labelled) and target in reference.features:
        progress(0.88, "label distribution shift")
        for d in compare(reference, labelled, features={target: reference.features[target]},
                         thresholds=payload.get("thresholds")):
            results.append({**asdict(d), "subject": "label"})
    progress(0.92, "performance on labelled rows")
    y = labelled[target].to_numpy() if len(labelled) else np.array([])
    if len(labelled) and label_kind(problem_type) == "numeric":
        y = pd.to_numeric(labelled[target], errors="coerce").to_numpy(dtype="float64")
    metrics = performance(problem_type, y, labelled[PREDICTION].to_numpy()) if len(labelled) else {}
    labelled_path = None
    if len(labelled) and payload.get("labelled_out"):
        labelled_path = payload["labelled_out"]
        labelled.drop(columns=[PREDICTION]).to_parquet(labelled_path, index=False)
    progress(1.0, "batch analysed")
    return {"drift": results, "metrics": metrics, "n_labelled": int(len(labelled)), "labelled_path": labelled_path,
            "prediction_mean": float(pd.to_numeric(batch[PREDICTION], errors="coerce").mean())}
