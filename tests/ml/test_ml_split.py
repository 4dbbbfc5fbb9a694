"""Splits: proportions kept, parts disjoint, time order and groups respected, fingerprint canonical."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ml.errors import DataFileError
from app.ml.split import make_split, split_fingerprint, stratified_split


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


# --- make_split ------------------------------------------------------------------------------


def frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.DataFrame({
        "y": (rng.random(n) < 0.3).astype(int),
        "when": pd.array(times.strftime("%Y-%m-%dT%H:%M:%S")[rng.permutation(n)], dtype="str"),
        "user": rng.integers(0, 40, n),
        "x": rng.normal(size=n),
    })


def check_partition(parts: dict[str, list[int]], n: int, *, complete: bool = True) -> None:
    assert set(parts) == {"train", "validation", "test"}
    assert all(parts[p] for p in parts) and all(parts[p] == sorted(parts[p]) for p in parts)
    everything = parts["train"] + parts["validation"] + parts["test"]
    assert len(set(everything)) == len(everything)
    if complete:
        assert sorted(everything) == list(range(n))


def test_random_split_sizes_and_reproducibility() -> None:
    df = frame()
    parts = make_split(df, "random", seed=3)
    check_partition(parts, 1000)
    assert [len(parts[p]) for p in ("train", "validation", "test")] == [700, 150, 150]
    assert make_split(df, "random", seed=3) == parts
    assert make_split(df, "random", seed=4) != parts


def test_stratified_is_the_stratified_split() -> None:
    df = frame()
    assert make_split(df, "stratified", target="y", seed=2) == stratified_split(df["y"], seed=2)


def test_temporal_split_orders_parts_in_time_and_drops_gap_rows() -> None:
    df = frame()
    times = pd.to_datetime(df["when"])
    parts = make_split(df, "temporal", time_column="when", gap=24)
    check_partition(parts, 1000, complete=False)
    assert sum(len(v) for v in parts.values()) == 1000 - 2 * 24
    train, validation, test = (times.iloc[parts[p]] for p in ("train", "validation", "test"))
    assert train.max() < validation.min() and validation.max() < test.min()
    # hourly rows: a gap of 24 rows leaves exactly one day out between the parts
    assert validation.min() - train.max() == pd.Timedelta(hours=25)
    assert test.min() - validation.max() == pd.Timedelta(hours=25)
    assert make_split(df, "temporal", time_column="when", gap=24, seed=9) == parts


def test_temporal_cut_never_separates_equal_times() -> None:
    df = pd.DataFrame({"day": [d % 10 for d in range(100)], "v": range(100)})  # numeric time
    parts = make_split(df, "temporal", time_column="day", fractions=(0.65, 0.2, 0.15))
    check_partition(parts, 100)
    days = {p: set(df["day"].iloc[rows]) for p, rows in parts.items()}
    # 65 % of rows ends inside day 6, so the cut moves to the start of day 7
    assert days == {"train": set(range(7)), "validation": {7, 8}, "test": {9}}


def test_temporal_refusals() -> None:
    df = frame(50)
    df.loc[3, "when"] = "last tuesday"
    with pytest.raises(DataFileError, match=r"time column 'when' has 1 values that are not dates, "
                                            r"such as 'last tuesday' \(first on row 4\)"):
        make_split(df, "temporal", time_column="when")
    with pytest.raises(DataFileError, match="'stamp' is not in the table"):
        make_split(df, "temporal", time_column="stamp")
    with pytest.raises(DataFileError, match="needs a time column"):
        make_split(df, "temporal")
    two_days = pd.DataFrame({"t": ["2024-01-01"] * 20 + ["2024-01-02"] * 20})
    with pytest.raises(DataFileError, match="2 distinct times in 40 rows, too few"):
        make_split(two_days, "temporal", time_column="t")
    with pytest.raises(DataFileError, match="use a smaller gap"):
        make_split(frame(50), "temporal", time_column="when", gap=30)


def test_group_split_keeps_each_group_in_one_part() -> None:
    df = frame()
    parts = make_split(df, "group", group_column="user", seed=5)
    check_partition(parts, 1000)
    groups = {p: set(df["user"].iloc[rows]) for p, rows in parts.items()}
    assert not groups["train"] & groups["validation"]
    assert not groups["train"] & groups["test"] and not groups["validation"] & groups["test"]
    assert len(parts["train"]) == pytest.approx(700, abs=60)
    assert make_split(df, "group", group_column="user", seed=5) == parts
    assert make_split(df, "group", group_column="user", seed=6) != parts


def test_group_refusals_and_other_bad_requests() -> None:
    df = frame(60)
    df["team"] = ["a", "b"] * 30
    with pytest.raises(DataFileError, match="'team' has 2 distinct groups: a group split needs at least 3"):
        make_split(df, "group", group_column="team")
    df.loc[0, "user"] = None
    with pytest.raises(DataFileError, match="group column 'user' is empty in 1 rows"):
        make_split(df, "group", group_column="user")
    with pytest.raises(DataFileError, match="unknown split strategy 'kfold'"):
        make_split(df, "kfold")
    with pytest.raises(DataFileError, match="sum to"):
        make_split(df, "random", fractions=(0.5, 0.2, 0.2))
    with pytest.raises(DataFileError, match="needs a target"):
        make_split(df, "stratified")


def test_split_fingerprint_of_make_split_is_stable() -> None:
    df = frame()
    assert split_fingerprint(make_split(df, "group", group_column="user")) == split_fingerprint(
        make_split(df, "group", group_column="user"))
