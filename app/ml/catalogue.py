"""The words of model development, as data: problem types, the model ladder, the metric each
problem type is judged on, and which way every metric is better.

This is the one definition the whole workbench reads: the trainer and the statistics in
``app.ml``, the gates and services, the screens, the reports and the CLI. It imports no numeric
library (numpy, pandas, scikit-learn), so a screen, a gate or a report can name a kind, a rung
or a metric without loading the 1.6 s of scikit-learn that training needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --------------------------------------------------------------------------- problem types

#: Every problem type a project may declare in its problem statement (stage 1).
PROBLEM_TYPES: tuple[str, ...] = (
    "binary_classification",
    "multiclass_classification",
    "regression",
    "ranking",
    "clustering",
    "anomaly_detection",
    "forecasting",
)

_CLASSIFICATION = ("binary_classification", "multiclass_classification")


# --------------------------------------------------------------------------- the model ladder


@dataclass(frozen=True)
class ModelKind:
    """One rung of the ladder: what it is and which problem types it can be trained for."""

    kind: str
    rung: str  # "baseline" | "simple" | "complex"
    problem_types: tuple[str, ...]
    description: str


#: The rungs, bottom up: a candidate has to beat the rungs below it.
RUNGS: tuple[str, ...] = ("baseline", "simple", "complex")

#: Every model kind the workbench trains, in catalogue order (baselines of each rung first).
LADDER: tuple[ModelKind, ...] = (
    ModelKind("majority_baseline", "baseline", _CLASSIFICATION,
              "Predicts the training class frequencies for every row; nothing is learned from features"),
    ModelKind("mean_baseline", "baseline", ("regression",),
              "Predicts the training mean of the target for every row"),
    ModelKind("popularity_baseline", "baseline", ("binary_classification", "ranking"),
              "Rule: score = one named baseline feature, no fitting (the heuristic)"),
    ModelKind("logistic_regression", "simple", (*_CLASSIFICATION, "ranking"),
              "Scaled numerics + one-hot categoricals into a logistic regression"),
    ModelKind("linear_regression", "simple", ("regression",),
              "Scaled numerics + one-hot categoricals into a ridge (L2) linear regression"),
    ModelKind("decision_tree", "simple", (*_CLASSIFICATION, "regression", "ranking"),
              "One depth-limited decision tree on ordinal-coded categoricals"),
    ModelKind("kmeans", "simple", ("clustering",),
              "K-means on scaled numerics + one-hot categoricals"),
    ModelKind("hist_gradient_boosting", "complex", (*_CLASSIFICATION, "regression", "ranking"),
              "Histogram gradient boosting with native categorical splits"),
    ModelKind("random_forest", "complex", (*_CLASSIFICATION, "regression", "ranking"),
              "Random forest of 100 depth-limited trees (one thread)"),
    ModelKind("isolation_forest", "complex", ("anomaly_detection",),
              "Isolation forest: rows that are easy to isolate score as anomalies"),
)
KIND_INFO: dict[str, ModelKind] = {m.kind: m for m in LADDER}
#: kind -> description, in catalogue order.
MODEL_KINDS: dict[str, str] = {m.kind: m.description for m in LADDER}
#: kind -> its rung.
RUNG_OF_KIND: dict[str, str] = {m.kind: m.rung for m in LADDER}
#: The kinds on the bottom rung: a run of one of them is a baseline run.
BASELINE_KINDS: frozenset[str] = frozenset(m.kind for m in LADDER if m.rung == "baseline")

#: The problem types some kind of the ladder can be trained for, in ``PROBLEM_TYPES`` order.
#: Forecasting can be declared but no kind fits it yet: the trainer refuses it as an unknown
#: problem type, naming these.
TRAINABLE_PROBLEM_TYPES: tuple[str, ...] = tuple(
    t for t in PROBLEM_TYPES if any(t in m.problem_types for m in LADDER)
)


def check_trainable(problem_type: str) -> None:
    """Refuse a problem type no kind of the ladder can be trained for."""
    if problem_type not in TRAINABLE_PROBLEM_TYPES:
        raise ValueError(
            f"unknown problem type {problem_type!r}: choose one of {', '.join(TRAINABLE_PROBLEM_TYPES)}"
        )


def rung_rank(rung: str) -> int:
    """Position of a rung on the ladder (0 = baseline); an unknown rung sorts above the top."""
    return RUNGS.index(rung) if rung in RUNGS else len(RUNGS)


def model_catalogue() -> list[dict[str, Any]]:
    """Every model kind with its rung, supported problem types and description, ladder order."""
    return [
        {"kind": m.kind, "rung": m.rung, "problem_types": list(m.problem_types),
         "description": m.description}
        for m in LADDER
    ]


def kinds_for(problem_type: str) -> list[str]:
    """The kinds that can be trained for ``problem_type``, baselines first."""
    check_trainable(problem_type)
    ordered = sorted(LADDER, key=lambda m: rung_rank(m.rung))
    return [m.kind for m in ordered if problem_type in m.problem_types]


# --------------------------------------------------------------------------- metrics

#: The metric each trainable problem type is selected (tuning), compared and gated on.
PRIMARY_METRIC: dict[str, str] = {
    "binary_classification": "roc_auc",
    "multiclass_classification": "macro_f1",
    "regression": "r2",
    "ranking": "ndcg_at_10",
    "clustering": "silhouette",
    "anomaly_detection": "roc_auc",
}

#: A declared problem type that cannot be trained yet is judged like the trainable one it is
#: closest to, so its gates and reports still name a metric.
JUDGED_LIKE: dict[str, str] = {"forecasting": "regression"}


def primary_metric(problem_type: str, k: int = 10) -> str:
    """The primary metric's name; for ranking it carries the spec's cut-off (``ndcg_at_5``)."""
    check_trainable(problem_type)
    return f"ndcg_at_{k}" if problem_type == "ranking" else PRIMARY_METRIC[problem_type]


def project_metric(problem_type: str) -> str:
    """The metric a project's runs are judged on, for any stored problem type.

    Forecasting is judged like regression (r2); a type the workbench does not know (a record
    older than the catalogue) falls back to ROC AUC rather than failing a screen or a report.
    """
    return PRIMARY_METRIC.get(JUDGED_LIKE.get(problem_type, problem_type), "roc_auc")


#: Which way is better, for every metric the workbench reports: the model metrics of
#: ``app.ml.metrics.metrics_for`` (and ``ndcg_at_<k>`` for every k, not only 10), the error
#: rates monitoring computes on labelled production rows, and the serving figures SLA rules
#: watch. A name not listed describes the data rather than the model (the base rate, row
#: counts): it has no better direction.
GREATER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "accuracy": True,
    "f1": True,
    "brier": False,
    "ctr_at_top10pct": True,
    "macro_f1": True,
    "roc_auc_ovr": True,
    "r2": True,
    "rmse": False,
    "mae": False,
    "ndcg_at_10": True,
    "silhouette": True,
    "davies_bouldin": False,
    "calinski_harabasz": True,
    "share_flagged": False,
    "precision": True,
    "recall": True,
    "false_positive_rate": False,
    "false_negative_rate": False,
    "latency_p50_ms": False,
    "latency_p99_ms": False,
    "error_rate": False,
}
_PARTS = ("train_", "val_", "test_", "cv_")


def metric_direction(name: str) -> bool | None:
    """True when higher is better, False when lower is, None for a metric without a direction.

    Accepts part prefixes (``val_brier``) and any ``ndcg_at_k``.
    """
    for prefix in _PARTS:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if name.startswith("ndcg_at_"):
        return True
    return GREATER_IS_BETTER.get(name)


def greater_is_better(name: str) -> bool:
    """Direction of a metric one selects or compares on; refuses a name without a direction."""
    direction = metric_direction(name)
    if direction is None:
        raise ValueError(f"unknown metric {name!r}: known ones are {', '.join(GREATER_IS_BETTER)}")
    return direction


def lower_is_better(name: str) -> bool:
    """True for errors and losses (RMSE, log loss, Brier, false-positive rate, latency, ...)."""
    return metric_direction(name) is False
