"""The actions issue 13 added to the TUI, driven with Pilot on a private copy of the demo: register a
run (runs screen, g), write and sign the model card (release, k), waive a release check (release, w),
run a release analysis (release, n), and reach them from the command palette by name. Each is
checked in the registry through the services, not on the screen alone."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Checkbox, Input, TextArea

from app.services import promotion, registry, release_analysis
from app.tui import WorkbenchApp
from screens.modals.analysis_dialog import AnalysisDialog
from screens.modals.card_dialog import CardDialog
from screens.modals.register_dialog import RegisterDialog
from screens.modals.waiver_dialog import NEEDS_REASON, WaiverDialog
from screens.runs import RunsScreen
from tests.tui.test_tui_release_monitoring import (  # noqa: F401  (as_reviewer is a fixture)
    REVIEWER, SLUG, as_reviewer, messages, open_release, select_version, text_of,
)
from tests.tui.test_tui_workbench import SIZE, open_demo, settle


async def test_a_run_is_registered_from_the_runs_screen(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_demo(app, pilot)
        await pilot.press("M")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        registered = {v.run_id for v in registry.list_models(app.wb, SLUG)}
        table = screen.table
        position = next(table.window_start + i for i, run in enumerate(table.runs)
                        if run.id not in registered and run.parent_run_id is None)
        table.action_jump(position)
        run = table.selected
        assert run is not None and screen.check_action("register", ()) is True
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, RegisterDialog)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        versions = registry.list_models(app.wb, SLUG)
        new = next(v for v in versions if v.run_id == run.id)
        assert new.version == max(v.version for v in versions) and new.stage == "none"
        assert any(f"is model version {new.version}" in m for m in messages(app))


async def test_the_card_is_written_and_a_draft_signed_on_the_release_screen(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        version = next(v for v in registry.list_models(app.wb, SLUG) if not v.has_card)
        select_version(screen, version.version)
        await pilot.press("k")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, CardDialog)
        # A section nobody wrote opens with the registry's draft; intended use is a person's to write.
        drafts = registry.draft_model_card(app.wb, SLUG, version.version)
        assert dialog.query_one("#card-model_details", TextArea).text == drafts["model_details"]
        assert dialog.query_one("#card-intended_use", TextArea).text == ""
        # Changing a section and ticking "sign the draft" on it is refused inline, with the text kept.
        dialog.query_one("#card-metrics", TextArea).text = "my own words on the metrics"
        dialog.query_one("#card-sign-metrics", Checkbox).value = True
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and "Metrics" in dialog.error
        assert dialog.query_one("#card-metrics", TextArea).text == "my own words on the metrics"
        dialog.query_one("#card-sign-metrics", Checkbox).value = False
        dialog.query_one("#card-intended_use", TextArea).text = "Rank ads for the home page\nnot for credit decisions"
        dialog.query_one("#card-sign-model_details", Checkbox).value = True
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        sections = {s.key: s for s in registry.model_card_view(app.wb, SLUG, version.version).sections}
        assert sections["intended_use"].origin == "person"
        assert sections["intended_use"].text == "Rank ads for the home page\nnot for credit decisions"
        assert sections["metrics"].origin == "person" and sections["metrics"].text == "my own words on the metrics"
        assert sections["model_details"].origin == "confirmed"
        assert sections["model_details"].signer_fingerprint == app.wb.signing_key().fingerprint
        assert sections["training_data"].origin == "draft"  # left as drafted: still the machine's words
        assert any("Model card of version" in m for m in messages(app))


async def test_a_waiver_needs_a_reason_then_is_recorded_signed(as_reviewer: Path) -> None:  # noqa: F811
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        version = next(v for v in registry.list_models(app.wb, SLUG) if v.stage != "production"
                       and any(c.id == "canary_passed" and not c.passed
                               for c in promotion.promotion_gate(app.wb, SLUG, v.version).checks))
        select_version(screen, version.version)
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, WaiverDialog)
        assert "independent_approval" not in {c.id for c in dialog.checks}  # required and not waivable
        await pilot.click("#waive-canary_passed")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and dialog.error == NEEDS_REASON
        assert not [w for w in promotion.waivers(app.wb, SLUG) if w.version == version.version]
        dialog.query_one("#waiver-reason", TextArea).text = "low traffic product;\nshadow agreement is enough"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        waiver = next(w for w in promotion.waivers(app.wb, SLUG) if w.version == version.version)
        assert (waiver.check_id, waiver.granted_by) == ("canary_passed", REVIEWER)
        assert waiver.reason == "low traffic product;\nshadow agreement is enough"
        assert waiver.signer_fingerprint == app.wb.signing_key().fingerprint
        gate = promotion.promotion_gate(app.wb, SLUG, version.version)
        assert next(c for c in gate.checks if c.id == "canary_passed").waiver is not None
        assert "canary_passed" in text_of(screen, "#deploy-evidence-body")


async def test_a_shadow_analysis_runs_from_the_palette_and_a_bad_number_is_refused(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_release(app, pilot)
        shadowed = next(a.version for a in release_analysis.list_release_analyses(app.wb, SLUG) if a.kind == "shadow")
        select_version(screen, shadowed)
        await pilot.pause()
        before = len(release_analysis.list_release_analyses(app.wb, SLUG))
        # By name, from the command palette: the lifecycle's words find the release screen's key.
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await pilot.press(*"shadow analysis")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, AnalysisDialog) and dialog.kind == "shadow"
        dialog.query_one("#shadow-min_agreement", Input).value = "most"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and "is not a number" in dialog.error
        dialog.query_one("#shadow-min_agreement", Input).value = "0.95"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        analyses = release_analysis.list_release_analyses(app.wb, SLUG)
        assert len(analyses) == before + 1
        last = analyses[-1]
        assert (last.kind, last.version) == ("shadow", shadowed)
        assert any("Shadow" in m or "shadow" in m for m in messages(app))
