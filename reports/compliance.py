"""The compliance report: one PDF a model-risk team can read offline and sign off.

:func:`compliance_document` turns the records collected by
``app.services.reporting.collect_compliance_report`` into the document: a cover with the audit
head, contents, an executive summary, one chapter per lifecycle concern (business goal, framing,
data, development and testing, model card, independent validation, deployment, monitoring,
limitations, change log), an audit-trail appendix and the requirements map, which says which
SR 11-7 / EU AI Act Annex IV / NIST AI RMF / model card items are missing for this project.
How it looks is decided by :mod:`reports.documents`, shared with every other document; it is
rendered through :func:`reports.render.render_document` like every other document.
"""

from __future__ import annotations

from typing import Any

from app.lifecycle import FRAMING_FIELDS, STAGES
from app.ml.drift_bands import PSI_ALERT_THRESHOLD
from reports import evidence as ev
from reports.data import DocumentData, Facts, ProjectRecords, Prose, Section, TableData
from reports.findings import Finding, findings_table, open_findings
from reports.trail import ROUTINE, appendix_blocks, governance_events
from reports.requirements import TITLES, Requirement, chapters_table, missing_table, requirements, requirements_table
from reports.tracked_findings import findings_section

#: Milestones listed in the change log (the most recent; the appendix counts every kind).
CHANGE_LOG_MILESTONES = 200


def _section(key: str, blocks: list[Any], subsections: list[Section] | None = None) -> Section:
    return Section(TITLES[key], tuple(blocks), tuple(subsections or ()), key=key)


# ---------------------------------------------------------------------------- executive summary


def _decisions(r: ProjectRecords) -> list[tuple[Any, str, str, str, str]]:
    """(when, decision, by, key, why) of every decision on record, oldest first."""
    out: list[tuple[Any, str, str, str, str]] = []
    for m in r.models:
        out += [(a.created_at, f"v{a.version} {a.decision}", a.approver, ev.key_text(r, a.signer_fingerprint),
                 a.comment or "—") for a in m.approvals]
    out += [(t.created_at, f"v{t.version}: {t.from_stage} → {t.to_stage}", t.actor,
             ev.key_text(r, t.signer_fingerprint),
             (t.reason or "—") + (" (recommended checks not met: "
                                  + ", ".join(c.replace("_", " ") for c in t.unmet_recommended) + ")"
                                  if t.to_stage == "production" and t.unmet_recommended else ""))
            for t in r.transitions]
    out += [(w.created_at, f"v{w.version}: {ev.CHECK_LABELS.get(w.check_id, w.check_id)} waived", w.granted_by,
             ev.key_text(r, w.signer_fingerprint), w.reason) for w in r.waivers]
    for (fp, by), labels in ev.card_confirmations(r).items():
        at = max((s.at for s in r.card_sections if s.signer_fingerprint == fp and s.at), default=None)
        out.append((at, f"{ev.version_label(r)}: card sections confirmed ({', '.join(labels)})", by,
                    ev.key_text(r, fp), "the registry's draft of these sections signed as the signer's statement"))
    out += [(e.created_at, f"finding #{f.id}: {e.from_status} → {e.to_status}", e.actor,
             ev.key_text(r, e.signer_fingerprint), e.reason or "—")
            for f in r.tracked_findings for e in f.history if e.from_status]
    out += [(a.created_at, f"{a.kind} of v{a.version}: {a.verdict}", a.created_by, "unsigned", a.decision or "—")
            for a in r.release_analyses]
    out += [(t.created_at, f"retraining trigger #{t.id} ({t.kind}, {t.status})", t.requested_by, "unsigned", t.reason)
            for t in r.triggers]
    return sorted(out, key=lambda d: (d[0].isoformat() if hasattr(d[0], "isoformat") else str(d[0])))


def _promotion_verdict(r: ProjectRecords) -> str:
    gate = r.promotion
    if gate is None:
        return "no model version registered"
    waived = [c for c in gate.checks if not c.passed and c.waiver]
    unmet = gate.warnings
    if gate.blocked:
        return "BLOCKED by " + "; ".join(c.label for c in gate.blocked)
    return ("PASSED" + (f", {len(waived)} check(s) waived" if waived else "")
            + (f", {len(unmet)} recommended check(s) not met" if unmet else ""))


def _promoted(r: ProjectRecords) -> str:
    mine = [t for t in ev.promotions(r) if t.version == r.version]
    if not mine:
        return f"{ev.version_label(r)} has not been promoted to production"
    t = mine[-1]
    return (f"{ev.when(t.created_at)} by {ev.signed_by(r, t.actor, t.signer_fingerprint)}; recommended checks not met "
            f"then: {ev.unmet_text(t)}")


def _glance(r: ProjectRecords, findings: list[Finding]) -> Facts:
    analysed = [b for b in r.batches if b.analysed]
    latest = analysed[-1] if analysed else None
    open_alerts = [a for a in r.alerts if a.status == "open"]
    best = next((c for c in reversed(r.comparisons) if c.significant), None)
    outcome, facts = ev.business_outcome(r)
    outcome += "".join(f"; {value}" for label, value in facts if label.startswith(("Against", "Measured")))
    card_gaps = ev.card_gaps(r)
    rows = [
        ("Model version", ev.describe_version(r)),
        ("Promotion gate (now)", _promotion_verdict(r)),
        ("Promoted to production", _promoted(r)),
        ("Training data of the version", ev.version_data_text(r)),
        ("Significant comparison", f"run {best.run_b_number} beats run {best.run_a_number} on {best.metric} by "
                                   f"{best.difference:+.4f} (p {ev.pval(best.p_value)})" if best else "none recorded"),
        ("Sealed test set", ev.sealed_text(ev.version_run(r))),
        ("Business outcome", outcome),
        ("Model card", "every section written or confirmed by a person" if r.card_sections and not card_gaps
         else "not complete: " + ", ".join(f"{s.label} ({s.status})" for s in card_gaps)),
        ("Monitoring", f"{len(r.batches)} batch(es); latest analysed {latest.label}, max PSI "
                       f"{ev.num(latest.max_psi, 3)}" if latest else "no batch analysed"),
        ("Open alerts", ", ".join(f"#{a.id} {a.severity} ({a.batch})" for a in open_alerts) or "none"),
        ("Audit chain", r.chain.describe() if r.chain is not None else "not verified for this document"),
    ]
    return Facts(tuple(rows), "At a glance")


def _summary(r: ProjectRecords, findings: list[Finding], reqs: list[Requirement]) -> Section:
    s = r.summary
    passed = sum(g.passed for g in r.gates)
    missing = [q for q in reqs if q.status in ("MISSING", "FAILED")]
    high = sum(f.severity == "HIGH" for f in findings)
    covers = (f"This report covers model version {ev.describe_version(r)}." if r.version is not None
              else "No model version is registered yet.")
    lead = (f"{s.name} ({s.slug}) is at stage {s.current_stage} of {len(STAGES)}, {s.stage_title}, under the "
            f"{s.maturity} maturity profile; {passed} of {len(r.gates)} stage gates are passed. {covers} "
            f"{len(findings)} finding(s) are open, {high} of high severity; "
            f"{len(missing)} of {len(reqs)} required documentation items are missing or failed "
            f"(chapter {len(TITLES)} lists every item).")
    decisions = _decisions(r)
    shown = decisions[-20:]
    gaps = TableData("Missing required items", ("Framework", "Reference", "Item", "Why"),
                     tuple((q.framework, q.reference, q.item, q.evidence) for q in missing[:15]),
                     note=f"{len(missing) - 15} more in the requirements map." if len(missing) > 15 else "")
    return _section("summary", [
        Prose(lead, "lead"),
        _glance(r, findings),
        ev.stage_gates_table(r),  # with the primary risk each stage guards against
        findings_table(findings, "Open findings", limit=15),
        gaps,
        TableData("Decisions", ("When", "Decision", "By", "Key", "Why"),
                  tuple((ev.when(d[0]), d[1], d[2], d[3], d[4]) for d in shown),
                  note=("Key: the short fingerprint of the signing key (full fingerprints in the signers table of "
                        f"“{TITLES['validation']}”); unsigned: recorded under a name only."
                        + (f" The latest {len(shown)} of {len(decisions)} decisions; the appendix lists every "
                           "governance event in full." if len(decisions) > len(shown) else ""))),
    ])


# ---------------------------------------------------------------------------- stage chapters


def _business(r: ProjectRecords) -> Section:
    blocks: list[Any] = [Prose("The stage 1 deliverable: what the project is for, who gains and who loses, how "
                               "success is measured, and whether machine learning is the right tool."),
                         ev.statement_facts(r, "Problem statement"), ev.business_outcome_facts(r),
                         ev.ml_checklist_table(r)]
    if str(r.checklist.get("notes") or "").strip():
        blocks.append(Facts((("Checklist notes", str(r.checklist["notes"])),)))
    blocks.append(ev.gate_checks_table(r, 1))
    return _section("business", blocks)


def _framing(r: ProjectRecords) -> Section:
    return _section("framing", [
        Facts(tuple((label, str(r.framing.get(key) or "").strip() or "not stated") for key, label in FRAMING_FIELDS),
              "Target and label strategy"),
        ev.features_table(r),
        ev.gate_checks_table(r, 2),
    ])


def _data(r: ProjectRecords) -> Section:
    return _section("data", [
        Prose("Every dataset is stored once, named by the SHA-256 of its bytes; splits are fingerprinted and "
              "checked for leakage before any model may train on them."),
        ev.datasets_table(r), ev.fingerprints_table(r), ev.quality_table(r), ev.splits_table(r), ev.leakage_table(r),
        ev.gate_checks_table(r, 3),
    ])


def _development(r: ProjectRecords) -> Section:
    run = ev.version_run(r)
    metric = ev.primary_metric(r)
    analysis = ev.analysis_tables(run.number, r.error_analysis) if run is not None and r.error_analysis else ()
    lead = (f"Primary metric: {metric}, measured on the validation part; the test part stays sealed until it is "
            f"opened once, by an audited action. The model under review is {ev.describe_version(r)}.")
    sealed = Facts((("Sealed test set", ev.sealed_text(run)),)) if run is not None else \
        Prose("No model version registered.", "empty")
    subs = [
        Section("Baseline ladder", (ev.ladder_table(r), ev.ladder_chart(r))),
        Section("Cross-validation and tuning", (ev.cv_table(r), ev.tuning_table(r))),
        Section("Statistical comparison", (ev.comparisons_table(r),)),
        Section("Error analysis", tuple(analysis[:2]) if analysis else
                (Prose(f"No error analysis recorded for the run behind {ev.version_label(r)}.", "empty"),)),
        Section("Fairness", (analysis[2],) if analysis and analysis[2].rows else
                (Prose(f"No fairness evaluation recorded for the run behind {ev.version_label(r)}.", "empty"),)),
        Section("Sealed test set", (sealed,)),
        Section("Gate checks", (ev.gate_checks_table(r, 4),)),
    ]
    return _section("development", [Prose(lead)], subs)


def _card(r: ProjectRecords) -> Section:
    return _section("card", [
        Prose("The model card of the version under review, verbatim (Mitchell et al., “Model Cards for Model "
              "Reporting”), each section with who stands behind it. MISSING marks a section nobody has written; "
              "DRAFT marks the registry's draft from its own records that no person has confirmed, which does not "
              "count as written. A confirmed section is that draft signed by a person as their statement."),
        ev.card_facts(r), ev.version_metrics_table(r), ev.version_facts(r),
    ])


def _validation(r: ProjectRecords) -> Section:
    comments = [(f"{a.approver} on v{a.version} ({a.decision}, {ev.when(a.created_at)})", a.comment)
                for m in r.models for a in m.approvals if a.comment]
    comments += [(f"{q.requested_by} asking {q.reviewer or 'any reviewer'} (request #{q.id}, {ev.when(q.created_at)})",
                  q.comment) for q in r.review_requests if q.comment]
    return _section("validation", [
        Prose("Who challenged the work, and on what evidence. The workbench refuses a decision by the version's "
              "author (four-eyes rule); a rejection after an approval withdraws it."),
        ev.four_eyes_facts(r), ev.requests_table(r), ev.approvals_table(r),
        Facts(tuple(comments), "Reviewer comments") if comments else Prose("No reviewer comments recorded.", "empty"),
        ev.waivers_table(r),
        ev.signers_table(r),
    ], [findings_section(r)])


def _deployment(r: ProjectRecords) -> Section:
    return _section("deployment", [
        ev.models_table(r), ev.promotion_table(r), ev.promotions_table(r), ev.release_facts(r), ev.releases_table(r),
        ev.transitions_table(r),
        ev.gate_checks_table(r, 5),
    ])


def _monitoring(r: ProjectRecords) -> Section:
    batches = list(r.batches)
    breaches = ev.sla_breaches(batches)
    subs = [
        Section("Monitoring plan", (ev.sla_rules_table(r), Prose(
            f"Drift is measured per feature with KS, PSI, chi-square, Jensen–Shannon and the normed Wasserstein "
            f"distance against the training "
            f"reference of the model version that scored the batch; PSI above {PSI_ALERT_THRESHOLD} on an important "
            "feature raises a critical alert and a retraining trigger."))),
        Section("Batches", (ev.batches_table(r, batches),)),
        Section("Drift over time", (ev.max_psi_chart(batches), ev.feature_psi_chart(batches),
                                    ev.drift_rows_table(batches))),
        Section("Performance over time", (ev.performance_chart(r, batches), ev.sla_results_table(batches))),
        Section("Alerts and SLA breaches", (ev.alerts_table(r), TableData(
            "SLA breaches", ("Batch", "Rule", "Value", "Severity"),
            tuple((label, rule, ev.num(res.get("value")), str(res.get("severity", "")).upper())
                  for label, rule, res in breaches)))),
        Section("Retraining", (ev.triggers_table(r),)),
        Section("Gate checks", (ev.gate_checks_table(r, 6),)),
    ]
    return _section("monitoring", [Prose(f"{len(batches)} monitoring batch(es), {len(r.alerts)} alert(s), "
                                         f"{len(breaches)} SLA breach(es), {len(r.triggers)} retraining trigger(s).")],
                    subs)


def _limitations(r: ProjectRecords, findings: list[Finding], reqs: list[Requirement]) -> Section:
    caveats = str(r.card.get("caveats") or "").strip()
    ethics = str(r.card.get("ethical_considerations") or "").strip()
    failed = [(f"Stage {g.stage}", c.label, "MISSING" if c.required else "WARN", c.detail or "—")
              for g in r.gates for c in g.checks if not c.passed]
    if r.promotion is not None:
        failed += [(f"Promotion of {ev.version_label(r)}", c.label, ev.check_result(c),
                    c.detail + (f"; {ev.waiver_text(r, r.version, c.id)}" if c.waiver else ""))
                   for c in r.promotion.checks if not c.passed]
    gaps = [q for q in reqs if q.status != "PRESENT"]
    return _section("limitations", [
        Prose("What the model should not be trusted with, and the risk that remains after every control in this "
              "report: the card's own caveats, then what the records show is still open."),
        Facts((("Caveats and recommendations", caveats or "MISSING"), ("Ethical considerations", ethics or "MISSING")),
              f"From the model card of {ev.version_label(r)}"),
        ev.alerts_table(r),
        TableData("Failed and waived checks", ("Where", "Check", "Result", "Evidence"), tuple(failed),
                  highlight=tuple(i for i, row in enumerate(failed) if row[2] == "MISSING")),
        findings_table(findings, "All open findings"),
        Prose(f"Residual risk: {sum(f.severity == 'HIGH' for f in findings)} high, "
              f"{sum(f.severity == 'MEDIUM' for f in findings)} medium and "
              f"{sum(f.severity == 'LOW' for f in findings)} "
              f"low finding(s) are open, and {len(gaps)} required documentation item(s) are not fully present "
              f"(see “{TITLES['map']}”).", "lead"),
    ])


def _changelog(r: ProjectRecords) -> Section:
    events = list(reversed(r.project_events))  # oldest first
    if not events:
        return _section("changelog", [Prose("No audit events recorded for this project.", "empty")])
    governance = {e.seq for e in governance_events(r)}
    milestones = [e for e in events if e.seq not in governance and not e.action.startswith(ROUTINE)]
    shown = milestones[-CHANGE_LOG_MILESTONES:]
    return _section("changelog", [
        Prose(f"{len(events)} audit event(s) for {r.summary.slug}, from #{events[0].seq} ({ev.when(events[0].ts)}) to "
              f"#{events[-1].seq} ({ev.when(events[-1].ts)}), by {len({e.actor for e in events})} person(s). "
              f"{len(governance)} of them are governance decisions and controls, listed in full in "
              f"“{TITLES['appendix']}” with the count of every kind."),
        TableData("How the evidence was built", ("Seq", "Change", "Detail"),
                  tuple((str(e.seq), f"{e.action}\n{e.entity}\n{e.actor}, {ev.when(e.ts)}", e.summary)
                        for e in shown),
                  note="Data, training, analysis, monitoring and report events, oldest first"
                       + (f" (the latest {CHANGE_LOG_MILESTONES})" if len(milestones) > len(shown) else "")
                       + "; routine job and serving events are only counted, in the appendix."),
    ])


def _checkpoint_blocks(r: ProjectRecords) -> list[Any]:
    """The signed checkpoint of the head above, when this report is part of an evidence bundle:
    printed from the checkpoint.json the bundle carries (the same record), so a reviewer can
    check it against the workspace later (`mlwb audit verify --checkpoint`)."""
    c = r.checkpoint
    if c is None or (c.seq, c.head, c.evidence_digest) != (r.audit_head_seq, r.audit_head_hash, r.evidence_digest):
        return []  # never print a signature over a head other than the one this report states
    return [
        Facts((("Checkpoint of", f"event {c.seq}, its hash and the evidence digest above"),
               ("Signed at", c.made_at), ("Signed by", c.signer)), "Signed checkpoint"),
        Prose(f"Checkpoint signer key: {c.fingerprint}", "mono"),
        Prose(f"Checkpoint signature: {c.signature}", "mono"),
        Prose("The evidence bundle this report came in carries this checkpoint as checkpoint.json (Ed25519 over "
              "its canonical JSON statement). Kept outside the workspace, it proves later that the chain still "
              "holds this head: `mlwb audit verify --checkpoint checkpoint.json` in the workspace catches any "
              "truncation or rollback behind it."),
    ]


def _appendix(r: ProjectRecords) -> Section:
    chain = r.chain
    project_count = len(r.project_events)
    facts = Facts((
        ("Verification at build time", chain.describe() if chain else "not verified for this document"),
        ("Result", ("PASS" if chain.ok else "FAILED") if chain else "N/A"),
        ("Events of this project", str(project_count)),
        ("Events in the workspace's chain", f"{r.audit_event_count} (every project's; other projects' content is "
                                            "not printed here)"),
        ("Head sequence number", str(r.audit_head_seq)),
        ("Head hash", r.audit_head_hash),
        ("Evidence digest", r.evidence_digest or "not computed: the chain did not verify"),
    ), "Chain verification")
    return _section("appendix", [
        Prose("Every change in the workbench writes an audit event whose HMAC-SHA256 covers the previous event's "
              "hash, so editing, deleting, reordering or truncating an event breaks the chain from that point on."),
        facts,
        Prose(f"Audit chain head: {r.audit_head_seq} {r.audit_head_hash}", "mono"),
        *([Prose(f"Evidence digest: {r.evidence_digest}", "mono")] if r.evidence_digest else []),
        *_checkpoint_blocks(r),
        Prose("To re-verify, run `mlwb audit verify` in the workspace this report came from: it recomputes every link "
              "and names the first broken one. The head it reports must equal the one above, or come later (events "
              "after this report); a different hash at the same sequence number means the trail was changed."),
        Prose("The evidence digest is a plain SHA-256 chain over the content of every event up to the head (the "
              "algorithm is in the manifest of an evidence bundle). Anyone holding the exported events can "
              "recompute it without the audit key: `mlwb verify-bundle` does, and names the first event whose "
              "content differs."),
        *appendix_blocks(r),
    ])


def _map(reqs: list[Requirement]) -> Section:
    missing = [q for q in reqs if q.status in ("MISSING", "FAILED")]
    plain = "; ".join(f"{q.item} ({q.framework} {q.reference})" for q in missing)
    return _section("map", [
        Prose("Which chapter answers which section of SR 11-7 (model risk management), the EU AI Act's Annex IV "
              "(technical documentation), the NIST AI RMF functions (Govern, Map, Measure, Manage) and the model "
              "card; then every required item with its status for this project, computed from the records."),
        Prose(("MISSING for this project: " + plain + ".") if missing else
              "Every required item is present for this project.", "alert" if missing else "lead"),
        chapters_table(),
        requirements_table(reqs),
        missing_table(reqs),
    ])


def compliance_document(records: ProjectRecords) -> DocumentData:
    """The compliance report of ``records`` (collected by ``collect_compliance_report``)."""
    r = records
    findings = open_findings(r)
    reqs = requirements(r)
    s = r.summary
    cover = (("Project", s.name), ("Project slug", s.slug), ("Problem type", s.problem_type),
             ("Maturity profile", s.maturity), ("Model version", ev.describe_version(r)),
             ("Current stage", ev.stage_text(r)), ("Built at", r.built_at), ("Built by", r.built_by),
             ("Audit events of this project", str(len(r.project_events))))
    sections = (
        _summary(r, findings, reqs), _business(r), _framing(r), _data(r), _development(r), _card(r), _validation(r),
        _deployment(r), _monitoring(r), _limitations(r, findings, reqs), _changelog(r), _appendix(r), _map(reqs),
    )
    return DocumentData(
        "compliance", "Compliance report", ev.stamp(r), sections, cover=cover, contents=True,
        summary="Built offline from the workbench registry through the same services its screens use. Every "
                "chapter states what is recorded and says so where nothing is; the last chapter maps the chapters "
                "to SR 11-7, the EU AI Act's Annex IV, the NIST AI RMF and the model card, and lists the items "
                "still missing for this project.")
