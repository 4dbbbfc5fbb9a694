"""The modal forms' button row runs the same actions as their keys."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input

from app.tui import WorkbenchApp
from screens.dashboard import DashboardScreen
from screens.modals.new_project import NewProjectForm
from tests.tui.test_tui_workbench import SIZE, settle


async def test_the_form_buttons_cancel_and_submit(mlwb_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NewProjectForm)
        await pilot.click("#form-cancel")
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.screen.query_one("#projects", DataTable).row_count == 0

        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#slug", Input).value = "churn-model"
        await pilot.click("#form-submit")
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        table = app.screen.query_one("#projects", DataTable)
        assert table.row_count == 1 and str(table.get_row_at(0)[0]) == "churn-model"
