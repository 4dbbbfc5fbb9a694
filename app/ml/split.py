"""Stratified train / validation / test splits and their fingerprint.

A split is stored as row positions, not as copied data, so the lineage record stays small and a
reviewer can re-derive exactly which rows each model saw. The fingerprint lets a gate check
that two runs claiming the same split really used the same rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from app.ml.errors import DataFileError

PART_NAMES: tuple[str, str, str] = ("train", "validation", "test")


def stratified_split(
    y: Sequence,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> dict[str, list[int]]:
    """Split row positions into train / validation / test, keeping class proportions.

    Two calls to ``train_test_split``: the test part is cut first, then validation from the
    rest, so changing the validation fraction never changes which rows are in test.
    """
    fractions = _checked_fractions(fractions)
    train_f, val_f, test_f = fractions
    codes, labels = pd.factorize(pd.Series(list(y), dtype=object), use_na_sentinel=True)
    if len(codes) == 0:
        raise DataFileError("the target has no rows to split: import data with rows first")
    n_missing = int((codes < 0).sum())
    if n_missing:
        raise DataFileError(
            f"the target is missing in {n_missing} rows: fill or drop them before splitting"
        )
    if len(labels) < 2:
        raise DataFileError(
            f"the target has a single value {labels[0]!r}: a stratified split needs at least "
            "two classes"
        )
    _check_class_sizes(codes, labels, fractions)
    positions = np.arange(len(codes))
    try:
        rest, test = train_test_split(
            positions, test_size=test_f, stratify=codes, random_state=seed, shuffle=True
        )
        train, validation = train_test_split(
            rest,
            test_size=val_f / (train_f + val_f),
            stratify=codes[rest],
            random_state=seed,
            shuffle=True,
        )
    except ValueError as exc:  # sklearn's own size checks, in case ours let one through
        raise DataFileError(f"the split cannot be made ({exc}): use more rows or other fractions") from exc
    return {
        "train": sorted(int(i) for i in train),
        "validation": sorted(int(i) for i in validation),
        "test": sorted(int(i) for i in test),
    }


def _checked_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    """Refuse fractions that do not make three non-empty parts summing to one."""
    if len(fractions) != 3:
        raise DataFileError(
            f"split fractions must be three numbers (train, validation, test), got {len(fractions)}"
        )
    values = tuple(float(f) for f in fractions)
    if any(not (0.0 < f < 1.0) for f in values):
        raise DataFileError(
            f"split fractions {values} must each be between 0 and 1: give every part some rows"
        )
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise DataFileError(
            f"split fractions {values} sum to {sum(values):.4g}, not 1: adjust them"
        )
    return values  # type: ignore[return-value]


def _check_class_sizes(
    codes: np.ndarray, labels: pd.Index, fractions: tuple[float, float, float]
) -> None:
    """Require enough rows of each class for every part to get at least one of them."""
    needed = math.ceil(1.0 / min(fractions) - 1e-9)
    needed = max(needed, 3)
    counts = np.bincount(codes, minlength=len(labels))
    for label, count in zip(labels, counts):
        if count < needed:
            raise DataFileError(
                f"class {label!r} has only {int(count)} rows but this split needs at least "
                f"{needed} per class: collect more rows of it or use larger fractions"
            )


def split_fingerprint(assignments: dict[str, list[int]]) -> str:
    """SHA-256 over a canonical JSON of the parts (names sorted, positions sorted, as ints).

    Order of keys and of positions does not matter, so a split read back from the database
    fingerprints the same as the one that was computed.
    """
    canonical = {str(part): sorted(int(i) for i in rows) for part, rows in assignments.items()}
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


SPLIT_STRATEGIES: tuple[str, ...] = ("random", "stratified", "temporal", "group")


def make_split(
    df: pd.DataFrame,
    strategy: str,
    *,
    target: str | None = None,
    time_column: str | None = None,
    group_column: str | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    gap: int = 0,
) -> dict[str, list[int]]:
    """Row positions of train / validation / test for one of four strategies.

    * "random": a seeded shuffle cut by ``fractions``.
    * "stratified": ``stratified_split`` on ``target`` (class proportions kept in every part).
    * "temporal": rows ordered by ``time_column`` (dates parsed; numbers used as they are), the
      oldest ``fractions[0]`` for train, then validation, then the newest for test, so the
      model is evaluated on a future it never saw. A cut never separates rows with the same
      timestamp (it moves later until the time changes), so every train time is strictly
      before every validation time, which is strictly before every test time. ``gap`` counts
      rows, in time order, dropped after train and again after validation (they are in no
      part): rows, not time units, because the fractions count rows too and a row gap works
      for dates and plain numbers alike. Use it when a label takes time to mature.
    * "group": every value of ``group_column`` (a user, a patient) lands in exactly one part,
      so the model is never tested on someone it trained on. Groups are shuffled with ``seed``
      and taken in that order until each part has its share of rows.

    Every part comes back sorted and non-empty; a bad request is a ``DataFileError``.
    """
    if strategy not in SPLIT_STRATEGIES:
        raise DataFileError(
            f"unknown split strategy {strategy!r}: choose one of {', '.join(SPLIT_STRATEGIES)}"
        )
    fractions = _checked_fractions(fractions)
    if int(gap) != gap or gap < 0:
        raise DataFileError(f"the gap must be a whole number of rows, 0 or more, got {gap!r}")
    n = len(df)
    if strategy == "stratified":
        return stratified_split(_column(df, target, "target", strategy).tolist(),
                                fractions=fractions, seed=seed)
    if n < 3:
        raise DataFileError(f"the table has {n} rows: a split needs at least 3, one per part")
    if strategy == "random":
        order = np.random.default_rng(seed).permutation(n)
        cuts = _cuts(n, fractions)
        return _parts(order[: cuts[0]], order[cuts[0]: cuts[1]], order[cuts[1]:])
    if strategy == "temporal":
        times = parse_times(_column(df, time_column, "time column", strategy))
        return _temporal(times, fractions, int(gap))
    groups = _column(df, group_column, "group column", strategy)
    return _grouped(groups, fractions, seed)


def parse_times(series: pd.Series) -> pd.Series:
    """A time column as sortable values: datetimes as they are, numbers as they are, text parsed.

    Text must parse as dates in every non-empty row, otherwise the order of the unparsable rows
    would be a guess; missing times are refused for the same reason.
    """
    name = str(series.name)
    n_missing = int(series.isna().sum())
    if n_missing:
        raise DataFileError(
            f"time column {name!r} is empty in {n_missing:,} rows: fill or drop them, a "
            "temporal split cannot place rows without a time"
        )
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.reset_index(drop=True)
    text = series.astype("str").str.strip().reset_index(drop=True)
    try:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    except (ValueError, TypeError):
        parsed = pd.Series(pd.NaT, index=text.index)
    if parsed.isna().any():
        try:
            mixed = pd.to_datetime(text, format="mixed", errors="coerce", utc=True)
        except (ValueError, TypeError):
            mixed = parsed
        parsed = parsed.fillna(mixed) if mixed.notna().sum() > parsed.notna().sum() else parsed
    bad = parsed.isna()
    if bad.any():
        examples = ", ".join(repr(v) for v in text[bad].unique()[:3])
        raise DataFileError(
            f"time column {name!r} has {int(bad.sum()):,} values that are not dates, such as "
            f"{examples} (first on row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}): "
            "use ISO dates like 2024-01-31"
        )
    return parsed


def _column(df: pd.DataFrame, column: str | None, role: str, strategy: str) -> pd.Series:
    """The named column, or a refusal that lists what is there."""
    if column is None:
        raise DataFileError(f"a {strategy} split needs a {role}: name one")
    if column not in df.columns:
        raise DataFileError(
            f"{role} {column!r} is not in the table (columns: "
            f"{', '.join(map(str, df.columns))}): choose one of them"
        )
    return df[column]


def _cuts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    """End positions of train and validation for ``n`` ordered rows, each part non-empty."""
    first = min(max(int(round(n * fractions[0])), 1), n - 2)
    second = min(max(int(round(n * (fractions[0] + fractions[1]))), first + 1), n - 1)
    return first, second


def _parts(train: np.ndarray, validation: np.ndarray, test: np.ndarray) -> dict[str, list[int]]:
    return {
        "train": sorted(int(i) for i in train),
        "validation": sorted(int(i) for i in validation),
        "test": sorted(int(i) for i in test),
    }


def _temporal(times: pd.Series, fractions: tuple[float, float, float], gap: int) -> dict[str, list[int]]:
    """Cut time-ordered rows, moving each cut to a change of time, dropping ``gap`` rows after."""
    n = len(times)
    order = np.argsort(times.to_numpy(), kind="stable")
    ordered = times.to_numpy()[order]
    # boundary[i] is True when row i (in time order) has a later time than row i - 1
    boundary = np.zeros(n + 1, dtype=bool)
    boundary[1:n] = ordered[1:] != ordered[:-1]
    boundary[0] = boundary[n] = True
    change = np.flatnonzero(boundary)  # positions where a new time starts, and n

    def next_change(position: int) -> int:
        return int(change[np.searchsorted(change, position)]) if position <= n else n

    usable = n - 2 * gap
    if usable < 3:
        raise DataFileError(
            f"a gap of {gap} rows twice leaves {max(usable, 0)} of {n} rows: use a smaller gap"
        )
    first = max(int(round(usable * fractions[0])), 1)
    second = max(int(round(usable * fractions[1])), 1)
    train_end = next_change(first)
    validation_start = next_change(train_end + gap)
    validation_end = next_change(validation_start + second)
    test_start = next_change(validation_end + gap)
    if not (0 < train_end <= validation_start < validation_end <= test_start < n):
        distinct = len(change) - 1
        raise DataFileError(
            f"the time column has {distinct:,} distinct times in {n:,} rows, too few to cut into "
            f"train, validation and test{' with a gap of ' + str(gap) + ' rows' if gap else ''}: "
            "use finer timestamps, other fractions or a smaller gap"
        )
    return _parts(order[:train_end], order[validation_start:validation_end], order[test_start:])


def _grouped(groups: pd.Series, fractions: tuple[float, float, float], seed: int) -> dict[str, list[int]]:
    """Shuffle the groups and fill train, then validation, then test, by rows."""
    name = str(groups.name)
    n_missing = int(groups.isna().sum())
    if n_missing:
        raise DataFileError(
            f"group column {name!r} is empty in {n_missing:,} rows: fill them, every row must "
            "belong to a group"
        )
    codes, uniques = pd.factorize(groups.reset_index(drop=True), sort=True)
    k = len(uniques)
    if k < 3:
        raise DataFileError(
            f"group column {name!r} has {k} distinct groups: a group split needs at least 3 "
            "(one per part), and many more for stable estimates"
        )
    order = np.random.default_rng(seed).permutation(k)
    sizes = np.bincount(codes, minlength=k)[order]
    ends = np.cumsum(sizes)  # rows covered after taking groups order[: i + 1]
    n = int(ends[-1])
    first = int(np.searchsorted(ends, fractions[0] * n)) + 1  # groups in train
    first = min(max(first, 1), k - 2)
    second = int(np.searchsorted(ends, (fractions[0] + fractions[1]) * n)) + 1
    second = min(max(second, first + 1), k - 1)
    part_of_group = np.empty(k, dtype=np.int8)
    part_of_group[order[:first]] = 0
    part_of_group[order[first:second]] = 1
    part_of_group[order[second:]] = 2
    part = part_of_group[codes]
    positions = np.arange(len(codes))
    return _parts(positions[part == 0], positions[part == 1], positions[part == 2])
