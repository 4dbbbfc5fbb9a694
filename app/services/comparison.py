"""Which metric decides between runs, and how runs compare on it."""

from __future__ import annotations

from storage.models import Project

# The ML metric a run's test score is judged on, per problem type. Binary classification is
# judged on ROC AUC: threshold-free, so a popularity heuristic and a model compare fairly.
PRIMARY_METRIC = {
    "binary_classification": "test_roc_auc",
    "multiclass_classification": "test_accuracy",
    "ranking": "test_roc_auc",
    "regression": "test_r2",
    "forecasting": "test_r2",
}


def primary_metric(project: Project) -> str:
    return PRIMARY_METRIC.get(project.problem_type, "test_roc_auc")
