"""Collecting what each document shows into frozen data: the renderers never query.

Two shapes come out of here (see ``reports.data``):

* ``collect_report_data`` — the per-stage evidence the project screen shows;
* ``COLLECTORS[kind]`` — one :class:`DocumentData` per printable document: the compliance
  report, the problem statement, a model card, a drift report and a validation report.

Every collector reads the audit head before and after collecting; if another writer changed
the registry in between, collection starts again, so the head printed in a document is the
state the document describes. The documents that print the trail verify the chain here by
default; a report build passes ``verify_chain=False`` and has its worker do it through the
collected head (``app.audit.ChainCheck``). With ``deterministic=True`` the build time is printed as a fixed
text, so two builds from the same records give byte-identical PDFs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from app.errors import NotFound, WorkbenchError
from app.lifecycle import FRAMING_FIELDS, ML_CHECKLIST, MODEL_CARD_SECTIONS, STAGES, STATEMENT_FIELDS
from app.ml.catalogue import project_metric
from app.ml.drift_bands import PSI_ALERT_THRESHOLD, PSI_WATCH
from app.services import (
    audit_trail, comparison, datasets, deliverables, error_analysis, gates, monitoring_alerts, monitoring_batches,
    monitoring_policy, projects, promotion, registry, release_analysis, retraining, training,
)
from app.services.workbench import Workbench
from reports.data import (
    DETERMINISTIC_BUILD, ChartSeries, GateCheckRow, ProjectRecords, ReportData, StageChapter, TableData,
)

ATTEMPTS = 3
T = TypeVar("T")


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _cv(cv_metrics: dict | None, metric: str) -> str:
    entry = (cv_metrics or {}).get(metric) or (cv_metrics or {}).get(f"val_{metric}")
    return f"{entry['mean']:.4f} ± {entry['std']:.4f}" if isinstance(entry, dict) and "mean" in entry else "—"


def _data_tables(data_versions: list, splits: list) -> tuple[TableData, ...]:  # type: ignore[type-arg]
    """Stage 3 evidence: versions, splits, the findings of import and quality, and leakage."""
    findings = [(d, f) for d in data_versions for f in (*d.findings, *d.quality)]
    leakage = splits[-1].leakage if splits else ()
    return (
        TableData("Dataset versions", ("Id", "Role", "Source", "Rows", "Columns", "Target", "SHA-256"),
                  tuple((str(d.id), d.role, d.source_name, str(d.n_rows), str(d.n_columns), d.target or "—",
                         d.sha256) for d in data_versions)),
        TableData("Splits", ("Id", "Dataset", "Strategy", "Seed", "Train", "Validation", "Test",
                             "Train/test shared rows", "Fingerprint"),
                  tuple((str(s.id), str(s.dataset_version_id), s.strategy, str(s.seed),
                         *(str(s.counts.get(k, "")) for k in ("train", "validation", "test", "train_test_overlap")),
                         s.fingerprint[:16]) for s in splits),
                  highlight=tuple(i for i, s in enumerate(splits) if s.counts.get("train_test_overlap"))),
        TableData("Data findings (import and quality report)", ("Dataset", "Check", "Column", "Severity", "Detail"),
                  tuple((str(d.id), f["check"], f.get("column") or "—", f["severity"], f["detail"])
                        for d, f in findings),
                  highlight=tuple(i for i, (_, f) in enumerate(findings) if f["severity"] == "error")),
        TableData("Leakage checks of the latest split", ("Check", "Feature", "Severity", "Evidence"),
                  tuple((f["check"], f.get("feature") or "—", f["severity"], f["evidence"]) for f in leakage),
                  highlight=tuple(i for i, f in enumerate(leakage) if f["severity"] == "error"),
                  note="No finding means every check ran and stayed quiet." if splits else ""),
    )


def _development_tables(runs: list, comparisons: list, metric: str, best_run) -> tuple[TableData, ...]:  # type: ignore[no-untyped-def, type-arg]
    """Stage 4 evidence: the run ladder on validation data, and the significance tests."""
    return (TableData(f"Runs (validation part; primary metric {metric})",
                      ("Run", "Model", "Role", metric, "CV mean ± std", "Tuning trials", "Sealed test", "Seconds"),
                      tuple((str(r.id), r.model_kind, "baseline" if r.is_baseline else "candidate",
                             _fmt(r.metrics.get(f"val_{metric}")), _cv(r.cv_metrics, metric),
                             str((r.tuning or {}).get("trials", "—")),
                             _fmt(_test_value(r.test_metrics, metric)) if r.test_metrics else "sealed",
                             f"{r.duration_s:.1f}") for r in runs),
                      highlight=tuple(i for i, r in enumerate(runs) if best_run and r.id == best_run.id),
                      note="Highlighted: the best candidate on the primary validation metric."),
            TableData("Statistical comparisons (validation part, α = 0.05)",
                      ("Run A", "Run B", "Test", "Metric", "Difference B − A", "95% CI", "p-value", "Verdict"),
                      tuple((str(c.run_a), str(c.run_b), c.test, c.metric, f"{c.difference:+.4f}",
                             f"[{c.ci[0]:+.4f}, {c.ci[1]:+.4f}]", f"{c.p_value:.3g}",
                             "B significantly better" if c.significant else "not significant")
                            for c in comparisons),
                      highlight=tuple(i for i, c in enumerate(comparisons) if c.significant)))


def _analysis_tables(run_id: int, result: dict) -> tuple[TableData, ...]:
    """Error analysis evidence for the report: headline figures, then per-segment metrics."""
    rows: list[tuple[str, str]] = []
    if result.get("confusion"):
        labels, matrix = result["confusion"]["labels"], result["confusion"]["matrix"]
        rows.append(("Confusion matrix (true × predicted)", "; ".join(
            f"true {label}: " + ", ".join(str(v) for v in row) for label, row in zip(labels, matrix, strict=False))))
    if result.get("calibration"):
        rows.append(("Expected calibration error", f"{result['calibration']['ece']:.4f}"))
    fair = result.get("fairness")
    if fair:
        rows.append((f"Demographic parity difference ({fair['attribute']})", f"{fair['demographic_parity_difference']:.4f}"))
        rows.append((f"Equalized odds difference ({fair['attribute']})", f"{fair['equalized_odds_difference']:.4f}"))
    for item in result.get("permutation_importance", [])[:8]:
        rows.append((f"Permutation importance: {item['feature']}",
                     f"{item['importance_mean']:.4f} ± {item['importance_std']:.4f}"))
    segment_rows = []
    for column, segments in result.get("segments", {}).items():
        for seg in segments:
            figures = ", ".join(f"{k} {v:.4f}" for k, v in seg.items() if isinstance(v, float))
            segment_rows.append((column, str(seg["segment"]), str(seg["rows"]), figures or "too few rows"))
    return (
        TableData(f"Error analysis of run {run_id} (validation part)", ("Measure", "Value"), tuple(rows)),
        TableData(f"Per-segment metrics of run {run_id}", ("Column", "Segment", "Rows", "Metrics"),
                  tuple(segment_rows)),
    )


def _test_value(test_metrics: dict | None, metric: str) -> float | None:
    """A sealed-test score: stored under the metric's own name (older runs: ``test_<metric>``)."""
    test_metrics = test_metrics or {}
    return test_metrics.get(metric, test_metrics.get(f"test_{metric}"))


def _built_at(deterministic: bool) -> str:
    return DETERMINISTIC_BUILD if deterministic else datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _yes_no(value: object) -> str:
    return {True: "yes", False: "no"}.get(value, "not stated")  # type: ignore[call-overload]


def _collect(wb: Workbench, slug: str, deterministic: bool) -> ReportData:
    summary = projects.project_summary(wb, slug)
    docs = deliverables.deliverables(wb, slug)
    statement, checklist, framing = docs["problem_statement"], docs["ml_checklist"], docs["framing"]
    gate_status = {g.stage: g for g in gates.all_gates(wb, slug)}
    data_versions = datasets.list_datasets(wb, slug)
    splits = datasets.list_splits(wb, slug)
    runs = training.list_runs(wb, slug)
    models = registry.list_models(wb, slug)
    batches = monitoring_batches.list_batches(wb, slug)
    alerts = monitoring_alerts.list_alerts(wb, slug)
    triggers = retraining.list_triggers(wb, slug)
    history = promotion.transitions(wb, slug)
    analyses = release_analysis.list_release_analyses(wb, slug)
    waived = promotion.waivers(wb, slug)

    deliverable_rows: dict[int, tuple[tuple[str, str], ...]] = {
        1: tuple((label, statement.get(key, "—")) for key, label in STATEMENT_FIELDS)
        + tuple((label, _yes_no(checklist.get(key))) for key, label in ML_CHECKLIST)
        + ((("Checklist notes", checklist["notes"]),) if checklist.get("notes") else ()),
        2: tuple((label, framing.get(key, "—")) for key, label in FRAMING_FIELDS),
        3: (("Dataset versions", str(len(data_versions))), ("Splits", str(len(splits)))),
        4: (("Runs", str(len(runs))), ("Baseline runs", str(sum(r.is_baseline for r in runs)))),
        5: (("Model versions", str(len(models))),
            ("In production", ", ".join(f"v{m.version}" for m in models if m.stage == "production") or "none")),
        6: (("Monitoring batches", str(len(batches))), ("Alerts", str(len(alerts)))),
    }
    features = framing.get("features", [])
    metric = project_metric(summary.problem_type)
    comparisons = comparison.list_comparisons(wb, slug)
    best_run = max((r for r in runs if not r.is_baseline), key=lambda r: r.metrics.get(f"val_{metric}", 0),
                   default=None)
    tables: dict[int, tuple[TableData, ...]] = {
        2: (TableData("Feature specification", ("Feature", "Type", "Source", "At serving time", "Personal data"),
                      tuple((f["name"], f["type"], f.get("source", ""), _yes_no(f.get("available_at_serving")),
                             _yes_no(f.get("pii"))) for f in features),
                      highlight=tuple(i for i, f in enumerate(features) if f.get("available_at_serving") is not True)),),
        3: _data_tables(data_versions, splits),
        4: _development_tables(runs, comparisons, metric, best_run),
        5: (TableData("Model versions", ("Version", "Run", "Model", "Stage", "Alias", "Card", "Registered by",
                                         "Artifact"),
                      tuple((f"v{m.version}", str(m.run_id), m.model_kind, m.stage, m.alias or "—", _yes_no(m.has_card),
                             m.created_by, m.artifact_sha256[:16]) for m in models),
                      highlight=tuple(i for i, m in enumerate(models) if m.stage == "production")),
            TableData("Transitions", ("When", "Version", "From", "To", "By", "Why"),
                      tuple((t.created_at.strftime("%Y-%m-%d %H:%M"), f"v{t.version}", t.from_stage, t.to_stage,
                             t.actor, t.reason or "—") for t in history)),
            TableData("Release analyses", ("Kind", "Version", "Against", "Verdict", "Result", "Decision"),
                      tuple((a.kind, f"v{a.version}", f"v{a.baseline_version}", a.verdict, a.summary(),
                             a.decision or "—") for a in analyses),
                      highlight=tuple(i for i, a in enumerate(analyses) if a.verdict == "failed")),
            TableData("Waivers", ("Version", "Check", "Reason", "Granted by"),
                      tuple((f"v{w.version}", w.check_id, w.reason, w.granted_by) for w in waived))),
        6: (TableData("Monitoring batches", ("Batch", "Rows", "Model", "Analysed", "Max PSI"),
                      tuple((b.label, str(b.n_rows), f"v{b.model_version}" if b.model_version else "—",
                             _yes_no(b.analysed), _fmt(b.max_psi, 3)) for b in batches),
                      highlight=tuple(i for i, b in enumerate(batches)
                                      if b.max_psi is not None and b.max_psi > PSI_ALERT_THRESHOLD)),
            TableData("Performance and SLA per batch (labels arrive later)", ("Batch", "Labelled", "Metrics", "SLA"),
                      tuple((b.label, str(b.n_labelled),
                             ", ".join(f"{k} {v:.3f}" for k, v in sorted(b.metrics.items())
                                       if k in monitoring_policy.SLA_METRICS) or "—",
                             "; ".join(f"{k}: {'ok' if v['passed'] else ('BREACHED' if v['passed'] is False else 'n/a')}"
                                       for k, v in b.sla.items()) or "—") for b in batches),
                      highlight=tuple(i for i, b in enumerate(batches)
                                      if any(v["passed"] is False for v in b.sla.values()))),
            TableData("Alerts", ("Alert", "Batch", "Rule", "Severity", "Message", "Trigger"),
                      tuple((str(a.id), a.batch or "—", a.rule, a.severity, a.message,
                             f"#{a.trigger_id}" if a.trigger_id else "none") for a in alerts),
                      highlight=tuple(range(len(alerts)))),
            TableData("Retraining triggers and the runs that answered them",
                      ("Trigger", "Kind", "Reason", "Batch", "Training data", "Run"),
                      tuple((f"#{t.id}", t.kind, t.reason, t.batch or "—",
                             f"dataset v{t.dataset_version_id}" if t.dataset_version_id else "—",
                             f"run {t.run_id}" if t.run_id else "open") for t in triggers))),
    }
    for run in sorted(runs, key=lambda r: -r.metrics.get(f"val_{metric}", 0)):
        analysis = error_analysis.latest_analysis(wb, slug, run.id)
        if analysis is not None:  # the best run that has an error analysis
            tables[4] = (*tables[4], *_analysis_tables(run.id, analysis))
            break
    chapters = tuple(
        StageChapter(
            number=s.number, title=s.title, risk=s.risk, gate_passed=gate_status[s.number].passed,
            deliverables=deliverable_rows[s.number],
            checks=tuple(GateCheckRow(c.label, c.passed, c.required, c.detail) for c in gate_status[s.number].checks),
            tables=tables.get(s.number, ()),
        )
        for s in STAGES
    )

    card_version = next((m for m in models if m.stage == "production" and m.has_card), None) or next(
        (m for m in reversed(models) if m.has_card), None)
    card_sections: tuple[tuple[str, str], ...] = ()
    if card_version is not None:
        card = registry.model_card(wb, slug, card_version.version)
        card_sections = (("Model version", f"v{card_version.version} ({card_version.model_kind}, {card_version.stage})"),) + tuple(
            (label, card[key]) for key, label in MODEL_CARD_SECTIONS if card.get(key))

    drift_rows, drift_highlight = [], []
    for b in batches:
        for r in b.drift:
            if r.drifted:
                drift_highlight.append(len(drift_rows))
            name = {"prediction": "(prediction)", "label": "(label)"}.get(r.subject, r.feature)
            drift_rows.append((b.label, name, r.kind, _fmt(r.ks), _p(r.ks_pvalue), _fmt(r.psi), _p(r.chi2_pvalue),
                               _fmt(r.js), "DRIFT" if r.drifted else "ok"))
    drift = TableData("Drift per feature, prediction and label",
                      ("Batch", "Feature", "Kind", "KS", "KS p", "PSI", "χ² p", "JS", "Verdict"),
                      tuple(drift_rows), highlight=tuple(drift_highlight),
                      note=(f"Drifted means significant (p < 0.05) and an effect size at or above its threshold "
                            f"(PSI {PSI_WATCH}, KS 0.1, JS 0.1 unless set per feature); PSI above "
                            f"{PSI_ALERT_THRESHOLD} on an important feature triggers retraining."))
    approvals = TableData("Approvals", ("Version", "Requested by", "Approver", "Decision", "Comment", "When"),
                          tuple((f"v{a.version}", a.requested_by, a.approver, a.decision, a.comment or "—",
                                 a.created_at.strftime("%Y-%m-%d %H:%M")) for m in models for a in m.approvals))
    charts = tuple(
        ChartSeries(f"PSI per feature — batch {b.label}", tuple(r.feature for r in b.features),
                    tuple(r.psi or 0.0 for r in b.features),
                    threshold=PSI_ALERT_THRESHOLD)
        for b in batches if b.analysed
    )
    head, count = audit_trail.head(wb)
    return ReportData(
        project_slug=summary.slug, project_name=summary.name, problem_type=summary.problem_type,
        maturity=summary.maturity, current_stage=summary.current_stage,
        generated_at=_built_at(deterministic), generated_by=wb.actor, deterministic=deterministic,
        chapters=chapters, model_card=card_sections, drift_table=drift, approvals=approvals,
        audit_head_seq=head.seq if head else 0, audit_head_hash=head.hash if head else "0" * 64,
        audit_event_count=count, charts=charts,
    )


def _consistent(wb: Workbench, collect: Callable[[], T], head_of: Callable[[T], tuple[int, str]]) -> T:
    """Run ``collect`` until the audit head did not move while it ran."""
    for _ in range(ATTEMPTS):
        before, _count = audit_trail.head(wb)
        data = collect()
        if before is None or head_of(data) == (before.seq, before.hash):
            return data
    raise WorkbenchError("the registry kept changing while the report was collected: try again when jobs finish")


def collect_report_data(wb: Workbench, slug: str, *, deterministic: bool = False) -> ReportData:
    """The per-stage evidence of a project (the project screen, and the stage evidence PDF)."""
    return _consistent(wb, lambda: _collect(wb, slug, deterministic),
                       lambda d: (d.audit_head_seq, d.audit_head_hash))


# ---------------------------------------------------------------------------- documents

#: How many of the project's audit events the change log summarises (newest first).
CHANGE_LOG_EVENTS = 20_000


def _chosen_version(slug: str, models: list, version: int | None) -> int | None:  # type: ignore[type-arg]
    """The version asked for; else the one in production; else the latest registered; else None."""
    if version is not None:
        if not any(m.version == version for m in models):
            raise NotFound(f"project '{slug}' has no model version {version}: list them with `mlwb models {slug}`")
        return version
    production = [m.version for m in models if m.stage == "production"]
    if production:
        return production[-1]
    return models[-1].version if models else None


def _batch_range(slug: str, batches: list, scope: Sequence[str] | None) -> tuple[str, ...]:  # type: ignore[type-arg]
    """The labels a drift report covers: every batch (no scope), one batch, or FIRST..LAST."""
    labels = [b.label for b in batches]
    if not labels:
        raise WorkbenchError(f"project '{slug}' has no monitoring batches yet: import one with `mlwb monitor import`")
    chosen = tuple(scope or ())
    if len(chosen) > 2:
        raise WorkbenchError(f"give one batch or a first and last batch, not {len(chosen)}")
    for label in chosen:
        if label not in labels:
            raise NotFound(f"project '{slug}' has no monitoring batch '{label}': choose one of {', '.join(labels)}")
    if not chosen:
        return tuple(labels)
    start, end = labels.index(chosen[0]), labels.index(chosen[-1])
    if end < start:
        raise WorkbenchError(f"batch '{chosen[-1]}' arrived before '{chosen[0]}': name the earlier batch first")
    return tuple(labels[start: end + 1])


def _gather(wb: Workbench, slug: str, kind: str, *, version: int | None = None, deterministic: bool = False,
            audit_log: bool = False, verify_chain: bool = True,
            batches: Sequence[str] | None = None) -> ProjectRecords:
    """One read of everything a document may show, through the services the screens use.

    ``audit_log``: the document prints the trail, so the project's events are read and (with
    ``verify_chain``) the chain is verified and its evidence digest computed here; without
    it they are left for the worker that renders (``app.audit.ChainCheck``)."""
    summary = projects.project_summary(wb, slug)
    docs = deliverables.deliverables(wb, slug)
    models = registry.list_models(wb, slug)
    chosen = _chosen_version(slug, models, version)
    view = next((m for m in models if m.version == chosen), None)
    all_batches = monitoring_batches.list_batches(wb, slug)
    labels = _batch_range(slug, all_batches, batches) if kind == "drift" else ()
    runs = training.list_runs(wb, slug)
    events: tuple = ()
    chain, digest = None, ""
    if audit_log:
        events = tuple(audit_trail.recent_events(wb, project=slug, limit=CHANGE_LOG_EVENTS))
    if audit_log and verify_chain:
        chain, digest = audit_trail.verify_with_digest(wb)
    head, count = audit_trail.head(wb)
    return ProjectRecords(
        kind=kind, built_at=_built_at(deterministic), built_by=wb.actor, deterministic=deterministic,
        summary=summary, statement=dict(docs["problem_statement"]), checklist=dict(docs["ml_checklist"]),
        framing=dict(docs["framing"]), gates=tuple(gates.all_gates(wb, slug)),
        datasets=tuple(datasets.list_datasets(wb, slug)), splits=tuple(datasets.list_splits(wb, slug)),
        runs=tuple(runs), comparisons=tuple(comparison.list_comparisons(wb, slug)), models=tuple(models),
        version=chosen, card=registry.model_card(wb, slug, chosen) if chosen is not None else {},
        promotion=promotion.promotion_gate(wb, slug, chosen) if chosen is not None else None,
        review_requests=tuple(registry.review_requests(wb, slug)), transitions=tuple(promotion.transitions(wb, slug)),
        waivers=tuple(promotion.waivers(wb, slug)),
        release_analyses=tuple(release_analysis.list_release_analyses(wb, slug)),
        batches=tuple(all_batches), alerts=tuple(monitoring_alerts.list_alerts(wb, slug)),
        triggers=tuple(retraining.list_triggers(wb, slug)), sla_rules=tuple(monitoring_policy.sla_rules(wb, slug)),
        error_analysis=error_analysis.latest_analysis(wb, slug, view.run_id) if view else None,
        lineage=retraining.lineage_of_run(wb, view.run_id) if view else None,
        audit_head_seq=head.seq if head else 0, audit_head_hash=head.hash if head else "0" * 64,
        audit_event_count=count, batch_labels=labels, events=events, chain=chain,
        evidence_digest=digest,
    )


def _records(wb: Workbench, slug: str, kind: str, **options: object) -> ProjectRecords:
    return _consistent(wb, lambda: _gather(wb, slug, kind, **options),  # type: ignore[arg-type]
                       lambda r: (r.audit_head_seq, r.audit_head_hash))


def collect_compliance_report(wb: Workbench, slug: str, *, version: int | None = None,
                              deterministic: bool = False, verify_chain: bool = True) -> ProjectRecords:
    """Records for the compliance report of ``version`` (default: the production version);
    ``verify_chain=False`` leaves the chain's verification to the rendering worker."""
    return _records(wb, slug, "compliance", version=version, deterministic=deterministic, audit_log=True,
                    verify_chain=verify_chain)


def collect_problem_statement(wb: Workbench, slug: str, *, deterministic: bool = False) -> ProjectRecords:
    """Records for the one-page stage 1 deliverable."""
    return _records(wb, slug, "problem_statement", deterministic=deterministic)


def collect_model_card(wb: Workbench, slug: str, *, version: int | None = None,
                       deterministic: bool = False) -> ProjectRecords:
    """Records for one version's model card with its metrics and lineage."""
    return _records(wb, slug, "model_card", version=version, deterministic=deterministic)


def collect_drift_report(wb: Workbench, slug: str, *, batches: Sequence[str] | None = None,
                         deterministic: bool = False) -> ProjectRecords:
    """Records for the drift report of ``batches``: one label, or the first and last label of
    a range in arrival order; none (the default) covers every batch."""
    return _records(wb, slug, "drift", batches=batches, deterministic=deterministic)


def collect_validation_report(wb: Workbench, slug: str, *, version: int | None = None,
                              deterministic: bool = False, verify_chain: bool = True) -> ProjectRecords:
    """Records for the validation report a reviewer signs for ``version`` (default: production);
    ``verify_chain=False`` leaves the chain's verification to the rendering worker."""
    return _records(wb, slug, "validation", version=version, deterministic=deterministic, audit_log=True,
                    verify_chain=verify_chain)


#: kind -> collector; every collector takes (wb, slug) and keyword options, always ``deterministic``;
#: those of documents that print the audit trail also ``verify_chain``.
COLLECTORS: dict[str, Callable[..., ProjectRecords]] = {
    "compliance": collect_compliance_report,
    "problem_statement": collect_problem_statement,
    "model_card": collect_model_card,
    "drift": collect_drift_report,
    "validation": collect_validation_report,
}
