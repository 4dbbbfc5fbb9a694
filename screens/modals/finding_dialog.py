"""Findings a person moves or writes down: a status change with its reason, and a new finding.

The dialogs check only what the form itself can know — a move says why, a finding has a title
and a date that is a date — and show that inline. Who may accept or close a finding (four-eyes,
a signature on growth and enterprise) is the findings service's decision, reported as a
notification after the dialog closes.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, RadioButton, RadioSet, Static, TextArea

from app.lifecycle import FINDING_SEVERITIES
from screens.modals.form import FormButtons, FormDialog

if TYPE_CHECKING:
    from app.services.findings import FindingView

#: How each status reads as a choice in the dialog.
MOVE_LABELS = {
    "remediated": "Remediated — fixed; someone else verifies and closes it",
    "accepted": "Accepted — the risk is taken knowingly (four-eyes)",
    "closed": "Closed — the fix is verified (four-eyes)",
    "open": "Reopen — it is not settled after all",
}
REASON_NEEDED = "Say why: the reason is kept in the finding's history and the audit trail."


class FindingStatusDialog(FormDialog[dict[str, str] | None]):
    """Returns {"status": str, "reason": str}, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="finding_status_dialog.cancel",
                tooltip="Close without changing the finding"),
        Binding("ctrl+s", "submit", "Record", id="finding_status_dialog.record",
                tooltip="Record the new status, signed with your key"),
    ]

    def __init__(self, finding: FindingView, *, actor: str, author: str | None) -> None:
        super().__init__()
        self.finding = finding
        self.actor = actor
        self.author = author  # who registered the finding's version (None: a project finding)
        self.status = finding.moves[0]
        self.error = ""

    def compose(self) -> ComposeResult:
        f = self.finding
        with VerticalScroll(classes="dialog form", id="finding-status-dialog"):
            yield Label(f"Finding #{f.id} · {f.severity.upper()} · {f.status} · ctrl+s records, esc cancels",
                        classes="dialog-title")
            yield Static(Text(f.title, style="bold"))
            if f.remediation:
                yield Static(f"Remediation asked: {f.remediation}", classes="note")
            if self.author is not None and self.author == self.actor:
                yield Static(Text(f"You registered version {f.version}: only someone else may accept or close its "
                                  "findings (four-eyes); you can mark it remediated.", style="yellow"),
                             id="finding-own-work")
            with RadioSet(id="finding-move"):
                for status in f.moves:
                    yield RadioButton(MOVE_LABELS[status], value=status == self.status, id=f"finding-to-{status}")
            yield Label("Reason (required) · several lines: enter starts a new line, ctrl+s records")
            yield TextArea(placeholder="what was done, or why the risk is accepted", id="finding-reason",
                           classes="paragraph")
            yield Static("", id="finding-error", classes="dialog-error")
            yield FormButtons("Record")

    def on_mount(self) -> None:
        self.query_one("#finding-reason", TextArea).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.status = (event.pressed.id or "").removeprefix("finding-to-") or self.status

    def action_submit(self) -> None:
        reason = self.query_one("#finding-reason", TextArea).text.strip()
        if not reason:
            self.error = REASON_NEEDED
            self.query_one("#finding-error", Static).update(REASON_NEEDED)
            return
        self.finish({"status": self.status, "reason": reason})


class NewFindingDialog(FormDialog[dict[str, str] | None]):
    """Returns {"title", "severity", "concerns", "remediation", "due_date"}, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="new_finding_dialog.cancel", tooltip="Close without recording"),
        Binding("ctrl+s", "submit", "Record", id="new_finding_dialog.record",
                tooltip="Record the finding, open, in the audit trail"),
    ]

    def __init__(self, slug: str, version: int | None) -> None:
        super().__init__()
        self.slug = slug
        self.version = version
        self.severity = "medium"
        self.error = ""

    def compose(self) -> ComposeResult:
        about = f"version {self.version}" if self.version is not None else "the project"
        with VerticalScroll(classes="dialog form", id="new-finding-dialog"):
            yield Label(f"New finding on {self.slug} {about} · ctrl+s records, esc cancels", classes="dialog-title")
            yield Label("What is wrong (one line)")
            yield Input(id="finding-title")
            with RadioSet(id="finding-severity"):
                for severity in FINDING_SEVERITIES:
                    yield RadioButton(severity, value=severity == self.severity, id=f"finding-severity-{severity}")
            yield Label("The section or evidence it concerns (several lines)")
            yield TextArea(id="finding-concerns", classes="paragraph")
            yield Label("Remediation asked (several lines)")
            yield TextArea(id="finding-remediation", classes="paragraph")
            yield Label("Due date (YYYY-MM-DD, optional)")
            yield Input(placeholder="2031-01-31", id="finding-due")
            yield Static("", id="new-finding-error", classes="dialog-error")
            yield FormButtons("Record")

    def on_mount(self) -> None:
        self.query_one("#finding-title", Input).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.severity = (event.pressed.id or "").removeprefix("finding-severity-") or self.severity

    def _problem(self, title: str, due: str) -> str:
        if not title:
            return "Say what is wrong in the title."
        if due:
            try:
                date.fromisoformat(due)
            except ValueError:
                return f"'{due}' is not a date: write it as YYYY-MM-DD."
        return ""

    def action_submit(self) -> None:
        values = {key: self.query_one(f"#finding-{key}", Input).value.strip() for key in ("title", "due")}
        values |= {key: self.query_one(f"#finding-{key}", TextArea).text.strip() for key in ("concerns", "remediation")}
        problem = self._problem(values["title"], values["due"])
        if problem:
            self.error = problem
            self.query_one("#new-finding-error", Static).update(problem)
            return
        self.finish({"title": values["title"], "severity": self.severity, "concerns": values["concerns"],
                      "remediation": values["remediation"], "due_date": values["due"]})
