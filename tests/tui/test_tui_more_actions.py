"""The rest of the person actions issue 13 asks the TUI to carry (point 1), driven with Pilot on a
private copy of the demo: the 5×2cv comparison and the error analysis (runs screen, C and x), the
evidence bundle export and the import of a validator's signed review (release screen, e and i),
and a batch collected from the prediction log and labels attached to logged requests
(monitoring screen, c and L). Each is checked through the services, not on the screen alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input

from app.bundle_reader import open_bundle
from app.bundle_verify import verify_bundle
from app.review_file import sign_review, write_review
from app.services import comparison, datasets, error_analysis, monitoring_batches, registry
from app.services.evidence_bundle import export_bundle
from app.services.review_import import import_review
from app.services.workbench import Workbench
from app.signing import new_signing_key, write_private_key
from app.tui import WorkbenchApp
from screens.modals.compare_result import CompareResult
from screens.modals.error_analysis_dialog import ErrorAnalysisDialog
from screens.modals.error_analysis_result import ErrorAnalysisResult
from screens.modals.export_dialog import PATH_FIELD, ExportBundleDialog
from screens.modals.file_picker import FilePicker
from screens.modals.prediction_log_dialogs import LABEL_FIELD, CollectBatchDialog, LogLabelsDialog
from screens.runs import RunsScreen
from storage.workspace import Workspace
from tests.conftest import register_person
from tests.tui.test_tui_release_monitoring import REVIEWER, SLUG, messages, open_monitoring, open_release
from tests.tui.test_tui_workbench import SIZE, open_demo, settle


async def open_runs(app: WorkbenchApp, pilot) -> RunsScreen:  # type: ignore[no-untyped-def]
    await open_demo(app, pilot)
    await pilot.press("M")
    await settle(app, pilot)
    assert isinstance(app.screen, RunsScreen)
    return app.screen


def select_run(screen: RunsScreen, run_id: int) -> None:
    table = screen.table
    assert table.select_run(run_id)


# --- runs screen ---------------------------------------------------------------------------


async def test_two_marked_runs_are_compared_with_the_5x2cv_test(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(app, pilot)
        top = [r for r in screen.table.visible_runs if r.parent_run_id is None]
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
        run = next(r for r in screen.table.visible_runs if r.parent_run_id is None and r.model_kind == "logistic_regression")
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


# --- release screen: the offline review round trip -------------------------------------------


async def test_the_evidence_bundle_is_exported_and_a_bad_path_keeps_the_form(demo_home: Path, tmp_path: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ExportBundleDialog)
        field = dialog.query_one(f"#{PATH_FIELD}", Input)
        default = Path(field.value)
        assert default.parent == app.wb.workspace.exports_dir and default.suffix == ".zip"
        missing = str(tmp_path / "no-such-folder" / "bundle.zip")
        field.value = missing
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is dialog and "does not exist" in dialog.errors()[f"{PATH_FIELD}-error"]
        assert field.value == missing  # kept as typed
        target = tmp_path / "ctr-demo-bundle.zip"
        field.value = str(target)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        exported = screen.last_export
        assert exported is not None and exported.path == target
        verdict = verify_bundle(target)
        assert verdict.ok, verdict.summary()
        assert any(exported.manifest_sha256[:16] in m and f"#{exported.head_seq}" in m for m in messages(app))


async def test_an_export_without_a_registered_key_says_so_in_the_form(
        demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stranger = tmp_path / "stranger.key"
    write_private_key(stranger, new_signing_key())
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(stranger))
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_release(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ExportBundleDialog)
        target = str(tmp_path / "bundle.zip")
        dialog.query_one(f"#{PATH_FIELD}", Input).value = target
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is dialog
        assert "is not registered in this workspace" in dialog.errors()["form-error"]
        assert dialog.query_one(f"#{PATH_FIELD}", Input).value == target
        assert not Path(target).exists()


async def test_a_validator_s_signed_review_is_imported_with_the_picker(demo_home: Path, tmp_path: Path) -> None:
    wb = Workbench.open(Workspace(demo_home))
    key = register_person(wb, REVIEWER, "validator")
    bundle = export_bundle(wb, SLUG, tmp_path / "bundle.zip")
    wb.close()
    opened = open_bundle(bundle.path)
    review = write_review(sign_review(opened, key, reviewer=REVIEWER, conclusion="approve",
                                      summary="numbers, fairness and the canary checked", findings=[]), tmp_path / "review.json")
    (tmp_path / "not-a-review.json").write_text(json.dumps({"format": "something else"}))

    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        await pilot.press("i")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FilePicker)
        path_field = picker.query_one("#picker-path", Input)
        path_field.value = str(tmp_path / "not-a-review.json")
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is picker and "review file" in str(picker.query_one("#picker-error").content)
        path_field.value = str(review)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        imported = screen.last_review
        assert imported is not None and not imported.already_imported
        assert (imported.reviewer, imported.conclusion, imported.version) == (REVIEWER, "approve", opened.version)
        again = import_review(app.wb, review)  # the service knows it: a second import adds nothing
        assert again.already_imported and again.review_id == imported.review_id
        version = next(v for v in registry.list_models(app.wb, SLUG) if v.version == opened.version)
        assert any(a.approver == REVIEWER and a.decision == "approved" for a in version.approvals)


# --- monitoring screen: the prediction log ---------------------------------------------------


def serve_requests(home: Path, n: int) -> list[str]:
    """Send ``n`` new requests to the demo's production model in-process, as `mlwb serve` would."""
    from app.ml.demo_data import generate_interactions
    from app.services.serving import ScoringService

    wb = Workbench.open(Workspace(home))
    frame = generate_interactions(n, seed=77)
    ids = [f"tui-{i:04d}" for i in range(n)]
    service = ScoringService(wb, SLUG, shadow=False)
    try:
        for request_id, row in zip(ids, frame.drop(columns=["clicked"]).to_dict("records")):
            service.score({"request_id": request_id, "features": row})
    finally:
        service.close()
        wb.close()
    return ids


async def test_logged_requests_are_labelled_then_collected_into_a_batch(demo_home: Path, tmp_path: Path) -> None:
    ids = serve_requests(demo_home, 30)
    labels = tmp_path / "outcomes.csv"
    labels.write_text("request_id,clicked\n" + "".join(f"{i},{n % 2}\n" for n, i in enumerate(ids[:20])))
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitoring(app, pilot)
        await pilot.press("L")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FilePicker)
        picker.query_one("#picker-path", Input).value = str(labels)
        await pilot.press("enter")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, LogLabelsDialog)
        assert dialog.values() == {"id_column": "request_id", "label_column": "clicked"}  # guessed from the header
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen and screen.last_labelled == 20, messages(app, "error")

        taken = screen.snapshot.batches[0].label
        monitoring_rows = len(datasets.list_datasets(app.wb, SLUG, role="monitoring"))
        await pilot.press("c")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, CollectBatchDialog)
        field = form.query_one(f"#{LABEL_FIELD}", Input)
        field.value = taken
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form and "already has a batch" in form.errors()[f"{LABEL_FIELD}-error"]
        assert field.value == taken
        assert len(datasets.list_datasets(app.wb, SLUG, role="monitoring")) == monitoring_rows  # nothing stored
        field.value = "week-tui"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        batch = next(b for b in monitoring_batches.list_batches(app.wb, SLUG) if b.label == "week-tui")
        assert (batch.source, batch.n_rows, batch.n_labelled) == ("prediction_log", 30, 20)
        assert batch.analysed  # "analyse now" was ticked: the drift job ran
