"""Issue 13, point 7: the feedback loop closes.

A retraining arrives as a candidate the release gate can judge: the baseline and the champion
are re-scored on the new split (on the rows they never trained on), compared with the new run,
and the run is registered; promoting it then needs only the people's decisions (the card's
drafts confirmed, a second person's signed approval). And from monitoring, "revise the framing"
sends the project back to stage 2 with the alert linked, production still serving.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from textual.widgets import DataTable, TextArea

from app.errors import WorkbenchError
from app.jobs import JobRunner
from app.services import (
    audit_trail, comparison, gates, monitoring_alerts, promotion, registry, retraining,
)
from app.services.datasets import split_assignments
from app.services.demo import SLUG
from app.services.jobs import WorkbenchLedger
from app.services.workbench import Workbench
from storage.models import AuditEvent, DatasetVersion, Run, Split
from storage.workspace import Workspace
from tests.conftest import register_person
from tests.test_cli import mlwb, ok


def _runs(wb: Workbench) -> dict[int, Run]:
    with wb.read() as session:
        return {r.id: r for r in session.scalars(select(Run))}


def test_the_demo_retraining_is_a_candidate_compared_with_baseline_and_champion(demo_wb: Workbench) -> None:
    (trigger,) = [t for t in retraining.list_triggers(demo_wb, SLUG) if t.run_id is not None]
    outcome = retraining.prepare_candidate(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG, trigger.id)
    runs = _runs(demo_wb)
    new = runs[trigger.run_id]
    champion = next(v for v in registry.list_models(demo_wb, SLUG) if v.stage == "production")
    # both re-scorings sit on the retrained run's split and keep the model file they re-score
    for rescored_id, original_id in ((outcome.baseline_run_id, None), (outcome.champion_run_id, champion.run_id)):
        rescored = runs[rescored_id]
        original = runs[rescored.params["rescored_from"]]
        assert rescored.split_id == new.split_id and rescored.dataset_version_id == new.dataset_version_id
        assert rescored.artifact_sha256 == original.artifact_sha256 and rescored.is_baseline == original.is_baseline
        assert original_id is None or original.id == original_id
    assert runs[outcome.baseline_run_id].is_baseline and outcome.champion_version == champion.version
    # both comparisons are recorded (asking again wrote nothing) and name the retrained run as B
    recorded = {c.id: c for c in comparison.list_comparisons(demo_wb, SLUG)}
    for view, a in ((outcome.baseline_comparison, outcome.baseline_run_id),
                    (outcome.champion_comparison, outcome.champion_run_id)):
        assert view is not None and view.repeated and view.id in recorded
        assert (view.run_a, view.run_b) == (a, new.id)
    assert outcome.baseline_comparison.significant  # type: ignore[union-attr]
    # the champion was scored only on new-validation rows it never trained on
    with demo_wb.read() as session:
        old = session.get(Run, champion.run_id)
        old_train = set(split_assignments(demo_wb, session.get(Split, old.split_id))["train"])
        n_old = session.get(DatasetVersion, old.dataset_version_id).n_rows
        new_validation = set(split_assignments(demo_wb, session.get(Split, new.split_id))["validation"])
        scored = json.loads(demo_wb.artifacts.get_bytes(runs[outcome.champion_run_id].predictions_sha256, ".json"))
    assert scored["unseen_only"] and set(scored["rows"]) < new_validation
    assert not {r for r in scored["rows"] if r < n_old} & old_train  # old rows come first in the combined data
    assert {r for r in new_validation if r < n_old} & old_train  # ... and some were there to leave out
    actions = [e.action for e in audit_trail.recent_events(demo_wb, project=SLUG, limit=400)]
    assert actions.count("run.rescored") == 2 and "monitoring.retraining_candidate" in actions


def test_a_retrained_version_is_promoted_with_only_the_peoples_decisions(demo_wb: Workbench) -> None:
    runner = JobRunner(WorkbenchLedger(demo_wb))
    outcome = retraining.retrain(demo_wb, runner, SLUG, reason="monthly refresh with the labelled batches")
    assert outcome.version is not None and outcome.card_carried_from is not None
    version = outcome.version
    gate = promotion.promotion_gate(demo_wb, SLUG, version)
    check = next(c for c in gate.checks if c.id == "significant_over_baseline")
    assert check.passed and f"vs run {outcome.baseline_run_id}" in check.detail
    assert f"vs champion v{outcome.champion_version} (v{outcome.champion_version} re-scored as run " \
           f"{outcome.champion_run_id})" in check.detail
    # what stays a person's: the card's machine drafts and the independent approval
    assert {c.id for c in gate.blocked} == {"independent_approval", "model_card_complete"}
    card = registry.model_card_view(demo_wb, SLUG, version)
    assert {s.key for s in card.sections if s.origin == "person"} == {
        "intended_use", "factors", "ethical_considerations", "caveats"}
    registry.confirm_model_card(demo_wb, SLUG, version)
    registry.record_approval(demo_wb, SLUG, version, comment="retrained on the labelled batches; numbers checked",
                             signer=register_person(demo_wb, "val.reviewer"))
    gate = promotion.promote(demo_wb, SLUG, version, reason="answers the drift of 2026-03")
    assert gate.passed
    versions = {v.version: v for v in registry.list_models(demo_wb, SLUG)}
    assert versions[version].stage == "production" and versions[version].alias == "champion"
    assert versions[outcome.champion_version].stage == "archived"  # type: ignore[index]
    # no waiver was needed
    assert not [w for w in promotion.waivers(demo_wb, SLUG) if w.version == version]
    # retraining the retrained champion with no new labels adds no row twice: the labelled
    # batches are inside the champion's dataset already
    again = retraining.retrain(demo_wb, runner, SLUG, reason="second refresh, nothing new labelled")
    with demo_wb.read() as session:
        first_run, second_run = session.get(Run, versions[version].run_id), session.get(Run, again.run_id)
        first_data = session.get(DatasetVersion, first_run.dataset_version_id)
        second_data = session.get(DatasetVersion, second_run.dataset_version_id)
        completed = [json.loads(e.payload) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "monitoring.retraining_completed")
            .order_by(AuditEvent.seq))]
    assert second_data.n_rows == first_data.n_rows
    assert completed[-1]["feedback_datasets"] == completed[-2]["feedback_datasets"] != []


def test_revise_framing_from_the_command_line(demo_home: Path) -> None:
    wb = Workbench.open(Workspace(demo_home))
    try:
        alert = next(a for a in monitoring_alerts.list_alerts(wb, SLUG) if a.status == "open")
        production = next(v.version for v in registry.list_models(wb, SLUG) if v.stage == "production")
    finally:
        wb.close()
    refused = mlwb("monitor", "revise-framing", SLUG, "--alert", str(alert.id), "--reason", "  ")
    assert refused.returncode != 0 and "say why" in refused.stderr and "Traceback" not in refused.stderr
    out = json.loads(ok("monitor", "revise-framing", SLUG, "--alert", str(alert.id), "--reason",
                        "item_popularity's 7-day window no longer means what the framing says", "--json"))
    assert out == {"project": SLUG, "alert": alert.id, "from_stage": 6, "to_stage": 2,
                   "reason": "item_popularity's 7-day window no longer means what the framing says",
                   "production_version": production, "production_keeps_serving": True}
    assert f"alert {alert.id}\t{alert.severity}\tframing_revision" in ok("monitor", "list", SLUG)
    again = mlwb("monitor", "revise-framing", SLUG, "--alert", str(alert.id), "--reason", "twice")
    assert again.returncode != 0 and "already sent" in again.stderr
    wb = Workbench.open(Workspace(demo_home))
    try:
        assert gates.project_stage(wb, SLUG) == 2
        with wb.read() as session:
            event = session.scalars(select(AuditEvent).where(AuditEvent.action == "stage.framing_revised")).one()
            payload = json.loads(event.payload)
        assert payload["alert"] == alert.id and payload["production_keeps_serving"] is True
        assert (payload["from_stage"], payload["to_stage"]) == (6, 2)
        # the production model is untouched, and the gates are passed again from stage 2
        assert next(v.version for v in registry.list_models(wb, SLUG) if v.stage == "production") == production
        assert gates.advance_stage(wb, SLUG) == 3
    finally:
        wb.close()
    assert "audit chain OK" in ok("audit", "verify")


def test_revise_framing_refuses_what_it_cannot_do(demo_wb: Workbench) -> None:
    alert = next(a for a in monitoring_alerts.list_alerts(demo_wb, SLUG) if a.status == "open")
    with pytest.raises(WorkbenchError, match="no alert 999"):
        monitoring_alerts.revise_framing(demo_wb, SLUG, 999, reason="x")
    monitoring_alerts.revise_framing(demo_wb, SLUG, alert.id, reason="the target is a proxy that drifted")
    other = next(a for a in monitoring_alerts.list_alerts(demo_wb, SLUG) if a.id != alert.id)
    with pytest.raises(WorkbenchError, match="at stage 2: its framing is open"):
        monitoring_alerts.revise_framing(demo_wb, SLUG, other.id, reason="again")


async def test_revise_framing_from_the_monitoring_screen(demo_home: Path) -> None:
    from app.tui import WorkbenchApp
    from screens.modals.review_dialog import ReasonDialog
    from tests.tui.test_tui_release_monitoring import open_monitoring
    from tests.tui.test_tui_workbench import SIZE, settle

    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitoring(app, pilot)
        alert = next(a for a in monitoring_alerts.list_alerts(app.wb, SLUG) if a.status == "open")
        table = screen.query_one("#alert-table", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index(str(alert.id)))
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, ReasonDialog)
        await pilot.press("ctrl+s")  # a reason is required: the dialog stays
        await pilot.pause()
        assert isinstance(app.screen, ReasonDialog)
        app.screen.query_one("#reason-input", TextArea).load_text("clicks stopped meaning interest after the redesign")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert gates.project_stage(app.wb, SLUG) == 2
        revised = next(a for a in monitoring_alerts.list_alerts(app.wb, SLUG) if a.id == alert.id)
        assert revised.status == monitoring_alerts.FRAMING_REVISION
        assert "stage 2 of 6" in str(screen.query_one("#monitor-title").content)
