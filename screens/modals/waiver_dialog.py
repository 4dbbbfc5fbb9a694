"""Record a waiver for a release check: which failing check, and the reason a reviewer reads later.

Only checks that fail and that the project's profile lets be waived are offered. The reason is
a paragraph (multi-line). Whether this person may waive it (four-eyes on enterprise projects
and on independence checks, a registered key) is the service's decision, reported after the
dialog closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label, RadioButton, RadioSet, Static, TextArea

from screens.modals.form import FormButtons, FormDialog

if TYPE_CHECKING:
    from app.services.gates import CheckResult

NEEDS_REASON = "Say why the check may be skipped: the reason is signed and printed in the reports."


def waivable(checks: tuple[CheckResult, ...]) -> list[CheckResult]:
    """The checks a waiver would change: failing, not yet waived, and waivable (or only recommended)."""
    return [c for c in checks if not c.passed and c.waiver is None and (c.waivable or not c.required)]


class WaiverDialog(FormDialog[dict[str, str] | None]):
    """Returns {"check": check id, "reason": str}, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="waiver_dialog.cancel", tooltip="Close without waiving"),
        Binding("ctrl+s", "submit", "Waive", id="waiver_dialog.waive",
                tooltip="Record the waiver, signed with your key, in the registry and the audit trail"),
    ]

    def __init__(self, version: int, checks: list[CheckResult], *, maturity: str) -> None:
        super().__init__()
        self.version = version
        self.checks = checks
        self.maturity = maturity
        self.error = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="waiver-dialog"):
            yield Label(f"Waive a release check of version {self.version} · ctrl+s records, esc cancels",
                        classes="dialog-title")
            yield Static(Text(f"{self.maturity} profile: a waiver lets the gate pass without the check, on the "
                              "record; an enterprise waiver must be signed by someone other than the author.",
                              style="dim"), classes="note")
            with RadioSet(id="waiver-check"):
                for i, c in enumerate(self.checks):
                    yield RadioButton(f"{c.label} ({'required' if c.required else 'recommended'})", value=i == 0,
                                      id=f"waive-{c.id}")
            yield Static("", id="waiver-check-detail", classes="note")
            yield Label("Reason (required; what makes skipping it acceptable here)")
            yield TextArea(id="waiver-reason")
            yield Static("", id="waiver-error", classes="dialog-error")
            yield FormButtons("Waive")

    def on_mount(self) -> None:
        self._show_detail()
        self.query_one("#waiver-reason", TextArea).focus()

    @property
    def chosen(self) -> CheckResult:
        pressed = self.query_one("#waiver-check", RadioSet).pressed_button
        check_id = (pressed.id or "").removeprefix("waive-") if pressed else self.checks[0].id
        return next(c for c in self.checks if c.id == check_id)

    def on_radio_set_changed(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        self.query_one("#waiver-check-detail", Static).update(Text(self.chosen.detail, style="yellow"))

    def action_submit(self) -> None:
        reason = self.query_one("#waiver-reason", TextArea).text.strip()
        if not reason:
            self.error = NEEDS_REASON
            self.query_one("#waiver-error", Static).update(NEEDS_REASON)
            self.query_one("#waiver-reason", TextArea).focus()
            return
        self.dismiss({"check": self.chosen.id, "reason": reason})
