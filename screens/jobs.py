"""Background jobs: state, progress and errors; the selected running job can be cancelled."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from screens.base import WorkbenchScreen
from textual.widgets import DataTable, Footer, Header, Static

from screens.widgets.jobs_panel import JobsPanel

STATE_STYLE = {"running": "bold cyan", "queued": "cyan", "succeeded": "green", "failed": "bold red",
               "cancelled": "yellow", "interrupted": "bold yellow"}
REFRESH_S = 1.0


class JobsScreen(WorkbenchScreen):
    BINDINGS = [
        Binding("c", "cancel_job", "Cancel job", tooltip="Stop the selected running job; nothing it computed is kept"),
        Binding("r", "reload", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="jobs"):
            yield Static("Background jobs", classes="screen-title")
            table: DataTable[Text] = DataTable(id="job-table", cursor_type="row", zebra_stripes=True)
            table.add_columns("Job", "Kind", "Project", "State", "Progress", "Message / error")
            yield table
        yield JobsPanel()
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(REFRESH_S, self.reload)

    def reload(self) -> None:
        if self.host.wb is not None:
            self._load()

    @work(thread=True, exit_on_error=False, exclusive=True, group="jobs-load")
    def _load(self) -> None:
        from app.services.jobs import list_jobs

        jobs = list_jobs(self.wb)
        self.app.call_from_thread(self._show, jobs)

    def _show(self, jobs) -> None:  # type: ignore[no-untyped-def]
        table = self.query_one("#job-table", DataTable)
        cursor = table.cursor_row
        live = {job_id: (fraction, message) for job_id, _, fraction, message in self.host.progress.snapshot()}
        table.clear()
        for j in jobs:
            fraction, message = live.get(j.id, (j.progress, j.message))
            detail = j.error.splitlines()[0] if j.error else message
            table.add_row(Text(str(j.id), style="bold"), Text(j.kind), Text(j.project or "—"),
                          Text(j.state, style=STATE_STYLE.get(j.state, "")), Text(f"{max(fraction, 0):.0%}"),
                          Text(detail), key=str(j.id))
        if jobs:
            table.move_cursor(row=min(cursor, len(jobs) - 1))

    def action_cancel_job(self) -> None:
        table = self.query_one("#job-table", DataTable)
        if table.row_count == 0:
            return
        job_id = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if self.host.cancel_job(job_id):
            self.notify(f"Cancelling job {job_id}…", title="Cancel requested")
        else:
            self.notify(f"Job {job_id} is not running in this session.", severity="warning")

    def action_reload(self) -> None:
        self.reload()
