"""Evidence tables and charts every document draws from the same records.

Pure functions from :class:`~reports.data.ProjectRecords` (service views) to the
plain tables, facts and chart series a document shows. They decide wording and columns once,
so the compliance report, the validation report and the drift report say the same thing the
same way. No database, no reportlab: safe anywhere, cheap to import.
"""

from __future__ import annotations

import math
from typing import Any

from app.lifecycle import ML_CHECKLIST, RELEASE_CHECKS, STAGES, STATEMENT_FIELDS
from app.ml.catalogue import BASELINE_KINDS, RUNG_OF_KIND, RUNGS, lower_is_better, project_metric
from app.ml.drift_bands import DEFAULT_THRESHOLDS, PSI_ALERT_THRESHOLD, effect_sizes_text
from app.signing import short_fingerprint
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


def version_dataset(records: ProjectRecords) -> Any | None:
    """The dataset version the run behind the version trained on (not every training dataset:
    a later retraining's data trains a later version)."""
    run = version_run(records)
    return next((d for d in records.datasets if run is not None and d.id == run.dataset_version_id), None)


def version_data_text(records: ProjectRecords) -> str:
    """The one sentence every document uses for the version's training data."""
    run, d = version_run(records), version_dataset(records)
    if run is None:
        return "no model version registered"
    if d is None:
        return f"dataset {run.dataset_number}"
    return f"dataset v{d.id} {d.source_name}, {d.n_rows:,} rows, SHA-256 {d.sha256}"


def sealed_metrics(run: Any) -> dict[str, float]:
    """The run's sealed-test scores by metric name ("roc_auc", not "test_roc_auc"): one name per
    metric, so a table never lists a metric twice."""
    return {str(k).removeprefix("test_"): float(v) for k, v in sorted((run.test_metrics or {}).items())
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def sealed_text(run: Any | None) -> str:
    """What every document says about the sealed test set of a run."""
    if run is None:
        return "no model version registered"
    scores = sealed_metrics(run)
    if not scores:
        return f"still sealed: the test part of run {run.number} has not been opened"
    return f"opened for run {run.number}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())


def person_of(records: ProjectRecords, fingerprint: str | None) -> Any | None:
    return next((p for p in records.people if fingerprint and p.fingerprint == fingerprint), None)


def key_text(records: ProjectRecords, fingerprint: str | None) -> str:
    """A signature's key as a table cell: the short fingerprint (the full one is in the signers
    table), "unsigned", or a warning when the key is not registered in the workspace."""
    if not fingerprint:
        return "unsigned"
    short = short_fingerprint(fingerprint)
    return short if person_of(records, fingerprint) else f"{short} (not a registered key)"


def full_fingerprint(fingerprint: str) -> str:
    """The whole fingerprint in groups of four hex digits, as a person reads it aloud to compare:
    its first four groups are the short form printed beside each decision."""
    return " ".join(fingerprint[i:i + 4] for i in range(0, len(fingerprint), 4))


def signed_by(records: ProjectRecords, name: str, fingerprint: str | None) -> str:
    """"name, key abcd:…" for a signed decision; "name (unsigned)" for one recorded by name only."""
    return f"{name}, key {key_text(records, fingerprint)}" if fingerprint else f"{name} (unsigned)"


CHECK_LABELS = {c.id: c.label for c in RELEASE_CHECKS}


def waiver_of(records: ProjectRecords, version: int | None, check_id: str) -> Any | None:
    """The waiver the promotion gate applies to a check (the latest granted for the version)."""
    return next((w for w in reversed(records.waivers) if w.version == version and w.check_id == check_id), None)


def waiver_text(records: ProjectRecords, version: int | None, check_id: str) -> str:
    w = waiver_of(records, version, check_id)
    return f"waived by {signed_by(records, w.granted_by, w.signer_fingerprint)}: {w.reason}" if w else "—"


def promotions(records: ProjectRecords) -> list[Any]:
    """Every move into production (promotions and rollbacks), oldest first."""
    return [t for t in records.transitions if t.to_stage == "production"]


def unmet_text(transition: Any) -> str:
    unmet = getattr(transition, "unmet_recommended", ()) or ()
    return ", ".join(CHECK_LABELS.get(c, c) for c in unmet) if unmet else "none"


def version_label(records: ProjectRecords) -> str:
    return f"v{records.version}" if records.version is not None else "none"


def describe_version(records: ProjectRecords) -> str:
    view = version_view(records)
    if view is None:
        return "no model version registered"
    alias = f", alias {view.alias}" if view.alias else ""
    return f"v{view.version} — {view.model_kind}, stage {view.stage}{alias} (run {view.run_number})"


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

    return TableData(
        f"Promotion gate of {version_label(records)} ({records.summary.maturity} profile), evaluated now",
        ("Release check", "Result", "Kind", "Evidence", "Waiver"),
        tuple((c.label, check_result(c), "required" if c.required else "recommended", c.detail or "—",
               waiver_text(records, records.version, c.id) if c.waiver else "—") for c in checks),
        highlight=tuple(i for i, c in enumerate(checks) if not c.passed),
        note=("NOT MET: a recommended check that fails, which does not block promotion under this profile and is "
              "never recorded as a waiver; a waiver is granted by a person, named with the key that signed it. What "
              "was not met when the version was promoted is in its signed promotion (table of promotions)."
              if gate else "No model version is registered, so no promotion gate applies yet."))


def check_result(c: Any) -> str:
    """One word for a release or gate check, the same in every table."""
    if c.passed:
        return "PASS"
    if c.waiver:
        return "WAIVED"
    return "MISSING" if c.required else "NOT MET"


def promotions_table(records: ProjectRecords) -> TableData:
    """Each move into production with its signature and the recommended checks it went ahead
    without, as the signed promotion statement names them."""
    rows = promotions(records)
    return TableData(
        "Promotions to production (signed)", ("When", "Version", "From", "Promoted by", "Key",
                                              "Recommended checks not met then", "Why"),
        tuple((when(t.created_at), f"v{t.version}", t.from_stage, t.actor, key_text(records, t.signer_fingerprint),
               unmet_text(t), t.reason or "—") for t in rows),
        highlight=tuple(i for i, t in enumerate(rows) if not t.signer_fingerprint),
        note="The checks a profile only recommends do not block promotion; the promoter's signed statement lists "
             "those not met at that moment. Shaded: an unsigned promotion.")


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


# ---------------------------------------------------------------------------- the business outcome


def _points(value: float) -> str:
    return f"{value * 100:+.2f} points"


def business_outcome(records: ProjectRecords) -> tuple[str, list[tuple[str, str]]]:
    """The business metric's measured outcome against what the problem statement says success is.

    Returns the verdict (MEASURED AND MET, NOT DEMONSTRATED, NOT MEASURED) and the facts behind
    it: the stated criterion, each A/B test that served the version under review, the lift, and
    whether the test compared with what the statement measures success against (its baseline
    heuristic, served by a baseline-rung version as arm A). One definition, printed by the
    executive summary and the business chapter alike.
    """
    stated = str(records.statement.get("business_metric") or "").strip() or "not stated"
    heuristic = str(records.statement.get("baseline_heuristic") or "").strip()
    rows: list[tuple[str, str]] = [("Business metric (the statement's success criterion)", stated)]
    if heuristic:
        rows.append(("Baseline the statement measures against", heuristic))
    kinds = {m.version: m.model_kind for m in records.models}
    tests = [a for a in records.release_analyses if a.kind == "ab_test"
             and records.version in (a.version, a.baseline_version)]
    if not tests:
        rows.append(("Measured outcome", f"no A/B test served {version_label(records)}: the business metric has no "
                                         "measured outcome for this version"))
        return "NOT MEASURED", rows
    met = False
    for a in tests:
        r = a.results
        rate = "CTR" if r.get("test") == "two_proportion_z" else "mean outcome"
        fmt = (lambda v: f"{v:.2%}") if rate == "CTR" else (lambda v: f"{v:.4g}")
        diff = (_points if rate == "CTR" else (lambda v: f"{v:+.4g}"))
        a_kind = kinds.get(a.baseline_version, "?")
        against_baseline = a.baseline_version is not None and a_kind in BASELINE_KINDS
        lift = r.get("relative_lift")
        power = ""
        if r.get("required_n_per_arm"):
            power = (f"; for a minimum detectable effect of {r['mde'] * 100:.2f} points the test needed "
                     f"{int(r['required_n_per_arm']):,} per arm and had {min(r.get('n_a', 0), r.get('n_b', 0)):,}"
                     if rate == "CTR" and r.get("mde") is not None else "")
        rows.append((f"A/B test #{a.id} ({when(a.created_at)})",
                     f"A = v{a.baseline_version} ({a_kind}, {r.get('n_a', 0):,} labelled requests): {rate} "
                     f"{fmt(r.get('mean_a', 0.0))}; B = v{a.version} ({kinds.get(a.version, '?')}, {r.get('n_b', 0):,}): "
                     f"{rate} {fmt(r.get('mean_b', 0.0))}. Lift of B over A {diff(r.get('difference', 0.0))}"
                     + (f" ({lift:+.1%} relative)" if isinstance(lift, (int, float)) else "")
                     + f", 95% CI {diff(r.get('ci_low', 0.0))} to {diff(r.get('ci_high', 0.0))}, p={pval(r.get('p_value'))}"
                     f": {a.verdict.replace('_', ' ')}{power}."))
        if not against_baseline:
            rows.append(("Against the criterion", f"test #{a.id} compares v{a.version} with v{a.baseline_version}, a "
                                                  f"{a_kind} model, not with the baseline the statement names, so it "
                                                  "does not measure the stated lift"))
        elif a.verdict == "significant" and r.get("difference", 0.0) > 0 and a.version == records.version:
            met = True
            rows.append(("Against the criterion", f"test #{a.id} shows a significant positive lift of "
                                                  f"v{a.version} over the baseline"))
        else:
            rows.append(("Against the criterion", f"test #{a.id} against the baseline shows no significant lift "
                                                  f"of {version_label(records)}"))
    if met:
        return "MEASURED AND MET", rows
    return "NOT DEMONSTRATED", rows


def business_outcome_facts(records: ProjectRecords) -> Facts:
    verdict, rows = business_outcome(records)
    return Facts(((("Outcome", verdict),) + tuple(rows)), "Business outcome")


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
        tuple((str(s.id), f"dataset {s.dataset_number}", s.strategy, str(s.seed),
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
               num(sealed_metrics(r).get(metric)) if sealed_metrics(r) else "sealed", f"{r.duration_s:.1f}")
              for r in runs),
        highlight=tuple(i for i, r in enumerate(runs) if chosen and r.id == chosen.id),
        note="Rule or baseline first, then simple and complex models. Shaded: the run behind the model version "
             "this document is about. A large train-to-validation gap is the overfitting signal.")


def ladder_chart(records: ProjectRecords) -> ChartSeries:
    metric = primary_metric(records)
    runs = ladder_runs(records)
    threshold = None
    try:
        threshold = float(str(records.statement.get("ml_metric_threshold", "")).strip())
    except ValueError:
        pass
    return ChartSeries(f"Validation {metric} per run, ladder order",
                       tuple(f"run {r.number} {r.model_kind}" for r in runs),
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
        "Statistical comparisons",
        ("#", "Run A", "Run B", "Test", "Data", "Metric", "Difference B − A", "95% CI", "p-value", "α", "Verdict"),
        tuple((str(c.id), str(c.run_a_number), str(c.run_b_number), c.test, c.data_part, c.metric, f"{c.difference:+.4f}",
               f"[{c.ci[0]:+.4f}, {c.ci[1]:+.4f}]", pval(c.p_value), f"{c.alpha:g}",
               "B significantly better" if c.significant else "not significant") for c in comps),
        highlight=tuple(i for i, c in enumerate(comps) if c.significant),
        note="Each pair of runs is compared once per metric and test: asking again returns the recorded "
             "comparison, so an interval is never re-drawn with another seed. Shaded: B significantly better.")


def analysis_tables(run_number: int | None, result: dict[str, Any]) -> tuple[TableData, ...]:
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
        TableData(f"Error analysis of run {run_number} (validation part)", ("Measure", "Value"), tuple(rows)),
        TableData(f"Per-segment metrics of run {run_number}", ("Column", "Segment", "Rows", "Metrics"), tuple(segments)),
        TableData(f"Fairness by group of run {run_number}" + (f" ({fair['attribute']})" if fair else ""),
                  ("Group", "Rows", "Selection rate", "True positive rate", "False positive rate"),
                  tuple((str(g.get("group")), str(g.get("rows", "")), num(g.get("selection_rate")),
                         num(g.get("tpr")), num(g.get("fpr"))) for g in groups)),
    )


# ---------------------------------------------------------------------------- registry and review


CARD_MARKS = {"missing": "MISSING", "draft": "DRAFT"}


def card_section_text(records: ProjectRecords, section: Any) -> str:
    """A card section as every document prints it: the text, then who stands behind it. A
    machine draft is marked DRAFT until a person signs it; a confirmation names the key."""
    if section.origin == "missing":
        return "MISSING"
    if section.origin == "draft":
        return f"DRAFT, drafted by the registry from its records; no person has confirmed it.\n{section.text}"
    if section.origin == "confirmed":
        who = f"Confirmed by {signed_by(records, section.by, section.signer_fingerprint)}, {when(section.at)}"
        if section.outdated:
            return (f"{section.text}\n{who}, but the registry's evidence changed since; it would now draft: "
                    f"{section.current_draft}")
        return f"{section.text}\n{who} (the registry's draft, signed as theirs)."
    return f"{section.text}\nWritten by {section.by}" + (f", {when(section.at)}" if section.at else "") + "."


def card_facts(records: ProjectRecords) -> Facts:
    return Facts(tuple((s.label, card_section_text(records, s)) for s in records.card_sections),
                 f"Model card of {version_label(records)}")


def card_gaps(records: ProjectRecords) -> list[Any]:
    """The sections that do not count yet: missing, machine drafts, outdated confirmations."""
    return [s for s in records.card_sections if not s.counts]


def version_facts(records: ProjectRecords) -> Facts:
    view, run = version_view(records), version_run(records)
    if view is None:
        return Facts((("Model version", "no model version registered"),))
    rows = [("Model version", describe_version(records)),
            ("Registered by", f"{view.created_by}, {when(view.created_at)}"),
            ("Artifact SHA-256", view.artifact_sha256)]
    if run is not None:
        rows += [("Run", f"run {run.number} ({run.model_kind}, seed {run.seed}, experiment {run.experiment}), "
                         f"trained by {run.created_by} {when(run.created_at)}")]
        if getattr(run, "origin", None) == "external":
            code = getattr(run, "code_version", None) or {}
            commit = code.get("git_commit")
            rows.append(("Origin", "trained outside the workbench, logged through the mlwb module by "
                         f"{run.created_by}; code version "
                         + (f"git {commit}" + (" (uncommitted changes)" if code.get("dirty") else "") if commit
                            else "not in a git repository")
                         + (f", script {code['script']}" if code.get("script") else "")
                         + "; its validation metrics are the workbench's re-scoring of the logged model file"))
        split = next((s for s in records.splits if s.id == run.split_id), None)
        rows.append(("Training data", version_data_text(records)))
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
            rows.append(("Parent run", f"run {run.parent_number} (tuning)"))
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
    sealed = sealed_metrics(run)
    names = sorted({k.split("_", 1)[1] for k in run.metrics if k.startswith(("val_", "train_"))}
                   | set(sealed) | set(run.cv_metrics or {}))
    return TableData(
        f"Metrics of {version_label(records)} (run {run.number})",
        ("Metric", "Train", "Validation", "Cross-validation", "Sealed test"),
        tuple((n, num(run.metrics.get(f"train_{n}")), num(run.metrics.get(f"val_{n}")), _cv(run, n),
               num(sealed.get(n)) if sealed else "sealed") for n in names),
        note=f"Sealed test: {sealed_text(run)}. The test part is scored once, by an audited action.")


def models_table(records: ProjectRecords) -> TableData:
    models = records.models
    return TableData("Model versions", ("Version", "Run", "Model", "Stage", "Alias", "Card", "Registered by",
                                        "Artifact SHA-256"),
                     tuple((f"v{m.version}", str(m.run_number), m.model_kind, m.stage, m.alias or "—", yes_no(m.has_card),
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
    # Who asked for each review is in the review requests table; here the decider and their key.
    return TableData("Approvals and rejections", ("Version", "Author", "Decided by", "Key", "Decision", "Comment",
                                                  "When"),
                     tuple((f"v{a.version}",
                            next((m.created_by for m in records.models if m.version == a.version), "—"),
                            a.approver, key_text(records, a.signer_fingerprint), a.decision.upper(),
                            a.comment or "—", when(a.created_at))
                           for a in decisions),
                     highlight=tuple(i for i, a in enumerate(decisions)
                                     if a.decision != "approved" or not a.signer_fingerprint),
                     note="Key: the short fingerprint of the key that signed the decision (the signers table has "
                          "the full one); unsigned: recorded under a name only, which proves nothing. Shaded: a "
                          "rejection or an unsigned decision.")


def four_eyes_facts(records: ProjectRecords) -> Facts:
    """Four-eyes as the promotion gate judges it (keys, not names): the gate's own verdict and
    reason, beside the author's key and every decision's key."""
    view = version_view(records)
    if view is None:
        return Facts((("Four-eyes rule", "no model version registered"),), "Four-eyes evidence")
    check = next((c for c in (records.promotion.checks if records.promotion else ()) if c.id == "independent_approval"),
                 None)
    author_key = getattr(view, "author_fingerprint", None)
    return Facts((
        ("Author (registered the version)", signed_by(records, view.created_by, author_key)
         if author_key else f"{view.created_by} (registered without a key)"),
        ("Decisions on the version", "; ".join(f"{a.decision} by {signed_by(records, a.approver, a.signer_fingerprint)}"
                                               f" ({when(a.created_at)})" for a in view.approvals) or "none"),
        ("Standing independent approval (keys compared)", (check.detail or "—") if check else "not evaluated"),
        ("Approver's key differs from the author's", ("PASS" if check.passed else "MISSING") if check else "MISSING"),
        ("Required by the profile", ("yes" if check.required else "no") if check else "—"),
    ), f"Four-eyes evidence for {version_label(records)}")


def waivers_table(records: ProjectRecords) -> TableData:
    return TableData("Waivers", ("Version", "Check", "Reason", "Granted by", "Key", "When"),
                     tuple((f"v{w.version}", CHECK_LABELS.get(w.check_id, w.check_id), w.reason, w.granted_by,
                            key_text(records, w.signer_fingerprint), when(w.created_at))
                           for w in records.waivers),
                     highlight=tuple(i for i, w in enumerate(records.waivers) if w.version == records.version),
                     note="Every waiver was granted by a person, who wrote its reason; the key is the one that "
                          "signed it. Recommended checks left unmet are not waivers (see the promotions table).")


def transitions_table(records: ProjectRecords) -> TableData:
    return TableData("Stage and alias transitions", ("When", "Version", "From", "To", "By", "Key", "Why"),
                     tuple((when(t.created_at), f"v{t.version}", t.from_stage, t.to_stage, t.actor,
                            key_text(records, t.signer_fingerprint), t.reason or "—")
                           for t in records.transitions),
                     highlight=tuple(i for i, t in enumerate(records.transitions) if t.to_stage == "production"),
                     note="A promotion or rollback is signed by the person who decided it; the moves that follow "
                          "from it (the champion alias, the version it replaces) are recorded unsigned under the "
                          "acting name. Shaded: into production.")


def signatures(records: ProjectRecords) -> list[tuple[str, str, str]]:
    """Every signed decision the document prints: (fingerprint, what was signed, by name)."""
    out: list[tuple[str, str, str]] = []
    view = version_view(records)
    if view is not None and getattr(view, "author_fingerprint", None):
        out.append((view.author_fingerprint, f"registered v{view.version} (author)", view.created_by))
    out += [(a.signer_fingerprint, f"{a.decision} v{a.version}", a.approver)
            for m in records.models for a in m.approvals if a.signer_fingerprint]
    out += [(w.signer_fingerprint, f"waived {w.check_id} of v{w.version}", w.granted_by)
            for w in records.waivers if w.signer_fingerprint]
    out += [(t.signer_fingerprint, f"moved v{t.version} to {t.to_stage}", t.actor)
            for t in records.transitions if t.signer_fingerprint]
    for (fp, by), labels in card_confirmations(records).items():
        out.append((fp, f"confirmed the card of {version_label(records)}: {', '.join(labels)}", by))
    out += [(e.signer_fingerprint, f"moved finding #{f.id} {e.from_status or 'new'} → {e.to_status}", e.actor)
            for f in records.tracked_findings for e in f.history if e.signer_fingerprint]
    return out


def card_confirmations(records: ProjectRecords) -> dict[tuple[str, str], list[str]]:
    """(key, name) -> the card sections that key confirmed (the registry's draft, signed)."""
    out: dict[tuple[str, str], list[str]] = {}
    for s in records.card_sections:
        if s.origin == "confirmed" and s.signer_fingerprint:
            out.setdefault((s.signer_fingerprint, s.by), []).append(s.label.lower())
    return out


def signers_table(records: ProjectRecords) -> TableData:
    """One row per key that signed anything this document prints: name, role and the full
    fingerprint, to compare with the keys given out of band."""
    by_key: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for fp, what, name in signatures(records):
        by_key.setdefault(fp, []).append(what)
        names.setdefault(fp, name)
    rows = []
    for fp, what in by_key.items():
        person = person_of(records, fp)
        rows.append((person.name if person else names[fp], person.role if person else "NOT REGISTERED",
                     full_fingerprint(fp), "; ".join(dict.fromkeys(what))))
    return TableData("Signers and their keys", ("Name", "Role", "Full key fingerprint (SHA-256 of the public key)",
                                                "Signed in this report"),
                     tuple(rows), highlight=tuple(i for i, row in enumerate(rows) if row[1] == "NOT REGISTERED"),
                     note="Compare each fingerprint with the one its owner gave you out of band (`mlwb people "
                          "init` prints it). The short key printed beside each decision is the first four groups "
                          "of these. A decision without a key is marked unsigned wherever it is printed; shaded: a "
                          "key that is not registered in the workspace.")


def release_summary(analysis: Any) -> str:
    try:
        return analysis.summary()
    except (KeyError, TypeError, AttributeError):
        return ", ".join(f"{k} {v}" for k, v in sorted(analysis.results.items()) if not isinstance(v, (dict, list)))


def release_facts(records: ProjectRecords) -> Facts:
    """The shadow, canary and A/B evidence of the version as the challenger; where it was the
    production arm of another version's analysis instead, that is said, not MISSING alone."""
    label = version_label(records)
    mine = {a.kind: a for a in records.release_analyses if a.version == records.version}
    arm = {a.kind: a for a in records.release_analyses if a.baseline_version == records.version}
    names = {"shadow": "Shadow", "canary": "Canary", "ab_test": "A/B test"}
    articled = {"shadow": "a shadow analysis", "canary": "a canary", "ab_test": "an A/B test"}

    def line(kind: str) -> str:
        if kind in mine:
            return f"{mine[kind].verdict.upper()}: {release_summary(mine[kind])}"
        text = f"MISSING: {label} was never the challenger in {articled[kind]}"
        if kind in arm:
            a = arm[kind]
            text += (f"; it was the production arm of #{a.id}, which tested v{a.version} against it "
                     f"({a.verdict.replace('_', ' ')})")
        return text

    return Facts(tuple((names[k], line(k)) for k in names), f"Release evidence for {label}")


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
                         num(r.js, 3), num(r.wasserstein, 3), "DRIFT" if r.drifted else "OK", r.note or "—"))
    return TableData(title, ("Batch", "Feature", "KS", "KS p", "PSI", "χ² p", "JS", "W", "Verdict", "Why"),
                     tuple(rows), highlight=tuple(highlight),
                     note=f"Drifted means significant (p < 0.05) and an effect size at or above its threshold "
                          f"({effect_sizes_text(DEFAULT_THRESHOLDS)} unless set per feature; W is the normed "
                          f"Wasserstein distance); PSI above {PSI_ALERT_THRESHOLD} on an important feature "
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
               str(t.job_id) if t.job_id else "—", f"run {t.run_number}" if t.run_id else "open",
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
