"""Issue 13, "done when": the breast-cancer project carried from a new project to a monitored
production model with nothing but keys pressed in the TUI (Pilot), on real services, real fits and
a real workspace; the registry is read back through the services at every milestone.

Three sessions share the workspace, as three sittings would: the author's (stages 1-5 up to the
review request), the validator's (a second ``WorkbenchApp`` whose ``MLWB_SIGNING_KEY`` is the
validator's key file: ``a`` approves, signed), and the author's again (``p`` promotes, then the
monitoring batch). Keys only: short answers typed key by key, long ones (paragraphs, the 30-line
feature spec) pasted as a terminal delivers a paste. The admin registers the validator's public
key on the people screen (dashboard ``P``, ``a``). The feature spec is written by hand because the
framing form does not propose it from the data yet (``TODO(issue 13)``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.widgets import Checkbox, Input, Select, TextArea

from app.services import (
    audit_trail, comparison, datasets, deliverables, gates, monitoring_batches, people, projects, registry, training,
)
from app.services.workbench import Workbench
from app.signing import new_signing_key, write_private_key
from app.tui import WorkbenchApp
from screens.dashboard import DashboardScreen
from screens.data import DataScreen
from screens.modals.card_dialog import CardDialog
from screens.modals.compare_result import CompareResult
from screens.modals.file_picker import FilePicker
from screens.modals.framing_form import FramingForm
from screens.modals.import_dialog import BatchImportDialog, DatasetImportDialog
from screens.modals.new_project import NewProjectForm
from screens.modals.register_dialog import RegisterDialog
from screens.modals.review_dialog import ReasonDialog, RequestReviewDialog, ReviewDialog
from screens.modals.split_dialog import SplitDialog
from screens.modals.statement_form import StatementForm
from screens.modals.train_dialog import TrainDialog
from screens.monitoring import MonitoringScreen
from screens.project import ProjectScreen
from screens.release import ReleaseScreen
from screens.runs import RunsScreen
from tests.test_walk_cli import write_cancer_csvs
from tests.tui.test_tui_workbench import SIZE, settle

SLUG = "cancer"
VALIDATOR = "val"
#: Answers longer than this are pasted rather than typed key by key.
PASTE_OVER = 24


def errors_of(app: WorkbenchApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def tab_to(app: WorkbenchApp, pilot, widget_id: str, *, limit: int = 80) -> None:  # type: ignore[no-untyped-def]
    """Press tab until the widget ``widget_id`` of the open screen has the focus, as a person would."""
    for _ in range(limit):
        focused = app.screen.focused
        if focused is not None and focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id} on {type(app.screen).__name__}")


async def type_into(app: WorkbenchApp, pilot, widget_id: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Tab to a field and enter ``text``: a short answer typed key by key, a long one (a paragraph,
    the feature spec) pasted, as the terminal delivers a person's paste (one ``Paste`` event); typing
    1,500 characters one key at a time would take minutes on a busy machine and test nothing more."""
    await tab_to(app, pilot, widget_id)
    if len(text) <= PASTE_OVER and "\n" not in text:
        await pilot.press(*text)
    else:
        app.post_message(events.Paste(text))
        await pilot.pause()
    field = app.screen.focused
    assert (field.text if isinstance(field, TextArea) else field.value).endswith(text)  # type: ignore[union-attr]


async def choose(app: WorkbenchApp, pilot, select_id: str, typed: str) -> None:  # type: ignore[no-untyped-def]
    """Open a Select with enter, type the start of the option (type to search), enter."""
    await tab_to(app, pilot, select_id)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press(*typed, "enter")
    await pilot.pause()


async def press(app: WorkbenchApp, pilot, *keys: str) -> None:  # type: ignore[no-untyped-def]
    """Keys, then wait for every worker and job they started."""
    await pilot.press(*keys)
    await settle(app, pilot)


async def pick_file(app: WorkbenchApp, pilot, path: Path) -> None:  # type: ignore[no-untyped-def]
    picker = app.screen
    assert isinstance(picker, FilePicker)
    await tab_to(app, pilot, "picker-path")
    await pilot.press("ctrl+u", "ctrl+k", *str(path), "enter")
    await settle(app, pilot)


async def open_project(app: WorkbenchApp, pilot) -> ProjectScreen:  # type: ignore[no-untyped-def]
    await settle(app, pilot)
    assert isinstance(app.screen, DashboardScreen)
    await press(app, pilot, "enter")
    assert isinstance(app.screen, ProjectScreen)
    return app.screen


STATEMENT = {
    "objective": "Flag fine-needle aspirates that need a second pathologist read\nNever clears a case",
    "stakeholders_gain": "patients, pathologists",
    "stakeholders_lose": "nobody: a flag only adds a review",
    "business_metric": "missed malignant cases per 100 biopsies",
    "ml_metric": "roc_auc",
    "ml_metric_threshold": "0.95",
    "feasibility_data": "469 labelled biopsies",
    "feasibility_regulation": "decision support only",
    "feasibility_timeline": "one quarter",
    "feasibility_budget": "one engineer",
    "baseline_heuristic": "the majority class",
}


async def admin_registers_the_validator(app: WorkbenchApp, pilot, public_file: Path) -> None:  # type: ignore[no-untyped-def]
    """Dashboard P (people), a: the validator's name, role and the file holding their public key."""
    await settle(app, pilot)
    await press(app, pilot, "P")
    await pilot.press("a")
    await pilot.pause()
    await type_into(app, pilot, "person-name", VALIDATOR)
    await choose(app, pilot, "person-role", "validator")
    await type_into(app, pilot, "person-key", str(public_file))
    await press(app, pilot, "ctrl+s")
    assert errors_of(app) == []
    assert {p.name: p.role for p in people.list_people(app.wb)}[VALIDATOR] == "validator"
    await press(app, pilot, "escape")


async def author_until_review(app: WorkbenchApp, pilot, training_csv: Path) -> None:  # type: ignore[no-untyped-def]
    # --- the dashboard: n, a new growth project ----------------------------------------------------
    await settle(app, pilot)
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(app.screen, NewProjectForm)
    await type_into(app, pilot, "slug", SLUG)
    await type_into(app, pilot, "name", "Breast cancer triage")
    await choose(app, pilot, "maturity", "growth")
    await press(app, pilot, "ctrl+s")
    assert isinstance(app.screen, DashboardScreen), errors_of(app)
    summary = projects.project_summary(app.wb, SLUG)
    assert (summary.maturity, summary.problem_type, summary.current_stage) == ("growth", "binary_classification", 1)

    # --- stage 1: e, the statement and the checklist; g --------------------------------------------
    await open_project(app, pilot)
    await pilot.press("1", "e")
    await pilot.pause()
    assert isinstance(app.screen, StatementForm)
    for key, text in STATEMENT.items():
        await type_into(app, pilot, f"f-{key}", text)
    for item in ("pattern_exists", "data_available", "errors_tolerable", "rules_insufficient", "feedback_available"):
        await tab_to(app, pilot, f"c-{item}")
        await pilot.press("space")
    await press(app, pilot, "ctrl+s")
    assert isinstance(app.screen, ProjectScreen), errors_of(app)
    saved = deliverables.deliverables(app.wb, SLUG)
    assert saved["problem_statement"]["objective"] == STATEMENT["objective"]
    assert all(saved["ml_checklist"][item] is True for item in ("pattern_exists", "feedback_available"))
    await press(app, pilot, "g")
    assert gates.project_stage(app.wb, SLUG) == 2, errors_of(app)

    # --- stage 2: D, i imports the CSV (picker, preview, target); e writes the framing; g ----------
    await press(app, pilot, "D")
    assert isinstance(app.screen, DataScreen)
    await press(app, pilot, "i")
    await pick_file(app, pilot, training_csv)
    dialog = app.screen
    assert isinstance(dialog, DatasetImportDialog)
    await choose(app, pilot, "import-target", "targ")
    assert dialog.query_one("#import-target", Select).value == "target"
    await press(app, pilot, "ctrl+s")
    assert isinstance(app.screen, DataScreen), errors_of(app)
    [dataset] = datasets.list_datasets(app.wb, SLUG)
    assert (dataset.n_rows, dataset.target) == (469, "target")
    await press(app, pilot, "escape")

    await pilot.press("2", "e")
    await pilot.pause()
    assert isinstance(app.screen, FramingForm)
    await type_into(app, pilot, "f-target", "target")
    await type_into(app, pilot, "f-label_strategy", "histology of the biopsy (0 malignant, 1 benign)")
    await type_into(app, pilot, "f-cold_start", "none: every aspirate has all 30 measurements")
    await type_into(app, pilot, "f-temporal_aspects", "none")
    await type_into(app, pilot, "f-proxy_metrics", "none")
    # TODO(issue 13): the framing form has no "propose from the dataset" / "confirm" yet (the registry's
    # project.propose_features / project.confirm_proposals, KNOWN_GAPS "not built"): the author types
    # the feature spec, one line per measurement, as the form's help says.
    measurements = [c for c in dataset.schema if c not in ("patient_id", "target")]
    assert len(measurements) == 30
    await type_into(app, pilot, "features", "\n".join(f"{name} | numeric | the aspirate's image | yes | no"
                                                      for name in measurements))
    await press(app, pilot, "ctrl+s")
    assert isinstance(app.screen, ProjectScreen), errors_of(app)
    assert len(deliverables.deliverables(app.wb, SLUG)["framing"]["features"]) == 30
    await press(app, pilot, "g")
    assert gates.project_stage(app.wb, SLUG) == 3, errors_of(app)

    # --- stage 3: D, s splits (stratified, seed 42); g ---------------------------------------------
    await press(app, pilot, "D", "s")
    assert isinstance(app.screen, SplitDialog)
    await press(app, pilot, "ctrl+s")
    assert isinstance(app.screen, DataScreen), errors_of(app)
    [split] = datasets.list_splits(app.wb, SLUG)
    assert split.strategy == "stratified" and not split.leakage
    await press(app, pilot, "escape", "g")
    assert gates.project_stage(app.wb, SLUG) == 4, errors_of(app)

    # --- stage 4: M, n trains a baseline and two candidates; a / b / c compares; g registers -------
    await press(app, pilot, "M")
    runs_screen = app.screen
    assert isinstance(runs_screen, RunsScreen)
    for typed in ("maj", "log", "dec"):
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, TrainDialog)
        await choose(app, pilot, "train-kind", typed)
        await press(app, pilot, "ctrl+s")
        assert app.screen is runs_screen, errors_of(app)
    runs = training.list_runs(app.wb, SLUG)
    assert [r.model_kind for r in runs] == ["majority_baseline", "logistic_regression", "decision_tree"]
    # The table lists the runs by id: the baseline, the logistic regression, the tree.
    await pilot.press("home", "a", "down", "b")
    await press(app, pilot, "c")
    assert isinstance(app.screen, CompareResult)
    assert "significantly better" in app.screen.verdict
    await press(app, pilot, "escape")
    [recorded] = comparison.list_comparisons(app.wb, SLUG)
    assert (recorded.run_a, recorded.run_b) == (runs[0].id, runs[1].id) and recorded.significant
    await press(app, pilot, "g")  # the logistic regression is still highlighted
    assert isinstance(app.screen, RegisterDialog)
    await press(app, pilot, "enter")
    [version] = registry.list_models(app.wb, SLUG)
    assert (version.version, version.run_id, version.stage) == (1, runs[1].id, "none")

    # --- the card (release screen, k): the person's sections written, the drafts signed; g ---------
    await press(app, pilot, "escape", "R")
    release = app.screen
    assert isinstance(release, ReleaseScreen)
    await press(app, pilot, "k")
    card = app.screen
    assert isinstance(card, CardDialog)
    written = {"intended_use": "decision support: flag aspirates for a second read",
               "factors": "no demographic columns in the data",
               "ethical_considerations": "a missed flag delays a diagnosis",
               "caveats": "469 biopsies from one clinic"}
    for section in card.view.sections:
        if section.key in written:
            await type_into(app, pilot, f"card-{section.key}", written[section.key])
        elif card.query(f"#card-sign-{section.key}"):
            await tab_to(app, pilot, f"card-sign-{section.key}")
            await pilot.press("space")
            assert card.query_one(f"#card-sign-{section.key}", Checkbox).value
    await press(app, pilot, "ctrl+s")
    assert app.screen is release, errors_of(app)
    assert registry.model_card_view(app.wb, SLUG, 1).complete
    await press(app, pilot, "escape", "g")
    assert gates.project_stage(app.wb, SLUG) == 5, errors_of(app)

    # --- stage 5: R, q asks the validator for a review ---------------------------------------------
    await press(app, pilot, "R", "q")
    assert isinstance(app.screen, RequestReviewDialog)
    await type_into(app, pilot, "request-reviewer", VALIDATOR)
    await type_into(app, pilot, "request-comment", "please check the card")
    await press(app, pilot, "ctrl+s")
    assert isinstance(app.screen, ReleaseScreen), errors_of(app)
    [request] = registry.review_requests(app.wb, SLUG)
    assert (request.reviewer, request.status) == (VALIDATOR, "open")


async def validator_approves(app: WorkbenchApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await open_project(app, pilot)
    await press(app, pilot, "R", "a")
    dialog = app.screen
    assert isinstance(dialog, ReviewDialog)
    await type_into(app, pilot, "review-comment", "numbers and card checked")
    await press(app, pilot, "ctrl+s")
    assert isinstance(app.screen, ReleaseScreen), errors_of(app)


async def author_promotes_and_monitors(app: WorkbenchApp, pilot,  # type: ignore[no-untyped-def]
                                       batch_csv: Path) -> None:
    await open_project(app, pilot)
    await press(app, pilot, "R", "p")
    assert isinstance(app.screen, ReasonDialog)
    await type_into(app, pilot, "reason-input", "beats the majority baseline")
    await press(app, pilot, "ctrl+s")
    assert isinstance(app.screen, ReleaseScreen), errors_of(app)
    [version] = registry.list_models(app.wb, SLUG)
    assert version.stage == "production"
    await press(app, pilot, "escape", "g")
    assert gates.project_stage(app.wb, SLUG) == 6, errors_of(app)

    # --- stage 6: O, i imports a batch (analysed at once: the shifted radius drifts) ---------------
    await press(app, pilot, "O")
    monitoring = app.screen
    assert isinstance(monitoring, MonitoringScreen)
    await press(app, pilot, "i")
    await pick_file(app, pilot, batch_csv)
    dialog = app.screen
    assert isinstance(dialog, BatchImportDialog)
    assert dialog.query_one("#import-id", Select).value == "patient_id"
    await tab_to(app, pilot, "import-label")
    await pilot.press("ctrl+u", "ctrl+k", *"2026-12")
    assert dialog.query_one("#import-label", Input).value == "2026-12"
    await press(app, pilot, "ctrl+s")
    assert app.screen is monitoring, errors_of(app)
    [batch] = monitoring_batches.list_batches(app.wb, SLUG)
    assert (batch.label, batch.n_rows, batch.analysed) == ("2026-12", 100, True)
    assert next(d for d in batch.drift if d.feature == "mean radius").drifted
    assert gates.gate(app.wb, SLUG).passed
    assert audit_trail.verify(app.wb).ok


@pytest.mark.long
async def test_a_new_project_from_idea_to_monitored_production_with_tui_keys_only(
        wb: Workbench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    training_csv, batch_csv = write_cancer_csvs(tmp_path / "data")
    validator_key = new_signing_key()  # made on the validator's machine; its public line is sent to me
    write_private_key(tmp_path / f"{VALIDATOR}.key", validator_key)
    (tmp_path / f"{VALIDATOR}.pub").write_text(validator_key.public_line + "\n")

    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await admin_registers_the_validator(app, pilot, tmp_path / f"{VALIDATOR}.pub")
        await author_until_review(app, pilot, training_csv)

    # The validator's sitting: the same workspace, their own key.
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(tmp_path / f"{VALIDATOR}.key"))
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await validator_approves(app, pilot)
        [approval] = registry.list_models(app.wb, SLUG)[0].approvals
        assert (approval.approver, approval.decision) == (VALIDATOR, "approved")
        assert approval.signer_fingerprint == app.wb.signing_key().fingerprint
    monkeypatch.delenv("MLWB_SIGNING_KEY")

    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await author_promotes_and_monitors(app, pilot, batch_csv)
