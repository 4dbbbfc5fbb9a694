"""Evidence tables and charts every document draws from the same records.

Pure functions from :class:`~reports.data.ProjectRecords` (service views) to the
plain tables, facts and chart series a document shows. They decide wording and columns once,
so the compliance report, the validation report and the drift report say the same thing the
same way. No database, no reportlab: safe anywhere, cheap to import.
"""

from __future__ import annotations

import math
from typing import Any

from app.lifecycle import ML_CHECKLIST, MODEL_CARD_SECTIONS, STAGES, STATEMENT_FIELDS
from app.ml.catalogue import RUNG_OF_KIND, RUNGS, lower_is_better, project_metric
from app.ml.drift_bands import DEFAULT_THRESHOLDS, PSI_ALERT_THRESHOLD
from reports.data import (
    ChartSeries, Facts, LineChart, ProjectRecords, ReportStamp, TableData,
)

MAX_FEATURE_LINES = 8


# ---------------------------------------------------------------------------- small formats


def num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def pval(value: float | None) -> str:
    if value is None:
        return "—"
    return "<1e-4" if value < 1e-4 else f"{value:.3g}"


def when(value: Any) -> str:
    """A datetime (or ISO text) to the minute, the way every table shows time."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value[:16].replace("T", " ")
    return value.strftime("%Y-%m-%d %H:%M")


def yes_no(value: object) -> str:
    return {True: "yes", False: "no"}.get(value, "not stated")  # type: ignore[call-overload]


def primary_metric(records: ProjectRecords) -> str:
    return project_metric(records.summary.problem_type)


def rung(run: Any) -> str:
    """A kind the catalogue does not know is a complex candidate."""
    return "baseline" if run.is_baseline else RUNG_OF_KIND.get(run.model_kind, "complex")


# ---------------------------------------------------------------------------- the version


def version_view(records: ProjectRecords) -> Any | None:
    return next((m for m in records.models if m.version == records.version), None)


def version_run(records: ProjectRecords) -> Any | None:
    view = version_view(records)
    return next((r for r in records.runs if view and r.id == view.run_id), None)


def version_label(records: ProjectRecords) -> str:
    return f"v{records.version}" if records.version is not None else "none"


def describe_version(records: ProjectRecords) -> str:
    view = version_view(records)
    if view is None:
        return "no model version registered"
    alias = f", alias {view.alias}" if view.alias else ""
    return f"v{view.version} — {view.model_kind}, stage {view.stage}{alias} (run {view.run_id})"


def stamp(records: ProjectRecords) -> ReportStamp:
    return records.stamp


def stage_text(records: ProjectRecords) -> str:
    s = records.summary
    return f"Stage {s.current_stage} of {len(STAGES)} — {s.stage_title}"


# ---------------------------------------------------------------------------- gates


def stage_gates_table(records: ProjectRecords) -> TableData:
    risks = {stage.number: stage.risk for stage in STAGES}
    gates = records.gates
    return TableData(
        "Stage gates", ("#", "Stage", "Primary risk", "Required checks passed", "Optional warnings", "Gate"),
        tuple((str(g.stage), g.title, risks.get(g.stage, "—"),
               f"{sum(c.passed for c in g.checks if c.required)} of {sum(c.required for c in g.checks)}",
               str(sum(1 for c in g.checks if not c.required and not c.passed)),
               "PASSED" if g.passed else "OPEN") for g in gates),
        highlight=tuple(i for i, g in enumerate(gates) if g.stage == records.summary.current_stage),
        note="Shaded: the project's current stage. A gate passes when every check its maturity profile "
             "requires holds; optional checks only warn.")


def gate_checks_table(records: ProjectRecords, stage: int) -> TableData:
    gate = next((g for g in records.gates if g.stage == stage), None)
    checks = gate.checks if gate else ()
    return TableData(
        f"Gate checks of stage {stage}" + (f" ({gate.title})" if gate else ""),
        ("Check", "Result", "Kind", "Evidence"),
        tuple((c.label, "PASS" if c.passed else ("MISSING" if c.required else "WARN"),
               "required" if c.required else "optional", c.detail or "—") for c in checks),
        highlight=tuple(i for i, c in enumerate(checks) if not c.passed))


def promotion_table(records: ProjectRecords) -> TableData:
    gate = records.promotion
    checks = gate.checks if gate else ()

    def result(c: Any) -> str:
        if c.passed:
            return "PASS"
        return "WAIVED" if c.waiver else ("MISSING" if c.required else "WARN")

    return TableData(
        f"Promotion gate of {version_label(records)} ({records.summary.maturity} profile)",
        ("Release check", "Result", "Kind", "Evidence", "Waiver"),
        tuple((c.label, result(c), "required" if c.required else "recommended", c.detail or "—", c.waiver or "—")
              for c in checks),
        highlight=tuple(i for i, c in enumerate(checks) if not c.passed),
        note="" if gate else "No model version is registered, so no promotion gate applies yet.")


# ---------------------------------------------------------------------------- business goal


def statement_facts(records: ProjectRecords, title: str = "") -> Facts:
    return Facts(tuple((label, str(records.statement.get(key) or "").strip() or "not stated")
                       for key, label in STATEMENT_FIELDS), title)


def ml_checklist_table(records: ProjectRecords) -> TableData:
    checklist = records.checklist
    return TableData("Is ML appropriate?", ("Question", "Answer"),
                     tuple((label, {True: "YES", False: "NO"}.get(checklist.get(key), "NOT ANSWERED"))
                           for key, label in ML_CHECKLIST),
                     highlight=tuple(i for i, (key, _) in enumerate(ML_CHECKLIST) if checklist.get(key) is not True),
                     note="Shaded: an answer that argues against ML, or none.")


# ---------------------------------------------------------------------------- framing


def features_table(records: ProjectRecords) -> TableData:
    features = records.framing.get("features") or []
    return TableData("Feature specification", ("Feature", "Type", "Source", "At serving time", "Personal data"),
                     tuple((f.get("name", ""), f.get("type", ""), f.get("source", "") or "—",
                            yes_no(f.get("available_at_serving")), yes_no(f.get("pii"))) for f in features),
                     highlight=tuple(i for i, f in enumerate(features) if f.get("available_at_serving") is not True),
                     note="Shaded: a feature not known to be available when the model serves (a leakage risk).")


# ---------------------------------------------------------------------------- data


def datasets_table(records: ProjectRecords) -> TableData:
    rows = tuple((f"v{d.id}", d.role, d.source_name, f"{d.n_rows:,}", str(d.n_columns), d.target or "—",
                  when(d.created_at), d.created_by) for d in records.datasets)
    return TableData("Dataset versions",
                     ("Version", "Role", "Source", "Rows", "Columns", "Target", "Imported", "By"), rows)


def fingerprints_table(records: ProjectRecords) -> TableData:
    return TableData("Dataset fingerprints (SHA-256 of the imported bytes)", ("Version", "Role", "SHA-256"),
                     tuple((f"v{d.id}", d.role, d.sha256) for d in records.datasets),
                     note="The same bytes always give the same hash: a reviewer can re-hash the stored artifact "
                          "and compare.")


def quality_table(records: ProjectRecords, roles: tuple[str, ...] = ("training",)) -> TableData:
    findings = [(d, f) for d in records.datasets if d.role in roles for f in (*d.findings, *d.quality)]
    return TableData(
        "Quality findings of the training data",
        ("Dataset", "Check", "Column", "Severity", "Detail"),
        tuple((f"v{d.id}", f.get("check", ""), f.get("column") or "—", str(f.get("severity", "")).upper(),
               f.get("detail", "")) for d, f in findings),
        highlight=tuple(i for i, (_, f) in enumerate(findings) if f.get("severity") == "error"),
        note="Import and quality checks: missing values, duplicates, outliers, constant and mixed-type columns.")


def splits_table(records: ProjectRecords) -> TableData:
    splits = records.splits
    return TableData(
        "Splits", ("Split", "Dataset", "Strategy", "Seed", "Train", "Validation", "Test", "Shared rows",
                   "Fingerprint"),
        tuple((str(s.id), f"v{s.dataset_version_id}", s.strategy, str(s.seed),
               *(f"{s.counts.get(k, 0):,}" for k in ("train", "validation", "test", "train_test_overlap")),
               s.fingerprint) for s in splits),
        highlight=tuple(i for i, s in enumerate(splits) if s.counts.get("train_test_overlap")))


def leakage_table(records: ProjectRecords) -> TableData:
    rows = [(s, f) for s in records.splits for f in s.leakage]
    scope = (f"{len(records.splits)} split(s) checked, {len(rows)} finding(s)" if records.splits
             else "no split made yet, so none has run")
    return TableData(
        f"Leakage checks ({scope})", ("Split", "Check", "Feature", "Severity", "Evidence"),
        tuple((str(s.id), f.get("check", ""), f.get("feature") or "—", str(f.get("severity", "")).upper(),
               f.get("evidence", "")) for s, f in rows),
        highlight=tuple(i for i, (_, f) in enumerate(rows) if f.get("severity") == "error"),
        note="Every split runs the checks (shared rows, temporal overlap, target-leaking features); a split "
             "without a row here passed them all.")


# ---------------------------------------------------------------------------- development


def _cv(run: Any, metric: str) -> str:
    entry = (run.cv_metrics or {}).get(metric)
    if isinstance(entry, dict) and "mean" in entry:
        folds = len(entry.get("folds") or ())
        return f"{entry['mean']:.4f} ± {entry['std']:.4f}" + (f" ({folds} folds)" if folds else "")
    return "—"


def ladder_runs(records: ProjectRecords) -> list[Any]:
    return sorted(records.runs, key=lambda r: (RUNGS.index(rung(r)), r.id))


def ladder_table(records: ProjectRecords) -> TableData:
    metric = primary_metric(records)
    runs = ladder_runs(records)
    chosen = version_run(records)
    return TableData(
        f"Baseline ladder (validation part; primary metric {metric})",
        ("Rung", "Run", "Model", f"Validation {metric}", f"Train {metric}", "CV mean ± std", "Tuning", "Sealed test",
         "Seconds"),
        tuple((rung(r), str(r.id), r.model_kind, num(r.metrics.get(f"val_{metric}")),
               num(r.metrics.get(f"train_{metric}")), _cv(r, metric),
               f"{(r.tuning or {}).get('trials')} trials" if (r.tuning or {}).get("trials") else "—",
               num(test_value(r, metric)) if r.test_metrics else "sealed", f"{r.duration_s:.1f}") for r in runs),
        highlight=tuple(i for i, r in enumerate(runs) if chosen and r.id == chosen.id),
        note="Rule or baseline first, then simple and complex models. Shaded: the run behind the model version "
             "this document is about. A large train-to-validation gap is the overfitting signal.")


def test_value(run: Any, metric: str) -> float | None:
    tm = run.test_metrics or {}
    return tm.get(metric, tm.get(f"test_{metric}"))


def ladder_chart(records: ProjectRecords) -> ChartSeries:
    metric = primary_metric(records)
    runs = ladder_runs(records)
    threshold = None
    try:
        threshold = float(str(records.statement.get("ml_metric_threshold", "")).strip())
    except ValueError:
        pass
    return ChartSeries(f"Validation {metric} per run, ladder order",
                       tuple(f"run {r.id} {r.model_kind}" for r in runs),
                       tuple(r.metrics.get(f"val_{metric}", math.nan) for r in runs),
                       threshold=threshold, y_label=metric, alarm_above=True if lower_is_better(metric)
                       else None,
                       note="Threshold: the ML metric threshold of the problem statement." if threshold else "")


def cv_table(records: ProjectRecords) -> TableData:
    rows = []
    for r in ladder_runs(records):
        for name, entry in sorted((r.cv_metrics or {}).items()):
            if isinstance(entry, dict) and "mean" in entry:
                folds = entry.get("folds") or ()
                rows.append((str(r.id), r.model_kind, name, num(entry["mean"]), num(entry.get("std")),
                             str(len(folds)) if folds else "—",
                             ", ".join(num(f, 3) for f in folds[:10]) if folds else "—"))
    return TableData("Cross-validation", ("Run", "Model", "Metric", "Mean", "Std", "Folds", "Fold values"),
                     tuple(rows))


def tuning_table(records: ProjectRecords) -> TableData:
    rows = tuple((str(r.id), r.model_kind, str((r.tuning or {}).get("trials", "—")),
                  ", ".join(f"{k}={v}" for k, v in sorted(((r.tuning or {}).get("best_params") or {}).items()))
                  or "—")
                 for r in ladder_runs(records) if r.tuning)
    return TableData("Hyper-parameter tuning", ("Run", "Model", "Trials", "Best parameters"), rows)


def comparisons_table(records: ProjectRecords) -> TableData:
    comps = records.comparisons
    return TableData(
        "Statistical comparisons (validation part)",
        ("Run A", "Run B", "Test", "Metric", "Difference B − A", "95% CI", "p-value", "α", "Verdict"),
        tuple((str(c.run_a), str(c.run_b), c.test, c.metric, f"{c.difference:+.4f}",
               f"[{c.ci[0]:+.4f}, {c.ci[1]:+.4f}]", pval(c.p_value), f"{c.alpha:g}",
               "B significantly better" if c.significant else "not significant") for c in comps),
        highlight=tuple(i for i, c in enumerate(comps) if c.significant))


def analysis_tables(run_id: int, result: dict[str, Any]) -> tuple[TableData, ...]:
    """Error analysis of one run: headline measures, per-segment metrics, fairness by group."""
    rows: list[tuple[str, str]] = [("Rows analysed (validation part)", str(result.get("rows", "—")))]
    if result.get("confusion"):
        labels, matrix = result["confusion"]["labels"], result["confusion"]["matrix"]
        rows.append(("Confusion matrix (true × predicted)", "; ".join(
            f"true {label}: " + ", ".join(str(v) for v in row) for label, row in zip(labels, matrix))))
    for curve in ("roc", "pr"):
        if isinstance(result.get(curve), dict) and result[curve].get("auc") is not None:
            rows.append((f"{curve.upper()} curve area", num(result[curve]["auc"])))
    if result.get("calibration"):
        rows.append(("Expected calibration error", num(result["calibration"].get("ece"))))
    fair = result.get("fairness")
    if fair:
        rows.append((f"Demographic parity difference ({fair['attribute']})",
                     num(fair.get("demographic_parity_difference"))))
        rows.append((f"Equalized odds difference ({fair['attribute']})", num(fair.get("equalized_odds_difference"))))
    for item in (result.get("permutation_importance") or [])[:10]:
        rows.append((f"Permutation importance: {item['feature']}",
                     f"{item['importance_mean']:.4f} ± {item['importance_std']:.4f}"))
    segments = []
    for column, segs in (result.get("segments") or {}).items():
        for seg in segs:
            figures = ", ".join(f"{k} {v:.4f}" for k, v in seg.items() if isinstance(v, float))
            segments.append((column, str(seg.get("segment")), str(seg.get("rows", "")), figures or "too few rows"))
    groups = (fair or {}).get("groups") or []
    return (
        TableData(f"Error analysis of run {run_id} (validation part)", ("Measure", "Value"), tuple(rows)),
        TableData(f"Per-segment metrics of run {run_id}", ("Column", "Segment", "Rows", "Metrics"), tuple(segments)),
        TableData(f"Fairness by group of run {run_id}" + (f" ({fair['attribute']})" if fair else ""),
                  ("Group", "Rows", "Selection rate", "True positive rate", "False positive rate"),
                  tuple((str(g.get("group")), str(g.get("rows", "")), num(g.get("selection_rate")),
                         num(g.get("tpr")), num(g.get("fpr"))) for g in groups)),
    )


# ---------------------------------------------------------------------------- registry and review


def card_facts(records: ProjectRecords) -> Facts:
    return Facts(tuple((label, records.card.get(key, "").strip() or "MISSING")
                       for key, label in MODEL_CARD_SECTIONS),
                 f"Model card of {version_label(records)}")


def version_facts(records: ProjectRecords) -> Facts:
    view, run = version_view(records), version_run(records)
    if view is None:
        return Facts((("Model version", "no model version registered"),))
    rows = [("Model version", describe_version(records)),
            ("Registered by", f"{view.created_by}, {when(view.created_at)}"),
            ("Artifact SHA-256", view.artifact_sha256)]
    if run is not None:
        rows += [("Run", f"run {run.id} ({run.model_kind}, seed {run.seed}, experiment {run.experiment}), "
                         f"trained by {run.created_by} {when(run.created_at)}")]
        dataset = next((d for d in records.datasets if d.id == run.dataset_version_id), None)
        split = next((s for s in records.splits if s.id == run.split_id), None)
        rows.append(("Training data", f"dataset v{run.dataset_version_id}" +
                     (f" {dataset.source_name}, {dataset.n_rows:,} rows, SHA-256 {dataset.sha256}" if dataset else "")))
        rows.append(("Split", f"split {run.split_id}" +
                     (f" ({split.strategy}, seed {split.seed}), fingerprint {split.fingerprint}" if split else "")))
        features = (run.params or {}).get("features")
        if features:
            rows.append(("Features", ", ".join(features) if not isinstance(features, dict)
                         else ", ".join(f"{k} ({v})" for k, v in features.items())))
        env = run.environment or {}
        if env:
            rows.append(("Environment", ", ".join(f"{k} {v}" for k, v in sorted(env.items())
                                                  if not isinstance(v, dict))))
        if run.parent_run_id:
            rows.append(("Parent run", f"run {run.parent_run_id} (tuning)"))
    lineage = records.lineage
    if lineage:
        rows.append(("Why it exists", f"retraining trigger #{lineage['trigger']} ({lineage['kind']}): "
                                      f"{lineage['reason']}; alert {lineage.get('alert') or '—'}, batch "
                                      f"{lineage.get('batch') or '—'}, training data dataset "
                                      f"v{lineage.get('dataset_version') or '—'}, job {lineage.get('job') or '—'}, "
                                      f"requested by {lineage.get('requested_by')}"))
    return Facts(tuple(rows), "Version and lineage")


def version_metrics_table(records: ProjectRecords) -> TableData:
    run = version_run(records)
    if run is None:
        return TableData("Metrics of the version",
                         ("Metric", "Train", "Validation", "Cross-validation", "Sealed test"), ())
    names = sorted({k.split("_", 1)[1] for k in run.metrics if k.startswith(("val_", "train_"))}
                   | set((run.test_metrics or {})) | set(run.cv_metrics or {}))
    return TableData(
        f"Metrics of {version_label(records)} (run {run.id})",
        ("Metric", "Train", "Validation", "Cross-validation", "Sealed test"),
        tuple((n, num(run.metrics.get(f"train_{n}")), num(run.metrics.get(f"val_{n}")), _cv(run, n),
               num(test_value(run, n)) if run.test_metrics else "sealed") for n in names),
        note="The sealed test set is scored once, by an audited action; 'sealed' means it has not been opened.")


def models_table(records: ProjectRecords) -> TableData:
    models = records.models
    return TableData("Model versions", ("Version", "Run", "Model", "Stage", "Alias", "Card", "Registered by",
                                        "Artifact SHA-256"),
                     tuple((f"v{m.version}", str(m.run_id), m.model_kind, m.stage, m.alias or "—", yes_no(m.has_card),
                            f"{m.created_by}, {when(m.created_at)}", m.artifact_sha256[:16] + "…") for m in models),
                     highlight=tuple(i for i, m in enumerate(models) if m.stage == "production"),
                     note="Every version registered, with its stage and alias now; shaded: in production.")


def requests_table(records: ProjectRecords) -> TableData:
    return TableData("Review requests", ("#", "Version", "Requested by", "Reviewer", "Status", "Comment", "When"),
                     tuple((str(r.id), f"v{r.version}", r.requested_by, r.reviewer or "anyone", r.status.upper(),
                            r.comment or "—", when(r.created_at)) for r in records.review_requests),
                     highlight=tuple(i for i, r in enumerate(records.review_requests) if r.status == "open"))


def approvals_table(records: ProjectRecords) -> TableData:
    decisions = [a for m in records.models for a in m.approvals]
    return TableData("Approvals and rejections", ("Version", "Author", "Requested by", "Decided by", "Decision",
                                                  "Comment", "When"),
                     tuple((f"v{a.version}",
                            next((m.created_by for m in records.models if m.version == a.version), "—"),
                            a.requested_by, a.approver, a.decision.upper(), a.comment or "—", when(a.created_at))
                           for a in decisions),
                     highlight=tuple(i for i, a in enumerate(decisions) if a.decision != "approved"))


def four_eyes_facts(records: ProjectRecords) -> Facts:
    view = version_view(records)
    if view is None:
        return Facts((("Four-eyes rule", "no model version registered"),), "Four-eyes evidence")
    independent = [a for a in view.approvals if a.approver != view.created_by]
    standing = independent[-1] if independent and independent[-1].decision == "approved" else None
    check = next((c for c in (records.promotion.checks if records.promotion else ()) if c.id == "independent_approval"),
                 None)
    return Facts((
        ("Author (registered the version)", view.created_by),
        ("Decisions on the version", ", ".join(f"{a.decision} by {a.approver} ({when(a.created_at)})"
                                               for a in view.approvals) or "none"),
        ("Standing independent approval", f"{standing.approver}, {when(standing.created_at)}" if standing else "none"),
        ("Approver differs from author", "PASS" if standing else "MISSING"),
        ("Required by the profile", ("yes" if check.required else "no") if check else "—"),
    ), f"Four-eyes evidence for {version_label(records)}")


def waivers_table(records: ProjectRecords) -> TableData:
    return TableData("Waivers", ("Version", "Check", "Reason", "Granted by", "When"),
                     tuple((f"v{w.version}", w.check_id, w.reason, w.granted_by, when(w.created_at))
                           for w in records.waivers),
                     highlight=tuple(i for i, w in enumerate(records.waivers) if w.version == records.version))


def transitions_table(records: ProjectRecords) -> TableData:
    return TableData("Stage and alias transitions", ("When", "Version", "From", "To", "By", "Why"),
                     tuple((when(t.created_at), f"v{t.version}", t.from_stage, t.to_stage, t.actor, t.reason or "—")
                           for t in records.transitions),
                     highlight=tuple(i for i, t in enumerate(records.transitions) if t.to_stage == "production"))


def release_summary(analysis: Any) -> str:
    try:
        return analysis.summary()
    except (KeyError, TypeError, AttributeError):
        return ", ".join(f"{k} {v}" for k, v in sorted(analysis.results.items()) if not isinstance(v, (dict, list)))


def release_facts(records: ProjectRecords) -> Facts:
    label = version_label(records)
    mine = {a.kind: a for a in records.release_analyses if a.version == records.version}
    names = {"shadow": "Shadow", "canary": "Canary", "ab_test": "A/B test"}
    return Facts(tuple((names[k], f"{mine[k].verdict.upper()}: {release_summary(mine[k])}" if k in mine
                        else f"MISSING: no {names[k].lower()} analysis recorded for {label}") for k in names),
                 f"Release evidence for {label}")


def releases_table(records: ProjectRecords) -> TableData:
    rows = records.release_analyses
    return TableData("Shadow, canary and A/B analyses",
                     ("Kind", "Challenger", "Verdict", "Result", "Decision", "When"),
                     tuple((a.kind.replace("_", " "), f"v{a.version} vs v{a.baseline_version}" if a.baseline_version
                            else f"v{a.version}", a.verdict.replace("_", " ").upper(), release_summary(a),
                            a.decision or "—", f"{when(a.created_at)} {a.created_by}") for a in rows),
                     highlight=tuple(i for i, a in enumerate(rows) if a.verdict == "failed"))


# ---------------------------------------------------------------------------- monitoring


def batches_in(records: ProjectRecords) -> list[Any]:
    """The batches a document covers: the drift report's range, else every batch."""
    if records.batch_labels:
        wanted = set(records.batch_labels)
        return [b for b in records.batches if b.label in wanted]
    return list(records.batches)


def sla_rules_table(records: ProjectRecords) -> TableData:
    return TableData("SLA rules", ("Rule", "Metric", "Condition", "Severity"),
                     tuple((str(r.id), r.metric, r.describe(), r.severity.upper()) for r in records.sla_rules))


def batches_table(records: ProjectRecords, batches: list[Any]) -> TableData:
    return TableData(
        "Monitoring batches", ("Batch", "Source", "Rows", "Labelled", "Model", "Analysed", "Max PSI",
                               "Drifted features"),
        tuple((b.label, b.source, f"{b.n_rows:,}", f"{b.n_labelled:,}",
               f"v{b.model_version}" if b.model_version else "—", yes_no(b.analysed), num(b.max_psi, 3),
               ", ".join(b.drifted_features) or "none") for b in batches),
        highlight=tuple(i for i, b in enumerate(batches) if b.max_psi is not None and b.max_psi > PSI_ALERT_THRESHOLD))


def drift_rows_table(batches: list[Any], title: str = "Drift per feature, prediction and label") -> TableData:
    rows, highlight = [], []
    for b in batches:
        for r in b.drift:
            if r.drifted:
                highlight.append(len(rows))
            name = {"prediction": "(prediction)", "label": "(label)"}.get(r.subject, r.feature)
            rows.append((b.label, name, num(r.ks, 3), pval(r.ks_pvalue), num(r.psi, 3), pval(r.chi2_pvalue),
                         num(r.js, 3), "DRIFT" if r.drifted else "OK", r.note or "—"))
    return TableData(title, ("Batch", "Feature", "KS", "KS p", "PSI", "χ² p", "JS", "Verdict", "Why"),
                     tuple(rows), highlight=tuple(highlight),
                     note=f"Drifted means significant (p < 0.05) and an effect size at or above its threshold (PSI "
                          f"{DEFAULT_THRESHOLDS['psi']}, KS {DEFAULT_THRESHOLDS['ks']}, JS {DEFAULT_THRESHOLDS['js']} "
                          f"unless set per feature); PSI above {PSI_ALERT_THRESHOLD} on an important feature "
                          "triggers retraining.")


def sla_results_table(batches: list[Any]) -> TableData:
    rows, highlight = [], []
    for b in batches:
        for rule, result in sorted(b.sla.items()):
            passed = result.get("passed")
            if passed is False:
                highlight.append(len(rows))
            rows.append((b.label, rule, num(result.get("value")), str(result.get("severity", "")).upper(),
                         "OK" if passed else ("BREACHED" if passed is False else "N/A"), result.get("note") or "—"))
    return TableData("SLA results per batch", ("Batch", "Rule", "Value", "Severity", "Result", "Note"), tuple(rows),
                     highlight=tuple(highlight))


def sla_breaches(batches: list[Any]) -> list[tuple[str, str, Any]]:
    return [(b.label, rule, result) for b in batches for rule, result in sorted(b.sla.items())
            if result.get("passed") is False]


def alerts_table(records: ProjectRecords, batches: list[Any] | None = None) -> TableData:
    labels = {b.label for b in batches} if batches is not None else None
    alerts = [a for a in records.alerts if labels is None or a.batch in labels]
    return TableData("Alerts", ("Alert", "Batch", "Rule", "Severity", "Status", "Message", "Trigger"),
                     tuple((str(a.id), a.batch or "—", a.rule, a.severity.upper(), a.status.upper(), a.message,
                            f"#{a.trigger_id}" if a.trigger_id else "none") for a in alerts),
                     highlight=tuple(i for i, a in enumerate(alerts) if a.status == "open"))


def triggers_table(records: ProjectRecords, batches: list[Any] | None = None) -> TableData:
    labels = {b.label for b in batches} if batches is not None else None
    triggers = [t for t in records.triggers if labels is None or t.batch in labels or t.batch is None]
    runs_to_versions = {m.run_id: m.version for m in records.models}
    return TableData(
        "Retraining triggers and their lineage",
        ("Trigger", "Kind", "Status", "Reason", "Alert", "Batch", "Training data", "Job", "Run", "Version"),
        tuple((f"#{t.id}", t.kind, t.status.upper(), t.reason, f"#{t.alert_id}" if t.alert_id else "—",
               t.batch or "—", f"dataset v{t.dataset_version_id}" if t.dataset_version_id else "—",
               str(t.job_id) if t.job_id else "—", f"run {t.run_id}" if t.run_id else "open",
               f"v{runs_to_versions[t.run_id]}" if t.run_id in runs_to_versions else "—") for t in triggers),
        highlight=tuple(i for i, t in enumerate(triggers) if t.run_id is None),
        note="Each answered trigger links the alert that fired to the run it caused and the version registered "
             "from that run: why the retrained model exists.")


def max_psi_chart(batches: list[Any]) -> ChartSeries:
    return ChartSeries("Maximum feature PSI per batch", tuple(b.label for b in batches),
                       tuple(b.max_psi if b.max_psi is not None else math.nan for b in batches),
                       threshold=PSI_ALERT_THRESHOLD, y_label="max PSI")


def feature_psi_chart(batches: list[Any]) -> LineChart:
    per_feature: dict[str, list[float | None]] = {}
    for i, b in enumerate(batches):
        for r in b.features:
            per_feature.setdefault(r.feature, [None] * len(batches))[i] = r.psi
    ranked = sorted(per_feature, key=lambda f: (-max((v for v in per_feature[f] if v is not None), default=0), f))
    shown = ranked[:MAX_FEATURE_LINES]
    note = (f"The {len(shown)} features with the highest PSI of {len(ranked)}; the tables list all."
            if len(ranked) > len(shown) else "")
    return LineChart("PSI per feature over batches", tuple(b.label for b in batches),
                     tuple((f, tuple(per_feature[f])) for f in shown), y_label="PSI", threshold=PSI_ALERT_THRESHOLD,
                     note=note)


def performance_chart(records: ProjectRecords, batches: list[Any]) -> LineChart:
    """Concept drift: the primary metric and every metric an SLA rule watches, batch by batch."""
    metric = primary_metric(records)
    watched = [metric] + [r.metric for r in records.sla_rules if r.metric != metric and not r.metric.endswith("_ms")]
    names = [n for n in dict.fromkeys(watched) if any(n in b.metrics for b in batches)]
    rule = next((r for r in records.sla_rules if r.metric == metric), None)
    return LineChart("Performance on labelled rows over batches", tuple(b.label for b in batches),
                     tuple((n, tuple(b.metrics.get(n) for b in batches)) for n in names),
                     y_label="metric value", threshold=rule.threshold if rule else None,
                     note=(f"Dashed line: the SLA rule {rule.describe()}." if rule else "")
                     + (" Gaps: batches without labels yet." if any(not b.metrics for b in batches) else ""))


def batch_psi_chart(batch: Any) -> ChartSeries:
    return ChartSeries(f"PSI per feature — batch {batch.label}", tuple(r.feature for r in batch.features),
                       tuple(r.psi if r.psi is not None else math.nan for r in batch.features),
                       threshold=PSI_ALERT_THRESHOLD, y_label="PSI")
