"""Stage 2's last TUI faces (issue 13, point 1), driven by keys only on a real workspace:
proposing features from a dataset and confirming the guesses (`mlwb frame --infer-from` /
`--confirm`), and applying a project file (`mlwb project apply`). Each test reads the registry
and the audit trail afterwards."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Select, Static

from app.services import audit_trail, deliverables, project_file
from app.services.datasets import import_dataset
from app.services.projects import create_project
from app.tui import WorkbenchApp
from screens.modals.feature_proposals import (
    NOTHING_TAKEN,
    ProposalReviewDialog,
    ProposeFeaturesDialog,
    dataset_label,
)
from screens.modals.file_picker import FilePicker
from screens.modals.project_file_dialog import ApplyProjectFileDialog
from screens.project import ProjectScreen
from tests.tui.test_tui_workbench import settle
from tests.tui.test_walk_tui import choose, errors_of, open_project, pick_file, press

SLUG = "churn"
SIZE = (120, 40)


def _write_customers(path: Path) -> Path:
    """A small table whose names make the guesses worth reading: an e-mail (personal data), a
    refund known only after the outcome, and the target not in the last column."""
    rows = ["customer_email,age,churned,plan,refund_after"]
    rows += [f"c{i}@example.org,{20 + i},{i % 2},{'basic' if i % 3 else 'pro'},{i % 4}" for i in range(30)]
    path.write_text("\n".join(rows) + "\n")
    return path


async def _project_at_stage_two(app: WorkbenchApp, pilot, tmp_path: Path) -> ProjectScreen:  # type: ignore[no-untyped-def]
    """The project and its dataset are set up through the services (not what is tested here),
    then opened by keys on its stage 2 tab."""
    await settle(app, pilot)
    assert app.wb is not None
    create_project(app.wb, SLUG, problem_type="binary_classification", name="Customer churn")
    import_dataset(app.wb, SLUG, _write_customers(tmp_path / "customers.csv"))  # no target chosen at import
    app.screen.reload()
    screen = await open_project(app, pilot)
    await press(app, pilot, "2")
    return screen


def _actions(app: WorkbenchApp) -> list[str]:
    assert app.wb is not None
    return [e.action for e in audit_trail.recent_events(app.wb, project=SLUG, limit=10)]


async def test_propose_features_from_a_dataset_then_confirm_the_right_ones(mlwb_home: Path, tmp_path: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _project_at_stage_two(app, pilot, tmp_path)
        assert app.wb is not None
        assert "f proposes features" in str(screen.query_one("#framing-hint", Static).content)
        assert not screen.check_action("confirm_proposals", ())  # nothing proposed yet

        # f: the dataset (the project's only one, labelled) and the target, chosen by keys.
        await press(app, pilot, "f")
        dialog = app.screen
        assert isinstance(dialog, ProposeFeaturesDialog)
        [dataset] = dialog.datasets.values()
        assert dialog.query_one("#propose-dataset", Select).value == dataset.id
        assert "customers.csv" in dataset_label(dataset) and "30 rows" in dataset_label(dataset)
        target = dialog.query_one("#propose-target", Select)
        assert target.value == "refund_after"  # no target at import: the last column, to be corrected
        await choose(app, pilot, "propose-target", "churned")
        assert target.value == "churned"
        await press(app, pilot, "ctrl+s")

        # The proposal is recorded (audited), the framing untouched, and the guesses open to read.
        proposal = deliverables.framing_proposal(app.wb, SLUG)
        assert proposal["target"] == "churned" and proposal["dataset_version"] == dataset.id
        assert [f["name"] for f in proposal["features"]] == ["customer_email", "age", "plan", "refund_after"]
        assert deliverables.deliverables(app.wb, SLUG)[deliverables.FRAMING].get("features", []) == []
        assert "framing_proposal.saved" in _actions(app)
        review = app.screen
        assert isinstance(review, ProposalReviewDialog), errors_of(app)
        table = review.query_one("#proposal-table", DataTable)
        rows = {str(table.get_row_at(r)[1]): [str(c) for c in table.get_row_at(r)] for r in range(table.row_count)}
        assert rows["customer_email"][4] == "yes" and "personal data" in rows["customer_email"][5]
        assert rows["refund_after"][3] == "no" and "after the outcome" in rows["refund_after"][5]
        assert rows["age"][2] == "numeric"

        # Leave the e-mail out (space on the first row), confirm the rest.
        assert table.cursor_row == 0
        await press(app, pilot, "space")
        assert str(table.get_row_at(0)[0]) == "—" and "3 of 4" in str(review.query_one("#proposal-count",
                                                                                         Static).content)
        await press(app, pilot, "ctrl+s")
        assert isinstance(app.screen, ProjectScreen), errors_of(app)
        framing = deliverables.deliverables(app.wb, SLUG)[deliverables.FRAMING]
        assert framing["target"] == "churned"
        assert [f["name"] for f in framing["features"]] == ["age", "plan", "refund_after"]
        refund = next(f for f in framing["features"] if f["name"] == "refund_after")
        assert refund["available_at_serving"] is False
        assert [f["name"] for f in deliverables.framing_proposal(app.wb, SLUG)["features"]] == ["customer_email"]
        confirmed = next(e for e in audit_trail.recent_events(app.wb, project=SLUG, limit=10)
                         if e.action == "framing.proposals_confirmed")
        assert "refund_after" in confirmed.summary

        # c reopens what is still proposed; taking nothing is refused in the dialog, which stays.
        assert screen.check_action("confirm_proposals", ())
        assert "1 proposed feature(s)" in str(screen.query_one("#framing-hint", Static).content)
        await press(app, pilot, "c")
        review = app.screen
        assert isinstance(review, ProposalReviewDialog)
        await press(app, pilot, "space", "ctrl+s")
        assert app.screen is review and review.errors() == {"form-error": NOTHING_TAKEN}
        await press(app, pilot, "a", "ctrl+s")  # take all: the e-mail after all
        assert isinstance(app.screen, ProjectScreen), errors_of(app)
        framing = deliverables.deliverables(app.wb, SLUG)[deliverables.FRAMING]
        email = next(f for f in framing["features"] if f["name"] == "customer_email")
        assert email["pii"] is True
        assert deliverables.framing_proposal(app.wb, SLUG)["features"] == []
        assert not screen.check_action("confirm_proposals", ())
        assert audit_trail.verify(app.wb).ok


async def test_apply_a_project_file_shows_the_diff_then_applies_it(mlwb_home: Path, tmp_path: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await _project_at_stage_two(app, pilot, tmp_path)
        assert app.wb is not None
        exported = project_file.export_project_file(app.wb, SLUG, tmp_path / "churn.toml")
        text = exported.read_text()
        broken = tmp_path / "broken.toml"
        broken.write_text("[project\nslug = 'churn'\n")
        unknown = tmp_path / "unknown.toml"
        unknown.write_text(text.replace("[statement]\n", "[statement]\ncolour = \"blue\"\n", 1))
        edited = tmp_path / "edited.toml"
        objective = "Keep customers who would leave\nwithout discounting the loyal ones"
        edited.write_text(text.replace("[statement]\n", f"[statement]\nobjective = {json.dumps(objective)}\n", 1)
                          .replace('objective = ""\n', "", 1))
        before = len(audit_trail.recent_events(app.wb, project=SLUG, limit=100))

        # A: the picker; a file that is not TOML and one with an unknown field are refused beside
        # the path, by name, and the picker stays open.
        await press(app, pilot, "A")
        picker = app.screen
        assert isinstance(picker, FilePicker)
        await pick_file(app, pilot, broken)
        assert app.screen is picker and "not valid TOML" in str(picker.query_one("#picker-error", Static).content)
        await pick_file(app, pilot, unknown)
        error = str(picker.query_one("#picker-error", Static).content)
        assert app.screen is picker and "unknown field 'colour'" in error and "unknown.toml:" in error

        # The good file: its changed fields, before and after, and nothing recorded yet.
        await pick_file(app, pilot, edited)
        preview = app.screen
        assert isinstance(preview, ApplyProjectFileDialog), errors_of(app)
        table = preview.query_one("#apply-changes", DataTable)
        assert [str(table.get_row_at(r)[0]) for r in range(table.row_count)] == ["statement.objective"]
        assert str(table.get_row_at(0)[2]) == json.dumps(objective)
        assert len(audit_trail.recent_events(app.wb, project=SLUG, limit=100)) == before

        await press(app, pilot, "ctrl+s")
        assert isinstance(app.screen, ProjectScreen), errors_of(app)
        statement = deliverables.deliverables(app.wb, SLUG)[deliverables.STATEMENT]
        assert statement["objective"] == objective
        applied = next(e for e in audit_trail.recent_events(app.wb, project=SLUG, limit=5)
                       if e.action == "project_file.applied")
        assert "statement.objective" in applied.summary
        assert audit_trail.verify(app.wb).ok

        # Applying it again: nothing to change, said in the dialog; esc closes, nothing recorded.
        after = len(audit_trail.recent_events(app.wb, project=SLUG, limit=100))
        await press(app, pilot, "A")
        await pick_file(app, pilot, edited)
        again = app.screen
        assert isinstance(again, ApplyProjectFileDialog)
        assert "Nothing to change" in str(again.query_one("#apply-nothing", Static).content)
        await press(app, pilot, "ctrl+s", "escape")
        assert isinstance(app.screen, ProjectScreen)
        assert len(audit_trail.recent_events(app.wb, project=SLUG, limit=100)) == after


async def test_a_file_edited_after_its_preview_is_refused_in_the_dialog(mlwb_home: Path, tmp_path: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await _project_at_stage_two(app, pilot, tmp_path)
        assert app.wb is not None
        path = project_file.export_project_file(app.wb, SLUG, tmp_path / "churn.toml")
        path.write_text(path.read_text().replace('target = ""', 'target = "churned"', 1))
        await press(app, pilot, "A")
        await pick_file(app, pilot, path)
        preview = app.screen
        assert isinstance(preview, ApplyProjectFileDialog)
        path.write_text(path.read_text().replace('target = "churned"', 'target = "plan"', 1))
        await press(app, pilot, "ctrl+s")
        assert app.screen is preview and "changed since its preview" in preview.errors()["form-error"]
        assert deliverables.deliverables(app.wb, SLUG)[deliverables.FRAMING].get("target", "") == ""
        await press(app, pilot, "escape")
        assert isinstance(app.screen, ProjectScreen)


def test_a_file_for_another_project_is_refused_by_name(wb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The screen passes its project: the service refuses a file written for another one."""
    import pytest

    from app.errors import WorkbenchError

    create_project(wb, SLUG, problem_type="binary_classification")
    create_project(wb, "other", problem_type="binary_classification")
    path = project_file.export_project_file(wb, "other", tmp_path / "other.toml")
    with pytest.raises(WorkbenchError, match="this file is for project 'other', not 'churn'"):
        project_file.apply_project_file(wb, path, dry_run=True, project=SLUG)
    assert project_file.apply_project_file(wb, path, dry_run=True, project="other").changes == ()


def test_a_new_projects_own_file_applies_as_no_change(wb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A project whose framing was never saved exports ``features = []``; applying that file
    back changed "framing.features" from unset to [] (a revision with nothing in it)."""
    create_project(wb, SLUG, problem_type="binary_classification")
    path = project_file.export_project_file(wb, SLUG, tmp_path / "churn.toml")
    assert project_file.apply_project_file(wb, path, dry_run=True).changes == ()
    assert project_file.apply_project_file(wb, path).changes == ()
