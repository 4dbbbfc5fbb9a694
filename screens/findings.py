"""A project's findings: what a validator (or a check) asked to be fixed, tracked to closure.

The table lists the findings of one model version (the one highlighted on the release screen)
or, with ``v``, of the whole project; the pane below it shows the highlighted finding's
remediation and its history — who moved it, when, why, and the key that signed the move.
``s`` moves it (remediated, accepted, closed, reopened) with a reason and ``n`` writes a new
one down; both are one quick service call in a thread, like the release screen's decisions,
and the four-eyes rule is the service's to enforce: a refusal comes back as a notification.
An open high-severity finding blocks the version's promotion, so every screen reloads after
a change (the release gate follows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from app.signing import short_fingerprint
from screens.base import SnapshotScreen
from screens.widgets.tables import cursor_key, row_table

if TYPE_CHECKING:
    from app.services.findings import FindingView
    from app.services.workbench import Workbench

FINDING_COLUMNS = (("#", 4), ("Version", 7), ("Severity", 8), ("Status", 10), ("Due", 11), ("Source", 8),
                   ("Finding", 42))
SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}
STATUS_STYLE = {"open": "bold", "remediated": "cyan", "accepted": "magenta", "closed": "green"}


@dataclass(frozen=True)
class FindingsSnapshot:
    findings: list[FindingView]  # of the version shown, or of the whole project
    actor: str
    authors: dict[int, str]  # who registered each version: the four-eyes rule's "someone else"

    def finding(self, finding_id: int) -> FindingView | None:
        return next((f for f in self.findings if f.id == finding_id), None)


def finding_cells(f: FindingView) -> tuple[Text, ...]:
    due = Text("—", style="dim")
    if f.due_date:
        due = Text(f.due_date, style="bold red" if f.overdue() else "")
    return (Text(str(f.id), style="dim"), Text(f"v{f.version}" if f.version is not None else "project"),
            Text(f.severity.upper(), style=SEVERITY_STYLE.get(f.severity, "")),
            Text(f.status, style=STATUS_STYLE.get(f.status, "")), due, Text(f.source), Text(f.title))


def finding_text(f: FindingView) -> Text:
    """One finding in full: what is asked, then each change of its status."""
    out = Text()
    out.append(f"#{f.id} {f.title}\n", style="bold")
    out.append(f"{f.severity.upper()}", style=SEVERITY_STYLE.get(f.severity, ""))
    out.append(f" · {f.status}", style=STATUS_STYLE.get(f.status, ""))
    out.append(f" · raised by {f.raised_by} ({f.source}" + (f", review #{f.review_id})" if f.review_id else ")")
               + (f" · due {f.due_date}" if f.due_date else "") + "\n", style="dim")
    if f.overdue():
        out.append("  past its due date\n", style="bold red")
    if f.is_open and f.severity == "high" and f.version is not None:
        out.append(f"  blocks the promotion of v{f.version} until someone else accepts or closes it\n",
                   style="red")
    out.append("\nConcerns\n", style="bold underline")
    out.append(f"  {f.concerns or '—'}\n")
    out.append("Remediation asked\n", style="bold underline")
    out.append(f"  {f.remediation or '—'}\n")
    out.append("History\n", style="bold underline")
    for e in f.history:
        move = f"{e.from_status} → {e.to_status}" if e.from_status else "raised"
        out.append(f"  {e.created_at:%Y-%m-%d %H:%M} ", style="dim")
        out.append(move, style=STATUS_STYLE.get(e.to_status, ""))
        out.append(f" · {e.actor} · ")
        out.append(f"key {short_fingerprint(e.signer_fingerprint)}" if e.signer_fingerprint else "unsigned",
                   style="cyan" if e.signer_fingerprint else "dim")
        out.append("\n")
        if e.reason:
            out.append(f"    “{e.reason}”\n")
    return out


class FindingsScreen(SnapshotScreen[FindingsSnapshot]):
    """The findings of one version (or the whole project), the highlighted one's history."""

    BINDINGS = [
        Binding("s", "set_status", "Set status", id="findings.set_status",
                tooltip="Move the highlighted finding (remediated, accepted, closed, reopened), with a reason"),
        Binding("n", "new_finding", "New finding", id="findings.new",
                tooltip="Write down a finding on this version (or the project)"),
        Binding("v", "toggle_scope", "Version / all", id="findings.toggle_scope",
                tooltip="Show this version's findings or every finding of the project"),
        Binding("r", "reload", "Refresh", id="findings.refresh", tooltip="Read the findings again"),
        Binding("escape", "app.pop_screen", "Back", id="findings.back", tooltip="Back to the release screen"),
    ]

    def __init__(self, slug: str, version: int | None = None) -> None:
        super().__init__()
        self.slug = slug
        self.version = version
        self.whole_project = version is None
        self.snapshot: FindingsSnapshot | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="findings"):
            yield Static(f"[b]{self.slug}[/b] · findings  loading…", id="findings-title")
            yield row_table("finding-table", FINDING_COLUMNS)
            with VerticalScroll(id="finding-detail"):
                yield Static("", id="finding-detail-body")

    def on_mount(self) -> None:
        self.query_one("#finding-table", DataTable).focus()

    @property
    def scope(self) -> int | None:
        return None if self.whole_project else self.version

    def load(self, wb: Workbench) -> FindingsSnapshot:
        from app.services import findings, registry

        return FindingsSnapshot(findings=findings.list_findings(wb, self.slug, version=self.scope), actor=wb.actor,
                                authors={v.version: v.created_by for v in registry.list_models(wb, self.slug)})

    def show(self, snapshot: FindingsSnapshot) -> None:
        self.snapshot = snapshot
        table = self.query_one("#finding-table", DataTable)
        keep = self.selected.id if self.selected else None
        table.clear()
        for f in snapshot.findings:
            table.add_row(*finding_cells(f), key=str(f.id))
        ids = [f.id for f in snapshot.findings]
        if keep in ids:
            table.move_cursor(row=ids.index(keep))
        unsettled = [f for f in snapshot.findings if f.is_open]
        high = sum(f.severity == "high" for f in unsettled)
        where = "every version" if self.scope is None else f"v{self.scope}"
        self.query_one("#findings-title", Static).update(
            f"[b]{self.slug}[/b] · findings of {where} · {len(snapshot.findings)} finding(s), "
            f"{len(unsettled)} unsettled" + (f", [bold red]{high} high[/]" if high else "")
            + f"\n[dim]acting as {snapshot.actor} · s sets a status, n writes one down"
            + (", v shows every version" if self.version is not None else "") + "[/dim]")
        self._show_selected()
        self.refresh_bindings()

    @property
    def selected(self) -> FindingView | None:
        if self.snapshot is None or not self.snapshot.findings:
            return None
        key = cursor_key(self.query_one("#finding-table", DataTable))
        return self.snapshot.finding(int(key)) if key is not None else None

    @on(DataTable.RowHighlighted, "#finding-table")
    def _highlighted(self) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        body = self.query_one("#finding-detail-body", Static)
        f = self.selected
        if f is None:
            body.update(Text("No findings here. A validator's review (`mlwb review import`) raises them; n writes "
                             "one down by hand.", style="dim"))
            return
        body.update(finding_text(f))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action == "set_status":
            return self.selected is not None
        if action == "toggle_scope":
            return self.version is not None
        return True

    # --- actions -------------------------------------------------------------------------

    def action_toggle_scope(self) -> None:
        if self.version is not None:
            self.whole_project = not self.whole_project
            self.reload()

    def action_set_status(self) -> None:
        from screens.modals.finding_dialog import FindingStatusDialog

        f = self.selected
        if f is None or self.snapshot is None:
            return

        def decided(values: dict[str, str] | None) -> None:
            if values:
                self._set_status(f.id, values["status"], values["reason"])

        author = self.snapshot.authors.get(f.version) if f.version is not None else None
        self.app.push_screen(FindingStatusDialog(f, actor=self.snapshot.actor, author=author), decided)

    @work(thread=True, exit_on_error=False, group="findings-write")
    def _set_status(self, finding_id: int, status: str, reason: str) -> None:
        from app.services import findings

        f = findings.set_status(self.wb, self.slug, finding_id, status, reason)
        signed = "signed" if f.history[-1].signer_fingerprint else "unsigned"
        self.notify(f"Finding #{finding_id} is {status} ({signed}); recorded in its history and the audit trail.",
                    title="Finding updated")
        self.announce_change(everywhere=True)

    def action_new_finding(self) -> None:
        from screens.modals.finding_dialog import NewFindingDialog

        version = self.version

        def written(values: dict[str, str] | None) -> None:
            if values:
                self._record(version, values)

        self.app.push_screen(NewFindingDialog(self.slug, version), written)

    @work(thread=True, exit_on_error=False, group="findings-write")
    def _record(self, version: int | None, values: dict[str, str]) -> None:
        from app.services import findings

        f = findings.record_finding(self.wb, self.slug, title=values["title"], severity=values["severity"],
                                    version=version, concerns=values["concerns"], remediation=values["remediation"],
                                    due_date=values["due_date"] or None)
        self.notify(f"Finding #{f.id} ({f.severity}) recorded, open.", title="Finding recorded")
        self.announce_change(everywhere=True)
