"""The demo project end to end: where it stands, what monitoring found, and its compliance PDF.

Runs on a private copy of the session's demo workspace (built once by ``demo_template`` with
real fits in real worker processes); the PDF is checked by the text pypdf extracts from it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.lifecycle import STAGES
from app.services import audit_trail, gates, monitoring, registry, training
from app.services.demo import FEATURES, SLUG, VALIDATOR
from app.services.workbench import Workbench
from reports.export import export_compliance_report

pypdf = pytest.importorskip("pypdf")

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
    batches = monitoring.list_batches(demo_wb, SLUG)
    assert [b.label for b in batches] == ["2026-01", "2026-02", "2026-03"]
    assert all(b.analysed for b in batches)
    assert all(b.model_version is not None for b in batches)

    alerts = monitoring.list_alerts(demo_wb, SLUG)
    assert {a.batch for a in alerts} <= {"2026-02", "2026-03"}, "the undrifted traffic of 2026-01 raised an alert"
    (critical,) = [a for a in alerts if a.severity == "critical"]
    assert critical.batch == "2026-03" and critical.rule == "drift"
    assert critical.value is not None and critical.value > monitoring.PSI_ALERT_THRESHOLD
    assert critical.trigger_id is not None
    assert all(a.trigger_id is None for a in alerts if a.severity != "critical")

    # The quiet batches stay under the act band; the drifted one crosses it.
    psi = {b.label: b.max_psi for b in batches}
    assert psi["2026-01"] is not None and psi["2026-01"] <= monitoring.PSI_WATCH
    assert psi["2026-02"] is not None and psi["2026-02"] <= monitoring.PSI_ALERT_THRESHOLD
    assert psi["2026-03"] is not None and psi["2026-03"] > monitoring.PSI_ALERT_THRESHOLD

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


def test_compliance_pdf_holds_every_stage_the_card_drift_approver_and_audit_head(
    demo_wb: Workbench, tmp_path: Path
) -> None:
    out = tmp_path / "ctr-demo.pdf"
    result = export_compliance_report(demo_wb, SLUG, out)
    assert out.is_file() and out.read_bytes().startswith(b"%PDF")
    assert not list(tmp_path.glob(".*.partial"))

    raw = _pdf_text(out)
    text = _flat(raw)
    for s in STAGES:
        assert f"Stage {s.number}: {s.title}" in text, f"missing chapter heading for stage {s.number}"
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
    assert (result.head_seq, result.head_hash) == (verdict.head.seq, verdict.head.hash)
    # Exporting is not audited: the head printed is still the head after the export.
    assert audit_trail.verify(demo_wb).head == verdict.head
