"""What the modal forms share: ctrl+s submits, esc cancels, and the last row shows both as
buttons that run the same actions (so a click and a key cannot disagree)."""

from __future__ import annotations

from typing import TypeVar

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button

ResultT = TypeVar("ResultT")


class FormButtons(Horizontal):
    """The submit button (named by ``submit``) and Cancel, running their screen's actions."""

    DEFAULT_CLASSES = "buttons"

    def __init__(self, submit: str) -> None:
        super().__init__()
        self.submit = submit

    def compose(self) -> ComposeResult:
        yield Button(f"{self.submit} (ctrl+s)", variant="primary", action="screen.submit", id="form-submit")
        yield Button("Cancel (esc)", action="screen.cancel", id="form-cancel")


class FormDialog(ModalScreen[ResultT]):
    """A modal form: ``action_submit`` dismisses with its values (or says inline what to fix);
    cancelling dismisses with None. Subclasses bind esc and ctrl+s with their own ids."""

    def action_submit(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)
