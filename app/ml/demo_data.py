"""Synthetic click data for the demo project: who clicks on which recommended item.

The click model is built so the baseline ladder tells a story: popularity alone ranks a little
better than chance (the heuristic from the problem statement), a linear model using all four
features does clearly better, and a tree ensemble does better still because much of the signal
is in interactions (age x genre, location x genre) that a linear model cannot represent.
``drift`` moves the feature distributions, not the click rule, so monitoring shows data drift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LOCATIONS: tuple[str, ...] = ("Lisbon", "Berlin", "Warsaw", "Madrid", "Dublin", "Vienna")
NEW_LOCATION = "Oslo"  # only appears once drift > 0: a market the model never saw
GENRES: tuple[str, ...] = ("drama", "comedy", "action", "documentary", "horror", "romance")

_LOCATION_SHARE = np.array([0.25, 0.20, 0.18, 0.15, 0.12, 0.10])
_GENRE_SHARE = np.array([0.22, 0.22, 0.18, 0.12, 0.13, 0.13])
_GENRE_SHARE_DRIFTED = np.array([0.10, 0.15, 0.30, 0.05, 0.28, 0.12])

# Taste of each location for each genre (rows: LOCATIONS, columns: GENRES), in log-odds.
_LOCATION_GENRE = np.array(
    [
        [0.2, -0.4, -0.6, 0.1, -0.8, 1.4],
        [0.1, -0.2, -0.6, 1.4, -0.3, -0.8],
        [-0.8, 1.0, 0.6, 0.1, 1.0, -1.0],
        [1.2, -0.8, 0.2, -0.6, -0.2, 0.6],
        [-0.6, 1.4, -0.2, -0.4, -0.6, 0.3],
        [1.0, -0.6, -0.8, 0.7, -0.9, 0.0],
    ]
)
# How the taste for each genre changes from young (18) to old (80) users, in log-odds.
_AGE_SLOPE = np.array([1.2, 0.0, -2.2, 1.8, -2.6, 0.4])
# Main effects a linear model can learn: some genres and markets click more overall.
_GENRE_MAIN = np.array([0.0, 0.5, 0.3, -0.9, -0.4, 0.2])
_LOCATION_MAIN = np.array([0.0, -0.5, 0.4, 0.2, 0.7, -0.7])
_INTERCEPT = -2.6


def generate_interactions(n: int, *, seed: int, drift: float = 0.0) -> pd.DataFrame:
    """Return ``n`` user-item impressions with a 0/1 ``clicked`` label.

    Deterministic for a seed. ``drift`` in [0, 1]: 0 is the training distribution; larger
    values move users older, add a new location, shift the genre mix towards action and
    horror, and make the shown items more popular. The new location grows with drift squared
    so small drift stays small on PSI while strong drift is unmistakable.
    """
    if n < 0:
        raise ValueError(f"n must be zero or more, got {n}")
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be between 0 and 1, got {drift}")
    rng = np.random.default_rng(seed)

    age = np.clip(np.rint(rng.normal(36.0 + 16.0 * drift, 12.0, n)), 18, 80).astype("int64")

    new_share = 0.35 * drift**2
    location_p = np.append(_LOCATION_SHARE * (1.0 - new_share), new_share)
    location_idx = rng.choice(len(location_p), size=n, p=location_p)

    genre_p = (1.0 - drift) * _GENRE_SHARE + drift * _GENRE_SHARE_DRIFTED
    genre_idx = rng.choice(len(GENRES), size=n, p=genre_p / genre_p.sum())

    popularity = rng.beta(2.0 + 3.0 * drift, 5.0, n)

    age01 = (age - 18) / 62.0
    known = location_idx < len(LOCATIONS)
    taste = _GENRE_MAIN[genre_idx]
    taste[known] += (
        _LOCATION_MAIN[location_idx[known]]
        + _LOCATION_GENRE[location_idx[known], genre_idx[known]]
    )
    logit = (
        _INTERCEPT
        + 2.4 * popularity
        - 1.2 * age01
        + taste
        + _AGE_SLOPE[genre_idx] * (age01 - 0.3)
    )
    clicked = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")

    names = np.array((*LOCATIONS, NEW_LOCATION), dtype=object)
    return pd.DataFrame(
        {
            "user_age": age,
            "user_location": pd.array(names[location_idx], dtype="str"),
            "item_genre": pd.array(np.array(GENRES, dtype=object)[genre_idx], dtype="str"),
            "item_popularity": np.round(popularity, 6),
            "clicked": clicked,
        }
    )
