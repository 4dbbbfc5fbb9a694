"""The validation report: what a reviewer checked, on what evidence, and where they sign.

Written for the person who must approve (or reject) one model version: the scope, every check
the workbench evaluated with its result, a summary of the evidence behind them, the gate
status, the open findings and missing items, the review history, and lines for the reviewer's
and the approver's signature and date.
"""

from __future__ import annotations

from reports.data import DocumentData, Facts, ProjectRecords, Prose, Section, TableData
from reports import evidence as ev
from reports.findings import findings_table, open_findings
from reports.requirements import missing_table, requirements


def _checked(r: ProjectRecords) -> TableData:
    rows = [(f"Stage {g.stage} {g.title}", c.label, "required" if c.required else "optional",
             "PASS" if c.passed else ("MISSING" if c.required else "WARN"), c.detail or "—")
            for g in r.gates for c in g.checks]
    if r.promotion is not None:
        rows += [(f"Promotion of {ev.version_label(r)}", c.label, "required" if c.required else "recommended",
                  ev.check_result(c), c.detail + (f"; {ev.waiver_text(r, r.version, c.id)}" if c.waiver else ""))
                 for c in r.promotion.checks]
    return TableData("Checks evaluated", ("Area", "Check", "Kind", "Result", "Evidence"), tuple(rows),
                     highlight=tuple(i for i, row in enumerate(rows) if row[3] != "PASS"),
                     note="Every check the workbench evaluates for this project's maturity profile, as evaluated "
                          "when this report was built. Shaded: not passed.")


def _evidence(r: ProjectRecords) -> Facts:
    run = ev.version_run(r)
    leaks = [f for s in r.splits for f in s.leakage if f.get("severity") == "error"]
    wins = [c for c in r.comparisons if c.significant and run is not None and c.run_b == run.id]
    fair = (r.error_analysis or {}).get("fairness")
    mine = [a for a in r.release_analyses if a.version == r.version]
    analysed = [b for b in r.batches if b.analysed]
    card_gaps = ev.card_gaps(r)
    outcome, _ = ev.business_outcome(r)
    rows = [
        ("Model version", ev.describe_version(r)),
        ("Training data of the version", ev.version_data_text(r)),
        ("Leakage", (f"{len(leaks)} leakage error(s)" if leaks else f"no leakage found in {len(r.splits)} split(s)")
         if r.splits else "no split made"),
        ("Against the baseline", "; ".join(f"run {c.run_b} beats run {c.run_a}: Δ{c.metric} {c.difference:+.4f}, "
                                           f"95% CI [{c.ci[0]:+.4f}, {c.ci[1]:+.4f}], p {ev.pval(c.p_value)} ({c.test})"
                                           for c in wins) or "no significant win recorded"),
        ("Error analysis", f"recorded for run {run.id}" if run is not None and r.error_analysis else "none recorded"),
        ("Fairness", f"by {fair['attribute']}: demographic parity difference "
                     f"{ev.num(fair.get('demographic_parity_difference'))}, equalized odds difference "
                     f"{ev.num(fair.get('equalized_odds_difference'))}" if fair else "no fairness evaluation"),
        ("Sealed test set", ev.sealed_text(run)),
        ("Release analyses", "; ".join(f"{a.kind} {a.verdict}: {ev.release_summary(a)}" for a in mine)
         or f"none for {ev.version_label(r)}"),
        ("Business outcome", outcome),
        ("Model card", "every section written or confirmed by a person" if r.card_sections and not card_gaps
         else "not complete: " + ", ".join(f"{s.label} ({s.status})" for s in card_gaps)),
        ("Monitoring", f"{len(analysed)} batch(es) analysed; "
                       f"{sum(a.status == 'open' for a in r.alerts)} open alert(s); "
                       f"{len(r.sla_rules)} SLA rule(s)"),
        ("Audit chain", r.chain.describe() if r.chain is not None else "not verified for this report"),
    ]
    return Facts(tuple(rows))


def validation_document(records: ProjectRecords) -> DocumentData:
    r = records
    view = ev.version_view(r)
    findings = open_findings(r)
    gaps = [q for q in requirements(r) if q.status != "PRESENT"]
    requested = next((q.reviewer for q in reversed(r.review_requests) if q.version == r.version and q.reviewer), None)
    scope = Facts((
        ("Under review", ev.describe_version(r)),
        ("Author", view.created_by if view else "—"),
        ("Reviewer requested", requested or "none named"),
        ("Maturity profile", f"{r.summary.maturity}: decides which checks are required and which only warn"),
        ("Project stage", ev.stage_text(r)),
    ))
    gate = r.promotion
    status = ("Promotion gate: " + ("PASSED" if gate.passed
                                    else "BLOCKED by " + "; ".join(c.label for c in gate.blocked))
              if gate else "Promotion gate: no model version registered")
    sections = (
        Section("Scope", (scope, Prose("The reviewer signs for what this document shows: the records as of the audit "
                                       "chain head printed above. Later changes need a new report."))),
        Section("What was checked", (_checked(r),)),
        Section("Evidence summary", (_evidence(r),)),
        Section("Gate status", (ev.stage_gates_table(r), Prose(status, "lead" if gate and gate.passed else "alert"))),
        Section("Findings", (findings_table(findings, "Open findings"),
                             missing_table(gaps) if gaps else Prose("Every required documentation item is present.",
                                                                    "lead"))),
        Section("Review history", (ev.requests_table(r), ev.approvals_table(r), ev.waivers_table(r),
                                   ev.promotions_table(r), ev.signers_table(r))),
        Section("Conclusion", (
            Prose("☐ Approve      ☐ Approve with conditions      ☐ Reject", "lead"),
            Prose("Conditions or reasons (write below, or attach):"),
            Prose("\n\n\n"),
        )),
    )
    reviewer = f"Reviewer ({requested})" if requested else "Reviewer"
    return DocumentData("validation", "Validation report", ev.stamp(r), sections, chapter_breaks=False,
                        signatures=(reviewer, "Approver"),
                        summary=f"Independent validation of {ev.describe_version(r)} for {r.summary.name}.")
