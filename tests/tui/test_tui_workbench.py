"""The TUI driven as a person would: Pilot presses keys on a real workspace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader
from textual.widgets import DataTable, Input, TabbedContent, TextArea
from textual.worker import WorkerCancelled, WorkerFailed

from app.services import audit_trail, deliverables, jobs, training
from app.services.workbench import Workbench
from app.tui import WorkbenchApp
from screens.audit import AuditScreen
from screens.dashboard import DashboardScreen
from screens.jobs import JobsScreen
from screens.modals.choose_model import ChooseModel
from screens.modals.confirm import ConfirmDialog
from screens.modals.statement_form import StatementForm
from screens.project import ProjectScreen
from screens.widgets.evidence import GateChecklist
from storage.workspace import Workspace

SIZE = (120, 40)


async def settle(app: WorkbenchApp, pilot) -> None:  # type: ignore[no-untyped-def]
    """Let every worker finish and the screen catch up.

    A worker that failed with a user error has already been turned into a notification by
    the app; the tests assert on that and on the registry, so the failure is not re-raised.
    A form's save worker ends by dismissing its own dialog, which cancels the worker as the
    dialog goes: caught while still waiting (a slower registry, e.g. PostgreSQL) that is a
    ``WorkerCancelled`` after the work was done, and the tests assert on the outcome.
    """
    for _ in range(3):
        await pilot.pause()
        try:
            await app.workers.wait_for_complete()
        except (WorkerFailed, WorkerCancelled):
            pass
    await pilot.pause()


async def open_demo(app: WorkbenchApp, pilot) -> ProjectScreen:  # type: ignore[no-untyped-def]
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    assert isinstance(app.screen, ProjectScreen)
    return app.screen


async def test_dashboard_lists_the_demo_project(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        table = app.screen.query_one("#projects", DataTable)
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == "ctr-demo" and row[2] == "6 Monitoring" and row[3] == "passed"
        alerts = app.screen.query_one("#alerts", DataTable)
        # the critical alert of 2026-03 was resolved by its retraining; the warning stays open
        assert alerts.row_count == 1
        alert = [str(c) for c in alerts.get_row_at(0)]
        assert alert[:4] == ["ctr-demo", "2026-02", "warning", "none"]


async def test_all_six_stages_show_their_gate_and_evidence(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_demo(app, pilot)
        tabs = screen.query_one("#stages", TabbedContent)
        for number in range(1, 7):
            await pilot.press(str(number))
            await pilot.pause()
            assert tabs.active == f"stage-{number}"
            body = screen.query_one(f"#stage-body-{number}")
            checklist = body.query_one(GateChecklist)
            assert checklist.passed, f"stage {number} gate should pass in the demo"
        # Stage 6 shows the drift table with every statistic for every feature.
        tables = [t for t in screen.query_one("#stage-body-6").query(DataTable)]
        text = "\n".join(" ".join(str(c) for c in t.get_row_at(r)) for t in tables for r in range(t.row_count))
        for feature in ("user_age", "user_location", "item_genre", "item_popularity"):
            assert feature in text
        labels = {str(c.label) for t in tables for c in t.columns.values()}
        assert {"KS", "PSI", "JS", "Verdict"} <= labels and "DRIFT" in text


async def test_stage_one_form_edit_lands_in_the_audit_trail(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_demo(app, pilot)
        await pilot.press("1", "e")
        await pilot.pause()
        assert isinstance(app.screen, StatementForm)
        app.screen.query_one("#f-objective", TextArea).load_text("Raise feed CTR by 5% without hurting long-tail exposure")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        wb = app.wb
        assert wb is not None
        statement = deliverables.deliverables(wb, "ctr-demo")["problem_statement"]
        assert statement["objective"] == "Raise feed CTR by 5% without hurting long-tail exposure"
        newest = audit_trail.recent_events(wb, project="ctr-demo", limit=5)
        saved = [e for e in newest if e.action == "problem_statement.saved"]
        assert saved and "objective" in saved[0].summary and saved[0].actor == "ana.engineer"
        assert audit_trail.verify(wb).ok


async def test_edit_is_only_offered_on_stages_one_and_two(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_demo(app, pilot)
        await pilot.press("3")
        await pilot.pause()
        assert screen.check_action("edit", ()) is False
        await pilot.press("e")
        await pilot.pause()
        assert app.screen is screen  # no form opened
        await pilot.press("2")
        await pilot.pause()
        assert screen.check_action("edit", ()) is True


async def test_export_action_writes_the_compliance_pdf(demo_home: Path) -> None:
    """`x` opens the reports screen with the compliance report highlighted; `b` builds it."""
    from app.services.report_builder import recent_reports
    from screens.reports import ReportsScreen

    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_demo(app, pilot)
        head_before = audit_trail.head(app.wb)[0]
        await pilot.press("x")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ReportsScreen) and screen.kind == "compliance"
        await pilot.press("b")
        await settle(app, pilot)
        built = screen.last_built
        assert built is not None and built.path.exists()
        text = "\n".join(page.extract_text() for page in PdfReader(built.path).pages)
        match = re.search(r"Audit chain head: (\d+) ([0-9a-f]{64})", text)
        assert match is not None
        # The PDF prints the head it was built from; the build then added one report.built event
        # that repeats that head.
        assert (int(match.group(1)), match.group(2)) == (head_before.seq, head_before.hash)
        verdict = audit_trail.verify(app.wb)
        assert verdict.ok and verdict.head.seq == head_before.seq + 1
        (recorded,) = recent_reports(app.wb, "ctr-demo")
        assert (recorded.sha256, recorded.head_seq, recorded.head_hash) == (built.sha256, head_before.seq,
                                                                             head_before.hash)


async def test_audit_screen_verifies_the_chain(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        assert isinstance(app.screen, AuditScreen)
        assert app.screen.query_one("#events", DataTable).row_count > 20
        await pilot.press("v")
        await settle(app, pilot)
        assert app.screen.verdict_text.startswith("audit chain OK:")
        shown = str(app.screen.query_one("#verdict").render())
        _, digest = audit_trail.verify_with_digest(app.wb)
        assert f"evidence digest {digest}" in shown


async def test_screen_answers_keys_while_a_model_trains(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_demo(app, pilot)
        before = len(training.list_runs(app.wb, "ctr-demo"))
        await pilot.press("4", "t")
        await pilot.pause()
        assert isinstance(app.screen, ChooseModel)
        await pilot.press(*["down"] * 7, "enter")  # random_forest: the slowest of the ladder here
        tabs = screen.query_one("#stages", TabbedContent)
        running = bool(app.progress.snapshot())
        # While the job runs, the screen keeps switching stages on key presses.
        await pilot.press("2")
        assert tabs.active == "stage-2"
        await pilot.press("5")
        assert tabs.active == "stage-5"
        still_running = bool(app.progress.snapshot())
        await settle(app, pilot)
        runs = training.list_runs(app.wb, "ctr-demo")
        assert len(runs) == before + 1 and runs[-1].model_kind == "random_forest"
        assert not app.progress.snapshot()
        # Not a timing assertion: a note in the output if the fit ended before the keys were handled.
        if not (running and still_running):
            print("training finished before the keys were handled; responsiveness was not exercised")


async def test_a_job_is_cancelled_from_the_jobs_screen(demo_home: Path) -> None:
    from textual.widgets import Select

    from screens.modals.train_dialog import TrainDialog

    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_demo(app, pilot)
        before = len(training.list_runs(app.wb, "ctr-demo"))
        await pilot.press("M")
        await settle(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TrainDialog)
        # A job that runs for a while (a random forest tuned over many trials, each cross-validated),
        # so the cancel below meets it running however quickly workers start.
        dialog.query_one("#train-kind", Select).value = "random_forest"
        dialog.query_one("#train-cv", Input).value = "10"
        dialog.query_one("#train-tune", Select).value = "random"
        dialog.query_one("#train-trials", Input).value = "200"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
        for _ in range(600):  # the worker thread has queued the job
            if app.runner.running_ids():
                break
            await pilot.pause(0.05)
        job_id = app.runner.running_ids()[0]
        table = app.screen.query_one("#job-table", DataTable)
        for _ in range(600):
            if str(table.get_row_at(table.cursor_row)[0]) == str(job_id):
                break
            await pilot.pause(0.05)
        # The screen answers keys while the job trains in its worker process (it runs until cancelled).
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, JobsScreen)
        await pilot.press("j")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen) and job_id in app.runner.running_ids()
        table = app.screen.query_one("#job-table", DataTable)
        for _ in range(600):
            if str(table.get_row_at(table.cursor_row)[0]) == str(job_id):
                break
            await pilot.pause(0.05)
        await pilot.press("c")
        await settle(app, pilot)
        state = {j.id: j.state for j in jobs.list_jobs(app.wb)}[job_id]
        assert state == "cancelled"
        assert len(training.list_runs(app.wb, "ctr-demo")) == before
        assert audit_trail.verify(app.wb).ok


async def test_empty_workspace_offers_the_demo(mlwb_home: Path) -> None:
    app = WorkbenchApp(offer_demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert "No projects yet" in str(app.screen.query_one("#dashboard-hint").render())


async def test_accepting_the_demo_builds_it_in_the_background(mlwb_home: Path) -> None:
    app = WorkbenchApp(offer_demo=True, demo_rows=3_000, demo_batch_rows=800)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        table = app.screen.query_one("#projects", DataTable)
        assert table.row_count == 1 and str(table.get_row_at(0)[2]) == "6 Monitoring"


async def test_command_palette_jumps_to_a_stage(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"ctr-demo stage 3")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ProjectScreen)
        assert app.screen.query_one("#stages", TabbedContent).active == "stage-3"


async def test_a_user_error_is_shown_and_the_app_stays_up(mlwb_home: Path) -> None:
    wb = Workbench.open(Workspace(mlwb_home))
    from app.services.projects import create_project

    create_project(wb, "empty-proj", problem_type="binary_classification")
    wb.close()
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_demo(app, pilot)
        head_before = audit_trail.head(app.wb)
        await pilot.press("g")  # stage 1 gate is not passed
        await settle(app, pilot)
        assert app.screen is screen and app.is_running
        messages = [n.message for n in app._notifications]
        assert any("gate" in m and "not passed" in m for m in messages)
        assert audit_trail.head(app.wb) == head_before


def test_first_frame_does_not_import_heavy_libraries(demo_home: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from app.tui import WorkbenchApp\n"
        "async def main():\n"
        "    app = WorkbenchApp(offer_demo=False)\n"
        "    async with app.run_test(size=(120, 40)) as pilot:\n"
        "        await pilot.pause()\n"
        "        await app.workers.wait_for_complete()\n"
        "        await pilot.pause()\n"
        "        await pilot.press('enter')\n"
        "        await app.workers.wait_for_complete()\n"
        "        await pilot.pause()\n"
        "        print(type(app.screen).__name__)\n"
        "        print(sorted(m for m in ('pandas', 'sklearn', 'matplotlib', 'scipy') if m in sys.modules))\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == "ProjectScreen"
    assert lines[-1] == "[]"
