"""Background jobs: state, progress, when each started and how long it ran, who queued it and
which process (this TUI, another TUI, a CLI verb) runs it; the selected running job can be
cancelled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from screens.base import SnapshotScreen
from screens.widgets.tables import cursor_key

if TYPE_CHECKING:
    from app.services.jobs import JobView
    from app.services.workbench import Workbench

STATE_STYLE = {"running": "bold cyan", "queued": "cyan", "succeeded": "green", "failed": "bold red",
               "cancelled": "yellow", "interrupted": "bold yellow"}
REFRESH_S = 1.0


class JobsScreen(SnapshotScreen[list["JobView"]]):
    BINDINGS = [
        Binding("c", "cancel_job", "Cancel job", id="jobs.cancel",
                tooltip="Stop the selected running job; nothing it computed is kept"),
        Binding("r", "reload", "Refresh", id="jobs.refresh"),
        Binding("escape", "app.pop_screen", "Back", id="jobs.back"),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="jobs"):
            yield Static("Background jobs", classes="screen-title")
            table: DataTable[Text] = DataTable(id="job-table", cursor_type="row", zebra_stripes=True)
            table.add_columns("Job", "Kind", "Project", "State", "Progress", "Started", "Duration", "Queued by",
                              "Owner", "Message / error")
            yield table

    def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self.reload)

    def load(self, wb: Workbench) -> list[JobView]:
        from app.services.jobs import list_jobs

        return list_jobs(wb)

    def show(self, jobs: list[JobView]) -> None:
        from app.services.jobs import format_duration

        table = self.query_one("#job-table", DataTable)
        cursor = table.cursor_row
        live = {job_id: (fraction, message) for job_id, _, fraction, message in self.host.progress.snapshot()}
        table.clear()
        for j in jobs:
            fraction, message = live.get(j.id, (j.progress, j.message))
            detail = j.error.splitlines()[0] if j.error else message
            started = j.started_at.astimezone().strftime("%m-%d %H:%M:%S") if j.started_at else "—"
            table.add_row(Text(str(j.id), style="bold"), Text(j.kind), Text(j.project or "—"),
                          Text(j.state, style=STATE_STYLE.get(j.state, "")), Text(f"{max(fraction, 0):.0%}"),
                          Text(started), Text(format_duration(j.duration_s)), Text(j.created_by),
                          Text(j.owner), Text(detail), key=str(j.id))
        if jobs:
            table.move_cursor(row=min(cursor, len(jobs) - 1))

    def action_cancel_job(self) -> None:
        key = cursor_key(self.query_one("#job-table", DataTable))
        if key is None:
            return
        job_id = int(key)
        if self.host.cancel_job(job_id):
            self.notify(f"Cancelling job {job_id}…", title="Cancel requested")
        else:
            self.notify(f"Job {job_id} is not running in this session.", severity="warning")
