"""Stratified splits: proportions kept, parts disjoint, fingerprint canonical."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.errors import DataFileError
from app.ml.split import split_fingerprint, stratified_split


def test_parts_are_disjoint_complete_and_stratified() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.15).astype(int).tolist()
    parts = stratified_split(y, seed=1)
    assert set(parts) == {"train", "validation", "test"}
    everything = parts["train"] + parts["validation"] + parts["test"]
    assert sorted(everything) == list(range(2000))
    assert len(parts["train"]) == pytest.approx(1400, abs=2)
    assert len(parts["test"]) == pytest.approx(300, abs=2)
    overall = np.mean(y)
    for rows in parts.values():
        assert rows == sorted(rows)
        assert np.mean(np.asarray(y)[rows]) == pytest.approx(overall, abs=0.01)


def test_same_seed_same_split_other_seed_differs() -> None:
    y = ["yes", "no"] * 200
    first = stratified_split(y, seed=5)
    assert stratified_split(y, seed=5) == first
    assert stratified_split(y, seed=6) != first


def test_fingerprint_is_canonical() -> None:
    parts = stratified_split([0, 1] * 50, seed=0)
    shuffled = {k: list(reversed(v)) for k, v in reversed(list(parts.items()))}
    assert split_fingerprint(parts) == split_fingerprint(shuffled)
    assert len(split_fingerprint(parts)) == 64
    moved = dict(parts, test=parts["test"][1:], train=parts["train"] + parts["test"][:1])
    assert split_fingerprint(moved) != split_fingerprint(parts)


@pytest.mark.parametrize(
    ("fractions", "words"),
    [((0.7, 0.2, 0.2), "sum to"), ((0.8, 0.0, 0.2), "between 0 and 1")],
)
def test_bad_fractions(fractions: tuple[float, float, float], words: str) -> None:
    with pytest.raises(DataFileError, match=words):
        stratified_split([0, 1] * 50, fractions=fractions)


def test_rare_class_is_named() -> None:
    y = [0] * 100 + [1] * 4
    with pytest.raises(DataFileError, match=r"class 1 has only 4 rows .* at least 7"):
        stratified_split(y)


def test_missing_target_and_single_class() -> None:
    with pytest.raises(DataFileError, match="missing in 1 rows"):
        stratified_split([0, 1] * 20 + [None])
    with pytest.raises(DataFileError, match="single value"):
        stratified_split([1] * 30)
