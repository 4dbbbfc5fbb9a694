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
    "macro_precision": True,
    "macro_recall": True,
    "roc_auc_ovr": True,
    "r2": True,
    "rmse": False,
    "mae": False,
    "mape": False,
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


# --------------------------------------------------------------------------- stated metrics

#: What each trainable problem type's runs record (``app.ml.metrics.metrics_for``), not counting
#: ``ndcg_at_<k>`` for other cut-offs and the domain metrics a project asks for (``DOMAIN_METRICS``).
COMPUTED_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "precision", "recall", "f1"),
    "multiclass_classification": ("accuracy", "macro_f1", "macro_precision", "macro_recall", "log_loss",
                                  "roc_auc_ovr"),
    "regression": ("rmse", "mae", "mape", "r2"),
    "ranking": ("ndcg_at_10", "roc_auc"),
    "clustering": ("silhouette", "davies_bouldin", "calinski_harabasz"),
    "anomaly_detection": ("share_flagged", "roc_auc", "pr_auc"),
}

#: Metrics that only mean something in one domain: computed only for a project that is of that
#: kind (a ranking project, or a project whose statement is about click-through), so a loan or
#: a medical model never reports a click-through rate.
DOMAIN_METRICS: dict[str, tuple[str, ...]] = {"ctr_at_top10pct": ("binary_classification", "ranking")}

#: How a problem statement may name a metric (lower case; "_" and "-" read as spaces), by the
#: metric it means. A statement's ML metric must name exactly one of them.
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "roc_auc": ("roc auc", "auroc", "auc roc", "auc", "area under the roc curve", "roc"),
    "pr_auc": ("pr auc", "auprc", "auc pr", "average precision", "area under the precision recall curve"),
    "precision": ("precision", "positive predictive value", "ppv"),
    "recall": ("recall", "sensitivity", "true positive rate", "tpr", "hit rate"),
    "f1": ("f1", "f1 score", "f score", "f measure"),
    "macro_f1": ("macro f1", "macro averaged f1", "macro f1 score"),
    "accuracy": ("accuracy",),
    "log_loss": ("log loss", "logloss", "logarithmic loss", "cross entropy", "binary cross entropy"),
    "brier": ("brier", "brier score"),
    "rmse": ("rmse", "root mean squared error", "root mean square error"),
    "mae": ("mae", "mean absolute error"),
    "mape": ("mape", "mean absolute percentage error"),
    "r2": ("r2", "r squared", "coefficient of determination"),
    "ndcg_at_k": ("ndcg",),
    "ctr_at_top10pct": ("ctr at top10pct", "ctr at top10%", "ctr at top 10%", "ctr in the top 10%",
                        "ctr of the top 10%", "top 10% ctr", "click through rate at top 10%",
                        "click through rate of the top 10%", "click through rate in the top 10%"),
    "silhouette": ("silhouette", "silhouette score"),
}
#: The metric a statement's name means for a problem type whose runs record it under another
#: name: a multiclass "recall" is the macro average, its "ROC AUC" one-vs-rest.
_PER_TYPE: dict[str, dict[str, str]] = {
    "multiclass_classification": {"f1": "macro_f1", "precision": "macro_precision", "recall": "macro_recall",
                                  "roc_auc": "roc_auc_ovr"},
}
LABELS: dict[str, str] = {
    "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "log_loss": "log loss", "brier": "Brier score", "f1": "F1",
    "macro_f1": "macro F1", "macro_precision": "macro precision", "macro_recall": "macro recall",
    "roc_auc_ovr": "ROC AUC (one-vs-rest)", "rmse": "RMSE", "mae": "MAE", "mape": "MAPE", "r2": "R²",
    "ctr_at_top10pct": "CTR of the top 10%",
}


def metric_label(name: str) -> str:
    """How a metric is written for a reader: "ROC AUC", "recall", "NDCG@5"."""
    if name.startswith("ndcg_at_"):
        return f"NDCG@{name[len('ndcg_at_'):]}"
    return LABELS.get(name, name.replace("_", " "))


def _normal(text: str) -> str:
    import re

    text = text.lower().replace("²", "2").replace("^2", "2").replace("_", " ").replace("-", " ")
    text = re.sub(r"\bndcg\s*(?:@|at)\s*(\d+)", r"ndcg@\1", text)
    text = text.replace("@", " at ")
    return re.sub(r"\s+", " ", text).strip()


#: The metrics a statement may name, as a reader writes them (for an error message).
KNOWN_METRIC_NAMES = ("precision, recall, F1, macro F1, accuracy, ROC AUC, PR AUC, log loss, Brier score, RMSE, "
                      "MAE, MAPE, R², NDCG@k, CTR of the top 10%, silhouette")


def known_metric_names() -> str:
    """The metrics a statement may name, for an error message."""
    return KNOWN_METRIC_NAMES


def stated_metric(text: str) -> str:
    """The metric a problem statement's "ML metric" names: "Recall of fraud cases" → "recall",
    "NDCG@5" → "ndcg_at_5" (plain "NDCG" is NDCG@10).

    Refuses, with the list of known names, text that names no metric or more than one (a
    statement is judged on one metric; name the others in the business metric or elsewhere).
    """
    import re

    normal = _normal(text)
    taken = [False] * len(normal)
    found: list[tuple[int, str]] = []
    phrases = sorted(((alias, name) for name, aliases in METRIC_NAMES.items() for alias in aliases),
                     key=lambda pair: -len(pair[0]))
    for alias, name in phrases:
        pattern = r"(?<![a-z0-9])" + re.escape(alias) + r"(?![a-z0-9])"
        if name == "ndcg_at_k":
            pattern = r"(?<![a-z0-9])ndcg(?: at (\d+))?(?![a-z0-9])"
        for match in re.finditer(pattern, normal):
            if any(taken[match.start():match.end()]):
                continue
            taken[match.start():match.end()] = [True] * (match.end() - match.start())
            if name == "ndcg_at_k":
                k = int(match.group(1)) if match.group(1) else 10
                if k < 1:
                    raise ValueError(f"'{text}': NDCG@k needs k of at least 1")
                name = f"ndcg_at_{k}"
            found.append((match.start(), name))
    names = list(dict.fromkeys(name for _, name in sorted(found)))
    if not names:
        raise ValueError(f"ML metric '{text}' names no metric the workbench knows: name one of "
                         f"{known_metric_names()}")
    if len(names) > 1:
        raise ValueError(f"ML metric '{text}' names {len(names)} metrics ({', '.join(map(metric_label, names))}): "
                         "a statement is judged on one; name the others in the business metric")
    return names[0]


def judged_metric(name: str, problem_type: str, extra: tuple[str, ...] | list[str] = ()) -> str | None:
    """The metric a run of ``problem_type`` records for the stated ``name`` (the macro average for
    a multiclass "recall"), or None when the workbench does not compute it for that problem type.
    ``extra`` are the project's domain metrics and other NDCG cut-offs its runs also record."""
    kind = JUDGED_LIKE.get(problem_type, problem_type)
    name = _PER_TYPE.get(kind, {}).get(name, name)
    return name if name in COMPUTED_METRICS.get(kind, ()) or name in extra else None


def computable_metrics(problem_type: str, extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The metrics a statement may be judged on for ``problem_type``, as readers write them."""
    kind = JUDGED_LIKE.get(problem_type, problem_type)
    return [metric_label(m) for m in dict.fromkeys([*COMPUTED_METRICS.get(kind, ()), *extra])]


def stated_threshold(text: str, metric: str) -> float:
    """The number a statement's "ML metric threshold" sets: "0.95", "≥ 0.95", "95%" (a share), or
    "<= 12.5" for an error. A comparison that points the wrong way for the metric is refused
    (RMSE is an error: "≥ 12" would reward a worse model)."""
    import re

    match = re.fullmatch(r"\s*(≥|>=|=>|>|≤|<=|=<|<)?\s*([-+]?\d+(?:[.,]\d+)?|[-+]?[.,]\d+)\s*(%?)\s*", text)
    if match is None:
        raise ValueError(f"ML metric threshold '{text}' is not a number: write it like 0.65 (or ≥ 0.65, 65%)")
    comparator, number, percent = match.groups()
    value = float(number.replace(",", "."))
    if percent:
        value /= 100.0
    if comparator:
        higher = comparator in ("≥", ">=", "=>", ">")
        direction = metric_direction(metric)
        if direction is not None and higher != direction:
            better = "higher" if direction else "lower"
            raise ValueError(f"ML metric threshold '{text}' points the wrong way: {metric_label(metric)} is better "
                             f"{better}, so write {'≥' if direction else '≤'} {number}{percent}")
    return value
