"""The release (R) and monitoring (O) screens driven with Pilot on a private copy of the demo.

Real services, real workspace: what the screens show is checked against what the services
return, and what a key press changes is checked in the registry and the audit trail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable, TextArea
from textual.worker import WorkerState

from app.lifecycle import RELEASE_CHECKS
from app.services import audit_trail, monitoring_alerts, monitoring_batches, promotion, registry, release_analysis, retraining
from app.tui import WorkbenchApp
from screens.release import ReleaseScreen
from screens.modals.retrain_dialog import RetrainDialog
from screens.modals.review_dialog import REJECTION_NEEDS_COMMENT, ReasonDialog, ReviewDialog
from screens.monitoring import MonitoringScreen
from screens.widgets.charts import coloured_bar_chart, trend
from screens.widgets.drift_heat import DRIFTED_MARK, DriftHeat, band, heat_rows
from app.services.workbench import Workbench
from storage.workspace import Workspace
from tests.conftest import register_person
from tests.tui.test_tui_workbench import SIZE, open_demo, settle

SLUG = "ctr-demo"
REVIEWER = "val.reviewer"


@pytest.fixture
def as_reviewer(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the TUI as REVIEWER: a validator the demo's admin registered, signing with their own key file."""
    wb = Workbench.open(Workspace(demo_home))
    register_person(wb, REVIEWER, key_dir=demo_home)
    wb.close()
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(demo_home / f"{REVIEWER}.key"))
    return demo_home


def text_of(screen, selector: str) -> str:  # type: ignore[no-untyped-def]
    """The plain text a Static shows, whether it was given markup or rich Text."""
    content = screen.query_one(selector).content
    return Text.from_markup(content).plain if isinstance(content, str) else str(content)


def row_texts(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]


def messages(app: WorkbenchApp, severity: str | None = None) -> list[str]:
    return [n.message for n in app._notifications if severity is None or n.severity == severity]


async def open_release(app: WorkbenchApp, pilot) -> ReleaseScreen:  # type: ignore[no-untyped-def]
    await open_demo(app, pilot)
    await pilot.press("R")
    await settle(app, pilot)
    assert isinstance(app.screen, ReleaseScreen)
    return app.screen


async def open_monitoring(app: WorkbenchApp, pilot) -> MonitoringScreen:  # type: ignore[no-untyped-def]
    await open_demo(app, pilot)
    await pilot.press("O")
    await settle(app, pilot)
    assert isinstance(app.screen, MonitoringScreen)
    return app.screen


def select_version(screen: ReleaseScreen, version: int) -> None:
    table = screen.query_one("#versions", DataTable)
    numbers = [v.version for v in screen.snapshot.versions]  # type: ignore[union-attr]
    table.move_cursor(row=numbers.index(version))


# --- release screen ------------------------------------------------------------------------


async def test_release_screen_shows_versions_gate_analyses_and_history(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        versions = registry.list_models(app.wb, SLUG)
        rows = row_texts(screen.query_one("#versions", DataTable))
        assert [r[0] for r in rows] == [f"v{v.version}" for v in versions]
        production = next(v for v in versions if v.stage == "production")
        assert rows[versions.index(production)][2:4] == ["production", "champion"]
        assert f"production v{production.version}" in text_of(screen, "#deploy-title")

        history = promotion.transitions(app.wb, SLUG)
        shown = row_texts(screen.query_one("#transitions", DataTable))
        assert len(shown) == len(history)
        latest = history[-1]
        assert shown[0][1] == f"v{latest.version}" and shown[0][3] == latest.actor
        assert "→" in shown[0][2]

        analyses = release_analysis.list_release_analyses(app.wb, SLUG)
        for version in versions:
            select_version(screen, version.version)
            await pilot.pause()
            assert screen.selected is not None and screen.selected.version == version.version
            gate = text_of(screen, "#deploy-gate-body")
            assert f"Promotion gate of v{version.version}" in gate
            assert all(check.label in gate for check in RELEASE_CHECKS)
            evidence = text_of(screen, "#deploy-evidence-body")
            for analysis in (a for a in analyses if a.version == version.version):
                assert analysis.summary() in evidence
            # What applies follows the highlighted version: production cannot be promoted again.
            assert screen.check_action("promote", ()) is (version.stage != "production")


async def test_approving_your_own_version_is_refused_and_nothing_is_recorded(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        own = next(v for v in registry.list_models(app.wb, SLUG) if v.created_by == app.wb.actor)
        before_events = audit_trail.recent_events(app.wb, project=SLUG, limit=1)[0].seq
        select_version(screen, own.version)
        await pilot.press("a")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ReviewDialog) and dialog.decision == "approved"
        assert dialog.query("#review-own-work")  # the dialog says so before anything is sent
        dialog.query_one("#review-comment", TextArea).text = "looks fine to me"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        errors = messages(app, "error")
        assert any("four-eyes" in m for m in errors), errors
        after = next(v for v in registry.list_models(app.wb, SLUG) if v.version == own.version)
        assert after.approvals == own.approvals
        assert audit_trail.recent_events(app.wb, project=SLUG, limit=1)[0].seq == before_events


async def test_a_rejection_needs_a_comment_then_is_recorded_for_the_reviewer(as_reviewer: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        version = screen.selected
        assert version is not None and version.created_by != REVIEWER
        await pilot.press("x")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ReviewDialog) and dialog.decision == "rejected"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog, "an empty rejection must not leave the dialog"
        assert dialog.error == REJECTION_NEEDS_COMMENT and text_of(dialog, "#review-error") == REJECTION_NEEDS_COMMENT
        unchanged = next(v for v in registry.list_models(app.wb, SLUG) if v.version == version.version)
        assert unchanged.approvals == version.approvals

        dialog.query_one("#review-comment", TextArea).text = "card lacks the caveats"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        after = next(v for v in registry.list_models(app.wb, SLUG) if v.version == version.version)
        last = after.approvals[-1]
        assert (last.approver, last.decision, last.comment) == (REVIEWER, "rejected", "card lacks the caveats")
        assert last.signer_fingerprint == app.wb.signing_key().fingerprint
        row = row_texts(screen.query_one("#versions", DataTable))[screen.snapshot.versions.index(after)]
        assert f"rejected · {REVIEWER}" in row[5]
        assert "card lacks the caveats" in text_of(screen, "#deploy-evidence-body")


async def test_promotion_goes_through_the_gate(as_reviewer: Path) -> None:
    """Promote the highlighted version: a blocked gate comes back as an error notification and
    changes nothing; a passing one moves it to production and records the transition."""
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        candidate = next(v for v in registry.list_models(app.wb, SLUG) if v.stage != "production")
        select_version(screen, candidate.version)
        gate = promotion.promotion_gate(app.wb, SLUG, candidate.version)
        transitions = len(promotion.transitions(app.wb, SLUG))
        await pilot.press("p")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ReasonDialog)
        detail = text_of(dialog, "#reason-detail")
        assert all(c.label in detail for c in gate.blocked + gate.warnings)
        await pilot.press(*"challenger held up in shadow", "enter", *"and in the canary")  # enter: a new line
        assert app.screen is dialog
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        stage = next(v for v in registry.list_models(app.wb, SLUG) if v.version == candidate.version).stage
        if gate.blocked:
            assert any("cannot go to production" in m for m in messages(app, "error"))
            assert stage == candidate.stage and len(promotion.transitions(app.wb, SLUG)) == transitions
        else:
            assert stage == "production"
            assert promotion.transitions(app.wb, SLUG)[-1].reason == "challenger held up in shadow\nand in the canary"


# --- monitoring screen ---------------------------------------------------------------------


async def test_monitoring_screen_shows_drift_heat_alerts_and_triggers(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitoring(app, pilot)
        batches = monitoring_batches.list_batches(app.wb, SLUG)
        assert len(batches) >= 2
        heat = screen.query_one(DriftHeat)
        table = heat.table
        assert [str(c.label) for c in table.columns.values()] == [b.label for b in batches]
        features = {r.feature for b in batches for r in b.features}
        labels = [str(row.label) for row in table.rows.values()]
        assert features <= set(labels)

        # A drifted feature is marked in its batch's column, with its PSI to three decimals.
        drifted = [(i, r) for i, b in enumerate(batches) for r in b.features if r.drifted and r.psi is not None]
        assert drifted, "the demo has drifting batches"
        column, row = drifted[-1]
        cell = str(table.get_cell(f"feature:{row.feature}", str(batches[column].id)))
        assert f"{row.psi:.3f}" in cell and DRIFTED_MARK in cell

        # The newest batch is selected first; [ shows the one before it.
        assert heat.selected is not None and heat.selected.id == batches[-1].id
        assert f"Batch {batches[-1].label}" in text_of(screen, "#batch-heading")
        detail = screen.query_one("#batch-detail", DataTable)
        assert detail.row_count == len(batches[-1].drift)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert heat.selected.id == batches[-2].id
        assert f"Batch {batches[-2].label}" in text_of(screen, "#batch-heading")

        alerts = monitoring_alerts.list_alerts(app.wb, SLUG)
        assert alerts, "the demo raises an alert"
        shown = row_texts(screen.query_one("#alert-table", DataTable))
        assert len(shown) == len(alerts)
        assert shown[0][0] == str(alerts[-1].id) and shown[0][2] == alerts[-1].severity

        triggers = retraining.list_triggers(app.wb, SLUG)
        assert screen.query_one("#trigger-table", DataTable).row_count == len(triggers)
        trends = text_of(screen, "#monitor-trends-body")
        assert "Max feature PSI per batch" in trends and "SLA" in trends
        for b in batches:
            if b.max_psi is not None:
                assert f"{b.max_psi:.3f}" in trends


async def test_retrain_now_runs_in_a_worker_while_the_screen_answers_keys(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitoring(app, pilot)
        before = retraining.list_triggers(app.wb, SLUG)
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, RetrainDialog)
        offered = dialog.trigger
        if offered is not None:  # answer the open trigger the screen offers
            assert offered.status == "open" and f"trigger #{offered.id}" in text_of(dialog, "#retrain-detail").lower()
        dialog.query_one("#reason-input", TextArea).load_text("monthly refresh asked for by the platform lead")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen

        # a quick retraining may already be done (and its worker gone) by now
        worker = next((w for w in app.workers if w.name == "retrain_now"), None)
        heat = screen.query_one(DriftHeat)
        start = heat.table.cursor_column
        # Keys while the job runs: the retraining is in a worker process, so each is handled.
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert heat.table.cursor_column == max(0, start - 1)
        await pilot.press("t")
        await pilot.pause()
        assert screen.focused is screen.query_one("#trigger-table", DataTable)
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert heat.table.cursor_column == start
        ran_while_keys = worker is not None and worker.state == WorkerState.RUNNING

        await settle(app, pilot)
        assert worker is None or worker.state == WorkerState.SUCCESS, messages(app)
        after = retraining.list_triggers(app.wb, SLUG)
        answered = next(t for t in after if t.id == offered.id) if offered else after[-1]
        assert offered is not None or len(after) == len(before) + 1
        assert answered.run_id is not None
        assert any(f"Run {answered.run_id}" in m for m in messages(app))
        lineage = [r[4] for r in row_texts(screen.query_one("#trigger-table", DataTable))]
        assert any(f"run {answered.run_id}" in cell for cell in lineage)
        # Not a timing assertion: a note in the output if the job finished before the keys.
        if not ran_while_keys:
            print("retraining finished before the keys were pressed; responsiveness was not exercised")


# --- plain rendering -----------------------------------------------------------------------


def test_psi_bands_and_terminal_charts() -> None:
    assert [band(v, 0.1, 0.25) for v in (0.0, 0.099, 0.1, 0.25, 0.2501)] == ["stable", "stable", "watch", "watch",
                                                                             "act"]
    chart = coloured_bar_chart(["a", "b"], [0.05, None], ["green", "red"], at_least=0.3, width=6,
                               marks=["▲ 1", ""])
    assert str(chart).splitlines() == ["a █       0.050  ▲ 1", "b —       n/a"]  # 0.05 of 0.3 = 1 of 6 cells
    assert str(trend([0.7, 0.68], higher_is_better=True)) == "█▁ 0.7000 → 0.6800 (−0.0200)"
    assert str(trend([])) == "no values yet"


def test_heat_rows_put_features_first_then_prediction_and_label() -> None:
    from datetime import datetime

    from app.services.monitoring_batches import BatchView, DriftResultView

    def row(feature: str, subject: str) -> DriftResultView:
        return DriftResultView(feature, "numeric", subject, "", ks=None, ks_pvalue=None, psi=0.1, chi2=None,
                               chi2_pvalue=None, js=None, drifted=False)

    old = BatchView(1, "b1", "file", 10, 0, True, 1, (row("prediction", "prediction"), row("x", "feature")), 0.1,
                    {}, {}, datetime(2026, 1, 1))
    new = BatchView(2, "b2", "file", 10, 5, True, 1, (row("clicked", "label"), row("y", "feature")), 0.1, {}, {},
                    datetime(2026, 2, 1))
    assert heat_rows([old, new]) == [("feature:x", "x"), ("feature:y", "y"), ("prediction:prediction", "prediction"),
                                     ("label:clicked", "label (clicked)")]


# --- an empty project, opened from the command palette ----------------------------------------


async def test_palette_opens_both_screens_and_they_explain_an_empty_project(wb) -> None:  # type: ignore[no-untyped-def]
    from app.services import projects

    projects.create_project(wb, "empty-one", problem_type="binary_classification")
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for name, screen_type in (("Release", ReleaseScreen), ("Monitoring", MonitoringScreen)):
            await pilot.press("ctrl+p")
            await settle(app, pilot)
            await pilot.press(*f"empty-one {name} screen")
            await settle(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, screen_type), name
            screen = app.screen
            if isinstance(screen, ReleaseScreen):
                assert "No model versions yet" in text_of(screen, "#deploy-gate-body")
                assert not any(screen.check_action(a, ()) for a in ("review", "promote", "rollback", "challenger"))
            else:
                assert "No monitoring batches yet" in text_of(screen, "#batch-heading")
                assert "no batches yet" in text_of(screen, "#monitor-trends-body")
                assert screen.query_one(DriftHeat).selected is None
            assert not messages(app, "error")
            await pilot.press("escape")
            await settle(app, pilot)


async def test_an_open_alert_is_resolved_with_a_note(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitoring(app, pilot)
        open_alert = next(a for a in monitoring_alerts.list_alerts(app.wb, SLUG) if a.status == "open")
        table = screen.query_one("#alert-table", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index(str(open_alert.id)))
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, ReasonDialog)
        await pilot.press("ctrl+s")  # an empty note is refused inside the dialog
        await pilot.pause()
        assert isinstance(app.screen, ReasonDialog)
        app.screen.query_one("#reason-input", TextArea).load_text("watch band only; the next batch decides")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        resolved = next(a for a in monitoring_alerts.list_alerts(app.wb, SLUG) if a.id == open_alert.id)
        assert resolved.status == "resolved"
        assert "monitoring.alert_resolved" in [e.action for e in audit_trail.recent_events(app.wb, limit=3)]
