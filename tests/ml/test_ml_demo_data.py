"""The demo generator: deterministic, in range, with the promised base rate."""

from __future__ import annotations

import pandas as pd
import pytest

from app.ml.demo_data import GENRES, LOCATIONS, NEW_LOCATION, generate_interactions


def test_same_seed_same_frame_other_seed_differs() -> None:
    first = generate_interactions(2000, seed=4)
    pd.testing.assert_frame_equal(first, generate_interactions(2000, seed=4))
    assert not first.equals(generate_interactions(2000, seed=5))


def test_columns_ranges_and_base_rate() -> None:
    frame = generate_interactions(20000, seed=7)
    assert list(frame.columns) == ["user_age", "user_location", "item_genre", "item_popularity", "clicked"]
    assert frame["user_age"].between(18, 80).all()
    assert frame["item_popularity"].between(0, 1).all()
    assert set(frame["user_location"]) == set(LOCATIONS)
    assert set(frame["item_genre"]) == set(GENRES)
    assert set(frame["clicked"]) == {0, 1}
    assert 0.10 <= frame["clicked"].mean() <= 0.20


def test_drift_moves_users_and_adds_a_location() -> None:
    calm = generate_interactions(5000, seed=1)
    drifted = generate_interactions(5000, seed=1, drift=0.8)
    assert drifted["user_age"].mean() > calm["user_age"].mean() + 8
    assert NEW_LOCATION in set(drifted["user_location"])
    assert NEW_LOCATION not in set(calm["user_location"])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="drift"):
        generate_interactions(10, seed=0, drift=1.5)
