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
    from app.ml.training import train_model
    from app.ml.training_spec import TrainingSpec

    return train_model(TrainingSpec(**payload), progress, should_stop)
