"""Register a run as a model version: what the run is, and what registering records.

Registering changes nothing about the run; it adds a version to the registry (next number, the
run's artifact SHA-256, the drift reference profile of its training data) that reviews, the
card, the gate and promotion then act on. The registry refuses a tuning trial and registers a
run at most once; those refusals come back from the service as notifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from screens.modals.form import FormButtons, FormDialog

if TYPE_CHECKING:
    from app.services.training import RunView


class RegisterDialog(FormDialog[bool | None]):
    """Returns True to register, None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="register_dialog.cancel", tooltip="Close without registering"),
        Binding("ctrl+s,enter", "submit", "Register", id="register_dialog.register",
                tooltip="Register the run's model as the next version (audited)"),
    ]

    def __init__(self, run: RunView, metric: str) -> None:
        super().__init__()
        self.run = run
        self.metric = metric

    def compose(self) -> ComposeResult:
        run = self.run
        with VerticalScroll(classes="dialog form", id="register-dialog"):
            yield Label(f"Register run {run.id} as a model version · ctrl+s or enter registers, esc cancels",
                        classes="dialog-title")
            detail = Text()
            detail.append(f"{run.model_kind}", style="bold")
            detail.append(f" · {'baseline' if run.is_baseline else 'candidate'} · trained by {run.created_by} "
                          f"on dataset {run.dataset_version_id}, split {run.split_id}\n")
            value = run.metrics.get(self.metric)
            if isinstance(value, (int, float)):
                detail.append(f"{self.metric} {value:.4f}\n")
            detail.append("\nThe registry records the next version number, the model file's SHA-256 and the drift "
                          "reference profile of the training data. The version then needs a card, a review by "
                          "someone else and the release gate before production (release screen, R on the "
                          "project).", style="dim")
            yield Static(detail, id="register-detail")
            yield FormButtons("Register")

    def action_submit(self) -> None:
        self.dismiss(True)
