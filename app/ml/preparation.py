"""Preparing a dataset for a training spec: the feature frame, the target encoded for the problem
type, groups, time and the checked parts of the split.

Everything a user can get wrong in the data is refused here with a ``DataFileError`` that says
what to fix, before any model is built; training, cross-validation, tuning, the sealed test
and the error analysis all read their rows through ``prepare_data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.ml.errors import DataFileError
from app.ml.training_spec import TrainingSpec

_MAX_CLASSES = 50
# Problem types whose train part must hold at least two values of the target.
_CLASSES_NEEDED = ("binary_classification", "multiclass_classification", "ranking")


@dataclass
class PreparedData:
    """The dataset read once: features, encoded target and the checked parts."""

    X: pd.DataFrame
    y: np.ndarray | None
    parts: dict[str, np.ndarray]
    positive: str = "1"
    classes: list[str] = field(default_factory=list)
    groups: np.ndarray | None = None
    time: pd.Series | None = None


def prepare_data(frame: pd.DataFrame, spec: TrainingSpec) -> PreparedData:
    """The feature frame, the target encoded for the problem type, groups, time and parts."""
    names = list(spec.features)
    if not names:
        raise ValueError("the spec has no features: choose at least one feature column")
    has_target = bool(spec.target) and spec.problem_type != "clustering"
    if not spec.target and spec.problem_type not in ("clustering", "anomaly_detection"):
        raise ValueError(f"{spec.problem_type} needs a target column: name it in the spec")
    extra = [c for c in (spec.group_column, spec.time_column) if c]
    needed = [*([spec.target] if has_target else []), *names, *extra]
    absent = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if absent:
        raise DataFileError(
            f"the dataset has no column {', '.join(map(repr, absent))}: check the feature spec "
            "against the dataset's schema"
        )
    if spec.target and spec.target in spec.features:
        raise DataFileError(
            f"the target {spec.target!r} is also listed as a feature: remove it from the features"
        )
    for name, kind in spec.features.items():
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"feature {name!r} has kind {kind!r}: use 'numeric' or 'categorical'")
    X = frame[names].copy()
    for name, kind in spec.features.items():
        if kind == "numeric":
            converted = pd.to_numeric(X[name], errors="coerce")
            bad = int((converted.isna() & X[name].notna()).sum())
            if bad:
                raise DataFileError(
                    f"feature {name!r} is declared numeric but {bad} values are not numbers: "
                    "declare it categorical or clean those values"
                )
            X[name] = converted.astype("float64")
    y: np.ndarray | None = None
    positive = "1"
    classes: list[str] = []
    if has_target:
        target = frame[spec.target]
        if spec.problem_type in ("binary_classification", "ranking", "anomaly_detection"):
            y, positive = _binary_target(target, spec.target)
        elif spec.problem_type == "multiclass_classification":
            y, classes = _class_codes(target, spec.target)
        else:
            y = _numeric_target(target, spec.target)
    if spec.kind == "popularity_baseline":
        if not spec.baseline_feature:
            raise ValueError(
                "popularity_baseline needs baseline_feature: name the feature the rule ranks by"
            )
        if spec.features.get(spec.baseline_feature) != "numeric":
            raise DataFileError(
                f"the baseline feature {spec.baseline_feature!r} must be one of the numeric "
                "features: add it to the features as numeric or pick another"
            )
    groups = None
    if spec.group_column:
        raw = frame[spec.group_column]
        if raw.isna().any():
            raise DataFileError(
                f"the group column {spec.group_column!r} is missing in {int(raw.isna().sum())} rows: "
                "fill or drop them before training"
            )
        groups = raw.astype(str).to_numpy(dtype=object)
    time_values = _time_values(frame[spec.time_column], spec.time_column) if spec.time_column else None
    parts = _checked_parts(spec.assignments, len(frame))
    train_rows = parts["train"]
    if y is not None and spec.problem_type in _CLASSES_NEEDED:
        if len(np.unique(y[train_rows])) < 2:
            raise DataFileError(
                f"the train part has only one value of {spec.target!r}: use a stratified split"
            )
    return PreparedData(X=X, y=y, parts=parts, positive=positive, classes=classes,
                        groups=groups, time=time_values)


def _binary_target(target: pd.Series, name: str) -> tuple[np.ndarray, str]:
    """Re-code a two-valued target to 0/1; 1/True is positive, otherwise the larger value."""
    _refuse_missing(target, name)
    values = pd.unique(target)
    if len(values) != 2:
        shown = ", ".join(repr(v) for v in list(values)[:5])
        raise DataFileError(
            f"the target {name!r} has {len(values)} distinct values ({shown}) but training "
            "needs exactly two: choose a binary target or derive one"
        )
    plain = [v.item() if isinstance(v, np.generic) else v for v in values]
    if set(plain) == {0, 1}:  # also True/False, since True == 1
        positive = next(v for v in plain if v == 1)
    else:
        positive = max(plain, key=lambda v: str(v))
    y = (target.to_numpy(dtype=object) == positive).astype("int64")
    return y, str(positive)


def _class_codes(target: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """Codes 0..C-1 for a multiclass target, classes ordered by their text (stable across runs)."""
    _refuse_missing(target, name)
    text = target.map(lambda v: str(v.item() if isinstance(v, np.generic) else v))
    classes = sorted(pd.unique(text), key=str)
    if len(classes) < 3:
        raise DataFileError(
            f"the target {name!r} has {len(classes)} distinct values: multiclass needs at least "
            "three, use binary_classification"
        )
    if len(classes) > _MAX_CLASSES:
        raise DataFileError(
            f"the target {name!r} has {len(classes)} distinct values, more than {_MAX_CLASSES}: "
            "for a number use regression, otherwise group rare classes"
        )
    index = {c: i for i, c in enumerate(classes)}
    return text.map(index).to_numpy(dtype="int64"), [str(c) for c in classes]


def _numeric_target(target: pd.Series, name: str) -> np.ndarray:
    _refuse_missing(target, name)
    converted = pd.to_numeric(target, errors="coerce")
    bad = int(converted.isna().sum())
    if bad:
        raise DataFileError(
            f"the target {name!r} has {bad} values that are not numbers: regression needs a "
            "numeric target"
        )
    values = converted.to_numpy(dtype="float64")
    if not np.all(np.isfinite(values)):
        raise DataFileError(f"the target {name!r} has infinite values: clean them before training")
    return values


def _refuse_missing(target: pd.Series, name: str) -> None:
    missing = int(target.isna().sum())
    if missing:
        raise DataFileError(
            f"the target {name!r} is missing in {missing} rows: fill or drop them before training"
        )


def _time_values(column: pd.Series, name: str) -> pd.Series:
    """A sortable time column: numbers as they are, anything else parsed as dates."""
    if column.isna().any():
        raise DataFileError(
            f"the time column {name!r} is missing in {int(column.isna().sum())} rows: fill or "
            "drop them before time-ordered validation"
        )
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return column.reset_index(drop=True)
    try:
        return pd.to_datetime(column, format="mixed").reset_index(drop=True)
    except (ValueError, TypeError) as exc:
        raise DataFileError(
            f"the time column {name!r} is neither numbers nor dates ({exc}): pick another column"
        ) from exc


def _checked_parts(assignments: dict[str, list[int]], n_rows: int) -> dict[str, np.ndarray]:
    """Row positions per part, refusing unknown positions and overlap between parts."""
    if not assignments.get("train"):
        raise ValueError("the split has no train rows: make a split before training")
    parts = {name: np.asarray(sorted(rows), dtype=np.int64) for name, rows in assignments.items()}
    for name, rows in parts.items():
        if len(rows) and (rows[0] < 0 or rows[-1] >= n_rows):
            raise DataFileError(
                f"the {name} part refers to rows outside the dataset's {n_rows} rows: "
                "the split belongs to another dataset version, make a new split"
            )
    names = list(parts)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            shared = np.intersect1d(parts[first], parts[second])
            if len(shared):
                raise DataFileError(
                    f"the {first} and {second} parts share {len(shared)} rows: make a new split "
                    "without overlap"
                )
    return parts
