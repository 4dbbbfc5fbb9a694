"""The dashboard: every project with its stage and gate status, the model inventory (SR 11-7:
risk tier, owner, validator, periodic review, open findings) and the open alerts.

The inventory shows times relative to today ("validated today", "in 12 months"); the exact
dates are in `mlwb inventory`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from screens.base import SnapshotScreen
from screens.messages import WorkspaceOpened
from screens.widgets.tables import cursor_key, row_table

if TYPE_CHECKING:
    from app.services.inventory import InventoryEntry
    from app.services.monitoring_alerts import OpenAlert
    from app.services.projects import ProjectSummary
    from app.services.workbench import Workbench

# Fixed widths: the dashboard reads the same whatever the data. One column per table stretches to
# the terminal's width (the width here is its minimum), long cells are cut, and space opens the
# highlighted row in full (enter on an alert too). At 100 columns every column is on screen.
PROJECT_COLUMNS = (("Project", 12), ("Name", 12), ("Stage", 19), ("Gate", 12), ("Maturity", 10),
                   ("Problem type", 21))
ALERT_COLUMNS = (("Project", 14), ("Batch", 10), ("Severity", 8), ("Retraining", 10), ("Alert", 30))
INVENTORY_COLUMNS = (("Project", 14), ("Tier", 6), ("Owner", 12), ("Validator", 12), ("Validated", 10),
                     ("Next review", 13), ("Prod", 4), ("Open H/M/L", 10))
TIER_STYLE = {"high": "bold red", "medium": "yellow", "low": "green"}


@dataclass(frozen=True)
class DashboardSnapshot:
    projects: list[ProjectSummary]
    alerts: list[OpenAlert]
    inventory: list[InventoryEntry]
    today: date

    def entry(self, slug: str | None) -> InventoryEntry | None:
        return next((e for e in self.inventory if e.slug == slug), None)


def months_between(start: date, end: date) -> int:
    """Whole calendar months from ``start`` to ``end`` (``end`` not earlier), counted the way
    the inventory sets a review date (``add_months``: 31 August + 6 months = end of February)."""
    from app.services.inventory import add_months

    months = max((end.year - start.year) * 12 + end.month - start.month, 0)
    while months and add_months(start, months) > end:
        months -= 1
    return months


def ago(day: date | None, today: date) -> str:
    if day is None:
        return "never"
    days = (today - day).days
    return "today" if days <= 0 else f"{days} d ago" if days < 60 else f"{months_between(day, today)} mo ago"


def until(day: date, today: date) -> str:
    days = (day - today).days
    return f"in {days} d" if days < 60 else f"in {months_between(today, day)} months"


def next_review_cell(e: InventoryEntry, today: date) -> Text:
    if e.production_version is None:
        return Text("not in use", style="dim")
    if e.next_review is None:
        return Text("OVERDUE: never", style="bold red")
    if e.overdue:
        return Text(f"OVERDUE {(today - e.next_review).days} d", style="bold red")
    return Text(until(e.next_review, today))


def inventory_cells(e: InventoryEntry, today: date) -> tuple[Text, ...]:
    found = e.open_findings
    return (Text(e.slug, style="bold"), Text(e.risk_tier, style=TIER_STYLE.get(e.risk_tier, "")),
            Text(e.owner or "not named", style="" if e.owner else "yellow"),
            Text(e.validator or "—", style="" if e.validator else "dim"), Text(ago(e.last_validated, today)),
            next_review_cell(e, today),
            Text(f"v{e.production_version}" if e.production_version is not None else "—"),
            Text(f"{found['high']}/{found['medium']}/{found['low']}", style="bold red" if found["high"] else ""))


def inventory_detail(e: InventoryEntry, today: date) -> str:
    """The highlighted model under the inventory: what it is for (in full, wrapped), and its review."""
    head = f"{e.slug} v{e.version if e.version is not None else '—'} · intended use"
    head += " (machine draft): " if e.intended_use_drafted else ": "
    use = " ".join(e.intended_use.split()) or "not written in the model card"
    validated = (f"validated {ago(e.last_validated, today)} by {e.validator} ({e.validated_by})"
                 if e.last_validated else "never validated")
    if e.production_version is None:
        review = "not in production: no periodic review owed"
    elif e.next_review is None:
        review = "in production and never validated: review OVERDUE"
    elif e.overdue:
        review = f"periodic review OVERDUE by {(today - e.next_review).days} d"
    else:
        review = f"next periodic review {until(e.next_review, today)}"
    return (f"[b]{e.slug}[/b]{escape(head[len(e.slug):])}{escape(use)}\n"
            f"{escape(validated)} · {e.risk_tier} risk tier, reviewed every {e.review_months} months · {review}")


class DashboardScreen(SnapshotScreen[DashboardSnapshot]):
    BINDINGS = [
        Binding("enter", "open_project", "Open", id="dashboard.open", tooltip="Open the selected project"),
        Binding("n", "new_project", "New project", id="dashboard.new_project"),
        Binding("d", "demo", "Create demo", id="dashboard.demo",
                tooltip="Create the ctr-demo project through all six stages"),
        Binding("a", "audit", "Audit trail", id="dashboard.audit"),
        # Not in the footer (the layout snapshots pin it); F1 and the command palette list it.
        Binding("P", "people", "People", show=False, id="dashboard.people",
                tooltip="People and signing keys: create mine, register someone's (admins)"),
        Binding("j", "jobs", "Jobs", id="dashboard.jobs"),
        Binding("r", "reload", "Refresh", id="dashboard.refresh"),
        Binding("q", "app.quit", "Quit", show=False, id="dashboard.quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: DashboardSnapshot | None = None
        self.offer_demo_when_shown = False  # set once the workspace is open: an empty one offers the demo

    def compose_body(self) -> ComposeResult:
        # Scrolls (following the focused table) when an alert list or a long intended use does not fit.
        with VerticalScroll(id="dashboard", can_focus=False):
            yield Static("Projects", classes="screen-title")
            yield Static("Opening the workspace…", id="dashboard-hint")
            yield row_table("projects", PROJECT_COLUMNS, flex="Name", title="Project")
            yield Static("Model inventory (SR 11-7)", classes="screen-title", id="inventory-title")
            yield row_table("inventory", INVENTORY_COLUMNS, flex="Validator", title="Model inventory entry")
            yield Static("", id="inventory-detail")
            yield Static("Open alerts across projects", classes="screen-title", id="alerts-title")
            yield row_table("alerts", ALERT_COLUMNS, flex="Alert", enter_shows_row=True, title="Open alert")

    @on(WorkspaceOpened)
    def _workspace_opened(self) -> None:
        self.refresh_bindings()  # the actions hidden while the workspace was opening apply now
        self.offer_demo_when_shown = True
        self.reload()

    def load(self, wb: Workbench) -> DashboardSnapshot:
        from app.services.inventory import inventory
        from app.services.monitoring_alerts import open_alerts
        from app.services.projects import list_projects

        today = date.today()
        return DashboardSnapshot(list_projects(wb), open_alerts(wb), inventory(wb, today=today), today)

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
        self.snapshot = snapshot
        inventory = self.query_one("#inventory", DataTable)
        inventory.clear()
        for e in snapshot.inventory:
            inventory.add_row(*inventory_cells(e, snapshot.today), key=e.slug)
        for widget in ("#inventory-title", "#inventory", "#inventory-detail"):
            self.query_one(widget).display = bool(snapshot.inventory)
        self._show_inventory_detail()
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

    @on(DataTable.RowHighlighted, "#inventory")
    def _show_inventory_detail(self) -> None:
        detail = self.query_one("#inventory-detail", Static)
        entry = self.snapshot.entry(cursor_key(self.query_one("#inventory", DataTable))) if self.snapshot else None
        detail.update(inventory_detail(entry, self.snapshot.today) if entry and self.snapshot else "")

    @on(DataTable.RowSelected, "#projects")
    def _row_selected(self) -> None:
        self.action_open_project()

    @on(DataTable.RowSelected, "#inventory")
    def _inventory_selected(self) -> None:
        slug = cursor_key(self.query_one("#inventory", DataTable))
        if slug:
            from screens.project import ProjectScreen

            self.app.push_screen(ProjectScreen(slug))

    def action_open_project(self) -> None:
        slug = self._selected_slug()
        if slug:
            from screens.project import ProjectScreen

            self.app.push_screen(ProjectScreen(slug))

    def action_new_project(self) -> None:
        from screens.modals.new_project import NewProjectForm

        self.app.push_screen(NewProjectForm().saving_with(self._create), self._created)

    def _create(self, values: dict) -> str:
        """Runs in the form's thread worker: a refused slug keeps the form open beside it."""
        from app.services.projects import create_project

        summary = create_project(self.wb, values["slug"], problem_type=values["problem_type"],
                                 maturity=values["maturity"], name=values["name"] or None)
        return summary.slug

    def _created(self, slug: str | None) -> None:
        if slug:
            self.notify(f"Project {slug} created at stage 1.")
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

    def action_people(self) -> None:
        from screens.people import PeopleScreen

        self.app.push_screen(PeopleScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_project", "new_project", "demo", "audit", "jobs", "people") and self.host.wb is None:
            return False
        if action == "open_project" and self.is_mounted and self._selected_slug() is None:
            return False
        return True
