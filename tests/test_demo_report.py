"""The demo project end to end: where it stands, what monitoring found, and its compliance PDF.

Runs on a private copy of the session's demo workspace (built once by ``demo_template`` with
real fits in real worker processes); the PDF is checked by the text pypdf extracts from it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import select

from app.errors import NotFound, WorkbenchError
from app.lifecycle import STAGES
from app.ml.drift_bands import PSI_ALERT_THRESHOLD, PSI_WATCH
from app.ml.drift_statistics import describe_basis
from app.services import (
    audit_trail, comparison, datasets, gates, monitoring_alerts, monitoring_batches, monitoring_policy, people,
    promotion, registry, release_analysis, reporting, training,
)
from app.services.demo import CARD, CHALLENGER_KIND, FEATURES, SLUG, VALIDATOR
from app.services.workbench import Workbench
from app.signing import short_fingerprint
from reports import evidence as ev
from reports.render import build_document, render_document
from reports.requirements import CHAPTERS
from reports.stages import stage_chapters
from reports.trail import is_governance
from storage.models import ModelVersion

HEAD_RE = re.compile(r"Audit chain head: (\d+) ([0-9a-f]{64})")


def _pdf_text(path: Path) -> str:
    reader = pypdf.PdfReader(str(path))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_demo_project_is_at_stage_six_with_every_gate_passed(demo_wb: Workbench) -> None:
    assert gates.project_stage(demo_wb, SLUG) == 6
    statuses = gates.all_gates(demo_wb, SLUG)
    assert [g.stage for g in statuses] == [1, 2, 3, 4, 5, 6]
    not_passed = [(g.stage, [c.id for c in g.missing]) for g in statuses if not g.passed]
    assert not_passed == []


def test_only_the_strongest_drift_raises_a_critical_alert_with_a_retraining_trigger(demo_wb: Workbench) -> None:
    batches = monitoring_batches.list_batches(demo_wb, SLUG)
    assert [b.label for b in batches] == ["2026-01", "2026-02", "2026-03"]
    assert all(b.analysed for b in batches)
    assert all(b.model_version is not None for b in batches)

    alerts = monitoring_alerts.list_alerts(demo_wb, SLUG)
    assert {a.batch for a in alerts} <= {"2026-02", "2026-03"}, "the undrifted traffic of 2026-01 raised an alert"
    (critical,) = [a for a in alerts if a.severity == "critical"]
    assert critical.batch == "2026-03" and critical.rule == "drift"
    assert critical.value is not None and critical.value > PSI_ALERT_THRESHOLD
    assert critical.trigger_id is not None
    assert all(a.trigger_id is None for a in alerts if a.severity != "critical")

    # The quiet batches stay under the act band; the drifted one crosses it.
    psi = {b.label: b.max_psi for b in batches}
    assert psi["2026-01"] is not None and psi["2026-01"] <= PSI_WATCH
    assert psi["2026-02"] is not None and psi["2026-02"] <= PSI_ALERT_THRESHOLD
    assert psi["2026-03"] is not None and psi["2026-03"] > PSI_ALERT_THRESHOLD

    actions = [e.action for e in audit_trail.recent_events(demo_wb, project=SLUG, limit=500)]
    assert actions.count("monitoring.alert_raised") == len(alerts)
    assert actions.count("monitoring.retraining_triggered") == 1


def test_the_candidate_beats_the_popularity_baseline(demo_wb: Workbench) -> None:
    # the runs trained in stage 4 (the retraining's re-scorings of the baseline and the champion
    # on its new split are records of the same models)
    runs = [r for r in training.list_runs(demo_wb, SLUG) if not r.params.get("rescored_from")]
    baselines = [r for r in runs if r.is_baseline]
    candidates = [r for r in runs if not r.is_baseline]
    assert [r.model_kind for r in baselines] == ["popularity_baseline"]
    assert len(candidates) >= 2
    best_base = max(r.metrics["val_roc_auc"] for r in baselines)
    best_cand = max(r.metrics["val_roc_auc"] for r in candidates)
    assert best_cand > best_base

    check = {c.id: c for c in gates.gate(demo_wb, SLUG, 4).checks}["beats_baseline"]
    assert check.passed, check.detail

    (production,) = [m for m in registry.list_models(demo_wb, SLUG) if m.stage == "production"]
    assert production.model_kind != "popularity_baseline"
    assert production.has_card
    assert [(a.approver, a.decision) for a in production.approvals] == [(VALIDATOR, "approved")]
    assert production.created_by != VALIDATOR


def test_the_project_screens_stages_are_printed_in_the_compliance_pdf_with_the_card_drift_approver_and_head(
    demo_wb: Workbench, tmp_path: Path
) -> None:
    """The project screen's stage chapters (``collect_project``, ``reports.stages``) show tables the
    compliance report prints, built by the same functions; the PDF covers every stage."""
    chapters = stage_chapters(reporting.collect_project(demo_wb, SLUG))
    data = reporting.collect_compliance_report(demo_wb, SLUG)
    printed = {block for section in build_document("compliance", data).sections
               for part in (section, *section.subsections) for block in part.blocks}
    shown = [block for chapter in chapters for block in chapter.evidence]
    assert [c.number for c in chapters] == [s.number for s in STAGES] and len(shown) >= 20
    assert [block.title for block in shown if block not in printed] == []

    out = tmp_path / "ctr-demo.pdf"
    render_document("compliance", data, out)
    assert out.is_file() and out.read_bytes().startswith(b"%PDF")
    assert not list(tmp_path.glob(".*.partial"))

    raw = _pdf_text(out)
    text = _flat(raw)
    for s in STAGES:
        assert f"Gate checks of stage {s.number} ({s.title})" in text, f"missing the gate of stage {s.number}"
    assert "Model card" in text
    for feature in FEATURES:
        assert feature["name"] in text, f"drift table lacks feature {feature['name']}"
    assert "KS" in text and "PSI" in text
    assert "Per-feature drift" in text
    assert VALIDATOR in text

    verdict = audit_trail.verify(demo_wb)
    assert verdict.ok, verdict.describe()
    heads = set(HEAD_RE.findall(text))
    assert heads == {(str(verdict.head.seq), verdict.head.hash)}
    assert (data.audit_head_seq, data.audit_head_hash) == (verdict.head.seq, verdict.head.hash)
    # Rendering is not audited: the head printed is still the head after the render.
    assert audit_trail.verify(demo_wb).head == verdict.head


def test_compliance_report_has_every_chapter_the_requirements_map_and_the_head_verify_reports(
    demo_wb: Workbench, tmp_path: Path
) -> None:
    verdict = audit_trail.verify(demo_wb)  # what `mlwb audit verify` reports before the build
    assert verdict.ok, verdict.describe()
    records = reporting.collect_compliance_report(demo_wb, SLUG)
    result = render_document("compliance", records, tmp_path / "compliance.pdf")
    raw = _pdf_text(result.path)
    text = _flat(raw)

    for number, (_, title) in enumerate(CHAPTERS, start=1):
        assert f"{number}. {title}" in text, f"chapter '{title}' missing"
    assert "Chapter SR 11-7 EU AI Act Annex IV NIST AI RMF Model card" in text
    assert "Framework Reference Required item Chapter Status Evidence" in text
    for row in ("SR 11-7 Validation Independent review and approval (four-eyes)",
                "EU AI Act Annex IV §9 Post-market monitoring plan",
                "NIST AI RMF MEASURE 2.11 Fairness and bias evaluated"):
        assert row in text, row
    # The demo waived the canary of v1 (growth profile) and never opened its sealed test set.
    assert "MISSING SR 11-7 Implementation Canary release before production" in text
    assert "MISSING SR 11-7 Outcomes analysis Held-out (sealed test) score of the chosen model" in text

    assert set(HEAD_RE.findall(raw)) == {(str(verdict.head.seq), verdict.head.hash)}
    assert (records.audit_head_seq, records.audit_head_hash) == (verdict.head.seq, verdict.head.hash)
    assert audit_trail.head(demo_wb)[0] == verdict.head, "building the report changed the trail"
    assert f"audit head {verdict.head.seq} {verdict.head.hash[:16]}" in raw  # the running footer

    production = next(m for m in registry.list_models(demo_wb, SLUG) if m.stage == "production")
    assert f"v{production.version} — {production.model_kind}, stage production" in text
    for feature in FEATURES:
        assert feature["name"] in text
    assert VALIDATOR in text
    assert f"Error analysis of run {production.run_id}" in text and "Demographic parity difference" in text
    assert "B significantly better" in text
    for figure in ("Maximum feature PSI per batch", "PSI per feature over batches",
                   "Performance on labelled rows over batches"):
        assert re.search(rf"Figure \d+\. {figure}", text), figure
    assert re.search(r"Table \d+\. Retraining triggers and their lineage", text)
    assert f"Page {result.pages} of {result.pages}" in text


def test_deterministic_builds_are_byte_identical_until_the_records_change(demo_wb: Workbench, tmp_path: Path) -> None:
    def build(name: str, **options: object) -> bytes:
        records = reporting.collect_compliance_report(demo_wb, SLUG, **options)  # type: ignore[arg-type]
        return render_document("compliance", records, tmp_path / name).path.read_bytes()

    first, second = build("a.pdf", deterministic=True), build("b.pdf", deterministic=True)
    assert first == second
    assert "deterministic build" in _pdf_text(tmp_path / "a.pdf")
    monitoring_policy.add_sla_rule(demo_wb, SLUG, "accuracy", ">=", 0.5)
    assert build("c.pdf", deterministic=True) != first
    assert re.search(r"built \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", _pdf_text(tmp_path / "c.pdf")) is None
    live = reporting.collect_problem_statement(demo_wb, SLUG)  # a normal build prints the real time
    render_document("problem_statement", live, tmp_path / "d.pdf")
    assert re.search(r"built \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", _pdf_text(tmp_path / "d.pdf"))


def test_problem_statement_model_card_drift_and_validation_documents(demo_wb: Workbench, tmp_path: Path) -> None:
    head, _ = audit_trail.head(demo_wb)

    def render(kind: str, **options: object) -> tuple[str, int]:
        records = reporting.COLLECTORS[kind](demo_wb, SLUG, deterministic=True, **options)
        result = render_document(kind, records, tmp_path / f"{kind}.pdf")
        raw = _pdf_text(result.path)
        assert set(HEAD_RE.findall(raw)) == {(str(head.seq), head.hash)}, kind
        return _flat(raw), result.pages

    text, pages = render("problem_statement")
    assert pages == 1
    assert "Recommend items users are likely to click" in text and "Is ML appropriate?" in text
    assert "Stage 1 gate: PASSED" in text

    text, _ = render("model_card", version=1)
    card = registry.model_card(demo_wb, SLUG, 1)
    assert "Model card of v1" in text and card["intended_use"][:60] in text
    production = next(m for m in registry.list_models(demo_wb, SLUG) if m.version == 1)
    assert production.artifact_sha256 in text and "Metrics of v1" in text

    text, _ = render("drift", batches=("2026-03",))
    assert "Statistics per feature — batch 2026-03" in text and "DRIFT" in text
    # what the statistics were measured against, as the version's stored profile records it
    batch = next(b for b in monitoring_batches.list_batches(demo_wb, SLUG) if b.label == "2026-03")
    with demo_wb.read() as session:
        profiled = session.scalar(select(ModelVersion).where(ModelVersion.version == batch.model_version))
        expected = describe_basis(profiled.reference_profile["rows"], profiled.reference_profile["sample_rows"])
    assert batch.reference == f"reference: {expected}" and f"Measured against {expected}" in text
    # the normed Wasserstein distance is stored with each numeric result and printed as the registry has it
    numeric = [r for r in batch.features if r.kind == "numeric"]
    assert numeric and all(r.wasserstein is not None for r in numeric)
    assert all(f"{r.wasserstein:.3f}" in text for r in numeric) and "W is the normed Wasserstein distance" in text
    assert re.search(r"Figure 1\. PSI per feature — batch 2026-03", text)
    assert "Batch 2026-01" not in text
    text, _ = render("drift", batches=("2026-01", "2026-03"))
    assert all(f"Batch {label}" in text for label in ("2026-01", "2026-02", "2026-03"))
    assert "Maximum feature PSI per batch" in text and "Performance on labelled rows over batches" in text

    text, _ = render("validation")
    assert "Checks evaluated" in text and "Evidence summary" in text and "Promotion gate: PASSED" in text
    assert f"Reviewer ({VALIDATOR})" in text and "Approver" in text and "Name Signature Date" in text

    with pytest.raises(NotFound, match="no monitoring batch 'nope'"):
        reporting.collect_drift_report(demo_wb, SLUG, batches=("nope",))
    with pytest.raises(NotFound, match="no model version 99"):
        reporting.collect_model_card(demo_wb, SLUG, version=99)


# ---------------------------------------------------------------------------- issue 11: only what is true


# The running header and footer of a body page, as pypdf extracts them (one line each).
FURNITURE = re.compile(r"^(Compliance report — .*|ctr-demo · model v\d+|ctr-demo · model v\d+ · audit head .*|"
                       r"Page \d+ of \d+)$")


def _compliance_text(wb: Workbench, out: Path) -> str:
    """The report's text without its page furniture, so a row that continues overleaf reads whole."""
    records = reporting.collect_compliance_report(wb, SLUG, deterministic=True)
    pages = pypdf.PdfReader(str(render_document("compliance", records, out).path)).pages
    return _flat("\n".join(line for page in pages for line in (page.extract_text() or "").splitlines()
                           if not FURNITURE.match(line.strip())))


def _bare(text: str) -> str:
    """Without any whitespace: a hash or a signature wrapped across lines still matches."""
    return re.sub(r"\s+", "", text)


def test_the_demo_report_states_what_the_registry_records_and_nothing_else(demo_wb: Workbench,
                                                                            tmp_path: Path) -> None:
    """Each fact the compliance PDF prints, checked against the services that record it: a PDF that
    contradicts the registry (or itself) fails here."""
    text = _compliance_text(demo_wb, tmp_path / "report.pdf")
    bare = _bare(text.replace(" Event Payload ", " "))  # the appendix table's header repeats on each page
    models = {m.version: m for m in registry.list_models(demo_wb, SLUG)}
    (v1,) = [m for m in models.values() if m.stage == "production"]
    run = next(r for r in training.list_runs(demo_wb, SLUG) if r.id == v1.run_id)
    keys = {p.name: p for p in people.list_people(demo_wb)}

    # The cover counts this project's events, not the workspace's (which holds the people's too).
    events = audit_trail.project_events(demo_wb, SLUG)
    own = [e for e in events if e.project == SLUG]
    head, total = audit_trail.head(demo_wb)
    assert total > len(own)
    assert f"Audit events of this project {len(own)}" in text
    assert f"Events in the audit chain {total}" not in text

    # The version's training data is the dataset its run trained on, not the retraining data.
    training_sets = [d.id for d in datasets.list_datasets(demo_wb, SLUG) if d.role == "training"]
    assert len(training_sets) == 2 and run.dataset_version_id == training_sets[0]
    row = re.search(r"Training data of the version (.*?) Significant comparison", text)
    assert row and re.findall(r"\bv(\d+)\b", row.group(1)) == [str(run.dataset_version_id)], row

    # Every comparison once, with the interval recorded.
    document = build_document("compliance", reporting.collect_compliance_report(demo_wb, SLUG, deterministic=True))
    (table,) = [b for s in document.sections for part in (s, *s.subsections) for b in part.blocks
                if getattr(b, "title", "") == "Statistical comparisons"]
    comps = comparison.list_comparisons(demo_wb, SLUG)
    assert [row[0] for row in table.rows] == [str(c.id) for c in comps]
    for c in comps:
        assert f"{c.difference:+.4f} [{c.ci[0]:+.4f}, {c.ci[1]:+.4f}] {ev.pval(c.p_value)}" in text

    # The sealed test: what the card, the tables and the summary say agrees with the run.
    assert not run.test_metrics
    assert "Sealed test set still sealed: the test part of run" in text and "sealed test: not opened" in text
    assert not re.search(r"\btest_[a-z_]+ ", text), "a test_ metric printed under its raw name"

    # Recommended checks the promotion went ahead without: named by the signed promotion, never a waiver.
    (promoted,) = [t for t in promotion.transitions(demo_wb, SLUG) if t.to_stage == "production"]
    assert set(promoted.unmet_recommended) == {"shadow_passed", "canary_passed", "monitoring_configured"}
    assert promotion.waivers(demo_wb, SLUG) == [] and "WAIVED" not in text
    me = keys[promoted.actor]
    assert (f"v{v1.version} none {me.name} {short_fingerprint(me.fingerprint)} A shadow analysis against production "
            "passed, A canary passed its guardrails, SLA rules or drift thresholds are configured") in text

    # Every decision carries its signer's key; one table gives each signer's role and whole key.
    (approval,) = v1.approvals
    validator = keys[approval.approver]
    assert approval.signer_fingerprint == validator.fingerprint
    assert f"{VALIDATOR} {short_fingerprint(validator.fingerprint)} APPROVED" in text
    for person in (me, validator):
        grouped = " ".join(person.fingerprint[i:i + 4] for i in range(0, 64, 4))
        assert f"{person.name} {person.role} {grouped}" in text, person.name
    assert "unsigned" in text  # the alias moves that follow a promotion are recorded under a name only

    # The card: each section as the registry holds it, with who stands behind it.
    card = registry.model_card_view(demo_wb, SLUG, v1.version)
    assert card.complete and {s.origin for s in card.sections} == {"person", "confirmed"}
    for s in card.sections:
        assert _bare(s.text) in bare, s.label
        if s.origin == "confirmed":
            assert s.by == me.name and s.signer_fingerprint == me.fingerprint
    assert text.count(f"Confirmed by {me.name}, key {short_fingerprint(me.fingerprint)}") == sum(
        s.origin == "confirmed" for s in card.sections)
    assert "DRAFT, drafted by the registry" not in text

    # The business metric's outcome: the A/B test's CTR lift, against what the statement asks.
    (ab,) = [a for a in release_analysis.list_release_analyses(demo_wb, SLUG) if a.kind == "ab_test"]
    r = ab.results
    assert (f"A = v{ab.baseline_version} ({models[ab.baseline_version].model_kind}, {r['n_a']:,} labelled requests): "
            f"CTR {r['mean_a']:.2%}; B = v{ab.version} ({models[ab.version].model_kind}, {r['n_b']:,}): "
            f"CTR {r['mean_b']:.2%}. Lift of B over A {r['difference'] * 100:+.2f} points") in text
    assert "Business outcome NOT DEMONSTRATED" in text  # arm A was v1, not the popularity ranking

    # The appendix: every governance event in full, the rest counted by kind.
    governance = [e for e in events if is_governance(e.action)]
    assert {e.action for e in governance} >= {"model.approved", "model.transitioned", "person.added",
                                              "stage.advanced", "model_card.confirmed", "model.registered"}
    for e in governance:
        assert f"#{e.seq} {e.ts[:16].replace('T', ' ')} {e.actor} {e.action}" in text, e.action
        for key, value in e.payload:
            assert _bare(f"{key}: {value}") in bare, (e.seq, key)
    others: dict[str, int] = {}
    for e in own:
        if not is_governance(e.action):
            others[e.action] = others.get(e.action, 0) + 1
    for action, count in others.items():
        assert f"{action} {count} #" in text, action


def test_comparing_the_same_pair_again_returns_the_recorded_comparison(demo_wb: Workbench) -> None:
    """Regression: the demo compared with seed 7, a later `mlwb compare` with seed 0 added a second
    row with another interval, and the report printed the same comparison twice."""
    recorded, *retraining = before = comparison.list_comparisons(demo_wb, SLUG)
    assert len(retraining) == 2  # the retrained run against the re-scored baseline and champion
    head = audit_trail.head(demo_wb)
    again = comparison.compare_runs(demo_wb, SLUG, recorded.run_a, recorded.run_b, seed=0)
    assert again.repeated and again.id == recorded.id and again.ci == recorded.ci and again.seed == 7
    assert comparison.list_comparisons(demo_wb, SLUG) == before
    assert audit_trail.head(demo_wb) == head, "a repeated comparison wrote an event"


def test_opening_the_sealed_test_shows_its_scores_once_and_outdates_the_confirmed_card(demo_wb: Workbench,
                                                                                       tmp_path: Path) -> None:
    """Regression: after the test set was opened the card still said "test set still sealed" beside
    a table of test scores, and every test metric was listed twice (roc_auc and test_roc_auc)."""
    from app.jobs import JobRunner
    from app.services.evaluation import score_on_test
    from app.services.jobs import WorkbenchLedger

    v1 = next(m for m in registry.list_models(demo_wb, SLUG) if m.stage == "production")
    scores = score_on_test(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG, v1.run_id).metrics
    assert scores and all(k.startswith("test_") for k in scores)

    card = {s.key: s for s in registry.model_card_view(demo_wb, SLUG, v1.version).sections}
    assert card["metrics"].outdated and "sealed test: not opened" in card["metrics"].text
    assert f"roc_auc {scores['test_roc_auc']:.4f}" in card["metrics"].current_draft
    gate = {c.id: c for c in promotion.promotion_gate(demo_wb, SLUG, v1.version).checks}
    assert not gate["model_card_complete"].passed
    assert gate["model_card_complete"].detail == "confirmed before the evidence changed: Metrics"

    text = _compliance_text(demo_wb, tmp_path / "opened.pdf")
    assert "still sealed" not in text
    assert (f"roc_auc {v1.metrics['train_roc_auc']:.4f} {v1.metrics['val_roc_auc']:.4f} — "
            f"{scores['test_roc_auc']:.4f}") in text  # the metrics table of v1, one row per metric
    assert not re.search(r"\btest_roc_auc \S+ \S+ — ", text), "a test metric has a row of its own"
    assert "but the registry's evidence changed since; it would now draft:" in text

    registry.confirm_model_card(demo_wb, SLUG, v1.version)
    assert registry.model_card_view(demo_wb, SLUG, v1.version).complete


def test_a_drafted_card_counts_only_once_a_person_signs_it(demo_wb: Workbench, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """Regression: a card section counted as written by its length although only the registry had
    drafted it. The draft is marked, blocks `model_card_complete`, and a signed confirmation makes it
    the signer's; a person's own words count as written."""
    from app.signing import new_signing_key

    v2 = next(m for m in registry.list_models(demo_wb, SLUG) if m.model_kind == CHALLENGER_KIND)
    registry.write_model_card(demo_wb, SLUG, v2.version, registry.draft_model_card(demo_wb, SLUG, v2.version) | CARD
                              | {"factors": "Region and age band, reviewed monthly"})
    card = {s.key: s for s in registry.model_card_view(demo_wb, SLUG, v2.version).sections}
    drafted = {k for k, s in card.items() if s.origin == "draft"}
    assert drafted == {"model_details", "metrics", "evaluation_data", "training_data", "quantitative_analyses"}
    assert card["factors"].origin == "person" and card["factors"].by == demo_wb.actor
    check = {c.id: c for c in promotion.promotion_gate(demo_wb, SLUG, v2.version).checks}["model_card_complete"]
    assert not check.passed and check.detail.startswith("machine draft not confirmed by a person: Model details")

    records = reporting.collect_model_card(demo_wb, SLUG, version=v2.version, deterministic=True)
    text = _flat(_pdf_text(render_document("model_card", records, tmp_path / "card.pdf").path))
    assert text.count("DRAFT, drafted by the registry from its records; no person has confirmed it.") == 5

    with pytest.raises(WorkbenchError, match="not registered in this workspace"):
        registry.confirm_model_card(demo_wb, SLUG, v2.version, signer=new_signing_key())
    with pytest.raises(WorkbenchError, match="Factors: not a machine draft"):
        registry.confirm_model_card(demo_wb, SLUG, v2.version, ["factors"])
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(tmp_path / "no-such.key"))
    demo_wb.forget_signing_key()
    with pytest.raises(WorkbenchError, match="needs your signature"):
        registry.confirm_model_card(demo_wb, SLUG, v2.version)
    monkeypatch.delenv("MLWB_SIGNING_KEY")
    demo_wb.forget_signing_key()
    assert {s.key for s in registry.model_card_view(demo_wb, SLUG, v2.version).sections if s.origin == "draft"} \
        == drafted, "a refused confirmation changed the card"

    # Writing the card again with the same draft keeps the drafts; confirming makes them signed text.
    registry.write_model_card(demo_wb, SLUG, v2.version, registry.model_card(demo_wb, SLUG, v2.version))
    view = registry.confirm_model_card(demo_wb, SLUG, v2.version)
    assert view.complete and {s.origin for s in view.sections} == {"person", "confirmed"}
    me = people.find_person(demo_wb, demo_wb.actor)
    assert {s.signer_fingerprint for s in view.sections if s.origin == "confirmed"} == {me.fingerprint}
    (event,) = [e for e in audit_trail.project_events(demo_wb, SLUG) if e.action == "model_card.confirmed"
                and dict(e.payload).get("version") == str(v2.version)]
    assert dict(event.payload)["signer"] == me.fingerprint
    # A person's later edit of a confirmed section makes it theirs, no longer the signed draft.
    registry.write_model_card(demo_wb, SLUG, v2.version, registry.model_card(demo_wb, SLUG, v2.version)
                              | {"metrics": "ROC AUC 0.74 on validation; see the metrics table"})
    assert registry.model_card_view(demo_wb, SLUG, v2.version).sections[3].origin == "person"


def test_card_confirm_on_the_command_line(demo_home: Path) -> None:
    import os
    import subprocess
    import sys

    def mlwb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                              env=os.environ.copy(), timeout=300)

    written = mlwb("card", SLUG, "2", "--set", "intended_use=Shadow challenger only")
    assert written.returncode == 0, written.stderr
    assert "Metrics: primary metric roc_auc" in written.stdout and "[machine draft: sign it with --confirm" \
        in written.stdout
    assert "Intended use: Shadow challenger only  [written by ana.engineer]" in written.stdout
    confirmed = mlwb("card", SLUG, "2", "--confirm", "metrics")
    assert confirmed.returncode == 0, confirmed.stderr
    assert re.search(r"Metrics: primary metric roc_auc.*\[confirmed by ana\.engineer\]", confirmed.stdout)
    again = mlwb("card", SLUG, "2", "--confirm", "metrics")
    assert again.returncode == 2 and "Metrics: not a machine draft awaiting confirmation" in again.stderr
