"""Importing files from the TUI (issue 13, point 3) and the monitoring settings (point 1), driven
with Pilot on real workspaces: a fresh project whose CSV the test writes, and the demo."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from textual.widgets import DataTable, Input, Select

from app.services import audit_trail, datasets, deliverables, monitoring_batches, monitoring_policy, projects
from app.services.demo import STATEMENT
from app.services.workbench import Workbench
from app.tui import WorkbenchApp
from screens.data import DataScreen
from screens.modals.file_picker import TABLE_SUFFIXES, FilePicker
from screens.modals.import_dialog import DatasetImportDialog
from screens.project import ProjectScreen
from tests.tui.test_tui_workbench import SIZE, settle

SLUG = "cancer"


def write_table(path: Path, rows: int = 200, seed: int = 3) -> Path:
    """A small real table: two measurements, a binary target that depends on them, a zip code with
    leading zeros (the importer keeps it as text and says so) and a constant column."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["patient_id", "radius", "texture", "zip", "site", "diagnosis"])
        for i in range(rows):
            radius, texture = rng.gauss(14, 3), rng.gauss(19, 4)
            malignant = int(radius + rng.gauss(0, 2) > 15)
            out.writerow([f"p{i:04d}", f"{radius:.3f}", f"{texture:.3f}", f"0{rng.randint(1000, 9999)}", "clinic-a",
                          malignant])
    return path


def text_of(screen, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(screen.query_one(selector).content)


async def type_path(pilot, picker: FilePicker, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Clear the path field and type ``path`` key by key, then enter."""
    field = picker.query_one("#picker-path", Input)
    field.focus()
    await pilot.press("ctrl+u", "ctrl+k")
    await pilot.press(*str(path))
    await pilot.press("enter")


def test_the_picker_offers_what_the_importer_reads() -> None:
    from app.ml.tabular import CSV_SUFFIXES, PARQUET_SUFFIXES

    assert set(TABLE_SUFFIXES) == CSV_SUFFIXES | PARQUET_SUFFIXES


async def test_a_csv_is_imported_from_the_data_screen(wb: Workbench, tmp_path: Path) -> None:
    projects.create_project(wb, SLUG, problem_type="binary_classification")
    deliverables.save_problem_statement(wb, SLUG, STATEMENT)
    table_file = write_table(tmp_path / "cancer.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ProjectScreen)
        await pilot.press("D")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DataScreen)
        assert "press i to import" in text_of(screen, "#data-findings")

        await pilot.press("i")
        await settle(app, pilot)
        picker = app.screen
        assert isinstance(picker, FilePicker)

        # A path that does not exist, and a file that is not a clean table: refused beside the field.
        await type_path(pilot, picker, tmp_path / "missing.csv")
        await settle(app, pilot)
        assert app.screen is picker and "no file at" in text_of(picker, "#picker-error")
        await type_path(pilot, picker, tmp_path / "ragged.csv")
        await settle(app, pilot)
        assert app.screen is picker and "ragged.csv" in text_of(picker, "#picker-error")

        # The folder list shows the table files of the folder typed last.
        entries = [str(picker.query_one("#picker-entries").get_option_at_index(i).prompt)
                   for i in range(picker.query_one("#picker-entries").option_count)]
        assert any(e.startswith("cancer.csv") for e in entries) and entries[0] == "../"

        await type_path(pilot, picker, table_file)
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, DatasetImportDialog)
        preview = dialog.query_one("#import-preview", DataTable)
        assert preview.row_count == 8 and len(preview.columns) == 6
        findings = text_of(dialog, "#import-findings")
        assert "leading_zeros · zip" in findings and "constant · site" in findings

        # The target, chosen with the keys: the Select is focused first; its list starts with "none".
        target = dialog.query_one("#import-target", Select)
        assert dialog.focused is target
        await pilot.press("enter")
        await pilot.pause()
        for _ in range(6):  # none, patient_id, radius, texture, zip, site → diagnosis
            await pilot.press("down")
        await pilot.press("enter")
        await settle(app, pilot)
        assert target.value == "diagnosis"
        assert dialog.preview is not None and dialog.preview.target == "diagnosis"

        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, "the dialog closes once the dataset is stored"
        stored = datasets.list_datasets(wb, SLUG)
        assert len(stored) == 1 and stored[0].target == "diagnosis" and stored[0].n_rows == 200
        assert "zip" in [f["column"] for f in stored[0].findings]
        assert "dataset.imported" in [e.action for e in audit_trail.recent_events(wb, project=SLUG, limit=3)]
        table = screen.query_one("#datasets", DataTable)
        assert table.row_count == 1 and str(table.get_row_at(0)[4]) == "diagnosis"
        assert "leading_zeros" in text_of(screen, "#data-findings")
