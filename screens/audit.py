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
from screens.widgets.tables import cursor_key, row_table

if TYPE_CHECKING:
    from app.audit import ChainVerdict
    from app.services.audit_key import Rotation
    from app.services.audit_trail import EventView
    from app.services.state_binding import RowsVerdict
    from app.services.workbench import Workbench


# Details stretches to the terminal's width; the pane under the table shows the highlighted
# event in full, and space or enter opens it.
EVENT_COLUMNS = (("Seq", 5), ("Time (UTC)", 19), ("Actor", 12), ("Action", 26), ("Entity", 18), ("Project", 12),
                 ("Details", 20))


class AuditScreen(SnapshotScreen[list["EventView"]]):
    JOBS_PANEL = False

    BINDINGS = [
        Binding("v", "verify", "Verify chain", id="audit.verify",
                tooltip="Recompute every HMAC link of the audit chain"),
        # Rare and workspace-wide: F1 and the command palette list it, the footer does not.
        Binding("K", "rotate_key", "Rotate key", show=False, id="audit.rotate_key",
                tooltip="Replace the audit key with a new one, recorded in the chain (admins only); "
                        "the old key is kept, retired"),
        Binding("r", "reload", "Refresh", id="audit.refresh"),
        Binding("escape", "app.pop_screen", "Back", id="audit.back"),
    ]

    @dataclass
    class ChainVerified(Message, bubble=False):
        verdict: ChainVerdict
        digest: str  # the evidence digest through the head, "" for an empty trail
        rows: RowsVerdict  # the governed rows against the events that recorded them

    @dataclass
    class KeyRotated(Message, bubble=False):
        rotation: Rotation

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.verdict_text = ""
        self.rotation_text = ""
        self.events: dict[int, EventView] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(id="audit"):
            scope = f"project {self.project}" if self.project else "all projects"
            yield Static(f"Audit trail · {scope}", classes="screen-title")
            yield Static("Press [b]v[/b] to verify the whole chain.", id="verdict")
            columns = [c for c in EVENT_COLUMNS if not (self.project and c[0] == "Project")]
            table = row_table("events", columns, flex="Details", enter_shows_row=True, title="Audit event")
            table.full_row = self.event_in_full
            yield table
            yield Static("", id="event-detail")

    def load(self, wb: Workbench) -> list[EventView]:
        from app.services.audit_trail import recent_events

        return recent_events(wb, project=self.project, limit=500)

    def show(self, events: list[EventView]) -> None:
        table = self.query_one("#events", DataTable)
        table.clear()
        self.events = {e.seq: e for e in events}
        for e in events:
            cells = [Text(str(e.seq), style="bold"), Text(e.ts[:19].replace("T", " ")), Text(e.actor),
                     Text(e.action, style="cyan"), Text(e.entity), Text(e.project or "—"), Text(e.summary)]
            if self.project:
                del cells[5]
            table.add_row(*cells, key=str(e.seq))
        table.focus()
        self._show_event_detail()

    def event_in_full(self, key: str | None) -> list[tuple[str, Text | str]]:
        """The event under the cursor, every payload field in full (what space and enter open)."""
        e = self.events.get(int(key)) if key else None
        if e is None:
            return []
        head: list[tuple[str, Text | str]] = [
            ("Event", Text.assemble((f"#{e.seq} ", "bold"), (e.action, "cyan"))),
            ("When, who, what", f"{e.ts} · {e.actor} · {e.entity}" + (f" · project {e.project}" if e.project else "")),
        ]
        return head + [(k, v) for k, v in e.payload] + [("Hash", e.hash)]

    @on(DataTable.RowHighlighted, "#events")
    def _show_event_detail(self) -> None:
        """The highlighted event under the table, its payload in full (the column cuts it)."""
        e = self.events.get(int(key)) if (key := cursor_key(self.query_one("#events", DataTable))) else None
        detail = Text()
        if e is not None:
            detail.append(f"#{e.seq} ", style="bold")
            detail.append(e.action, style="cyan")
            detail.append(f" · {e.entity} · by {e.actor} at {e.ts[:19].replace('T', ' ')}"
                          + (f" · {e.project}" if e.project and not self.project else "")
                          + " · space or enter: in full\n", style="dim")
            detail.append("; ".join(f"{k}={v}" for k, v in e.payload) or "no details")
        self.query_one("#event-detail", Static).update(detail)

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

    # --- rotating the key -----------------------------------------------------------------------

    def action_rotate_key(self) -> None:
        """Ask first, saying what a rotation does and what to back up; then rotate in a thread."""
        from screens.modals.confirm import ConfirmDialog

        key = self.wb.key
        retired = len(key.retired)

        def answered(yes: bool | None) -> None:
            if yes:
                self._rotate_key()

        self.app.push_screen(ConfirmDialog(
            "Rotate the audit key?",
            f"A new audit key is made and MACs every event from now on; its id is shown when it is done. The "
            f"current key ({key.key_id}) is not deleted: it is kept, retired, where the current one is kept "
            f"(beside it as audit.key.retired, or the keyring's …/retired entry), because only it verifies the "
            f"events it wrote" + (f" ({retired} key(s) retired before it are kept too)" if retired else "") + ". "
            "The rotation itself is an audit event. Back up the new key and the retired ones afterwards. It is "
            "refused, changing nothing, while the chain does not verify or when you are not an admin."),
            answered)

    @work(thread=True, exit_on_error=False, exclusive=True, group="audit-rotate")
    def _rotate_key(self) -> None:
        """A refusal (not an admin, a broken chain) is a WorkbenchError: the app's one handler
        shows it as a notification and the screen stays as it was."""
        from app.services.audit_key import rotate_key

        self.post_message(self.KeyRotated(rotate_key(self.wb)))

    @on(KeyRotated)
    def _show_rotation(self, message: KeyRotated) -> None:
        done = message.rotation
        self.rotation_text = (f"Audit key rotated at event #{done.seq} by {done.actor}.\n"
                              f"new key {done.new_key_id}, kept in {done.store}; it MACs every event after "
                              f"#{done.seq}.\n"
                              f"old key {done.old_key_id}, retired to {done.retired_store}; it verifies events "
                              f"#{done.old_from_seq}-#{done.seq}.\n"
                              "Back up the new key and the retired keys now: without them the events they wrote "
                              "cannot be verified.")
        self.query_one("#verdict", Static).update(Text(self.rotation_text, style="bold"))
        self.notify(f"New key {done.new_key_id[:16]}…; the old one is retired to {done.retired_store}. "
                    "Back up both (the ids in full are above the table).", title="Audit key rotated", timeout=20)
        self.announce_change(everywhere=True)  # the rotation event is in the trail now
