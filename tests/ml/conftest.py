"""Fixtures the training, cross-validation and tuning tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from app.ml.demo_data import generate_interactions
from app.ml.split import stratified_split
from app.ml.training_spec import TrainingSpec



@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread, as in the worker: on a busy 2-core machine more threads make
    the small gradient-boosting fits here tens of times slower."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def click_features() -> dict[str, str]:
    """The features of the demo click data (``generate_interactions``), as a spec declares them."""
    return {
        "user_age": "numeric",
        "user_location": "categorical",
        "item_genre": "categorical",
        "item_popularity": "numeric",
    }


@pytest.fixture(scope="session")
def click_spec(tmp_path_factory: pytest.TempPathFactory, click_features: dict[str, str]) -> Callable[..., tuple[pd.DataFrame, TrainingSpec]]:
    """Write ``rows`` of demo click data (``extend`` may add columns first) and return the frame
    with a spec of ``kind`` on a stratified split; ``fields`` are further spec fields."""

    def make(kind: str, *, rows: int, seed: int, extend: Callable[[pd.DataFrame], None] | None = None,
             **fields: Any) -> tuple[pd.DataFrame, TrainingSpec]:
        frame = generate_interactions(rows, seed=seed)
        if extend is not None:
            extend(frame)
        path = tmp_path_factory.mktemp("clicks") / "clicks.csv"
        frame.to_csv(path, index=False)
        return frame, TrainingSpec(kind=kind, dataset_path=str(path), target="clicked", features=click_features,
                                   assignments=stratified_split(frame["clicked"].tolist(), seed=seed), seed=seed,
                                   **fields)

    return make
