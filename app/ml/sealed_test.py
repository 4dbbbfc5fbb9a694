"""Worker tasks that open the sealed test part or retrain a run; no database here either."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_task(payload: dict[str, Any], progress: Callable[[float, str], None], should_stop: Callable[[], bool]) -> dict:
    """Score a saved model on the test part of its split; returns metrics only (no predictions kept)."""
    from app.ml.training import TrainingSpec, score_on_test

    progress(0.1, "loading the model and the test rows")
    score = score_on_test(payload["model_bytes"], TrainingSpec(**payload["spec"]))
    progress(1.0, "scored on the sealed test part")
    return dict(score.metrics)
