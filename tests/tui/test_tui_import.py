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
from screens.modals.import_dialog import BatchImportDialog, DatasetImportDialog, LabelsImportDialog
from screens.modals.monitoring_settings import ScheduleDialog, SlaRulesDialog, ThresholdDialog
from screens.monitoring import MonitoringScreen
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


async def type_path(pilot, picker: FilePicker, path: Path | str) -> None:  # type: ignore[no-untyped-def]
    """Clear the path field and type ``path`` key by key, then enter (a relative path is read
    from the folder the list shows, which follows the path typed before)."""
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
        assert picker.folder == tmp_path.resolve(), "the list follows the typed path"
        await type_path(pilot, picker, "ragged.csv")
        await settle(app, pilot)
        assert app.screen is picker and "ragged.csv" in text_of(picker, "#picker-error")

        # The folder list shows the table files of the folder typed last.
        entries = [str(picker.query_one("#picker-entries").get_option_at_index(i).prompt)
                   for i in range(picker.query_one("#picker-entries").option_count)]
        assert any(e.startswith("cancer.csv") for e in entries) and entries[0] == "../"

        await type_path(pilot, picker, table_file.name)
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


# --- stage 6 on the demo: a batch, its labels, the monitoring policy ---------------------------

DEMO = "ctr-demo"


def write_batch(folder: Path, label: str, rows: int = 300) -> tuple[Path, Path]:
    """A batch of production inputs (with an id, without the outcome) and its delayed labels."""
    from app.ml.demo_data import generate_interactions

    frame = generate_interactions(rows, seed=77, drift=0.3)
    frame.insert(0, "interaction_id", [f"{label}-{n:06d}" for n in range(len(frame))])
    batch, labels = folder / f"batch-{label}.csv", folder / f"labels-{label}.csv"
    frame.drop(columns=["clicked"]).to_csv(batch, index=False)
    frame[["interaction_id", "clicked"]].to_csv(labels, index=False)
    return batch, labels


async def open_monitoring(app: WorkbenchApp, pilot) -> MonitoringScreen:  # type: ignore[no-untyped-def]
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    await pilot.press("O")
    await settle(app, pilot)
    assert isinstance(app.screen, MonitoringScreen)
    return app.screen


async def test_a_monitoring_batch_is_imported_and_analysed(demo_home: Path, tmp_path: Path) -> None:
    batch_file, _ = write_batch(tmp_path, "2026-04")
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitoring(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        picker = app.screen
        assert isinstance(picker, FilePicker)
        await type_path(pilot, picker, tmp_path / "batch-2026-05.csv")  # not there
        await settle(app, pilot)
        assert app.screen is picker and "no file at" in text_of(picker, "#picker-error")
        await type_path(pilot, picker, batch_file.name)
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, BatchImportDialog)
        assert dialog.query_one("#import-preview", DataTable).row_count == 8
        assert dialog.query_one("#import-id", Select).value == "interaction_id"
        assert "What the import will record" in text_of(dialog, "#import-findings")
        label = dialog.query_one("#import-label", Input)
        assert dialog.focused is label and label.value == "batch-2026-04"
        await pilot.press("ctrl+u", "ctrl+k", *"2026-04", "ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        batch = next(b for b in monitoring_batches.list_batches(app.wb, DEMO) if b.label == "2026-04")
        assert batch.n_rows == 300 and batch.analysed and batch.drift
        assert {"monitoring.batch_imported", "job.succeeded"} <= {
            e.action for e in audit_trail.recent_events(app.wb, project=DEMO, limit=8)}
        assert "2026-04" in [b.label for b in screen.snapshot.batches]
        assert not app.progress.snapshot(), "the jobs strip is empty again"

        # Cancelling the picker before any file is chosen closes the import as well.
        await pilot.press("i")
        await settle(app, pilot)
        assert isinstance(app.screen, FilePicker)
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen


async def test_delayed_labels_are_attached_as_a_job(demo_home: Path, tmp_path: Path) -> None:
    batch_file, labels_file = write_batch(tmp_path, "2026-04", rows=200)
    wb = Workbench.open()
    monitoring_batches.import_batch(wb, DEMO, batch_file, label="2026-04", id_column="interaction_id")
    wb.close()
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitoring(app, pilot)
        await pilot.press("l")
        await settle(app, pilot)
        picker = app.screen
        assert isinstance(picker, FilePicker)
        await type_path(pilot, picker, labels_file)
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, LabelsImportDialog)
        assert dialog.query_one("#import-batch", Select).value == "2026-04", "the batch still waiting for labels"
        assert dialog.query_one("#import-id", Select).value == "interaction_id"
        assert dialog.query_one("#import-label-column", Select).value == "clicked"  # the framing's target
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        batch = next(b for b in monitoring_batches.list_batches(app.wb, DEMO) if b.label == "2026-04")
        assert batch.n_labelled == 200 and batch.metrics


async def test_sla_rules_thresholds_and_schedule_are_set_from_the_screen(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitoring(app, pilot)
        before = monitoring_policy.sla_rules(app.wb, DEMO)
        await pilot.press("s")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, SlaRulesDialog)
        assert dialog.query_one("#sla-rules", DataTable).row_count == len(before)
        await pilot.press("ctrl+s")  # no metric chosen: said inline, nothing recorded
        await pilot.pause()
        assert "Choose the metric" in text_of(dialog, "#sla-error")
        dialog.query_one("#sla-metric", Select).value = "f1"
        dialog.query_one("#sla-threshold", Input).value = "0.25"
        dialog.query_one("#sla-severity", Select).value = "critical"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        rules = monitoring_policy.sla_rules(app.wb, DEMO)
        assert len(rules) == len(before) + 1 and rules[-1].describe() == "f1 >= 0.25"
        table = dialog.query_one("#sla-rules", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("delete")
        await settle(app, pilot)
        assert [r.id for r in monitoring_policy.sla_rules(app.wb, DEMO)] == [r.id for r in rules[1:]]
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen and len(screen.snapshot.rules) == len(rules) - 1

        await pilot.press("d")
        await settle(app, pilot)
        assert isinstance(app.screen, ThresholdDialog)
        await pilot.press(*"abc", "ctrl+s")  # not a number: refused inline
        await pilot.pause()
        assert isinstance(app.screen, ThresholdDialog)
        assert "must be a number" in text_of(app.screen, "#threshold-error")
        await pilot.press("backspace", "backspace", "backspace", *"0.3", "ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert monitoring_policy.policy_settings(app.wb, DEMO).thresholds["*"]["psi"] == 0.3

        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, ScheduleDialog)
        await pilot.press("ctrl+u", "ctrl+k", *"30", "ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert monitoring_policy.policy_settings(app.wb, DEMO).retrain_every_days == 30
        actions = [e.action for e in audit_trail.recent_events(app.wb, project=DEMO, limit=6)]
        for action in ("monitoring.sla_rule_added", "monitoring.sla_rule_removed", "monitoring.threshold_set",
                       "monitoring.schedule_set"):
            assert action in actions


async def test_the_palette_imports_a_dataset(wb: Workbench) -> None:
    projects.create_project(wb, SLUG, problem_type="binary_classification")
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await pilot.press(*f"{SLUG} import a dataset")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, FilePicker)
        assert isinstance(app.screen_stack[-2], DatasetImportDialog)
        assert isinstance(app.screen_stack[-3], DataScreen)


def test_the_preview_reads_like_the_import_and_stores_nothing(wb: Workbench, tmp_path: Path) -> None:
    import pytest

    from app.errors import WorkbenchError
    from app.services.table_preview import preview_table

    projects.create_project(wb, SLUG, problem_type="binary_classification")
    table_file = write_table(tmp_path / "cancer.csv")
    before = audit_trail.recent_events(wb, limit=1)[0].seq
    preview = preview_table(wb, SLUG, table_file, target="diagnosis")
    assert preview.n_rows == 200 and preview.columns[-1] == "diagnosis" and len(preview.head) == 8
    assert preview.head[0][3].startswith("0"), "zip codes keep their leading zeros"
    checks = {(f["check"], f["column"]) for f in preview.findings}
    assert {("leading_zeros", "zip"), ("constant", "site")} <= checks
    with pytest.raises(WorkbenchError, match="target column 'outcome' is not in cancer.csv"):
        preview_table(wb, SLUG, table_file, target="outcome")
    assert datasets.list_datasets(wb, SLUG) == []
    assert audit_trail.recent_events(wb, limit=1)[0].seq == before, "a preview records nothing"
    stored = datasets.import_dataset(wb, SLUG, table_file, target="diagnosis")
    assert {(f["check"], f["column"]) for f in (*stored.findings, *stored.quality)} == checks
