"""The two forms of `mlwb review open`: a finding, and the conclusion that signs the review.

Each checks only what the form can know (a title, a severity, a date; a summary, conditions
for "approve with conditions") with the rules of ``app.review_file`` and says inline what to
fix, keeping what was typed. Signing itself happens after the form closes (the screen loads
the key and writes the file), and its errors are notifications.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, RadioButton, RadioSet, Select, Static, TextArea

from app.review_file import CONCLUSIONS, SEVERITIES, ReviewFinding, check_conclusion
from screens.modals.form import FormButtons, FormDialog


class FindingDialog(FormDialog[ReviewFinding | None]):
    """Returns the finding as written, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="review_finding.cancel", tooltip="Close without adding the finding"),
        Binding("ctrl+s", "submit", "Add", id="review_finding.add",
                tooltip="Add the finding to the review (nothing is written until you sign)"),
    ]

    def __init__(self, concerns: str = "", finding: ReviewFinding | None = None) -> None:
        super().__init__()
        self.concerns = finding.concerns if finding else concerns
        self.finding = finding
        self.error = ""

    def compose(self) -> ComposeResult:
        f = self.finding
        with VerticalScroll(classes="dialog form", id="review-finding-dialog"):
            yield Label("Finding · ctrl+s adds it, esc cancels", classes="dialog-title")
            yield Label("What is wrong (title)")
            yield Input(f.title if f else "", placeholder="e.g. no fairness analysis by age", id="finding-title")
            yield Label("Severity")
            yield Select([(s, s) for s in SEVERITIES], value=f.severity if f else "medium", allow_blank=False,
                         id="finding-severity")
            yield Label("Concerns (the section, table, figure or event; several lines)")
            yield TextArea(self.concerns, id="finding-concerns", classes="paragraph")
            yield Label("Remediation asked (several lines)")
            yield TextArea(f.remediation if f else "", placeholder="what the team must do to close it",
                           id="finding-remediation", classes="paragraph")
            yield Label("Due date (YYYY-MM-DD, optional)")
            yield Input(f.due_date if f else "", placeholder="2027-03-31", id="finding-due")
            yield Static("", id="finding-error", classes="dialog-error")
            yield FormButtons("Add")

    def on_mount(self) -> None:
        self.query_one("#finding-title", Input).focus()

    def value(self) -> ReviewFinding:
        def text(widget_id: str) -> str:
            field = self.query_one(widget_id)
            return (field.text if isinstance(field, TextArea) else self.query_one(widget_id, Input).value).strip()

        severity = self.query_one("#finding-severity", Select).value
        return ReviewFinding(text("#finding-title"), str(severity), text("#finding-concerns"),
                             text("#finding-remediation"), text("#finding-due"))

    def action_submit(self) -> None:
        finding = self.value()
        self.error = finding.problem()
        if self.error:
            self.query_one("#finding-error", Static).update(self.error)
            return
        self.dismiss(finding)


class ConclusionDialog(FormDialog[dict[str, Any] | None]):
    """Returns {"conclusion", "summary", "reviewer", "out"}, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="review_conclusion.cancel", tooltip="Close without signing"),
        Binding("ctrl+s", "submit", "Sign", id="review_conclusion.sign",
                tooltip="Sign the findings and the conclusion with your key and write review.json"),
    ]

    def __init__(self, findings: list[ReviewFinding], *, reviewer: str, out: str, conclusion: str = "approve",
                 summary: str = "") -> None:
        super().__init__()
        self.findings = findings
        self.reviewer = reviewer
        self.out = out
        self.conclusion = conclusion
        self.summary = summary
        self.error = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="review-conclusion-dialog"):
            yield Label("Conclusion · ctrl+s signs and writes the review, esc cancels", classes="dialog-title")
            yield Static(f"{len(self.findings)} finding(s) go into the review.", classes="note")
            with RadioSet(id="conclusion-choice"):
                for key, text in CONCLUSIONS.items():
                    yield RadioButton(text, value=key == self.conclusion, id=f"conclusion-{key}")
            yield Label("Summary (what you checked, and why you conclude so)")
            yield TextArea(self.summary, id="conclusion-summary")
            yield Label("Your name (the team's registry names the key that signs)")
            yield Input(self.reviewer, id="conclusion-reviewer")
            yield Label("Write the signed review to")
            yield Input(self.out, id="conclusion-out")
            yield Static("", id="conclusion-error", classes="dialog-error")
            yield FormButtons("Sign")

    def on_mount(self) -> None:
        self.query_one("#conclusion-summary", TextArea).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.conclusion = (event.pressed.id or "conclusion-approve").removeprefix("conclusion-")
        self._show_error("")

    def _show_error(self, message: str) -> None:
        self.error = message
        self.query_one("#conclusion-error", Static).update(message)

    def action_submit(self) -> None:
        summary = self.query_one("#conclusion-summary", TextArea).text.strip()
        reviewer = self.query_one("#conclusion-reviewer", Input).value.strip()
        out = self.query_one("#conclusion-out", Input).value.strip()
        problem = check_conclusion(self.conclusion, summary, self.findings)
        if not problem and not reviewer:
            problem = "write your name"
        if not problem and not out:
            problem = "say where to write the review (a file name ending in .json)"
        if problem:
            self._show_error(problem[0].upper() + problem[1:] + ".")
            return
        self.dismiss({"conclusion": self.conclusion, "summary": summary, "reviewer": reviewer, "out": out})
