"""Retraining that closes the feedback loop: a trigger (automatic, scheduled or on demand)
becomes a training dataset (the production model's rows plus every labelled production batch),
a split made the same way, and a run of the same model kind, and the trigger records all three,
so the new run's lineage says why it exists. Automatic triggers are raised here too, from the
alerts of a batch analysis (``monitoring_analysis``)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.ml.drift_bands import PSI_ALERT_THRESHOLD
from app.services import datasets, training
from app.services.comparison import ComparisonView
from app.services.numbering import numbers_of, run_label
from app.services.monitoring_policy import QUALITY_METRICS
from app.services.registry import production_version
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import (
    Alert,
    DatasetVersion,
    DriftResult,
    ModelVersion,
    MonitoringBatch,
    MonitoringPolicy,
    Project,
    RetrainingTrigger,
    Run,
    SlaRule,
    Split,
    utcnow,
)

if TYPE_CHECKING:
    from app.jobs import JobRunner, ProgressCallback


# An automatic trigger looks at PSI only on the model's most important features.
TOP_FEATURES = 10


@dataclass(frozen=True)
class RetrainingOutcome:
    """What a retraining produced: the run, and the candidate made ready for the release gate
    (``prepare_candidate``): its version, and the baseline and the champion re-scored on the new
    split with their comparisons against the new run (None where there was nothing to compare)."""

    trigger_id: int
    run_id: int
    dataset_version_id: int
    version: int | None = None
    champion_version: int | None = None
    baseline_run_id: int | None = None  # the baseline re-scored on the new split
    champion_run_id: int | None = None  # the production model re-scored on the new split
    baseline_comparison: ComparisonView | None = None
    champion_comparison: ComparisonView | None = None
    card_carried_from: int | None = None  # the version whose person-written card sections were carried over
    notes: tuple[str, ...] = ()
    #: what a person reads for the ids above: "run" (the new run), "dataset" (its dataset version),
    #: "baseline_run", "champion_run" -> the number in the project (``app.services.numbering``)
    numbers: dict[str, int | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"trigger": self.trigger_id, "run": self.run_id, "dataset_version": self.dataset_version_id,
                "version": self.version, "champion_version": self.champion_version,
                "baseline_rescored_run": self.baseline_run_id, "champion_rescored_run": self.champion_run_id,
                "baseline_comparison": self.baseline_comparison.as_json() if self.baseline_comparison else None,
                "champion_comparison": self.champion_comparison.as_json() if self.champion_comparison else None,
                "card_carried_from": self.card_carried_from, "notes": list(self.notes), "numbers": self.numbers}


@dataclass(frozen=True)
class TriggerView:
    id: int
    kind: str
    reason: str
    status: str
    batch: str | None
    alert_id: int | None
    dataset_version_id: int | None
    job_id: int | None
    run_id: int | None
    requested_by: str
    created_at: datetime
    run_number: int | None = None  # the answering run's number in the project ("run 3")


def list_triggers(wb: Workbench, slug: str) -> list[TriggerView]:
    with wb.read() as session:
        project = find_project(session, slug)
        labels = {b.id: b.label for b in session.scalars(
            select(MonitoringBatch).where(MonitoringBatch.project_id == project.id))}
        rows = list(session.scalars(select(RetrainingTrigger).where(RetrainingTrigger.project_id == project.id)
                                    .order_by(RetrainingTrigger.id)))
        numbers = numbers_of(session, "run", {t.run_id for t in rows if t.run_id is not None})
        return [TriggerView(t.id, t.kind, t.reason, t.status, labels.get(t.batch_id), t.alert_id,
                            t.dataset_version_id, t.job_id, t.run_id, t.requested_by, t.created_at,
                            numbers.get(t.run_id) if t.run_id is not None else None)
                for t in rows]


def _important_features(wb: Workbench, session: Session, mv: ModelVersion, features: list[str]) -> list[str]:
    """The model's ten most important features (permutation importance from its error analysis);
    every feature when no analysis exists, so a breach is never missed for lack of ranking."""
    import json

    run = session.get(Run, mv.run_id)
    if not run.analysis_sha256:
        return features
    analysis = json.loads(wb.artifacts.get_bytes(run.analysis_sha256, ".json"))
    ranked = [item["feature"] for item in analysis.get("permutation_importance") or [] if item.get("feature") in features]
    return ranked[:TOP_FEATURES] if ranked else features


def raise_automatic_trigger(wb: Workbench, uow: UnitOfWork, slug: str, project: Project, batch: MonitoringBatch,
                            alerts: list[Alert], analysed: list[str]) -> RetrainingTrigger | None:
    """Automatic retraining: PSI above the act band on one of the model's most important
    features (among ``analysed``, the features this analysis measured), or a quality metric
    below its SLA threshold. One trigger per batch analysis, inside the analysis' transaction."""
    important = _important_features(wb, uow.session, uow.session.get(ModelVersion, batch.model_version_id), analysed)
    reasons: list[str] = []
    cause: Alert | None = None
    rows = uow.session.scalars(select(DriftResult).where(DriftResult.batch_id == batch.id,
                                                         DriftResult.subject == "feature"))
    breached = [r for r in rows if r.psi is not None and r.psi > PSI_ALERT_THRESHOLD and r.feature in important]
    if breached:
        reasons.append(f"PSI > {PSI_ALERT_THRESHOLD} on important feature(s) " + ", ".join(f"{r.feature} ({r.psi:.3f})" for r in breached))
        cause = next((a for a in alerts if a.rule == "drift"), None)
    rules = {r.id: r for r in uow.session.scalars(select(SlaRule).where(SlaRule.project_id == project.id))}
    for alert in alerts:
        if alert.rule.startswith("sla:") and rules[int(alert.rule[4:])].metric in QUALITY_METRICS:
            reasons.append(alert.message)
            cause = cause or alert
    if not reasons or cause is None:
        return None
    trigger = RetrainingTrigger(project_id=project.id, kind="automatic", alert_id=cause.id, batch_id=batch.id,
                                reason="; ".join(reasons) + f" (batch {batch.label})", requested_by=uow.actor)
    uow.session.add(trigger)
    uow.session.flush()
    uow.audit("monitoring.retraining_triggered", "retraining_trigger", trigger.id, project=slug, kind="automatic",
              alert=cause.id, batch=batch.label, reason=trigger.reason)
    return trigger


def request_retraining(wb: Workbench, slug: str, *, kind: str = "on_demand", reason: str) -> int:
    """Record why a retraining is wanted before any work starts; returns the trigger id."""
    if kind not in ("on_demand", "scheduled"):
        raise WorkbenchError(f"a requested retraining is 'on_demand' or 'scheduled', not '{kind}'")
    reason = reason.strip()
    if not reason:
        raise WorkbenchError("say why the model should be retrained (a reviewer will read it in the lineage)")
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        latest = uow.session.scalars(select(MonitoringBatch).where(
            MonitoringBatch.project_id == project.id, MonitoringBatch.labelled_dataset_version_id.is_not(None))
            .order_by(MonitoringBatch.id.desc())).first()
        trigger = RetrainingTrigger(project_id=project.id, kind=kind, reason=reason, requested_by=uow.actor,
                                    batch_id=latest.id if latest else None)
        uow.session.add(trigger)
        uow.session.flush()
        uow.audit("monitoring.retraining_triggered", "retraining_trigger", trigger.id, project=slug, kind=kind,
                  reason=reason)
        return trigger.id


def _plan(wb: Workbench, slug: str, trigger_id: int) -> dict[str, Any]:
    with wb.read() as session:
        project = find_project(session, slug)
        trigger = session.get(RetrainingTrigger, trigger_id)
        if trigger is None or trigger.project_id != project.id:
            raise NotFound(f"'{slug}' has no retraining trigger {trigger_id}: list them with `mlwb monitor list {slug}`")
        if trigger.run_id is not None:
            raise WorkbenchError(f"trigger {trigger_id} was already answered by "
                                 f"{run_label(session.get(Run, trigger.run_id).number)}")
        mv = production_version(session, project)
        if mv is None:
            raise WorkbenchError(f"'{slug}' has no production model to retrain: promote one first")
        run = session.get(Run, mv.run_id)
        original = session.get(DatasetVersion, run.dataset_version_id)
        split = session.get(Split, run.split_id)
        already = _feedback_inside(session, project, original.id)
        feedback = [session.get(DatasetVersion, b.labelled_dataset_version_id) for b in session.scalars(
            select(MonitoringBatch).where(MonitoringBatch.project_id == project.id,
                                          MonitoringBatch.labelled_dataset_version_id.is_not(None))
            .order_by(MonitoringBatch.id)) if b.labelled_dataset_version_id not in already]
        target = run.params.get("target") or original.target
        if not target:
            raise WorkbenchError(f"{run_label(run.number)} has no target column: retraining needs labelled data")
        columns = [*run.params.get("features", {}), target]
        for extra in (split.time_column, split.group_column):
            if extra and extra not in columns:
                columns.append(extra)
        return {
            "model_kind": run.model_kind, "seed": run.seed, "overrides": run.params.get("overrides") or {},
            "original": str(datasets.dataset_path(wb, original)),
            "feedback": [str(datasets.dataset_path(wb, d)) for d in feedback],
            "feedback_ids": sorted(already | {d.id for d in feedback}), "columns": columns, "target": target,
            "time_column": original.time_column, "split": {
                "strategy": split.strategy, "seed": split.seed, "time_column": split.time_column,
                "group_column": split.group_column, "gap": split.gap},
            "production": mv.version,
        }


def _feedback_inside(session: Session, project: Project, dataset_id: int) -> set[int]:
    """The labelled batches a retraining dataset already holds, so the next retraining adds
    only the new ones instead of counting earlier batches twice. Read from the audit event that
    made the dataset: its ``feedback_datasets`` lists every batch inside, the ones carried in by
    the dataset it was built on included. Empty for a dataset a person imported."""
    import json

    from storage.models import AuditEvent

    trigger = session.scalar(select(RetrainingTrigger).where(
        RetrainingTrigger.project_id == project.id, RetrainingTrigger.dataset_version_id == dataset_id))
    if trigger is None:
        return set()
    event = session.scalar(select(AuditEvent).where(
        AuditEvent.action == "monitoring.retraining_completed", AuditEvent.entity_type == "retraining_trigger",
        AuditEvent.entity_id == str(trigger.id)).order_by(AuditEvent.seq.desc()))
    return set(json.loads(event.payload).get("feedback_datasets", [])) if event is not None else set()


def retrain(
    wb: Workbench, runner: JobRunner, slug: str, trigger_id: int | None = None, *, reason: str = "",
    on_progress: ProgressCallback | None = None, on_queued: Any = None,
) -> RetrainingOutcome:
    """Answer a trigger (or a new on-demand one) with a run; blocks, so call it from a worker
    thread. A failed training leaves the trigger open and the job failed, nothing half-linked."""
    from app.ml.errors import DataFileError
    from app.ml.feedback import combine_training_data

    if trigger_id is None:
        trigger_id = request_retraining(wb, slug, reason=reason or "retraining requested")
    elif _answered(wb, slug, trigger_id):  # trained already: finish making it a candidate
        return prepare_candidate(wb, runner, slug, trigger_id, on_progress=on_progress)
    plan = _plan(wb, slug, trigger_id)
    with tempfile.TemporaryDirectory(prefix="mlwb-retrain-") as tmp:
        path = Path(tmp) / f"{slug}-retraining-{trigger_id}.parquet"
        try:
            combine_training_data(plan["original"], plan["feedback"], plan["columns"], str(path))
        except DataFileError as exc:
            raise WorkbenchError(str(exc)) from None
        dataset = datasets.import_dataset(wb, slug, path, target=plan["target"],
                                          time_column=plan["time_column"])
    split = plan["split"]
    split_view = datasets.create_split(wb, slug, dataset_id=dataset.id, strategy=split["strategy"], seed=split["seed"],
                                       time_column=split["time_column"], group_column=split["group_column"],
                                       gap=split["gap"])

    def queued(job_id: int) -> None:
        _set_status(wb, slug, trigger_id, "training", job_id=job_id)
        if on_queued is not None:
            on_queued(job_id)

    try:
        run = training.train(wb, runner, slug, plan["model_kind"], dataset_id=dataset.id, seed=plan["seed"],
                             params=plan["overrides"], on_progress=on_progress, on_queued=queued)
    except BaseException:
        _set_status(wb, slug, trigger_id, "open")
        raise
    with wb.unit_of_work() as uow:
        trigger = uow.session.get(RetrainingTrigger, trigger_id)
        trigger.run_id, trigger.dataset_version_id, trigger.status = run.id, dataset.id, "answered"
        trigger.job_id = uow.session.get(Run, run.id).job_id
        alert = uow.session.get(Alert, trigger.alert_id) if trigger.alert_id else None
        if alert is not None:
            alert.status = "resolved"
        uow.audit("monitoring.retraining_completed", "retraining_trigger", trigger.id, project=slug, run=run.id,
                  dataset_version=dataset.id, split=split_view.id, feedback_datasets=plan["feedback_ids"],
                  production_version=plan["production"], model_kind=plan["model_kind"],
                  alert_resolved=alert.id if alert else None)
    return prepare_candidate(wb, runner, slug, trigger_id, on_progress=on_progress)


def _answered(wb: Workbench, slug: str, trigger_id: int) -> bool:
    with wb.read() as session:
        trigger = session.get(RetrainingTrigger, trigger_id)
        return trigger is not None and trigger.project_id == find_project(session, slug).id and trigger.run_id is not None


def _original(session: Session, run: Run) -> Run:
    """The run whose model a re-scored run scores (itself when it is not a re-scoring)."""
    while (run.params or {}).get("rescored_from"):
        run = session.get(Run, run.params["rescored_from"])
    return run


def _baseline_for(session: Session, project: Project, champion_run_id: int | None) -> int | None:
    """The baseline to re-score: the one the champion was shown to beat (the release gate's
    evidence), else the project's newest baseline run; None when it has none."""
    from storage.models import Comparison, Experiment

    if champion_run_id is not None:
        for c in session.scalars(select(Comparison).where(
                Comparison.project_id == project.id, Comparison.run_b_id == champion_run_id,
                Comparison.significant.is_(True)).order_by(Comparison.id.desc())):
            a = session.get(Run, c.run_a_id)
            if a is not None and a.is_baseline:
                return _original(session, a).id
    baselines = session.scalars(select(Run).join(Experiment, Run.experiment_id == Experiment.id).where(
        Experiment.project_id == project.id, Run.is_baseline.is_(True), Run.parent_run_id.is_(None),
        Run.artifact_sha256.is_not(None)).order_by(Run.id.desc()))
    return next((r.id for r in baselines if not (r.params or {}).get("rescored_from")), None)


def _carry_card(wb: Workbench, slug: str, champion: int | None, version: int) -> int | None:
    """Start the new version's card: the registry's evidence drafts (which a person confirms with
    a signature) and the champion's sections a person wrote (intended use, factors, ethics,
    caveats: a retraining on more rows does not change them). Returns the version carried from;
    a version that already has a card keeps it."""
    from app.services import registry

    if registry.model_card(wb, slug, version):
        return None
    person = {}
    if champion is not None:
        person = {s.key: s.text for s in registry.model_card_view(wb, slug, champion).sections if s.origin == "person"}
    registry.write_model_card(wb, slug, version, registry.draft_model_card(wb, slug, version) | person)
    return champion if person else None


def prepare_candidate(wb: Workbench, runner: JobRunner, slug: str, trigger_id: int, *,
                      on_progress: ProgressCallback | None = None) -> RetrainingOutcome:
    """Make the run that answered a trigger a candidate the release gate can judge, without hand
    work: the retraining made a new split, so the baseline and the production model (the
    champion) are re-scored there as they are, in worker jobs (``comparison.rescore_run``); the
    new run is compared with both on the new validation rows (recorded and audited like `mlwb
    compare`); the run is registered as a version; its card starts from the champion's. What
    stays a person's: confirming the card's drafts, the independent approval, the promotion.

    Safe to repeat (``mlwb retrain PROJECT --trigger ID`` on an answered trigger): every step
    returns what is on record. A step that cannot be done (no baseline, a problem type the
    workbench cannot compare) is a note, not a failure: the run stays and the gate says what is
    missing."""
    from app.services import comparison, registry

    with wb.read() as session:
        project = find_project(session, slug)
        trigger = session.get(RetrainingTrigger, trigger_id)
        if trigger is None or trigger.project_id != project.id:
            raise NotFound(f"'{slug}' has no retraining trigger {trigger_id}: list them with `mlwb monitor list {slug}`")
        if trigger.run_id is None:
            raise WorkbenchError(f"trigger {trigger_id} has no run yet: retrain with `mlwb retrain {slug} --trigger {trigger_id}`")
        run = session.get(Run, trigger.run_id)
        run_id, dataset_id, seed = run.id, run.dataset_version_id, run.seed
        production = production_version(session, project)
        champion = production if production is not None and production.run_id != run_id else None
        champion_version, champion_run = (champion.version, champion.run_id) if champion else (None, None)
        baseline = _baseline_for(session, project, champion_run)
        registered = session.scalars(select(ModelVersion).where(ModelVersion.run_id == run_id)).first() is not None
    notes: list[str] = []
    rescored: dict[str, int | None] = {"baseline": None, "champion": None}
    compared: dict[str, ComparisonView | None] = {"baseline": None, "champion": None}
    for role, original in (("baseline", baseline), ("champion", champion_run)):
        if original is None:
            notes.append(f"no {role} to compare with" + (f": train one with `mlwb train {slug} KIND` and compare"
                                                          if role == "baseline" else ""))
            continue
        try:
            again = comparison.rescore_run(wb, runner, slug, original, dataset_id=dataset_id, on_progress=on_progress)
            rescored[role] = again.id
            compared[role] = comparison.compare_runs(wb, slug, again.id, run_id, seed=seed)
        except WorkbenchError as exc:
            notes.append(f"{role} {_run_named(wb, original)}: {exc}")
    version = registry.register_model(wb, slug, run_id, runner=runner).version
    carried = _carry_card(wb, slug, champion_version, version)
    fresh = (not registered or any(c is not None and not c.repeated for c in compared.values()))
    if fresh:
        with wb.unit_of_work() as uow:
            uow.audit("monitoring.retraining_candidate", "retraining_trigger", trigger_id, project=slug, run=run_id,
                      version=version, champion_version=champion_version,
                      baseline_rescored=rescored["baseline"], champion_rescored=rescored["champion"],
                      comparisons={k: c.id for k, c in compared.items() if c is not None},
                      card_carried_from=carried, notes=notes)
    with wb.read() as session:
        numbers = {"run": session.get(Run, run_id).number, "dataset": session.get(DatasetVersion, dataset_id).number,
                   **{f"{role}_run": session.get(Run, rid).number if rid is not None else None
                      for role, rid in rescored.items()}}
    return RetrainingOutcome(trigger_id, run_id, dataset_id, version, champion_version, rescored["baseline"],
                             rescored["champion"], compared["baseline"], compared["champion"], carried, tuple(notes),
                             numbers)


def _run_named(wb: Workbench, run_id: int) -> str:
    with wb.read() as session:
        return run_label(session.get(Run, run_id).number)


def _set_status(wb: Workbench, slug: str, trigger_id: int, status: str, *, job_id: int | None = None) -> None:
    """Show a trigger as being answered (with its job) or, after a failed job, open again."""
    with wb.unit_of_work() as uow:
        trigger = uow.session.get(RetrainingTrigger, trigger_id)
        trigger.status = status
        if job_id is not None:
            trigger.job_id = job_id
        uow.audit("monitoring.retraining_" + ("started" if status == "training" else "reopened"),
                  "retraining_trigger", trigger_id, project=slug, job=trigger.job_id)


def run_due_schedule(wb: Workbench, runner: JobRunner, slug: str, *, now: datetime | None = None,
                     on_progress: ProgressCallback | None = None) -> RetrainingOutcome | None:
    """Retrain when the project's schedule is due; returns None when it is not (or no schedule)."""
    now = now or utcnow()
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        policy = uow.session.scalars(select(MonitoringPolicy).where(MonitoringPolicy.project_id == project.id)).first()
        if policy is None or policy.retrain_every_days is None:
            raise WorkbenchError(f"'{slug}' has no retraining schedule: set one with "
                                 f"`mlwb monitor schedule {slug} --every-days N`")
        last = policy.last_scheduled_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        if last is not None and now - last < timedelta(days=policy.retrain_every_days):
            return None
        policy.last_scheduled_at = now
        uow.audit("monitoring.schedule_due", "monitoring_policy", policy.id, project=slug,
                  every_days=policy.retrain_every_days)
    trigger_id = request_retraining(wb, slug, kind="scheduled",
                                    reason=f"scheduled retraining (every {policy.retrain_every_days} days)")
    return retrain(wb, runner, slug, trigger_id, on_progress=on_progress)


def lineage_of_run(wb: Workbench, run_id: int) -> dict[str, Any] | None:
    """Why a run exists when a retraining made it: the trigger, its alert and batch, the data."""
    with wb.read() as session:
        trigger = session.scalars(select(RetrainingTrigger).where(RetrainingTrigger.run_id == run_id)).first()
        if trigger is None:
            return None
        batch = session.get(MonitoringBatch, trigger.batch_id) if trigger.batch_id else None
        return {"trigger": trigger.id, "kind": trigger.kind, "reason": trigger.reason, "alert": trigger.alert_id,
                "batch": batch.label if batch else None, "dataset_version": trigger.dataset_version_id,
                "job": trigger.job_id, "requested_by": trigger.requested_by}
