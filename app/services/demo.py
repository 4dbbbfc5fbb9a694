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

from app.services import (
    comparison,
    datasets,
    deliverables,
    error_analysis,
    findings,
    gates,
    monitoring_alerts,
    monitoring_analysis,
    monitoring_batches,
    monitoring_policy,
    people,
    projects,
    promotion,
    registry,
    release_analysis,
    retraining,
    training,
)
from app.services.workbench import Workbench
from app.signing import SigningKey, load_signing_key, new_signing_key, write_private_key
from storage.models import Project

if TYPE_CHECKING:
    import pandas as pd

    from app.jobs import JobRunner, ProgressCallback

SLUG = "ctr-demo"
VALIDATOR = "demo-validator"
MODEL_KINDS = ("popularity_baseline", "logistic_regression", "hist_gradient_boosting")
CHALLENGER_KIND = "logistic_regression"
SHADOW_REQUESTS, CANARY_REQUESTS, CANARY_SHARE = 300, 600, 0.3
# The story's latency question is whether the cheaper challenger is slower than production, not
# whether this machine is fast: latencies are measured for real, and at load 5-7 a fixed 50 ms
# limit rolled the canary back (p99 54 ms) although both models had slowed alike. So the canary's
# latency guardrail is relative: its p99 at most 1.5x production's over the same window (a breach
# needs it shown slower; see app.ml.release). The shadow is judged on its answers (its timings
# are background batches); its latencies are still shown as measured.
CANARY_LATENCY_RATIO = 1.5
# Below this the canary is fast enough for the story whatever the ratio: at a few milliseconds a
# busy test machine's hiccups on a handful of requests made a 1.5x ratio "significant".
CANARY_LATENCY_FLOOR_MS = 50.0
LOG_BATCH = "2026-01"
BATCHES = (("2026-02", 0.2), ("2026-03", 0.6))
# The SLA rules. The latency rule's threshold is set from what this machine measured: at least
# LATENCY_SLA_FLOOR_MS, or LATENCY_SLA_FACTOR x production's p99 in the shadow phase, so a slow
# machine does not raise an alert the story does not mean (at a fixed 20 ms a busy test run
# raised a third one). The step that adds it prints the measurement it came from.
SLA_RULES = (("roc_auc", ">=", 0.65, "critical"), ("false_positive_rate", "<=", 0.2, "warning"))
LATENCY_SLA_FLOOR_MS, LATENCY_SLA_FACTOR = 50.0, 3.0
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
    # where my signing key was created on this run (None: I already had one)
    new_key: str | None = None


def _validator_key(wb: Workbench) -> tuple[SigningKey, str | None]:
    """Give me a key (the first person of an empty registry is its admin) and register a key for
    the demo's fictional validator, kept beside the workspace so the demo can sign as them.

    A real validator keeps their key on their own machine; this one exists so the demo shows a
    signed, independent approval rather than one an environment variable asserts. Returns the
    validator's key and where my key was stored if it was created now.
    """
    mine = people.init_me(wb)
    path = wb.workspace.home / "demo" / f"{VALIDATOR}.key"
    key = load_signing_key(path, VALIDATOR, file_only=True)
    if key is None:
        key = new_signing_key()
        write_private_key(path, key)
    if not any(p.fingerprint == key.fingerprint for p in people.list_people(wb)):
        people.add_person(wb, VALIDATOR, key.public_line, "validator")
    return key, mine.key.store if mine.created else None


#: Why the demo's validator accepts each fairness finding rather than sending the model back: the
#: demo's clicks are simulated with region effects, and the finding stays on the record.
FAIRNESS_ACCEPTANCE = (
    "Accepted for the demo only: the interactions are simulated, and these regions' low predicted click "
    "rates follow their low simulated click rates. A real feed would need per-region thresholds or more "
    "data before release; per-region quality is watched in monitoring (model card: ethical considerations)."
)


def _settle_fairness(wb: Workbench, validator: SigningKey, step: Step) -> None:
    """The demo's validator reads each open fairness finding and accepts it, signed with their
    key and with a reason (four-eyes: the author of the version could not)."""
    waiting = [f for f in findings.list_findings(wb, SLUG, open_only=True) if f.source == error_analysis.FAIRNESS]
    if waiting:
        step(f"stage 4: {VALIDATOR} reviews {len(waiting)} fairness finding(s) and accepts them with a reason")
    for finding in waiting:
        findings.set_status(wb, SLUG, finding.id, "accepted", FAIRNESS_ACCEPTANCE, signer=validator)


def _advance_to(wb: Workbench, stage: int) -> None:
    while gates.project_stage(wb, SLUG) < stage:
        gates.advance_stage(wb, SLUG)


def run_demo(wb: Workbench, runner: JobRunner, *, rows: int = 40_000, seed: int = 7,
             batch_rows: int = 5_000, step: Step = lambda message: None,
             on_progress: ProgressCallback | None = None, shadow_requests: int = SHADOW_REQUESTS,
             canary_requests: int = CANARY_REQUESTS) -> DemoOutcome:
    """Carry ctr-demo through the six stages; ``shadow_requests`` and ``canary_requests`` size
    stage 5's live traffic (smaller only in tests: the canary's evidence needs the defaults)."""
    from app.ml.demo_data import generate_interactions

    created = not demo_exists(wb)
    step("your signing key, and one for the demo's validator")
    validator, new_key = _validator_key(wb)
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
        baseline = next(r for r in runs if r.is_baseline)
        # Stage 4's candidates only: on a second run of the demo the retrained run (stage 6, another
        # split) is not a candidate of this comparison.
        best = max((r for r in runs if not r.is_baseline and r.split_id == baseline.split_id),
                   key=lambda r: r.metrics.get("val_roc_auc", 0.0))
        if not any(c.run_a == baseline.id and c.run_b == best.id for c in comparison.list_comparisons(wb, SLUG)):
            step(f"stage 4: is {best.model_kind} significantly better than the popularity baseline?")
            comparison.compare_runs(wb, SLUG, baseline.id, best.id, seed=seed)
        step(f"stage 4: registering {best.model_kind}")
        version = registry.register_model(wb, SLUG, best.id)
        if error_analysis.latest_analysis(wb, SLUG, best.id) is None:
            step(f"stage 4: error analysis of {best.model_kind} (segments, fairness by region, importance)")
            error_analysis.analyse_run(wb, runner, SLUG, best.id, segments=("user_location", "item_genre"),
                                       sensitive="user_location", on_progress=on_progress)
        _settle_fairness(wb, validator, step)
        step(f"stage 4: writing the model card of v{version.version}")
        if not registry.model_card(wb, SLUG, version.version):
            registry.write_model_card(wb, SLUG, version.version,
                                      registry.draft_model_card(wb, SLUG, version.version) | CARD)
        card = registry.model_card_view(wb, SLUG, version.version)
        if any(s.origin == "draft" or s.outdated for s in card.sections):
            step("stage 4: the author reads the registry's draft of the card's evidence sections and signs them")
            registry.confirm_model_card(wb, SLUG, version.version)
        _advance_to(wb, 5)

        step("stage 5: independent review, approval and promotion to production")
        version = next(v for v in registry.list_models(wb, SLUG) if v.version == version.version)
        if not any(a.decision == "approved" for a in version.approvals):
            registry.request_review(wb, SLUG, version.version, reviewer=VALIDATOR,
                                    comment="Candidate for the home feed; card and comparison attached.")
            registry.record_approval(wb, SLUG, version.version, signer=validator,
                                     comment="Beats the popularity baseline on held-out data; card reviewed.")
        promotion.promote(wb, SLUG, version.version, reason="approved candidate beats the baseline")
        _release(wb, runs, seed, Path(tmp), step, shadow_requests, canary_requests)
        _advance_to(wb, 6)
        _monitor(wb, runner, seed, batch_rows, Path(tmp), step, on_progress)
    return DemoOutcome(SLUG, created, gates.project_stage(wb, SLUG), len(monitoring_alerts.list_alerts(wb, SLUG)),
                       new_key)


def _serve(wb: Workbench, frame: pd.DataFrame, *, prefix: str, shadow: bool, canary_share: float,
           seed: int) -> None:
    """Send each row to the scoring service in-process, as `mlwb serve` would over HTTP.

    Requests an interrupted run already logged are not sent again, so resuming the demo after a
    crash adds the missing ones and never a second copy."""
    from app.services.prediction_log import logged_request_ids
    from app.services.serving import ScoringService

    done = logged_request_ids(wb, f"{prefix}-")
    features = [f["name"] for f in FEATURES]
    requests = [(f"{prefix}-{i:05d}", row) for i, row in enumerate(frame[features].to_dict("records"))]
    requests = [(request_id, row) for request_id, row in requests if request_id not in done]
    if not requests:
        return
    service = ScoringService(wb, SLUG, shadow=shadow, canary_share=canary_share, seed=seed)
    try:
        for request_id, row in requests:
            service.score({"request_id": request_id, "features": row})
    finally:
        service.close()


def _release(wb: Workbench, runs: list, seed: int, tmp: Path, step: Step,  # type: ignore[type-arg]
             shadow_requests: int, canary_requests: int) -> None:
    """A cheaper challenger in shadow, then as a canary, then an A/B test on clicks.

    Each analysis is looked for before it is made, so a rerun finishes what an interrupted run
    left (the log keeps the requests already served) and says what was already recorded. A
    canary that was rolled back ends the release there, and the step says so: its challenger has
    lost its alias, so there is nothing to A/B test.
    """
    import pandas as pd

    from app.ml.demo_data import generate_interactions

    challenger_run = next(r for r in runs if r.model_kind == CHALLENGER_KIND)
    step(f"stage 5: registering {CHALLENGER_KIND} as the challenger")
    challenger = registry.register_model(wb, SLUG, challenger_run.id)
    recorded = {a.kind: a for a in release_analysis.list_release_analyses(wb, SLUG) if a.version == challenger.version}
    if _rolled_back(recorded.get("canary"), step):
        return
    if len(recorded) == len(release_analysis.KINDS):
        step(f"stage 5: the release of v{challenger.version} is already recorded: "
             + "; ".join(f"{kind} {recorded[kind].verdict}" for kind in release_analysis.KINDS))
        return
    if "shadow" not in recorded or "canary" not in recorded:
        promotion.set_alias(wb, SLUG, challenger.version, "challenger",
                            reason="a linear model is cheaper to serve and explain: does it hold up on live traffic?")
    traffic = generate_interactions(shadow_requests + canary_requests, seed=seed + 100)
    if "shadow" not in recorded:
        step(f"stage 5: {shadow_requests} requests with the challenger in shadow")
        _serve(wb, traffic.iloc[:shadow_requests], prefix="shadow", shadow=True, canary_share=0.0, seed=seed)
        shadow = release_analysis.analyse_shadow(wb, SLUG, max_latency_p99_ms=None)
        r = shadow.results
        step(f"stage 5: shadow {shadow.verdict}: agreement {r['agreement_rate']:.1%} on {r['n']} requests; measured "
             f"p99 production {r['primary_latency']['p99_ms']:.1f} ms, shadow batches "
             f"{r['shadow_latency']['p99_ms']:.1f} ms")
    if "canary" not in recorded:
        step(f"stage 5: {canary_requests} requests with {CANARY_SHARE:.0%} going to the challenger (canary)")
        _serve(wb, traffic.iloc[shadow_requests:], prefix="canary", shadow=False, canary_share=CANARY_SHARE,
               seed=seed)
        labels = tmp / "request-labels.csv"
        ids = ([f"shadow-{i:05d}" for i in range(shadow_requests)]
               + [f"canary-{i:05d}" for i in range(canary_requests)])
        pd.DataFrame({"request_id": ids, "clicked": traffic["clicked"].to_numpy()}).to_csv(labels, index=False)
        monitoring_batches.label_predictions(wb, SLUG, labels, label_column="clicked")
        canary = release_analysis.analyse_canary(wb, SLUG, max_latency_p99_ms=None,
                                                 max_latency_p99_ratio=CANARY_LATENCY_RATIO,
                                                 latency_floor_ms=CANARY_LATENCY_FLOOR_MS)
        r = canary.results
        step(f"stage 5: canary {canary.verdict}: measured p99 canary {r['canary']['latency']['p99_ms']:.1f} ms, "
             f"production {r['production']['latency']['p99_ms']:.1f} ms (limit: {CANARY_LATENCY_RATIO:g}x "
             f"production's, at least {CANARY_LATENCY_FLOOR_MS:g} ms); {canary.decision}")
        if _rolled_back(canary, step):
            return
    if "ab_test" not in recorded:
        ab = release_analysis.analyse_ab_test(wb, SLUG, mde=0.02)
        step(f"stage 5: A/B test on clicks: {ab.summary()}")


def _rolled_back(canary: release_analysis.ReleaseAnalysisView | None, step: Step) -> bool:
    """True (and says so) when the challenger's canary was rolled back: the release ends there."""
    if canary is None or not canary.results.get("rollback"):
        return False
    step(f"stage 5: the canary of v{canary.version} was rolled back ({canary.created_at:%Y-%m-%d %H:%M}): "
         f"{canary.summary()}. The release stage ends with that rollback on record, so there is no A/B test; "
         "`mlwb demo` in an empty MLWB_HOME plays the whole story again")
    return True


def _monitor(wb: Workbench, runner: JobRunner, seed: int, batch_rows: int, tmp: Path, step: Step,
             on_progress: ProgressCallback | None) -> None:
    """SLA rules, a batch from the prediction log, drifting monthly batches whose labels arrive
    later, the alert the strongest drift raises and the retraining that answers it."""
    from app.ml.demo_data import generate_interactions

    if not monitoring_policy.sla_rules(wb, SLUG):
        measured = [a.results["primary_latency"]["p99_ms"] for a in release_analysis.list_release_analyses(wb, SLUG)
                    if a.kind == "shadow"]
        latency = max(LATENCY_SLA_FLOOR_MS, round(LATENCY_SLA_FACTOR * measured[-1], 1) if measured else 0.0)
        basis = (f"{LATENCY_SLA_FACTOR:g}x the {measured[-1]:.1f} ms production p99 measured in the shadow phase, "
                 f"at least {LATENCY_SLA_FLOOR_MS:g} ms") if measured else f"{LATENCY_SLA_FLOOR_MS:g} ms"
        step(f"stage 6: SLA rules (latency p99 <= {latency:g} ms: {basis})")
        for metric, comparator, threshold, severity in (*SLA_RULES, ("latency_p99_ms", "<=", latency, "warning")):
            monitoring_policy.add_sla_rule(wb, SLUG, metric, comparator, threshold, severity=severity)
    existing = {b.label: b for b in monitoring_batches.list_batches(wb, SLUG)}
    if LOG_BATCH not in existing:
        step(f"stage 6: batch {LOG_BATCH} collected from the prediction log")
        monitoring_batches.batch_from_predictions(wb, SLUG, label=LOG_BATCH)
        monitoring_analysis.analyse_batch(wb, runner, SLUG, LOG_BATCH, on_progress=on_progress)
    for i, (label, drift) in enumerate(BATCHES, start=1):
        if label not in existing:
            step(f"stage 6: monitoring batch {label} (drift {drift})")
            frame = generate_interactions(batch_rows, seed=seed + i, drift=drift)
            frame.insert(0, "interaction_id", [f"{label}-{n:06d}" for n in range(len(frame))])
            path = tmp / f"batch-{label}.csv"
            frame.drop(columns=["clicked"]).to_csv(path, index=False)
            monitoring_batches.import_batch(wb, SLUG, path, label=label, id_column="interaction_id")
            step(f"stage 6: drift analysis of {label}")
            monitoring_analysis.analyse_batch(wb, runner, SLUG, label, on_progress=on_progress)
            step(f"stage 6: labels for {label} arrive (delayed ground truth)")
            labels = tmp / f"labels-{label}.csv"
            frame[["interaction_id", "clicked"]].to_csv(labels, index=False)
            monitoring_analysis.attach_labels(wb, runner, SLUG, label, labels, id_column="interaction_id",
                                              label_column="clicked", on_progress=on_progress)
    open_triggers = [t for t in retraining.list_triggers(wb, SLUG) if t.run_id is None]
    if open_triggers:
        step("stage 6: retraining on the old rows plus the newly labelled batches")
        outcome = retraining.retrain(wb, runner, SLUG, open_triggers[0].id, on_progress=on_progress)
        step("stage 6: the retrained model becomes the next challenger")
        retrained = registry.register_model(wb, SLUG, outcome.run_id)
        promotion.set_alias(wb, SLUG, retrained.version, "challenger",
                            reason=f"retrained after trigger {outcome.trigger_id}; shadow it before promotion")


def demo_exists(wb: Workbench) -> bool:
    with wb.read() as session:
        return session.scalars(select(Project.id).where(Project.slug == SLUG)).first() is not None
