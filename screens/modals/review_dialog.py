"""Release decisions a person types: a review (approve or reject, with a comment), a request
for review, and the reason behind a promotion or a rollback.

The dialogs check only what the form itself can know — a rejection says why, a rollback has a
reason — and show that inline, so the person fixes it without losing what they typed. Who may
decide (the four-eyes rule) and whether the gate lets a version through are the services'
decisions, reported as notifications after the dialog closes.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, RadioButton, RadioSet, Static, TextArea

from screens.modals.form import FormButtons, FormDialog

DECISIONS = (("approved", "Approve"), ("rejected", "Reject"))
REJECTION_NEEDS_COMMENT = "A rejection needs a comment that tells the author what to fix."


class ReviewDialog(FormDialog[dict[str, str] | None]):
    """Returns {"decision": "approved" | "rejected", "comment": str}, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="review_dialog.cancel", tooltip="Close without recording a decision"),
        Binding("ctrl+s", "submit", "Record", id="review_dialog.record",
                tooltip="Record the decision in the registry and the audit trail"),
    ]

    def __init__(self, version: int, *, model_kind: str, author: str, actor: str, decision: str = "approved") -> None:
        super().__init__()
        self.version = version
        self.model_kind = model_kind
        self.author = author
        self.actor = actor
        self.decision = decision
        self.error = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="review-dialog"):
            yield Label(f"Review model version {self.version} ({self.model_kind}) · ctrl+s records, esc cancels",
                        classes="dialog-title")
            yield Static(f"Registered by {self.author}; you are {self.actor}.", classes="note")
            if self.actor == self.author:
                yield Static(Text(f"You registered version {self.version}: the four-eyes rule lets only someone else "
                                  "approve or reject it.", style="yellow"), id="review-own-work")
            with RadioSet(id="review-decision"):
                for key, text in DECISIONS:
                    yield RadioButton(text, value=key == self.decision, id=f"review-{key}")
            yield Label("Comment (what you checked; for a rejection, what to fix)")
            yield TextArea(id="review-comment")
            yield Static("", id="review-error", classes="dialog-error")
            yield FormButtons("Record")

    def on_mount(self) -> None:
        self.query_one("#review-comment", TextArea).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.decision = (event.pressed.id or "review-approved").removeprefix("review-")
        self._show_error("")

    def values(self) -> dict[str, str] | str:
        comment = self.query_one("#review-comment", TextArea).text.strip()
        if self.decision == "rejected" and not comment:
            return REJECTION_NEEDS_COMMENT
        return {"decision": self.decision, "comment": comment}

    def _show_error(self, message: str) -> None:
        self.error = message
        self.query_one("#review-error", Static).update(message)

    def action_submit(self) -> None:
        values = self.values()
        if isinstance(values, str):
            self._show_error(values)
            self.query_one("#review-comment", TextArea).focus()
            return
        self.finish(values)



class RequestReviewDialog(FormDialog[dict[str, Any] | None]):
    """Returns {"reviewer": str | None, "comment": str}, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="request_review_dialog.cancel",
                tooltip="Close without asking for a review"),
        Binding("ctrl+s", "submit", "Request", id="request_review_dialog.request",
                tooltip="Ask for an independent review of this version"),
    ]

    def __init__(self, version: int, *, model_kind: str) -> None:
        super().__init__()
        self.version = version
        self.model_kind = model_kind

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="request-review-dialog"):
            yield Label(f"Ask for a review of version {self.version} ({self.model_kind}) · ctrl+s sends, esc cancels",
                        classes="dialog-title")
            yield Label("Reviewer (blank: anyone but the author)")
            yield Input(placeholder="e.g. val.reviewer", id="request-reviewer")
            yield Label("What should the reviewer look at?")
            yield TextArea(id="request-comment")
            yield FormButtons("Request")

    def action_submit(self) -> None:
        reviewer = self.query_one("#request-reviewer", Input).value.strip()
        self.finish({"reviewer": reviewer or None, "comment": self.query_one("#request-comment", TextArea).text})



class ReasonDialog(FormDialog[Any]):
    """A release action to confirm, with the reason the record keeps; returns the reason or None
    (a subclass may return more through ``result``).

    The reason is a paragraph (a TextArea, as in the stage forms): enter starts a new line, so
    ctrl+s (bound, and on the button) confirms.

    ``detail`` says what will happen (and what the gate found); ``required`` refuses an empty
    reason inline.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="reason_dialog.cancel", tooltip="Close without doing it"),
        Binding("ctrl+s", "submit", "Confirm", id="reason_dialog.confirm", tooltip="Do it, with this reason"),
    ]

    def __init__(self, title: str, detail: Text | str = "", *, confirm: str = "Confirm", required: bool = False,
                 placeholder: str = "why (kept in the transition history and the audit trail)",
                 dialog_id: str = "reason-dialog") -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail
        self.confirm = confirm
        self.required = required
        self.placeholder = placeholder
        self.dialog_id = dialog_id
        self.error = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id=self.dialog_id):
            yield Label(f"{self.title_text} · ctrl+s confirms, esc cancels", classes="dialog-title")
            yield from self.compose_detail()
            yield Label(f"{self.reason_label()} · several lines: enter starts a new line")
            yield TextArea(placeholder=self.placeholder, id="reason-input", classes="paragraph")
            yield Static("", id="reason-error", classes="dialog-error")
            yield FormButtons(self.confirm)

    def reason_label(self) -> str:
        return "Reason" + (" (required)" if self.required else " (optional)")

    def compose_detail(self) -> ComposeResult:
        if self.detail:
            yield Static(self.detail, id="reason-detail")

    def on_mount(self) -> None:
        self.query_one("#reason-input", TextArea).focus()

    def validate(self, reason: str) -> str:
        """The message saying what to fix, or "" when the form is fine."""
        return "Say why: the reason is kept with the record." if self.required and not reason else ""

    def result(self, reason: str) -> Any:
        return reason

    def action_submit(self) -> None:
        reason = self.query_one("#reason-input", TextArea).text.strip()
        problem = self.validate(reason)
        if problem:
            self.error = problem
            self.query_one("#reason-error", Static).update(problem)
            return
        self.finish(self.result(reason))

