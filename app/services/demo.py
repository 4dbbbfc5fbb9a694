"""The click-through demo: one project carried through all six stages by the real services.

Every step checks what already exists first, so running the demo twice (or after it was
interrupted) finishes the project without duplicating anything.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from app.services import comparison, datasets, error_analysis, deliverables, gates, monitoring, projects, registry, training
from app.services.workbench import Workbench
from storage.models import Project

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback

SLUG = "ctr-demo"
VALIDATOR = "demo-validator"
MODEL_KINDS = ("popularity_baseline", "logistic_regression", "hist_gradient_boosting")
BATCHES = (("2026-01", 0.05), ("2026-02", 0.2), ("2026-03", 0.6))
FEATURES = (
    {"name": "user_age", "type": "numeric", "source": "user profile", "available_at_serving": True, "pii": True},
    {"name": "user_location", "type": "categorical", "source": "user profile (region)", "available_at_serving": True,
     "pii": True},
    {"name": "item_genre", "type": "categorical", "source": "item catalogue", "available_at_serving": True,
     "pii": False},
    {"name": "item_popularity", "type": "numeric", "source": "item click counts, trailing 7 days",
     "available_at_serving": True, "pii": False},
)
STATEMENT = {
    "objective": "Recommend items users are likely to click, to raise click-through on the home feed",
    "stakeholders_gain": "Users (more relevant feed); content team (long-tail items surface)",
    "stakeholders_lose": "Publishers of popular items (less exposure); users outside the training population",
    "business_metric": "Click-through rate lift of the home feed against the popularity ranking",
    "ml_metric": "ROC AUC of click prediction on held-out interactions",
    "ml_metric_threshold": "0.65",
    "feasibility_data": "Interaction logs with user and item attributes, tens of thousands of rows a month",
    "feasibility_regulation": "User age and location are personal data: GDPR lawful basis is legitimate interest",
    "feasibility_timeline": "Pilot in one quarter",
    "feasibility_budget": "One ML engineer, CPU training only",
    "baseline_heuristic": "Rank items by item_popularity (most clicked first)",
}
FRAMING = {
    "target": "clicked",
    "label_strategy": "clicked = 1 when the user clicked the item within the session it was shown, else 0",
    "cold_start": "New users get the popularity ranking until they have 5 interactions",
    "temporal_aspects": "Train on past months, monitor month by month; popularity is a trailing 7-day count",
    "proxy_metrics": "Click is a proxy for satisfaction; dwell time is reviewed quarterly",
}
CARD = {
    "intended_use": "Ranking candidate items on the home feed of signed-in users. Out of scope: decisions about "
                    "individual users beyond feed ordering; markets not in the training data",
    "factors": "User age band and region; item genre. Quality is reviewed per region and age band",
    "ethical_considerations": "Uses age and region: segment metrics are reviewed for unequal quality",
    "caveats": "Trained on simulated interactions (demo); retrain when a PSI alert fires",
}

Step = Callable[[str], None]


@dataclass(frozen=True)
class DemoOutcome:
    slug: str
    created: bool
    stage: int
    alerts: int


def _advance_to(wb: Workbench, stage: int) -> None:
    while gates.project_stage(wb, SLUG) < stage:
        gates.advance_stage(wb, SLUG)


def run_demo(wb: Workbench, runner: JobRunner, *, rows: int = 40_000, seed: int = 7,
             batch_rows: int = 5_000, step: Step = lambda message: None,
             on_progress: ProgressCallback | None = None) -> DemoOutcome:
    from app.ml.demo_data import generate_interactions

    created = not demo_exists(wb)
    if created:
        step("creating project ctr-demo")
        projects.create_project(wb, SLUG, problem_type="binary_classification", maturity="growth",
                                name="Click-through prediction (demo)")
    step("stage 1: problem statement and ML checklist")
    deliverables.save_problem_statement(wb, SLUG, STATEMENT)
    deliverables.save_ml_checklist(
        wb, SLUG, {"pattern_exists": True, "data_available": True, "errors_tolerable": True,
                   "rules_insufficient": True, "feedback_available": True},
        notes="Popularity alone ignores who the user is; clicks are observed within a session.")
    _advance_to(wb, 2)
    step("stage 2: framing and feature spec")
    deliverables.save_framing(wb, SLUG, FRAMING, list(FEATURES))
    _advance_to(wb, 3)

    with tempfile.TemporaryDirectory(prefix="mlwb-demo-") as tmp:
        if not datasets.list_datasets(wb, SLUG, role="training"):
            step(f"stage 3: generating {rows:,} interactions (seed {seed})")
            path = Path(tmp) / "interactions.csv"
            generate_interactions(rows, seed=seed).to_csv(path, index=False)
            datasets.import_dataset(wb, SLUG, path, target="clicked")
        if not datasets.list_splits(wb, SLUG):
            step("stage 3: stratified train/validation/test split")
            datasets.create_split(wb, SLUG, seed=seed)
        _advance_to(wb, 4)

        done = {r.model_kind for r in training.list_runs(wb, SLUG)}
        for kind in MODEL_KINDS:
            if kind not in done:
                step(f"stage 4: training {kind} in a worker process")
                training.train(wb, runner, SLUG, kind, seed=seed, on_progress=on_progress)
        runs = training.list_runs(wb, SLUG)
        best = max((r for r in runs if not r.is_baseline), key=lambda r: r.metrics.get("val_roc_auc", 0.0))
        baseline = next(r for r in runs if r.is_baseline)
        if not any(c.run_a == baseline.id and c.run_b == best.id for c in comparison.list_comparisons(wb, SLUG)):
            step(f"stage 4: is {best.model_kind} significantly better than the popularity baseline?")
            comparison.compare_runs(wb, SLUG, baseline.id, best.id, seed=seed)
        if error_analysis.latest_analysis(wb, SLUG, best.id) is None:
            step(f"stage 4: error analysis of {best.model_kind} (segments, fairness by region, importance)")
            error_analysis.analyse_run(wb, runner, SLUG, best.id, segments=("user_location", "item_genre"),
                                       sensitive="user_location", on_progress=on_progress)
        step(f"stage 4: registering {best.model_kind} and writing its model card")
        version = registry.register_model(wb, SLUG, best.id)
        if not registry.model_card(wb, SLUG, version.version):
            registry.write_model_card(wb, SLUG, version.version,
                                      registry.draft_model_card(wb, SLUG, version.version) | CARD)
        _advance_to(wb, 5)

        step("stage 5: independent approval and promotion to production")
        version = next(v for v in registry.list_models(wb, SLUG) if v.version == version.version)
        if not any(a.decision == "approved" for a in version.approvals):
            registry.record_approval(wb, SLUG, version.version, on_behalf_of=VALIDATOR,
                                     comment="Beats the popularity baseline on held-out data; card reviewed.")
        registry.promote(wb, SLUG, version.version, reason="approved candidate beats the baseline")
        _advance_to(wb, 6)

        existing = {b.label: b for b in monitoring.list_batches(wb, SLUG)}
        for i, (label, drift) in enumerate(BATCHES, start=1):
            if label not in existing:
                step(f"stage 6: monitoring batch {label} (drift {drift})")
                path = Path(tmp) / f"batch-{label}.csv"
                frame = generate_interactions(batch_rows, seed=seed + i, drift=drift)
                frame.drop(columns=["clicked"]).to_csv(path, index=False)
                monitoring.import_batch(wb, SLUG, path, label=label)
            if not (label in existing and existing[label].analysed):
                step(f"stage 6: drift analysis of {label}")
                monitoring.analyse_batch(wb, runner, SLUG, label, on_progress=on_progress)
    return DemoOutcome(SLUG, created, gates.project_stage(wb, SLUG), len(monitoring.list_alerts(wb, SLUG)))


def demo_exists(wb: Workbench) -> bool:
    with wb.read() as session:
        return session.scalars(select(Project.id).where(Project.slug == SLUG)).first() is not None
