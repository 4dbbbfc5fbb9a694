"""The audit trail: recent events, and verification of the whole hash chain."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from screens.base import WorkbenchScreen
from textual.widgets import DataTable, Footer, Header, Static


class AuditScreen(WorkbenchScreen):
    BINDINGS = [
        Binding("v", "verify", "Verify chain", tooltip="Recompute every HMAC link of the audit chain"),
        Binding("r", "reload", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.verdict_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="audit"):
            scope = f"project {self.project}" if self.project else "all projects"
            yield Static(f"Audit trail · {scope}", classes="screen-title")
            yield Static("Press [b]v[/b] to verify the whole chain.", id="verdict")
            table: DataTable[Text] = DataTable(id="events", cursor_type="row", zebra_stripes=True)
            table.add_columns("Seq", "Time (UTC)", "Actor", "Action", "Entity", "Project", "Details")
            yield table
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exit_on_error=False, exclusive=True, group="audit-load")
    def _load(self) -> None:
        from app.services.audit_trail import recent_events

        events = recent_events(self.wb, project=self.project, limit=500)
        self.app.call_from_thread(self._show, events)

    def _show(self, events) -> None:  # type: ignore[no-untyped-def]
        table = self.query_one("#events", DataTable)
        table.clear()
        for e in events:
            table.add_row(Text(str(e.seq), style="bold"), Text(e.ts[:19].replace("T", " ")), Text(e.actor),
                          Text(e.action, style="cyan"), Text(e.entity), Text(e.project or "—"), Text(e.summary))
        table.focus()

    @work(thread=True, exit_on_error=False, exclusive=True, group="audit-verify")
    def action_verify(self) -> None:
        from app.services.audit_trail import verify_with_digest

        verdict, digest = verify_with_digest(self.wb)
        self.app.call_from_thread(self._show_verdict, verdict, digest)

    def _show_verdict(self, verdict, digest: str) -> None:  # type: ignore[no-untyped-def]
        self.verdict_text = verdict.describe()
        style = "bold green" if verdict.ok else "bold red"
        shown = Text(self.verdict_text, style=style)
        if digest:  # what a report built now prints (and verify-bundle checks a bundle against)
            shown.append(f"\nevidence digest {digest}", style="dim")
        self.query_one("#verdict", Static).update(shown)
        self.notify(self.verdict_text, severity="information" if verdict.ok else "error", title="Audit chain")

    def action_reload(self) -> None:
        self.reload()
