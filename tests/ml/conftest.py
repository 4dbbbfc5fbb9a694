"""Fixtures the training, cross-validation and tuning tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


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
