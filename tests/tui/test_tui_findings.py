"""The findings screen (from the release screen's F) and the dashboard's model inventory, driven
with Pilot on a private copy of the demo: what they show is checked against the services, and
what a key press changes is checked in the findings' history and the release gate."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, RadioButton, TextArea

from app.services import findings, inventory, promotion, registry
from app.services.demo import SLUG, VALIDATOR
from app.tui import WorkbenchApp
from screens.dashboard import DashboardScreen
from screens.findings import FindingsScreen
from screens.modals.finding_dialog import REASON_NEEDED, FindingStatusDialog, NewFindingDialog
from tests.conftest import ME, register_person
from tests.tui.test_tui_release_monitoring import messages, open_release, row_texts, select_version, text_of
from tests.tui.test_tui_workbench import SIZE, settle


def _challenger(app: WorkbenchApp) -> int:
    return max(v.version for v in registry.list_models(app.wb, SLUG))


async def _open_findings(app: WorkbenchApp, pilot, version: int) -> FindingsScreen:  # type: ignore[no-untyped-def]
    release = await open_release(app, pilot)
    select_version(release, version)
    await pilot.pause()
    await pilot.press("f")
    await settle(app, pilot)
    assert isinstance(app.screen, FindingsScreen) and app.screen.version == version
    return app.screen


async def test_findings_screen_moves_a_finding_with_a_reason_and_the_gate_follows(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        version = _challenger(app)
        high = findings.record_finding(app.wb, SLUG, title="Leaks the click timestamp", severity="high",
                                       version=version, remediation="drop the feature", due_date="2031-01-31")
        findings.record_finding(app.wb, SLUG, title="On another version", severity="low", version=version - 1)
        screen = await _open_findings(app, pilot, version)

        rows = row_texts(screen.query_one("#finding-table", DataTable))
        assert rows == [[str(high.id), f"v{version}", "HIGH", "open", "2031-01-31", "manual", high.title]]
        detail = text_of(screen, "#finding-detail-body")
        assert "drop the feature" in detail and f"blocks the promotion of v{version}" in detail
        assert "raised" in detail and ME in detail

        # The author marks it remediated; the dialog warns her that closing is someone else's.
        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FindingStatusDialog) and dialog.query("#finding-own-work")
        assert [b.id for b in dialog.query(RadioButton)] == [f"finding-to-{s}" for s in ("remediated", "accepted",
                                                                                        "closed")]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and dialog.error == REASON_NEEDED, "a move without a reason stays in the dialog"
        assert dialog.focused is dialog.query_one("#finding-reason", TextArea)  # still there to type in
        await pilot.press(*"timestamp dropped", "enter", *"from the feature list")  # enter: a new line
        assert app.screen is dialog
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        (after,) = findings.list_findings(app.wb, SLUG, version=version)
        assert after.status == "remediated" and after.history[-1].reason == "timestamp dropped\nfrom the feature list"
        assert after.history[-1].actor == ME and after.history[-1].signer_fingerprint
        assert row_texts(screen.query_one("#finding-table", DataTable))[0][3] == "remediated"
        assert "from the feature list" in text_of(screen, "#finding-detail-body")

        # Closing it herself is refused (four-eyes) and changes nothing.
        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FindingStatusDialog)
        dialog.query_one("#finding-to-closed", RadioButton).value = True
        await pilot.pause()
        assert dialog.status == "closed"
        dialog.query_one("#finding-reason", TextArea).load_text("I checked it myself")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert any("four-eyes" in m for m in messages(app, "error"))
        assert findings.list_findings(app.wb, SLUG, version=version)[0].status == "remediated"
        gate = promotion.promotion_gate(app.wb, SLUG, version)
        assert next(c for c in gate.checks if c.id == "no_open_high_findings").blocking

        # v shows every version's findings.
        await pilot.press("v")
        await settle(app, pilot)
        every = findings.list_findings(app.wb, SLUG)  # with the demo's fairness findings on v1
        assert len(every) > 2
        assert screen.scope is None and screen.query_one("#finding-table", DataTable).row_count == len(every)

        # Back on the release screen, the gate names the finding.
        await pilot.press("escape")
        await settle(app, pilot)
        assert "Leaks the click timestamp" in text_of(app.screen, "#deploy-gate-body")


async def test_a_validator_closes_the_finding_from_the_screen(demo_home: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        version = _challenger(app)
        key = register_person(app.wb, "val.reviewer", "validator", key_dir=tmp_path)
        high = findings.record_finding(app.wb, SLUG, title="Calibration unverified", severity="high", version=version)
        monkeypatch.setenv("MLWB_SIGNING_KEY", str(tmp_path / "val.reviewer.key"))
        app.wb.forget_signing_key()
        screen = await _open_findings(app, pilot, version)
        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FindingStatusDialog) and not dialog.query("#finding-own-work")
        dialog.query_one("#finding-to-closed", RadioButton).value = True
        dialog.query_one("#finding-reason", TextArea).load_text("reliability curve added and checked")
        await pilot.pause()
        await pilot.press("ctrl+s")  # enter in the reason starts a new line; ctrl+s records
        await settle(app, pilot)
        assert app.screen is screen
        (closed,) = findings.list_findings(app.wb, SLUG, version=version)
        assert closed.id == high.id and closed.status == "closed"
        assert (closed.history[-1].actor, closed.history[-1].signer_fingerprint) == ("val.reviewer", key.fingerprint)
        assert "key " in text_of(screen, "#finding-detail-body")
        gate = promotion.promotion_gate(app.wb, SLUG, version)
        assert next(c for c in gate.checks if c.id == "no_open_high_findings").passed


async def test_new_finding_from_the_screen(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        version = _challenger(app)
        screen = await _open_findings(app, pilot, version)
        assert screen.check_action("set_status", ()) is False  # nothing to move yet
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, NewFindingDialog)
        dialog.query_one("#finding-due", Input).value = "next week"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and "title" in dialog.error
        dialog.query_one("#finding-title", Input).value = "Segment with a zero selection rate"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and "YYYY-MM-DD" in dialog.error
        dialog.query_one("#finding-due", Input).value = "2031-02-28"
        dialog.query_one("#finding-severity-high", RadioButton).value = True
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        (f,) = findings.list_findings(app.wb, SLUG, version=version)
        assert (f.title, f.severity, f.due_date, f.status) == ("Segment with a zero selection rate", "high",
                                                               "2031-02-28", "open")
        assert screen.query_one("#finding-table", DataTable).row_count == 1


async def test_dashboard_shows_the_model_inventory(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        version = _challenger(app)
        findings.record_finding(app.wb, SLUG, title="x", severity="high", version=version)
        findings.record_finding(app.wb, SLUG, title="y", severity="low", version=version)
        await pilot.press("r")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        (entry,) = inventory.inventory(app.wb)
        (row,) = row_texts(screen.query_one("#inventory", DataTable))
        assert row == [SLUG, "medium", "not named", VALIDATOR, "today", "in 12 months",
                       f"v{entry.production_version}", "1/0/1"]
        detail = text_of(screen, "#inventory-detail")
        assert detail.startswith(f"{SLUG} v{entry.version} · intended use: {entry.intended_use.split()[0]}")
        assert detail.splitlines()[1] == (f"validated today by {VALIDATOR} (approval) · medium risk tier, reviewed "
                                          "every 12 months · next periodic review in 12 months")
