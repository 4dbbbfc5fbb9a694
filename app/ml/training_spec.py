"""What a worker needs to train one run: the spec (plain data, so it pickles across the process
boundary), the check that its parts fit together, and the callbacks a run reports through.

Imports no numeric library: the spec is built and checked in the parent as well as in the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.ml.catalogue import KIND_INFO, MODEL_KINDS, check_trainable, kinds_for

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class TrainingSpec:
    """Everything a worker process needs to train one run; plain data, so it pickles.

    ``target`` may be "" for clustering and for anomaly detection without labels.
    ``cv``: {"kind": "kfold" | "stratified" | "timeseries", "k": 5} on the train part.
    ``tune``: {"method": "grid" | "random" | "bayes", "trials": 20, "space": {...}} selecting
    on the validation part. ``k`` is the cut-off of NDCG@k for ranking. ``extra_metrics`` are the
    metrics this project's runs also record (``app.ml.metrics.metrics_for``'s ``extra``): a
    click-through project's ``ctr_at_top10pct``, the NDCG cut-off its statement names.
    """

    kind: str
    dataset_path: str
    target: str
    features: dict[str, str]
    assignments: dict[str, list[int]]
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    baseline_feature: str | None = None
    problem_type: str = "binary_classification"
    group_column: str | None = None
    time_column: str | None = None
    cv: dict[str, Any] | None = None
    tune: dict[str, Any] | None = None
    k: int = 10
    extra_metrics: list[str] = field(default_factory=list)


#: The kind of a run trained outside the workbench (the `mlwb` tracking module): its spec is only
#: read to prepare the data it was trained and is re-scored on, never to build or fit a model.
EXTERNAL_KIND = "external"


def check_spec(spec: TrainingSpec) -> None:
    """Refuse a spec whose kind, problem type, CV or tuning settings do not fit together."""
    check_trainable(spec.problem_type)
    if spec.kind == EXTERNAL_KIND:
        if spec.problem_type == "ranking" and not spec.group_column:
            raise ValueError("ranking needs group_column: name the column that groups rows (user, session)")
        return
    if spec.kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {spec.kind!r}: choose one of {', '.join(MODEL_KINDS)}")
    if spec.problem_type not in KIND_INFO[spec.kind].problem_types:
        raise ValueError(
            f"{spec.kind} cannot be trained for {spec.problem_type}: choose one of "
            f"{', '.join(kinds_for(spec.problem_type))}"
        )
    if spec.problem_type == "ranking" and not spec.group_column:
        raise ValueError("ranking needs group_column: name the column that groups rows (user, session)")
    if int(spec.k) < 1:
        raise ValueError(f"k (the NDCG cut-off) must be at least 1, got {spec.k}")
    if spec.cv is not None:
        kind = spec.cv.get("kind", "kfold")
        if kind not in ("kfold", "stratified", "timeseries"):
            raise ValueError(f"unknown cv kind {kind!r}: use 'kfold', 'stratified' or 'timeseries'")
        if int(spec.cv.get("k", 5)) < 2:
            raise ValueError(f"cross-validation needs k >= 2 folds, got {spec.cv.get('k')}")
        if kind == "timeseries" and not spec.time_column:
            raise ValueError("time-series cross-validation needs time_column: name the time column")
        if kind == "stratified" and spec.problem_type in ("regression", "clustering"):
            raise ValueError(f"stratified folds need classes; {spec.problem_type} has none: use 'kfold'")
    if spec.tune is not None:
        method = spec.tune.get("method", "random")
        if method not in ("grid", "random", "bayes"):
            raise ValueError(f"unknown tuning method {method!r}: use 'grid', 'random' or 'bayes'")
        if int(spec.tune.get("trials", 20)) < 1:
            raise ValueError("tuning needs at least one trial")
