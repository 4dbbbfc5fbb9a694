"""The reference a monitoring batch is compared with: the model's training rows, what the model
said about them, and their labels, profiled once when the model version is registered."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from app.ml.drift_reference import ReferenceProfile

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]

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
    rows: np.ndarray | list[int],
    features: dict[str, str],
    *,
    model_bytes: bytes,
    problem_type: str,
    target: str | None,
    n_classes: int = 0,
) -> ReferenceProfile:
    """Profile the training rows' features, the model's predictions on them and their labels.

    When there are more training rows than ``SAMPLE_ROWS`` the seeded sample is drawn first and
    only it is copied out of ``frame`` and scored: the profile would keep no more rows anyway,
    and scoring a million rows to keep a tenth of them is most of the time and memory.
    """
    from app.ml.drift_reference import build_reference, sample_positions
    from app.ml.model_files import load_model

    rows = np.asarray(rows, dtype=np.int64)
    positions = sample_positions(len(rows))
    kept = rows if positions is None else rows[positions]
    train = frame.iloc[kept]
    columns = {name: train[name] for name in features}
    kinds = dict(features)
    columns[PREDICTION] = pd.Series(
        prediction_column(load_model(model_bytes), train, list(features), problem_type, n_classes),
        index=train.index)
    kinds[PREDICTION] = prediction_kind(problem_type)
    if target and target in train.columns:
        columns[target] = train[target]
        kinds[target] = label_kind(problem_type)
    return build_reference(pd.DataFrame(columns), kinds, source_rows=len(rows))


class _HashingWriter:
    """A binary file that hashes what goes through it, so the profile is hashed as it is
    written rather than read back."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)


def profile_task(payload: dict[str, Any], progress: Progress, should_stop: ShouldStop) -> dict[str, Any]:
    """The worker side of registering a model version: profile its training data for drift.

    Runs in a worker process (plain data in, plain data out, no database). The profile is
    streamed to ``payload["out_path"]``, a file the parent created inside the artifact store,
    which moves it in under the SHA-256 returned here once it has checked it; only the hash,
    the size and what was profiled travel back.
    """
    from app.ml.errors import TrainingCancelled
    from app.ml.tabular import read_table

    progress(0.05, "reading the training data")
    frame = read_table(payload["dataset_path"])
    with open(payload["model_path"], "rb") as fh:
        model_bytes = fh.read()
    if should_stop():
        raise TrainingCancelled()
    progress(0.35, "scoring and profiling the training rows")
    profile = build_model_reference(
        frame, payload["rows"], dict(payload["features"]), model_bytes=model_bytes,
        problem_type=payload["problem_type"], target=payload.get("target"), n_classes=payload.get("n_classes", 0))
    del frame
    if should_stop():
        raise TrainingCancelled()
    progress(0.85, "writing the reference profile")
    with open(payload["out_path"], "wb") as raw:
        writer = _HashingWriter(raw)
        profile.write(writer)  # type: ignore[arg-type]  # a write-only binary stream is all it needs
        raw.flush()
        os.fsync(raw.fileno())
    progress(1.0, "reference profile written")
    return {"sha256": writer.digest.hexdigest(), "bytes": writer.size, "rows": profile.n_rows,
            "sample_rows": profile.sample_rows, "profiled": profile.describe()}
