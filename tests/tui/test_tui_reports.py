"""The reports screen driven by Pilot: choose, build in the background, see the report listed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from textual.widgets import DataTable, OptionList, Select, Switch

from app.services import audit_trail
from app.services.report_builder import recent_reports
from app.tui import WorkbenchApp
from reports.render import DOCUMENTS
from screens.reports import ReportsScreen
from tests.tui.test_tui_workbench import SIZE, open_demo, settle

SLUG = "ctr-demo"


async def open_reports(app: WorkbenchApp, pilot) -> ReportsScreen:  # type: ignore[no-untyped-def]
    await open_demo(app, pilot)
    await pilot.press("x")
    await settle(app, pilot)
    assert isinstance(app.screen, ReportsScreen)
    return app.screen


async def wait_until(pilot, condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out waiting")


async def test_x_opens_reports_and_b_builds_while_the_screen_answers_keys(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(app, pilot)
        kinds = screen.query_one("#report-kinds", OptionList)
        assert [kinds.get_option_at_index(i).id for i in range(kinds.option_count)] == list(DOCUMENTS)
        assert screen.kind == "compliance"
        assert screen.query_one("#report-table", DataTable).row_count == 0
        head_before, _ = audit_trail.head(app.wb)

        await pilot.press("b")
        await wait_until(pilot, lambda: app.report_build_running(SLUG))
        assert screen.check_action("cancel_build", ()) is True
        # While the build runs, keys keep working: `d` flips the deterministic switch each time.
        switch = screen.query_one("#report-deterministic", Switch)
        answered = 0
        while app.report_build_running(SLUG) and answered < 6:
            before = switch.value
            await pilot.press("d")
            assert switch.value is not before
            answered += 1
        assert answered >= 1, "the build ended before a key could be pressed"
        await settle(app, pilot)

        built = screen.last_built
        assert built is not None and built.path.is_file() and not built.deterministic
        assert built.sha256 == hashlib.sha256(built.path.read_bytes()).hexdigest()
        assert (built.head_seq, built.head_hash) == (head_before.seq, head_before.hash)
        assert built.path.parent == app.wb.workspace.exports_dir.resolve()
        table = screen.query_one("#report-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[1] == "Compliance report" and row[5] == "ok" and row[6] == built.path.name
        assert [r.sha256 for r in recent_reports(app.wb, SLUG)] == [built.sha256]
        assert not app.progress.snapshot() and not app.report_build_running(SLUG)
        assert screen.check_action("cancel_build", ()) is False
        assert any(n.title == "Report written" for n in app._notifications)


async def test_a_deterministic_build_is_cancelled_with_c_and_writes_nothing(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(app, pilot)
        exports = set(app.wb.workspace.exports_dir.iterdir())
        head_before = audit_trail.head(app.wb)
        await pilot.press("d")
        assert screen.deterministic
        await pilot.press("b")
        await wait_until(pilot, lambda: app.report_build_running(SLUG))
        await pilot.press("c")
        await settle(app, pilot)
        assert not app.report_build_running(SLUG)
        assert any(n.title == "Cancelled" for n in app._notifications)
        assert set(app.wb.workspace.exports_dir.iterdir()) == exports
        assert audit_trail.head(app.wb) == head_before
        assert screen.last_built is None


async def test_a_drift_report_is_scoped_to_the_batches_chosen(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(app, pilot)
        labels = screen.snapshot.scopes.batches
        assert len(labels) >= 2
        await pilot.press(*["down"] * list(DOCUMENTS).index("drift"))
        assert screen.kind == "drift"
        first = screen.query_one("#report-batch-first", Select)
        assert not first.disabled and screen.query_one("#report-version", Select).disabled
        first.value = labels[1]  # from the second batch; "to" left at the last batch
        await pilot.pause()
        assert screen.scope() == {"batches": (labels[1], labels[-1])}
        await pilot.press("b")
        await settle(app, pilot)
        built = screen.last_built
        assert built is not None and built.kind == "drift" and built.path.is_file()
        assert built.scope == {"batches": [labels[1], labels[-1]]}
        assert recent_reports(app.wb, SLUG)[0].scope == built.scope


async def test_the_palette_opens_the_reports_screen(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"ctr-demo reports")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ReportsScreen) and app.screen.slug == SLUG
