"""Stage gates: which deliverables and checks of a stage are present, and moving past them.

A check is *required* or only *warns* depending on the project's maturity profile
(``app.lifecycle``). A gate passes when every required check passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import GateFailed, WorkbenchError
from app.lifecycle import STAGES, Check, checks_for, stage
from app.services.deliverables import stage1_outcomes
from app.services.numbering import run_label
from app.services.workbench import Workbench, find_project
from storage.models import (
    Alert,
    Approval,
    Comparison,
    DatasetVersion,
    DriftResult,
    Experiment,
    Finding,
    ModelCard,
    ModelVersion,
    MonitoringBatch,
    Project,
    RetrainingTrigger,
    Run,
    SlaRule,
    Split,
    StageDeliverable,
)


#: A check's evaluation: passed (True), failed (False) or inconclusive (None: the evidence is too
#: thin to say, which never counts as passed), and the detail that says why or what is missing.
Outcome = tuple[bool | None, str]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one gate check (``app.lifecycle.Check``) for one project: a stage gate's
    or a model version's release gate's (``app.services.promotion``), one shape for both.

    ``waiver`` is the recorded reason a failing check was skipped on purpose; only the release
    gate takes waivers, so a stage gate's checks have none. ``inconclusive`` marks a check that
    did not pass because the evidence is too thin to judge (a canary on too few requests, a
    metric the workbench cannot compute); its detail says what is missing.
    """

    id: str
    label: str
    passed: bool
    required: bool
    detail: str = ""
    waivable: bool = False
    waiver: str | None = None
    inconclusive: bool = False

    @classmethod
    def of(cls, check: Check, maturity: str, outcome: Outcome, waiver: str | None = None) -> CheckResult:
        passed, detail = outcome
        return cls(check.id, check.label, bool(passed), check.required(maturity), detail,
                   check.waivable_on(maturity), waiver, inconclusive=passed is None)

    @property
    def status(self) -> str:
        """The outcome in one word: passed, inconclusive (not passed: too little evidence) or failed."""
        return "passed" if self.passed else ("inconclusive" if self.inconclusive else "failed")

    @property
    def blocking(self) -> bool:
        """Required by the profile, failed, and not waived: its gate does not pass."""
        return self.required and not self.passed and self.waiver is None


@dataclass(frozen=True)
class StageGate:
    """The gate at the end of a lifecycle stage: it passes when every required check passes."""

    stage: int
    title: str
    passed: bool
    checks: tuple[CheckResult, ...]

    @property
    def missing(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking]


def _content(session: Session, project: Project, kind: str) -> dict:
    row = session.scalars(
        select(StageDeliverable.content).where(StageDeliverable.project_id == project.id, StageDeliverable.kind == kind)
    ).first()
    return dict(row) if row else {}


def _stage1(session: Session, project: Project) -> dict[str, Outcome]:
    # The evaluation lives with the documents (``app.services.deliverables``) so the data import
    # can ask "is the statement approved?" without importing the gates (and their cycle).
    return stage1_outcomes(_content(session, project, "problem_statement"), _content(session, project, "ml_checklist"))


def _stage2(session: Session, project: Project) -> dict[str, Outcome]:
    f = _content(session, project, "framing")
    features = f.get("features", [])
    unknown = [x["name"] for x in features if x.get("available_at_serving") is None]
    no_pii = [x["name"] for x in features if x.get("pii") is None]
    return {
        "features_specified": (bool(features), f"{len(features)} feature(s)"),
        "serving_availability": (
            bool(features) and not unknown,
            "unknown for: " + ", ".join(unknown) if unknown else "all stated",
        ),
        "target_defined": (
            bool(f.get("target") and f.get("label_strategy")),
            f"target {f.get('target', 'not set')}",
        ),
        "pii_reviewed": (bool(features) and not no_pii, "not stated for: " + ", ".join(no_pii) if no_pii else "all stated"),
    }


def _latest_split(session: Session, project: Project) -> Split | None:
    return session.scalars(
        select(Split)
        .join(DatasetVersion, Split.dataset_version_id == DatasetVersion.id)
        .where(DatasetVersion.project_id == project.id)
        .order_by(Split.id.desc())
    ).first()


def _stage3(session: Session, project: Project) -> dict[str, Outcome]:
    n_datasets = session.scalar(
        select(func.count(DatasetVersion.id)).where(
            DatasetVersion.project_id == project.id, DatasetVersion.role == "training"
        )
    )
    split = _latest_split(session, project)
    overlap = split.counts.get("train_test_overlap") if split else None
    leaks = [f for f in split.leakage if f.get("severity") == "error"] if split else []
    return {
        "no_leakage": (
            split is not None and not leaks,
            "not checked" if split is None else (
                "; ".join(f"{f['check']} {f.get('feature') or ''}".strip() for f in leaks) or "none found"),
        ),
        "dataset_imported": (bool(n_datasets), f"{n_datasets} version(s)"),
        "split_created": (split is not None, f"{split.strategy}, seed {split.seed}" if split else "none"),
        "no_row_overlap": (
            split is not None and overlap == 0,
            "not checked" if split is None else f"{overlap} shared row(s)",
        ),
    }


def _runs(session: Session, project: Project) -> list[Run]:
    return list(
        session.scalars(
            select(Run).join(Experiment, Run.experiment_id == Experiment.id).where(Experiment.project_id == project.id)
        )
    )


def chosen_run(session: Session, project: Project) -> tuple[Run | None, str]:
    """The run stage 4's judgement is about, and how it was chosen: the run behind the production
    version, else behind the newest registered version, else the best candidate on the
    validation metric (None before any candidate is trained)."""
    from app.ml.catalogue import greater_is_better
    from app.services.training import validation_metric

    versions = list(session.scalars(select(ModelVersion).where(ModelVersion.project_id == project.id)
                                    .order_by(ModelVersion.version.desc())))
    production = [v for v in versions if v.stage == "production"]
    for mv, why in ((production[0] if production else None, "in production"),
                    (versions[0] if versions else None, "newest registered")):
        if mv is not None:
            return session.get(Run, mv.run_id), f"behind v{mv.version}, {why}"
    metric = validation_metric(project)
    candidates = [r for r in _runs(session, project)
                  if r.parent_run_id is None and not r.is_baseline and metric in r.metrics]
    if not candidates:
        return None, "no candidate run"
    sign = 1.0 if greater_is_better(metric) else -1.0
    return max(candidates, key=lambda r: (sign * float(r.metrics[metric]), -r.id)), f"best candidate on {metric}"


def _stated_metric(session: Session, project: Project, run: Run | None, why: str) -> Outcome:
    """The statement's ML metric, on the chosen run: the sealed test value if the run was scored
    there, else the validation value; inconclusive when it cannot be measured."""
    from app.ml.catalogue import (
        computable_metrics,
        greater_is_better,
        judged_metric,
        metric_label,
        stated_metric,
        stated_threshold,
    )

    statement = _content(session, project, "problem_statement")
    text, threshold_text = statement.get("ml_metric"), statement.get("ml_metric_threshold")
    if not text or not threshold_text:
        return False, "the problem statement names no ML metric with a threshold"
    try:
        name = stated_metric(str(text))
        threshold = stated_threshold(str(threshold_text), name)
    except ValueError as exc:
        return None, f"inconclusive: {exc}"
    if run is None:
        return False, f"no candidate run to judge on {metric_label(name)} yet"
    legacy = ["ctr_at_top10pct"] if run.problem_type == "binary_classification" else []
    extra = list(run.params.get("extra_metrics", legacy) or [])
    metric = judged_metric(name, run.problem_type, extra)
    if metric is None:
        return None, (f"inconclusive: the statement names {metric_label(name)}, which the workbench does not "
                      f"compute for {run.problem_type}; it computes {', '.join(computable_metrics(run.problem_type, extra))}")
    label = metric_label(metric)
    tested = (run.test_metrics or {}).get(f"test_{metric}")
    part, value = ("sealed test", tested) if tested is not None else ("validation", run.metrics.get(f"val_{metric}"))
    if value is None:
        return None, (f"inconclusive: {run_label(run.number)} ({why}) records no {label} on its {part} part"
                      + (" (undefined there: no positive predicted or none to find)"
                         if metric in ("precision", "recall") else ": retrain it to measure it"))
    higher = greater_is_better(metric)
    met = value >= threshold if higher else value <= threshold
    at = " at the 0.5 decision threshold" if metric in ("accuracy", "precision", "recall", "f1") else ""
    return met, (f"{label}{at} {value:.4f} on the {part} part of {run_label(run.number)} ({why}) "
                 f"{'meets' if met else 'misses'} the stated {'≥' if higher else '≤'} {threshold:g}")


def _fairness(session: Session, project: Project, run: Run | None, why: str) -> Outcome:
    """The chosen run was examined group by group and no fairness finding is still open.

    A binary or ranking model needs a fairness analysis across a sensitive attribute; for other
    problem types (whose group fairness the workbench does not measure) per-segment metrics by a
    personal-data feature. A framing in which no feature holds personal data has no group of
    people to compare, and says so.
    """
    from app.services.error_analysis import (
        FAIRNESS_MEASURED,
        fairness_analyses,
        groups_examined,
        open_fairness_findings,
    )

    if run is None:
        return False, "no candidate run to analyse yet"
    personal = [f["name"] for f in _content(session, project, "framing").get("features", []) if f.get("pii")]
    measured = fairness_analyses(session, project).get(run.id)
    command = f"`mlwb analyse {project.slug} {run.number} --sensitive COLUMN`"
    if run.problem_type in FAIRNESS_MEASURED:
        examined = f"fairness by {measured}" if measured else ""
        missing = f"no fairness analysis of {run_label(run.number)} ({why}): run {command}"
    else:
        columns = [c for c in groups_examined(session, project).get(run.id, []) if c in personal]
        examined = f"per-segment metrics by {', '.join(columns)}" if columns else ""
        missing = (f"no per-group analysis of {run_label(run.number)} ({why}): the workbench measures group fairness for "
                   f"{' and '.join(FAIRNESS_MEASURED)}; examine {run.problem_type} by segment with "
                   f"`mlwb analyse {project.slug} {run.number} --segment COLUMN` on a personal-data feature")
    if not examined:
        if not personal:
            return True, ("no feature of the framing holds personal data: no group of people to compare"
                          + (f" ({why})" if why else ""))
        return False, missing + f" (personal data: {', '.join(personal)})"
    still_open = open_fairness_findings(session, project)
    if still_open:
        return False, (f"{examined} analysed on {run_label(run.number)}; {len(still_open)} finding(s) not closed or accepted: "
                       + "; ".join(f"#{f.id} {f.title}" for f in still_open))
    settled = session.scalar(select(func.count(Finding.id)).where(Finding.project_id == project.id,
                                                                  Finding.source == "fairness"))
    return True, (f"{examined} analysed on {run_label(run.number)} ({why}); "
                  + (f"{settled} finding(s), each closed or accepted" if settled else "no finding"))


def _stage4(session: Session, project: Project) -> dict[str, Outcome]:
    from app.services.training import validation_metric

    runs = [r for r in _runs(session, project) if r.parent_run_id is None]
    by_id = {r.id: r for r in runs}
    baselines = [r for r in runs if r.is_baseline]
    candidates = [r for r in runs if not r.is_baseline]
    metric = validation_metric(project)
    wins = [c for c in session.scalars(select(Comparison).where(Comparison.project_id == project.id))
            if c.significant and c.run_a_id in by_id and by_id[c.run_a_id].is_baseline
            and c.run_b_id in by_id and not by_id[c.run_b_id].is_baseline]
    best_win = max(wins, key=lambda c: c.difference, default=None)
    looks: dict[int, int] = {}
    for r in runs:
        if r.test_scored_at is not None:
            looks[r.experiment_id] = looks.get(r.experiment_id, 0) + 1
    repeated = {e: n for e, n in looks.items() if n > 1}
    cards = session.scalar(
        select(func.count(ModelCard.id))
        .join(ModelVersion, ModelCard.model_version_id == ModelVersion.id)
        .where(ModelVersion.project_id == project.id)
    )
    return {
        "baseline_run": (bool(baselines), f"{len(baselines)} baseline run(s)"),
        "candidates_trained": (len(candidates) >= 2, f"{len(candidates)} candidate run(s)"),
        "beats_baseline": (
            best_win is not None,
            (f"{run_label(by_id[best_win.run_b_id].number)} beats baseline "
             f"{run_label(by_id[best_win.run_a_id].number)}: Δ{best_win.metric} "
             f"{best_win.difference:+.4f} [{best_win.ci_low:+.4f}, {best_win.ci_high:+.4f}], p={best_win.p_value:.3g}")
            if best_win else f"no significant win over a baseline on {metric} yet (compare runs at α=0.05)",
        ),
        "test_set_once": (
            not repeated,
            "looked at " + ", ".join(f"{n} times in experiment {e}" for e, n in repeated.items()) if repeated
            else f"{sum(looks.values())} sealed evaluation(s)",
        ),
        "model_card": (bool(cards), f"{cards} card(s)"),
        "stated_metric_met": _stated_metric(session, project, *chosen_run(session, project)),
        "fairness_reviewed": _fairness(session, project, *chosen_run(session, project)),
    }


def _stage5(session: Session, project: Project) -> dict[str, Outcome]:
    versions = list(session.scalars(select(ModelVersion).where(ModelVersion.project_id == project.id)))
    from app.services.registry import standing_approval

    decisions: dict[int, list[Approval]] = {v.id: [] for v in versions}
    for a in session.scalars(select(Approval).join(ModelVersion, Approval.model_version_id == ModelVersion.id)
                             .where(ModelVersion.project_id == project.id)):
        decisions[a.model_version_id].append(a)
    by_version = {v.id: v for v in versions}
    independent = [a for v in versions if (a := standing_approval(session, project, v, decisions[v.id])[0]) is not None]
    prod = [v for v in versions if v.stage == "production"]
    return {
        "model_registered": (bool(versions), f"{len(versions)} version(s)"),
        "independent_approval": (
            bool(independent),
            ", ".join(f"v{by_version[a.model_version_id].version} by {a.approver}" for a in independent) or "none",
        ),
        "in_production": (bool(prod), ", ".join(f"v{v.version}" for v in prod) or "none"),
    }


def _stage6(session: Session, project: Project) -> dict[str, Outcome]:
    batches = list(
        session.scalars(
            select(MonitoringBatch).where(MonitoringBatch.project_id == project.id).order_by(MonitoringBatch.id)
        )
    )
    analysed = [b for b in batches if b.analysed]
    latest = batches[-1] if batches else None
    drift_rows = (
        session.scalar(select(func.count(DriftResult.id)).where(DriftResult.batch_id == latest.id)) if latest else 0
    )
    alerts = list(session.scalars(select(Alert).where(Alert.project_id == project.id, Alert.severity == "critical")))
    triggered = set(session.scalars(select(RetrainingTrigger.alert_id).where(RetrainingTrigger.project_id == project.id)))
    untriaged = [a for a in alerts if a.id not in triggered and a.status == "open"]
    rules = session.scalar(select(func.count(SlaRule.id)).where(SlaRule.project_id == project.id,
                                                                SlaRule.active.is_(True)))
    return {
        "monitoring_configured": (bool(analysed), f"{len(analysed)} of {len(batches)} batch(es) analysed"),
        "drift_checked": (bool(drift_rows), f"{drift_rows} result(s) for {latest.label}" if latest else "no batch"),
        "alerts_triaged": (not untriaged, f"{len(alerts)} critical alert(s), {len(untriaged)} without a trigger"),
        "sla_defined": (bool(rules), f"{rules} active SLA rule(s)"),
    }


EVALUATORS: dict[int, Callable[[Session, Project], dict[str, Outcome]]] = {
    1: _stage1, 2: _stage2, 3: _stage3, 4: _stage4, 5: _stage5, 6: _stage6,
}


def evaluate_gate(session: Session, project: Project, number: int) -> StageGate:
    outcomes = EVALUATORS[number](session, project)
    results = tuple(CheckResult.of(c, project.maturity, outcomes[c.id]) for c in checks_for(number))
    return StageGate(number, stage(number).title, all(r.passed for r in results if r.required), results)


def gate(wb: Workbench, slug: str, number: int | None = None) -> StageGate:
    with wb.read() as session:
        project = find_project(session, slug)
        return evaluate_gate(session, project, number or project.current_stage)


def all_gates(wb: Workbench, slug: str) -> list[StageGate]:
    with wb.read() as session:
        project = find_project(session, slug)
        return [evaluate_gate(session, project, s.number) for s in STAGES]


def advance_stage(wb: Workbench, slug: str) -> int:
    """Move the project to the next stage if its current gate passes; returns the new stage."""
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        if project.current_stage >= len(STAGES):
            raise WorkbenchError(f"'{slug}' is already at the last stage ({stage(len(STAGES)).title})")
        status = evaluate_gate(uow.session, project, project.current_stage)
        if not status.passed:
            missing = "; ".join(f"{c.label} ({c.detail})" for c in status.missing)
            raise GateFailed(f"stage {status.stage} gate of '{slug}' is not passed — missing: {missing}")
        before = project.current_stage
        project.current_stage = before + 1
        uow.audit(
            "stage.advanced", "project", project.id, project=slug,
            from_stage=before, to_stage=project.current_stage,
            checks={c.id: c.passed for c in status.checks},
        )
        return project.current_stage


def project_stage(wb: Workbench, slug: str) -> int:
    with wb.read() as session:
        return find_project(session, slug).current_stage
