"""Which chapters serve which regulatory sections, and which required items are missing.

The chapter → section map is static reference text (SR 11-7, the EU AI Act's Annex IV, the NIST
AI RMF functions and the model card sections of Mitchell et al.). Whether each required item is
present is computed from the records, so "MISSING" in a report always means the evidence is not
in the registry for this project and version — never a hard-coded claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reports.data import ProjectRecords, TableData
from reports.evidence import (
    business_outcome, key_text, sealed_metrics, signed_by, version_label, version_run, version_view, waiver_text,
)
from reports.findings import open_findings

# Chapter keys and titles of the compliance report, in reading order.
CHAPTERS: tuple[tuple[str, str], ...] = (
    ("summary", "Executive summary"),
    ("business", "Business goal and ML appropriateness"),
    ("framing", "Problem framing"),
    ("data", "Data"),
    ("development", "Development and testing"),
    ("card", "Model card"),
    ("validation", "Independent validation"),
    ("deployment", "Deployment"),
    ("monitoring", "Monitoring"),
    ("limitations", "Limitations and residual risk"),
    ("changelog", "Change log"),
    ("appendix", "Appendix: audit trail extract"),
    ("map", "Requirements map"),
)
TITLES = dict(CHAPTERS)

# key -> (SR 11-7, EU AI Act Annex IV, NIST AI RMF, model card sections)
CHAPTER_SECTIONS: dict[str, tuple[str, str, str, str]] = {
    "summary": ("Governance: reporting to senior management", "§1 general description",
                "GOVERN 1.4", "Model details"),
    "business": ("Model development: purpose and intended use", "§1(a) intended purpose; §4 metrics",
                 "MAP 1.1, 2.1, 3.1, 3.2", "Intended use"),
    "framing": ("Conceptual soundness: design, theory, feature choice", "§2(b) design specifications",
                "MAP 2.1, 2.2", "Factors"),
    "data": ("Data quality, relevance and lineage", "§2(d) data requirements and datasheets",
             "MAP 2.3; MEASURE 2.1", "Training data; Evaluation data"),
    "development": ("Developmental evidence; outcomes analysis; benchmarking",
                    "§2(g) validation and testing; §3 accuracy per group", "MEASURE 1.1, 2.3, 2.5, 2.11",
                    "Metrics; Quantitative analyses"),
    "card": ("Model documentation", "§1 general description; §3 capabilities and limitations", "GOVERN 4.2",
             "All nine sections"),
    "validation": ("Independent validation; effective challenge", "§2(e) human oversight",
                   "GOVERN 2.1; MEASURE 1.3", "—"),
    "deployment": ("Implementation and use; pre-production testing", "§2(e) human oversight; §6 changes",
                   "MANAGE 1.3, 2.4", "Model details"),
    "monitoring": ("Ongoing monitoring; outcomes analysis", "§9 post-market monitoring plan (Art. 72)",
                   "MEASURE 2.4, 3.1; MANAGE 4.1", "Metrics"),
    "limitations": ("Limitations and compensating controls", "§3 limitations; §5 risk management (Art. 9)",
                    "MANAGE 1.2, 1.4", "Caveats and recommendations; Ethical considerations"),
    "changelog": ("Governance: model inventory and change control", "§6 changes through the lifecycle",
                  "GOVERN 1.6", "—"),
    "appendix": ("Governance: controls and audit", "Art. 12 record-keeping", "GOVERN 1.4", "—"),
    "map": ("Governance: documentation", "Annex IV as a whole", "GOVERN 1.4", "—"),
}


@dataclass(frozen=True)
class Requirement:
    framework: str
    reference: str
    item: str
    chapter: str  # a CHAPTERS key
    status: str  # PRESENT | PARTIAL | MISSING | FAILED
    evidence: str


def chapters_table() -> TableData:
    return TableData(
        "Chapters and the sections they serve",
        ("Chapter", "SR 11-7", "EU AI Act Annex IV", "NIST AI RMF", "Model card"),
        tuple((f"{i}. {TITLES[key]}", *CHAPTER_SECTIONS[key]) for i, (key, _) in enumerate(CHAPTERS, start=1)))


def _text(value: Any) -> str:
    return str(value or "").strip()


class _Evidence:
    """Lookups the requirement rules share."""

    def __init__(self, records: ProjectRecords) -> None:
        self.r = records
        self.view = version_view(records)
        self.run = version_run(records)
        self.checks = {c.id: c for g in records.gates for c in g.checks}
        self.release = {c.id: c for c in (records.promotion.checks if records.promotion else ())}
        self.analysis = records.error_analysis or {}

    def gate(self, check_id: str) -> tuple[str, str]:
        c = self.checks.get(check_id)
        if c is None:
            return "MISSING", "check not evaluated"
        return ("PRESENT" if c.passed else "MISSING"), c.detail or c.label

    def released(self, check_id: str) -> tuple[str, str]:
        c = self.release.get(check_id)
        if self.view is None:
            return "MISSING", "no model version registered"
        if c is None:
            return "MISSING", "check not evaluated"
        if c.passed:
            return "PRESENT", c.detail
        return "MISSING", f"{c.detail}" + (f"; {waiver_text(self.r, self.r.version, c.id)}" if c.waiver else "")

    def both(self, first: str, second: str, what: tuple[str, str]) -> tuple[str, str]:
        have = [name for name, value in zip(what, (first, second)) if _text(value)]
        status = "PRESENT" if len(have) == 2 else ("PARTIAL" if have else "MISSING")
        missing = [name for name in what if name not in have]
        parts = (["written: " + ", ".join(have)] if have else []) + \
            (["not written: " + ", ".join(missing)] if missing else [])
        return status, "; ".join(parts)


def requirements(records: ProjectRecords) -> list[Requirement]:
    e = _Evidence(records)
    r = records
    card = r.card
    label = version_label(r)
    training = [d for d in r.datasets if d.role == "training"]
    analysed = [b for b in r.batches if b.analysed]
    labelled = [b for b in r.batches if b.metrics]
    leaks = [f for s in r.splits for f in s.leakage if f.get("severity") == "error"]
    fairness = e.analysis.get("fairness")
    segments = e.analysis.get("segments") or {}
    high_open = [f for f in open_findings(r) if f.severity == "HIGH"]
    critical_untriaged = [a for a in r.alerts if a.severity == "critical" and a.trigger_id is None]

    def purpose() -> tuple[str, str]:
        return e.both(r.statement.get("objective"), card.get("intended_use"),
                      ("statement objective", f"intended use in the card of {label}" if r.version is not None
                       else "intended use in a model card"))

    def soundness() -> tuple[str, str]:
        ids = ("target_defined", "features_specified", "serving_availability")
        failed = [e.checks[i].label for i in ids if i in e.checks and not e.checks[i].passed]
        if failed:
            return "MISSING", "; ".join(failed)
        return "PRESENT", "target, label strategy and every feature's serving-time availability recorded"

    def data_versions() -> tuple[str, str]:
        if not training:
            return "MISSING", "no training dataset version imported"
        return "PRESENT", f"{len(training)} training version(s) with SHA-256, profile and quality report"

    def leakage() -> tuple[str, str]:
        if not r.splits:
            return "MISSING", "no split made, so no leakage check ran"
        if leaks:
            return "FAILED", "; ".join(f"{f.get('check')} {f.get('feature') or ''}".strip() for f in leaks)
        return "PRESENT", f"{len(r.splits)} split(s) checked, no leaking feature or shared row"

    def held_out() -> tuple[str, str]:
        if e.run is None:
            return "MISSING", "no model version registered"
        if sealed_metrics(e.run):
            return "PRESENT", "sealed test scored: " + ", ".join(f"{k} {v:.4f}" for k, v in
                                                                 sealed_metrics(e.run).items())
        return "MISSING", f"the sealed test set of run {e.run.number} is still unopened"

    def stability() -> tuple[str, str]:
        if e.run is None:
            return "MISSING", "no model version registered"
        done = [name for name, value in (("cross-validation", e.run.cv_metrics), ("tuning", e.run.tuning)) if value]
        return ("PRESENT", " and ".join(done) + f" recorded for run {e.run.number}") if done else \
            ("MISSING", f"no cross-validation and no tuning recorded for run {e.run.number}")

    def drift() -> tuple[str, str]:
        return ("PRESENT", f"{len(analysed)} batch(es) analysed, latest {analysed[-1].label}") if analysed else \
            ("MISSING", "no monitoring batch analysed")

    def performance() -> tuple[str, str]:
        return ("PRESENT", f"{len(labelled)} labelled batch(es)") if labelled else \
            ("MISSING", "no batch has labels yet, so performance in production is unmeasured")

    def sla() -> tuple[str, str]:
        return ("PRESENT", "; ".join(x.describe() for x in r.sla_rules)) if r.sla_rules else \
            ("MISSING", "no SLA rule defined")

    def chain() -> tuple[str, str]:
        if r.chain is None:
            return "MISSING", "the chain was not verified for this document"
        return ("PRESENT" if r.chain.ok else "FAILED"), r.chain.describe()

    def design() -> tuple[str, str]:
        have = [k for k in ("target", "label_strategy", "temporal_aspects", "proxy_metrics", "cold_start")
                if _text(r.framing.get(k))]
        if {"target", "label_strategy"} <= set(have):
            return "PRESENT", "framing records " + ", ".join(k.replace("_", " ") for k in have)
        return ("PARTIAL" if have else "MISSING"), ("framing records " + ", ".join(have) if have
                                                    else "no framing written")

    def testing() -> tuple[str, str]:
        parts = [name for name, ok in (("statistical comparisons", r.comparisons), ("error analysis", e.analysis))
                 if ok]
        status = "PRESENT" if len(parts) == 2 else ("PARTIAL" if parts else "MISSING")
        return status, (" and ".join(parts) + " recorded") if parts else "no comparison and no error analysis"

    def bias() -> tuple[str, str]:
        # PRESENT only when the stage 4 check passed: the analysis ran and its findings are settled.
        reviewed = e.checks.get("fairness_reviewed")
        if fairness and reviewed is not None and reviewed.passed:
            return "PRESENT", (f"fairness by {fairness.get('attribute')}: demographic parity difference "
                               f"{fairness.get('demographic_parity_difference', float('nan')):.4f}; "
                               f"{reviewed.detail}")
        if fairness or reviewed is not None:
            return ("PARTIAL" if fairness else "MISSING"), (reviewed.detail if reviewed is not None
                                                            else "fairness findings not evaluated")
        return "MISSING", f"no fairness evaluation of the run behind {label}"

    def groups() -> tuple[str, str]:
        return ("PRESENT", "per-segment metrics by " + ", ".join(segments)) if segments else \
            ("MISSING", f"no per-segment metrics of the run behind {label}")

    def limitations() -> tuple[str, str]:
        return e.both(card.get("caveats"), card.get("ethical_considerations"),
                      ("caveats and recommendations", "ethical considerations"))

    def risk_management() -> tuple[str, str]:
        if not _text(card.get("caveats")):
            return "MISSING", "no caveats written in the model card"
        if high_open:
            return "PARTIAL", f"{len(high_open)} high-severity finding(s) still open"
        return "PRESENT", "caveats written; no high-severity finding open"

    def changes() -> tuple[str, str]:
        if not r.transitions and not r.events:
            return "MISSING", "no transition or change recorded"
        return "PRESENT", f"{len(r.transitions)} transition(s), {len(r.events)} audit event(s) of the project"

    def monitoring_plan() -> tuple[str, str]:
        parts = [name for name, ok in (("SLA rules", r.sla_rules), ("analysed batches", analysed)) if ok]
        status = "PRESENT" if len(parts) == 2 else ("PARTIAL" if parts else "MISSING")
        return status, (" and ".join(parts)) if parts else "no SLA rule and no analysed batch"

    def roles() -> tuple[str, str]:
        if e.view is None:
            return "MISSING", "no model version registered"
        author = signed_by(r, e.view.created_by, getattr(e.view, "author_fingerprint", None))
        check = e.release.get("independent_approval")
        deciders = "; ".join(dict.fromkeys(f"{a.approver} (key {key_text(r, a.signer_fingerprint)})"
                                           for a in e.view.approvals))
        if check is not None and check.passed:
            return "PRESENT", f"author {author}; decided by {deciders}; {check.detail}"
        return "MISSING", (f"author {author}; " + (f"decisions by {deciders} do not count: " if deciders else "")
                           + (check.detail if check else "no decision by anyone else"))

    def business() -> tuple[str, str]:
        verdict, rows = business_outcome(r)
        detail = "; ".join(value for label, value in rows if label.startswith(("Measured", "Against")))
        status = {"MEASURED AND MET": "PRESENT", "NOT DEMONSTRATED": "PARTIAL"}.get(verdict, "MISSING")
        return status, f"{verdict.lower()}: {detail}" if detail else verdict.lower()

    def stakeholders() -> tuple[str, str]:
        return e.both(r.statement.get("stakeholders_gain"), r.statement.get("stakeholders_lose"),
                      ("who gains", "who loses"))

    def triage() -> tuple[str, str]:
        if critical_untriaged:
            return "MISSING", "critical alert(s) without a retraining trigger: " + \
                ", ".join(f"#{a.id}" for a in critical_untriaged)
        answered = [t for t in r.triggers if t.run_id]
        return "PRESENT", f"{len(r.alerts)} alert(s); {len(answered)} retraining trigger(s) answered by a run"

    rules: list[tuple[str, str, str, str, Callable[[], tuple[str, str]]]] = [
        ("SR 11-7", "Development", "Purpose and intended use stated", "business", purpose),
        ("SR 11-7", "Conceptual soundness", "Target, label strategy and feature specification", "framing",
         soundness),
        ("SR 11-7", "Data quality", "Training data versioned with fingerprint and quality report", "data",
         data_versions),
        ("SR 11-7", "Data quality", "Leakage checks of every split", "data", leakage),
        ("SR 11-7", "Developmental evidence", "Baseline and a significant win over it", "development",
         lambda: e.released("significant_over_baseline")),
        ("SR 11-7", "Outcomes analysis", "Held-out (sealed test) score of the chosen model", "development", held_out),
        ("SR 11-7", "Outcomes analysis", "Business outcome measured against the stated success criterion", "business",
         business),
        ("SR 11-7", "Sensitivity and stability", "Cross-validation or tuning of the chosen model", "development",
         stability),
        ("SR 11-7", "Validation", "Independent review and approval (four-eyes)", "validation",
         lambda: e.released("independent_approval")),
        ("SR 11-7", "Implementation", "Shadow analysis before production", "deployment",
         lambda: e.released("shadow_passed")),
        ("SR 11-7", "Implementation", "Canary release before production", "deployment",
         lambda: e.released("canary_passed")),
        ("SR 11-7", "Ongoing monitoring", "Drift measured on production batches", "monitoring", drift),
        ("SR 11-7", "Ongoing monitoring", "Performance measured on labelled batches", "monitoring", performance),
        ("SR 11-7", "Ongoing monitoring", "SLA rules with thresholds", "monitoring", sla),
        ("SR 11-7", "Governance", "Tamper-evident change history verified", "appendix", chain),
        ("EU AI Act Annex IV", "§1(a)", "Intended purpose", "business", purpose),
        ("EU AI Act Annex IV", "§2(b)", "Design choices, assumptions and trade-offs", "framing", design),
        ("EU AI Act Annex IV", "§2(d)", "Training data: provenance, characteristics, cleaning", "data", data_versions),
        ("EU AI Act Annex IV", "§2(e)", "Human oversight measures", "validation",
         lambda: e.released("independent_approval")),
        ("EU AI Act Annex IV", "§2(g)", "Validation and testing procedures, metrics and logs", "development", testing),
        ("EU AI Act Annex IV", "§2(g)", "Potentially discriminatory impacts examined", "development", bias),
        ("EU AI Act Annex IV", "§3", "Accuracy for specific groups of persons", "development", groups),
        ("EU AI Act Annex IV", "§3", "Limitations and foreseeable unintended outcomes", "limitations", limitations),
        ("EU AI Act Annex IV", "§4", "Appropriateness of the performance metrics", "business",
         lambda: e.gate("metrics_linked")),
        ("EU AI Act Annex IV", "§5", "Risk management: residual risk stated and treated", "limitations",
         risk_management),
        ("EU AI Act Annex IV", "§6", "Changes through the lifecycle", "changelog", changes),
        ("EU AI Act Annex IV", "§9", "Post-market monitoring plan", "monitoring", monitoring_plan),
        ("NIST AI RMF", "GOVERN 2.1", "Roles: author and independent decision-maker named", "validation", roles),
        ("NIST AI RMF", "MAP 1.1", "Context and intended purpose documented", "business",
         lambda: e.gate("statement_complete")),
        ("NIST AI RMF", "MAP 2.1", "The task needs learning: ML appropriateness assessed", "business",
         lambda: e.gate("ml_appropriate")),
        ("NIST AI RMF", "MAP 3.1, 3.2", "Benefits and costs: who gains and who loses", "business", stakeholders),
        ("NIST AI RMF", "MEASURE 2.3", "Performance demonstrated against a baseline", "development",
         lambda: e.released("significant_over_baseline")),
        ("NIST AI RMF", "MEASURE 2.11", "Fairness and bias evaluated", "development", bias),
        ("NIST AI RMF", "MEASURE 2.4", "Functionality monitored in production", "monitoring", drift),
        ("NIST AI RMF", "MANAGE 4.1", "Post-deployment response: alerts triaged into retraining", "monitoring",
         triage),
        ("NIST AI RMF", "MANAGE 1.4", "Residual risks documented", "limitations", limitations),
    ]
    out = [Requirement(fw, ref, item, chapter, *rule()) for fw, ref, item, chapter, rule in rules]
    for section in r.card_sections:
        # Only a person's words, or the registry's draft a person signed, count as written.
        status = {"person": "PRESENT", "confirmed": "PARTIAL" if section.outdated else "PRESENT",
                  "draft": "PARTIAL"}.get(section.origin, "MISSING")
        out.append(Requirement("Model card", section.label, f"Section “{section.label}” written or confirmed by a "
                                                            "person", "card", status,
                               f"{section.status} in the card of {label}"))
    return out


def requirements_table(items: list[Requirement]) -> TableData:
    return TableData(
        "Required items and their status",
        ("Framework", "Reference", "Required item", "Chapter", "Status", "Evidence"),
        tuple((q.framework, q.reference, q.item, TITLES[q.chapter], q.status, q.evidence or "—") for q in items),
        highlight=tuple(i for i, q in enumerate(items) if q.status in ("MISSING", "FAILED")),
        note="PRESENT: the evidence is in the registry. PARTIAL: part of it is. MISSING: it is not recorded for this "
             "project and version (a waiver is named where one was granted). FAILED: recorded, and it fails.")


def missing_table(items: list[Requirement]) -> TableData:
    gaps = [q for q in items if q.status != "PRESENT"]
    return TableData("Missing and incomplete items for this project",
                     ("Status", "Framework", "Reference", "Required item", "Why"),
                     tuple((q.status, q.framework, q.reference, q.item, q.evidence or "—") for q in gaps),
                     highlight=tuple(i for i, q in enumerate(gaps) if q.status in ("MISSING", "FAILED")))
