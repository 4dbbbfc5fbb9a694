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
