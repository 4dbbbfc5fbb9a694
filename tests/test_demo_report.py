"""The demo project end to end: where it stands, what monitoring found, and its compliance PDF.

Runs on a private copy of the session's demo workspace (built once by ``demo_template`` with
real fits in real worker processes); the PDF is checked by the text pypdf extracts from it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pypdf
import pytest

from app.errors import NotFound
from app.lifecycle import STAGES
from app.ml.drift_bands import PSI_ALERT_THRESHOLD, PSI_WATCH
from app.services import (
    audit_trail, gates, monitoring_alerts, monitoring_batches, monitoring_policy, registry, reporting, training,
)
from app.services.demo import FEATURES, SLUG, VALIDATOR
from app.services.workbench import Workbench
from reports.render import build_document, render_document
from reports.requirements import CHAPTERS
from reports.stages import stage_chapters

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
    runs = training.list_runs(demo_wb, SLUG)
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
