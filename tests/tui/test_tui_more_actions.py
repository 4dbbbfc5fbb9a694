"""The rest of the person actions issue 13 asks the TUI to carry (point 1), driven with Pilot on a
private copy of the demo: the 5×2cv comparison and the error analysis (runs screen, C and x), the
evidence bundle export and the import of a validator's signed review (release screen, e and i),
and a batch collected from the prediction log and labels attached to logged requests
(monitoring screen, c and L). Each is checked through the services, not on the screen alone."""

from __future__ import annotations

from pathlib import Path

from app.services import comparison, error_analysis
from app.tui import WorkbenchApp
from screens.modals.compare_result import CompareResult
from screens.modals.error_analysis_dialog import ErrorAnalysisDialog
from screens.modals.error_analysis_result import ErrorAnalysisResult
from screens.runs import RunsScreen
from tests.tui.test_tui_release_monitoring import SLUG, messages
from tests.tui.test_tui_workbench import SIZE, open_demo, settle


async def open_runs(app: WorkbenchApp, pilot) -> RunsScreen:  # type: ignore[no-untyped-def]
    await open_demo(app, pilot)
    await pilot.press("M")
    await settle(app, pilot)
    assert isinstance(app.screen, RunsScreen)
    return app.screen


def select_run(screen: RunsScreen, run_id: int) -> None:
    table = screen.table
    table.action_jump(next(i for i, index in enumerate(table.order) if table.runs[index].id == run_id))


# --- runs screen ---------------------------------------------------------------------------


async def test_two_marked_runs_are_compared_with_the_5x2cv_test(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(app, pilot)
        top = [r for r in screen.runs if r.parent_run_id is None]
        baseline = next(r for r in top if r.is_baseline)
        candidate = next(r for r in top if not r.is_baseline and r.dataset_version_id == baseline.dataset_version_id)
        assert screen.check_action("compare_5x2cv", ()) is False  # nothing marked yet
        select_run(screen, baseline.id)
        await pilot.press("a")
        select_run(screen, candidate.id)
        await pilot.press("b")
        await pilot.press("C")
        await settle(app, pilot)
        result = app.screen
        assert isinstance(result, CompareResult), messages(app, "error")
        assert (result.comparison.test, result.comparison.run_a, result.comparison.run_b) == (
            "5x2cv_t", baseline.id, candidate.id)
        recorded = [c for c in comparison.list_comparisons(app.wb, SLUG) if c.test == "5x2cv_t"]
        assert [(c.run_a, c.run_b, c.id) for c in recorded] == [(baseline.id, candidate.id, result.comparison.id)]
        assert "fold range" in str(result.query_one("#compare-numbers").content)
        await pilot.press("escape")
        assert app.screen is screen


async def test_a_run_s_errors_are_analysed_by_segment_and_fairness(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(app, pilot)
        run = next(r for r in screen.runs if r.parent_run_id is None and r.model_kind == "logistic_regression")
        assert error_analysis.latest_analysis(app.wb, SLUG, run.id) is None
        select_run(screen, run.id)
        await pilot.press("x")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, ErrorAnalysisDialog)
        assert "clicked" not in dialog.columns and "item_genre" in dialog.columns  # the target is left out
        dialog.query_one("#analysis-segments").select("item_genre")
        dialog.query_one("#analysis-sensitive").value = "user_location"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        shown = app.screen
        assert isinstance(shown, ErrorAnalysisResult), messages(app, "error")
        stored = error_analysis.latest_analysis(app.wb, SLUG, run.id)
        assert stored is not None and list(stored["segments"]) == ["item_genre"]
        assert stored["fairness"]["attribute"] == "user_location"
        body = str(shown.query_one("#error-analysis-body").content)
        assert "by item_genre" in body and "across user_location" in body and "Confusion matrix" in body
