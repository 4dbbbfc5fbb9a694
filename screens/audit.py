"""The audit trail: recent events, and verification of the whole hash chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from screens.base import SnapshotScreen

if TYPE_CHECKING:
    from app.audit import ChainVerdict
    from app.services.audit_trail import EventView
    from app.services.state_binding import RowsVerdict
    from app.services.workbench import Workbench


class AuditScreen(SnapshotScreen[list["EventView"]]):
    JOBS_PANEL = False

    BINDINGS = [
        Binding("v", "verify", "Verify chain", id="audit.verify",
                tooltip="Recompute every HMAC link of the audit chain"),
        Binding("r", "reload", "Refresh", id="audit.refresh"),
        Binding("escape", "app.pop_screen", "Back", id="audit.back"),
    ]

    @dataclass
    class ChainVerified(Message, bubble=False):
        verdict: ChainVerdict
        digest: str  # the evidence digest through the head, "" for an empty trail
        rows: RowsVerdict  # the governed rows against the events that recorded them

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.verdict_text = ""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="audit"):
            scope = f"project {self.project}" if self.project else "all projects"
            yield Static(f"Audit trail · {scope}", classes="screen-title")
            yield Static("Press [b]v[/b] to verify the whole chain.", id="verdict")
            table: DataTable[Text] = DataTable(id="events", cursor_type="row", zebra_stripes=True)
            table.add_columns("Seq", "Time (UTC)", "Actor", "Action", "Entity", "Project", "Details")
            yield table

    def load(self, wb: Workbench) -> list[EventView]:
        from app.services.audit_trail import recent_events

        return recent_events(wb, project=self.project, limit=500)

    def show(self, events: list[EventView]) -> None:
        table = self.query_one("#events", DataTable)
        table.clear()
        for e in events:
            table.add_row(Text(str(e.seq), style="bold"), Text(e.ts[:19].replace("T", " ")), Text(e.actor),
                          Text(e.action, style="cyan"), Text(e.entity), Text(e.project or "—"), Text(e.summary))
        table.focus()

    @work(thread=True, exit_on_error=False, exclusive=True, group="audit-verify")
    def action_verify(self) -> None:
        from app.services.audit_trail import verify_with_digest
        from app.services.state_binding import verify_workspace_rows

        self.post_message(self.ChainVerified(*verify_with_digest(self.wb), verify_workspace_rows(self.wb)))

    @on(ChainVerified)
    def _show_verdict(self, message: ChainVerified) -> None:
        verdict, digest, rows = message.verdict, message.digest, message.rows
        self.verdict_text = verdict.describe()
        shown = Text(self.verdict_text, style="bold green" if verdict.ok else "bold red")
        if digest:  # what a report built now prints (and verify-bundle checks a bundle against)
            shown.append(f"\nevidence digest {digest}", style="dim")
        shown.append("\n" + "\n".join(rows.lines(limit=5)), style="green" if rows.ok else "bold red")
        self.query_one("#verdict", Static).update(shown)
        ok = verdict.ok and rows.ok
        self.notify(self.verdict_text if rows.ok else rows.lines()[0], severity="information" if ok else "error",
                    title="Audit chain")
