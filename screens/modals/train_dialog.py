"""Train a model with optional cross-validation and tuning: the choices ``training.train`` takes.

The dialog only collects and checks the form (numbers are numbers, folds ≥ 2, trials ≥ 1) so
a typo is caught before a job is queued; whether the model fits the project's problem type
is the service's decision, reported as a notification.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Select, Static

from screens.modals.choose_model import KINDS
from screens.modals.form import FormButtons, FormDialog

TUNE_CHOICES = (("none", "none"), ("grid search", "grid"), ("random search", "random"),
                ("Bayesian (optuna)", "bayes"))
DEFAULT_TRIALS = 20


class TrainDialog(FormDialog[dict[str, Any] | None]):
    """Returns {"kind", "cv", "tune", "trials"} through ``dismiss``, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="train_dialog.cancel", tooltip="Close without training"),
        Binding("ctrl+s", "submit", "Train", id="train_dialog.train", tooltip="Queue the training job"),
    ]

    def __init__(self, kind: str = "logistic_regression") -> None:
        super().__init__()
        self.kind = kind
        self.error_at: str | None = None  # the field the last problem is about

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="train-dialog"):
            yield Label("Train a model (ctrl+s to start, esc to cancel)", classes="dialog-title")
            yield Label("Model")
            yield Select([(f"{kind} — {text}", kind) for kind, text in KINDS], value=self.kind, allow_blank=False,
                         id="train-kind")
            yield Label("Cross-validation folds (blank = none)")
            yield Input(placeholder="e.g. 5", id="train-cv", type="integer")
            yield Label("Tuning")
            yield Select(TUNE_CHOICES, value="none", allow_blank=False, id="train-tune")
            yield Label("Trials (when tuning)")
            yield Input(str(DEFAULT_TRIALS), id="train-trials", type="integer")
            yield Static("Folds and trials use the train part only; the test part stays sealed.", classes="note")
            yield FormButtons("Train")

    def on_input_submitted(self) -> None:
        self.action_submit()

    def values(self) -> dict[str, Any] | str:
        """The form as training arguments, or the message saying what to fix."""
        kind = self.query_one("#train-kind", Select).value
        tune = self.query_one("#train-tune", Select).value
        cv_text = self.query_one("#train-cv", Input).value.strip()
        trials_text = self.query_one("#train-trials", Input).value.strip() or str(DEFAULT_TRIALS)
        self.error_at = "train-cv"
        try:
            cv = int(cv_text) if cv_text else None
        except ValueError:
            return "folds are a whole number (leave it blank for none)"
        if cv is not None and cv < 2:
            return f"cross-validation needs at least 2 folds, not {cv} (leave it blank for none)"
        self.error_at = "train-trials"
        try:
            trials = int(trials_text)
        except ValueError:
            return "trials are a whole number"
        if trials < 1:
            return f"trials must be at least 1, not {trials}"
        self.error_at = None
        return {"kind": str(kind), "cv": cv, "tune": None if tune == "none" else str(tune), "trials": trials}

    def action_submit(self) -> None:
        values = self.values()
        if isinstance(values, str):
            self.show_error(values, self.error_at)
            return
        self.finish(values)
