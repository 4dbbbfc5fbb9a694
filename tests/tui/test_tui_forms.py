"""The modal forms keep what was typed: the first field is focused on open, a refusal keeps the
form open with every value as typed and the message beside its field, tabbing into a field does
not select (and so replace) its text, and paragraph answers keep their newlines."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, Select, TextArea

from app.services import deliverables
from app.services.projects import create_project
from app.tui import WorkbenchApp
from screens.dashboard import DashboardScreen
from screens.modals.new_project import NewProjectForm
from screens.modals.statement_form import StatementForm
from screens.project import ProjectScreen
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


async def test_a_refused_slug_keeps_the_new_project_form_as_typed(mlwb_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.wb is not None
        create_project(app.wb, "churn-model", problem_type="binary_classification")
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, NewProjectForm)
        assert form.focused is form.query_one("#slug", Input)  # the first field, ready to type in
        await pilot.press(*"churn-model")
        await pilot.press("tab")
        await pilot.press(*"Customer churn")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form  # still open
        assert form.query_one("#slug", Input).value == "churn-model"
        assert form.query_one("#name", Input).value == "Customer churn"
        errors = form.errors()
        assert "already exists" in errors["slug-error"]
        # the message sits right under the slug field, not only in a toast
        children = list(form.query_one("#slug").parent.children)  # type: ignore[union-attr]
        assert children[children.index(form.query_one("#slug")) + 1].id == "slug-error"
        assert form.focused is form.query_one("#slug", Input)

        # Fix it: tabbing back into the name keeps its text and puts the cursor at the end.
        await pilot.press("end")
        await pilot.press(*"-2")
        await pilot.press("tab")
        await pilot.press(*" model")
        assert form.query_one("#name", Input).value == "Customer churn model"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        slugs = {str(r[0]) for r in (app.screen.query_one("#projects", DataTable).get_row_at(i)
                                     for i in range(app.screen.query_one("#projects", DataTable).row_count))}
        assert slugs == {"churn-model", "churn-model-2"}


async def test_tab_into_a_field_keeps_its_text(mlwb_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, NewProjectForm)
        form.query_one("#name", Input).value = "Churn"
        await pilot.press(*"abc")
        await pilot.press("tab")  # into the name, which holds text already
        name = form.query_one("#name", Input)
        assert form.focused is name and name.selection.is_empty and name.cursor_position == len("Churn")
        await pilot.press(*" risk")
        assert name.value == "Churn risk"
        await pilot.press("shift+tab")  # back into the slug
        await pilot.press("x")
        assert form.query_one("#slug", Input).value == "abcx"


async def _open_statement_form(app: WorkbenchApp, pilot) -> StatementForm:  # type: ignore[no-untyped-def]
    await settle(app, pilot)
    assert app.wb is not None
    create_project(app.wb, "cancer", problem_type="binary_classification", name="Breast cancer screening")
    app.screen.reload()
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    assert isinstance(app.screen, ProjectScreen)
    await pilot.press("1", "e")
    await pilot.pause()
    assert isinstance(app.screen, StatementForm)
    return app.screen


async def test_an_invalid_statement_stays_open_as_typed_and_paragraphs_keep_their_lines(mlwb_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=(120, 48)) as pilot:
        form = await _open_statement_form(app, pilot)
        assert form.focused is form.query_one("#problem_type", Select)  # the first field
        objective = form.query_one("#f-objective", TextArea)
        objective.focus()
        await pilot.press(*"Flag scans for a second read.", "enter", *"Never replaces the radiologist.")
        stakeholders = form.query_one("#f-stakeholders_gain", TextArea)
        stakeholders.focus()
        await pilot.press(*"Patients", "enter", *"Radiologists")
        form.query_one("#f-ml_metric", Input).focus()
        await pilot.press(*"recall")
        form.query_one("#f-ml_metric_threshold", Input).focus()
        await pilot.press(*"high")
        await pilot.press("ctrl+s")
        await settle(app, pilot)

        assert app.screen is form  # refused: the form stays open
        errors = form.errors()
        assert "is not a number" in errors["f-ml_metric_threshold-error"]
        assert form.focused is form.query_one("#f-ml_metric_threshold", Input)
        assert objective.text == "Flag scans for a second read.\nNever replaces the radiologist."
        assert stakeholders.text == "Patients\nRadiologists"
        assert form.query_one("#f-ml_metric", Input).value == "recall"
        assert form.query_one("#f-ml_metric_threshold", Input).value == "high"
        assert app.wb is not None
        assert deliverables.deliverables(app.wb, "cancer").get("problem_statement", {}).get("objective") is None

        # Fix the threshold where the cursor is (at the end of what was typed) and save.
        for _ in "high":
            await pilot.press("backspace")
        await pilot.press(*">= 0.9")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, ProjectScreen)
        statement = deliverables.deliverables(app.wb, "cancer")["problem_statement"]
        assert statement["objective"] == "Flag scans for a second read.\nNever replaces the radiologist."
        assert statement["stakeholders_gain"] == "Patients\nRadiologists"
        assert statement["ml_metric_threshold"] == ">= 0.9"

        # Opened again, a paragraph's cursor is after its text: typing adds to the answer.
        await pilot.press("e")
        await settle(app, pilot)
        assert isinstance(app.screen, StatementForm)
        app.screen.query_one("#f-objective", TextArea).focus()
        await pilot.press(*" Audited.")
        assert app.screen.query_one("#f-objective", TextArea).text == \
            "Flag scans for a second read.\nNever replaces the radiologist. Audited."
