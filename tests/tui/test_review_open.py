"""`mlwb review open BUNDLE` driven by Pilot: a validator's machine with no workspace.

The bundle is the demo's, exported once per module (``tests.test_review_roundtrip``); the
validator's key is found through ``MLWB_SIGNING_KEY``, as the workbench finds it, and
``MLWB_HOME`` names a folder that must never be created.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, OptionList, Select, Static, TextArea

from app.review_file import read_review, reviewer_key
from app.services.findings import list_findings
from app.services.review_import import import_review
from app.services.workbench import Workbench
from app.tui import ReviewApp
from screens.review import ReviewScreen
from screens.review_dialogs import ConclusionDialog, FindingDialog
from storage.workspace import Workspace
from tests.conftest import copy_workspace
from tests.test_review_roundtrip import SLUG, VALIDATOR, Exported, exported  # noqa: F401 - the module fixture

SIZE = (140, 45)


def text_of(widget: Static) -> str:
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


async def opened(app: ReviewApp, pilot) -> ReviewScreen:  # type: ignore[no-untyped-def]
    for _ in range(200):
        await pilot.pause(0.05)
        if isinstance(app.screen, ReviewScreen) and app.screen.bundle is not None:
            await pilot.pause()
            return app.screen
    raise AssertionError("the bundle did not open")


async def wait_until(pilot, condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out waiting")


@pytest.fixture
def validator_machine(exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """No workspace: MLWB_HOME names a folder that does not exist; my key is MLWB_SIGNING_KEY."""
    monkeypatch.setenv("MLWB_HOME", str(tmp_path / "no-workspace"))
    monkeypatch.delenv("MLWB_DATABASE_URL", raising=False)
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(exported.key_file))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    bundle = tmp_path / "received" / exported.bundle.name
    bundle.parent.mkdir()
    shutil.copy(exported.bundle, bundle)
    return bundle


@pytest.mark.long
async def test_review_open_navigates_the_bundle_records_a_finding_and_signs(
        exported: Exported, validator_machine: Path, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = ReviewApp(validator_machine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot)
        bundle = screen.bundle
        assert bundle is not None and bundle.verified
        verdict = text_of(screen.query_one("#review-verdict", Static))
        assert "bundle verified" in verdict and "ok signatures" in verdict and "demo-validator (validator)" in verdict
        assert bundle.manifest_digest in text_of(screen.query_one("#review-about", Static))

        # 1 Report: the chapters in a list; the arrow keys show each one.
        sections = screen.query_one("#review-sections", OptionList)
        assert app.focused is sections and sections.option_count == len(bundle.sections)
        await pilot.press("down", "down")
        assert sections.highlighted == 2
        assert bundle.sections[2].title in text_of(screen.query_one("#review-section", Static))

        # 2 Tables: every CSV, all of its rows.
        await pilot.press("2")
        tables = screen.query_one("#review-tables", OptionList)
        assert app.focused is tables and tables.option_count == len(bundle.tables)
        await pilot.press("down")
        grid = screen.query_one("#review-table", DataTable)
        chosen = bundle.tables[1]
        assert grid.row_count == len(chosen.rows) and len(grid.columns) == len(chosen.columns)
        assert chosen.title in str(grid.border_title)

        # 3 Audit trail: every event; the highlighted one in full below.
        await pilot.press("3")
        events = screen.query_one("#review-events", DataTable)
        assert app.focused is events and events.row_count == len(bundle.events)
        await pilot.press("down", "down", "down")
        assert text_of(screen.query_one("#review-event", Static)).startswith(
            f"#{bundle.events[3].seq} {bundle.events[3].action}")

        # 4 Figures: every figure, one after another.
        await pilot.press("4")
        figures = screen.query_one("#review-figures", OptionList)
        assert app.focused is figures and figures.option_count == len(bundle.figures) >= 2
        for index in range(1, len(bundle.figures)):
            await pilot.press("down")
            assert figures.highlighted == index
            assert bundle.figures[index].title in text_of(screen.query_one("#review-figure", Static))
        assert not screen.check_action("remove_finding", ())  # only on the findings tab, with a finding

        # 6 Verification: every check in full, each signer's full fingerprint.
        await pilot.press("6")
        full = text_of(screen.query_one("#review-verification", Static))
        assert all(check.line()[:60] in full for check in bundle.verdict.checks)
        assert all(signer.fingerprint in full for signer in bundle.verdict.signers)
        await pilot.press("4")

        # f: a finding about the figure on screen.
        await pilot.press("f")
        dialog = app.screen
        assert isinstance(dialog, FindingDialog)
        assert dialog.query_one("#finding-concerns", TextArea).text == f"figure '{bundle.figures[-1].label}'"
        await pilot.press(*"PSI alarm has no owner")
        dialog.query_one("#finding-severity", Select).value = "high"
        await pilot.press("tab", "tab", "tab", *"Name who answers drift alerts", "tab", *"31.3.2027", "ctrl+s")
        assert app.screen is dialog and "YYYY-MM-DD" in dialog.error  # said inline, nothing lost
        dialog.query_one("#finding-due", Input).value = "2027-03-31"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen and len(screen.findings) == 1

        await pilot.press("5")
        found = screen.query_one("#review-findings", DataTable)
        assert app.focused is found and found.row_count == 1
        assert screen.check_action("remove_finding", ())
        await pilot.press("e")  # edit: the form comes back filled in
        editing = app.screen
        assert isinstance(editing, FindingDialog) and editing.query_one("#finding-title", Input).value == \
            "PSI alarm has no owner"
        await pilot.press("end", *" or runbook", "ctrl+s")  # the title is selected on focus: end keeps it
        await pilot.pause()
        assert app.screen is screen and screen.findings[0].title == "PSI alarm has no owner or runbook"

        # s: the conclusion, signed with my key, written beside the bundle.
        await pilot.press("s")
        conclusion = app.screen
        assert isinstance(conclusion, ConclusionDialog)
        assert conclusion.query_one("#conclusion-out", Input).value == str(validator_machine.parent / "review.json")
        await pilot.press("ctrl+s")
        assert app.screen is conclusion and "summary" in conclusion.error.lower()
        await pilot.press(*"Drift monitoring is sound; ownership of alerts must be named.")
        await pilot.press("shift+tab", "down", "enter")
        assert conclusion.conclusion == "approve_with_conditions"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.written is not None)
        assert "Signed review written" in text_of(screen.query_one("#review-status", Static))

    written = validator_machine.parent / "review.json"
    assert screen.written == written and written.is_file()
    assert not (tmp_path / "no-workspace").exists(), "review open created a workspace"
    document = read_review(written)
    assert document.signed_by(reviewer_key(exported.key_file).public_hex)
    assert document.conclusion == "approve_with_conditions" and document.review["manifest"] == bundle.manifest_digest
    assert [(f.title, f.severity, f.due_date) for f in document.findings] == [
        ("PSI alarm has no owner or runbook", "high", "2027-03-31")]

    # Back at the team: the review the screen wrote imports like any other.
    team_home = copy_workspace(exported.home, tmp_path / "team-home", monkeypatch)  # its registry too
    wb = Workbench.open(Workspace(team_home))
    try:
        imported = import_review(wb, written)
        assert imported.reviewer == VALIDATOR and imported.decision == "approved"
        assert [f.title for f in list_findings(wb, SLUG) if f.source == "review"] == [
            "PSI alarm has no owner or runbook"]
    finally:
        wb.close()


async def test_a_bundle_that_fails_verification_is_shown_but_cannot_be_signed(
        exported: Exported, validator_machine: Path, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "edited-bundle"
    with zipfile.ZipFile(validator_machine) as zf:
        zf.extractall(folder)
    events = folder / "audit" / "events.jsonl"
    events.write_text(events.read_text().replace("ana.engineer", "someone.else", 1))
    app = ReviewApp(folder)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot)
        verdict = text_of(screen.query_one("#review-verdict", Static))
        assert "NOT verified" in verdict and "FAILED evidence digest" in verdict and "cannot be signed" in verdict
        assert screen.query_one("#review-tables", OptionList).option_count  # still readable
        assert not screen.check_action("sign", ())
        await pilot.press("s")
        await pilot.pause()
        assert app.screen is screen and screen.written is None
    assert not (tmp_path / "review.json").exists()
