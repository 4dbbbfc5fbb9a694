"""The dashboard: every project with its stage and gate status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from screens.base import SnapshotScreen
from screens.messages import WorkspaceOpened
from screens.widgets.tables import cursor_key, row_table

if TYPE_CHECKING:
    from app.services.monitoring_alerts import OpenAlert
    from app.services.projects import ProjectSummary
    from app.services.workbench import Workbench

# Fixed widths: the dashboard reads the same whatever the data, and long names are cut, not
# pushed off-screen.
PROJECT_COLUMNS = (("Project", 18), ("Name", 34), ("Stage", 18), ("Gate", 12), ("Maturity", 10),
                   ("Problem type", 22))
ALERT_COLUMNS = (("Project", 18), ("Batch", 10), ("Severity", 9), ("Retraining", 10), ("Alert", 61))


@dataclass(frozen=True)
class DashboardSnapshot:
    projects: list[ProjectSummary]
    alerts: list[OpenAlert]


class DashboardScreen(SnapshotScreen[DashboardSnapshot]):
    BINDINGS = [
        Binding("enter", "open_project", "Open", id="dashboard.open", tooltip="Open the selected project"),
        Binding("n", "new_project", "New project", id="dashboard.new_project"),
        Binding("d", "demo", "Create demo", id="dashboard.demo",
                tooltip="Create the ctr-demo project through all six stages"),
        Binding("a", "audit", "Audit trail", id="dashboard.audit"),
        Binding("j", "jobs", "Jobs", id="dashboard.jobs"),
        Binding("r", "reload", "Refresh", id="dashboard.refresh"),
        Binding("q", "app.quit", "Quit", show=False, id="dashboard.quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.offer_demo_when_shown = False  # set once the workspace is open: an empty one offers the demo

    def compose_body(self) -> ComposeResult:
        with Vertical(id="dashboard"):
            yield Static("Projects", classes="screen-title")
            yield Static("Opening the workspace…", id="dashboard-hint")
            yield row_table("projects", PROJECT_COLUMNS)
            yield Static("Open alerts across projects", classes="screen-title", id="alerts-title")
            yield row_table("alerts", ALERT_COLUMNS)

    @on(WorkspaceOpened)
    def _workspace_opened(self) -> None:
        self.refresh_bindings()  # the actions hidden while the workspace was opening apply now
        self.offer_demo_when_shown = True
        self.reload()

    def load(self, wb: Workbench) -> DashboardSnapshot:
        from app.services.monitoring_alerts import open_alerts
        from app.services.projects import list_projects

        return DashboardSnapshot(list_projects(wb), open_alerts(wb))

    def show(self, snapshot: DashboardSnapshot) -> None:
        rows, alerts = snapshot.projects, snapshot.alerts
        offer_demo, self.offer_demo_when_shown = self.offer_demo_when_shown, False
        alert_table = self.query_one("#alerts", DataTable)
        alert_table.clear()
        for a in alerts:
            alert_table.add_row(Text(a.project, style="bold"), Text(a.batch or "—"),
                                Text(a.severity, style="bold red" if a.severity == "critical" else "yellow"),
                                Text("triggered" if a.has_trigger else "none", style="" if a.has_trigger else "red"),
                                Text(a.message))
        self.query_one("#alerts-title").display = bool(alerts)
        alert_table.display = bool(alerts)
        table = self.query_one("#projects", DataTable)
        table.clear()
        for p in rows:
            gate = (Text("passed", style="bold green") if p.gate_passed
                    else Text(f"{p.checks_passed}/{p.checks_total} checks", style="yellow"))
            table.add_row(Text(p.slug, style="bold"), Text(p.name), Text(f"{p.current_stage} {p.stage_title}"), gate,
                          Text(p.maturity), Text(p.problem_type), key=p.slug)
        hint = self.query_one("#dashboard-hint", Static)
        if rows:
            hint.update(f"{len(rows)} project(s). Enter opens one; ctrl+p jumps to any project and stage.")
        else:
            hint.update("No projects yet. Press [b]d[/b] to create the ctr-demo project, or [b]n[/b] for a new one.")
            if offer_demo and self.host.offer_demo:
                self.action_demo()
        table.focus()
        self.refresh_bindings()

    def _selected_slug(self) -> str | None:
        return cursor_key(self.query_one("#projects", DataTable))

    @on(DataTable.RowSelected, "#projects")
    def _row_selected(self) -> None:
        self.action_open_project()

    def action_open_project(self) -> None:
        slug = self._selected_slug()
        if slug:
            from screens.project import ProjectScreen

            self.app.push_screen(ProjectScreen(slug))

    def action_new_project(self) -> None:
        from screens.modals.new_project import NewProjectForm

        def created(values: dict | None) -> None:
            if values:
                self._create(values)

        self.app.push_screen(NewProjectForm(), created)

    @work(thread=True, exit_on_error=False, group="dashboard-write")
    def _create(self, values: dict) -> None:
        from app.services.projects import create_project

        summary = create_project(self.wb, values["slug"], problem_type=values["problem_type"],
                                 maturity=values["maturity"], name=values["name"] or None)
        self.notify(f"Project {summary.slug} created at stage 1.")
        self.announce_change()

    def action_demo(self) -> None:
        from screens.modals.confirm import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self.host.start_demo()

        self.app.push_screen(
            ConfirmDialog("Create the demo project?",
                          "ctr-demo predicts clicks on generated data and is carried through all six stages: "
                          "problem statement, framing, data, three trained models, an approved production model "
                          "and three monitoring batches. It takes under a minute and the screen stays usable."),
            answered,
        )

    def action_audit(self) -> None:
        from screens.audit import AuditScreen

        self.app.push_screen(AuditScreen())

    def action_jobs(self) -> None:
        from screens.jobs import JobsScreen

        self.app.push_screen(JobsScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_project", "new_project", "demo", "audit", "jobs") and self.host.wb is None:
            return False
        if action == "open_project" and self.is_mounted and self._selected_slug() is None:
            return False
        return True
