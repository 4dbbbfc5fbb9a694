"""Tasks a worker process runs: plain data in, plain data out, no database.

Each task takes ``(payload, progress, should_stop)`` and returns something picklable; the
parent process turns the result into registry records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]


def train_task(payload: dict[str, Any], progress: Progress, should_stop: ShouldStop) -> Any:
    from app.ml.training import TrainingSpec, train_model

    return train_model(TrainingSpec(**payload), progress, should_stop)


def drift_task(payload: dict[str, Any], progress: Progress, should_stop: ShouldStop) -> list[dict[str, Any]]:
    """Per-feature drift of a monitoring batch against the model's reference data."""
    from app.ml.drift import feature_drift
    from app.ml.errors import TrainingCancelled
    from app.ml.tabular import read_table

    progress(0.05, "reading reference data")
    reference = read_table(payload["reference_path"])
    if payload.get("reference_rows") is not None:
        reference = reference.iloc[payload["reference_rows"]]
    if should_stop():
        raise TrainingCancelled()
    progress(0.3, "reading monitoring batch")
    current = read_table(payload["batch_path"])
    missing = [f for f in payload["features"] if f not in current.columns]
    if missing:
        raise ValueError(
            f"the monitoring batch lacks feature column(s) {', '.join(missing)}: export it with the model's features"
        )
    if should_stop():
        raise TrainingCancelled()
    progress(0.6, "comparing distributions")
    results = feature_drift(reference, current, payload["features"], psi_threshold=payload["psi_threshold"])
    progress(1.0, "drift computed")
    return results
