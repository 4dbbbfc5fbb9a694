"""Cross-validation inside the train part: how stable a kind's metrics are across folds.

Only train rows are folded; validation and test are not touched. Folds are KFold,
StratifiedKFold or TimeSeriesSplit (train rows in ``time_column`` order, each fold validating
on rows later than all it was fitted on). For ranking the rows of one group never straddle
two folds (GroupKFold / StratifiedGroupKFold), since NDCG is computed within a group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    TimeSeriesSplit,
)

from app.ml.errors import DataFileError, TrainingCancelled
from app.ml.fitting import evaluate, fit_model
from app.ml.model_building import build_model
from app.ml.preparation import PreparedData, prepare_data
from app.ml.training_spec import TrainingSpec, check_spec


def fold_indices(spec: TrainingSpec, data: PreparedData) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, validation rows) per fold, as dataset row positions within the train part."""
    cv = spec.cv or {}
    kind = cv.get("kind", "kfold")
    k = int(cv.get("k", 5))
    train_rows = data.parts["train"]
    if len(train_rows) < 2 * k:
        raise DataFileError(
            f"the train part has {len(train_rows)} rows, too few for {k} folds: use fewer folds"
        )
    if kind == "timeseries":
        assert data.time is not None  # check_spec requires time_column
        order = train_rows[np.argsort(data.time.iloc[train_rows].to_numpy(), kind="stable")]
        for fit, val in TimeSeriesSplit(n_splits=k).split(order):
            yield order[fit], order[val]
        return
    groups = data.groups[train_rows] if (spec.problem_type == "ranking" and data.groups is not None) else None
    if groups is not None and len(np.unique(groups)) < k:
        raise DataFileError(
            f"the train part has {len(np.unique(groups))} groups, too few for {k} folds: use fewer folds"
        )
    y = None if data.y is None else data.y[train_rows]
    if kind == "stratified":
        if y is None:
            raise ValueError("stratified folds need a target: use 'kfold'")
        _, counts = np.unique(y, return_counts=True)
        if counts.min() < k:
            raise DataFileError(
                f"the rarest class has {counts.min()} train rows, too few for {k} stratified folds: "
                "use fewer folds"
            )
        splitter: Any = (StratifiedGroupKFold(k, shuffle=True, random_state=spec.seed)
                         if groups is not None else StratifiedKFold(k, shuffle=True, random_state=spec.seed))
        split = splitter.split(train_rows, y, groups)
    elif groups is not None:
        split = GroupKFold(k, shuffle=True, random_state=spec.seed).split(train_rows, y, groups)
    else:
        split = KFold(k, shuffle=True, random_state=spec.seed).split(train_rows)
    for fit, val in split:
        yield train_rows[fit], train_rows[val]


def cross_validate_spec(
    spec: TrainingSpec,
    data: PreparedData | None = None,
    *,
    params: dict[str, Any] | None = None,
    progress: Callable[[float, str], None] = lambda f, m: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, dict[str, Any]]:
    """Per metric {"mean", "std", "folds": [...]} over the folds of ``spec.cv`` in the train part.

    ``params`` override the spec's hyper-parameters (tuning passes its best ones). Progress is
    reported per fold as a fraction of the CV; ``should_stop`` is checked before every fold
    and raises ``TrainingCancelled``. A metric missing in any fold is left out; std is the
    sample standard deviation (ddof=1) over folds.
    """
    check_spec(spec)
    if not spec.cv:
        raise ValueError("the spec has no cv settings: pass cv={'kind': 'kfold', 'k': 5}")
    if data is None:
        from app.ml.tabular import read_table

        data = prepare_data(read_table(spec.dataset_path), spec)
    k = int(spec.cv.get("k", 5))
    per_fold: list[dict[str, float]] = []
    for number, (fit_rows, val_rows) in enumerate(fold_indices(spec, data)):
        if should_stop():
            raise TrainingCancelled(f"cross-validation cancelled before fold {number + 1}/{k}")
        progress(number / k, f"cross-validation fold {number + 1}/{k}")
        if data.y is not None and spec.problem_type != "regression" and len(np.unique(data.y[fit_rows])) < 2:
            raise DataFileError(
                f"cross-validation fold {number + 1} has one class only: use stratified folds or fewer folds"
            )
        model = fit_model(build_model(spec, params), data, fit_rows, spec.kind)
        per_fold.append(evaluate(model, data, val_rows, spec))
    if should_stop():
        raise TrainingCancelled("cross-validation cancelled after the last fold")
    progress(1.0, f"cross-validation done ({k} folds)")
    names = [n for n in per_fold[0] if all(n in fold for fold in per_fold)] if per_fold else []
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        values = np.asarray([fold[name] for fold in per_fold], dtype="float64")
        out[name] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "folds": [float(v) for v in values],
        }
    return out
