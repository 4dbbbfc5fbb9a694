"""Split a dataset version: strategy, seed, and the columns temporal and group splits need.

The service checks the columns against the data (and stores the split only with its leakage
findings); the dialog only makes sure numbers are numbers.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Select, Static

from screens.modals.form import FormButtons, FormDialog

# Kept in step with app.services.datasets.SPLIT_STRATEGIES (not imported: it pulls in storage).
STRATEGIES = ("random", "stratified", "temporal", "group")


class SplitDialog(FormDialog[dict[str, Any] | None]):
    """Returns {"strategy", "seed", "time_column", "group_column", "gap"} or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="split_dialog.cancel", tooltip="Close without splitting"),
        Binding("ctrl+s", "submit", "Split", id="split_dialog.split", tooltip="Create the split"),
    ]

    def __init__(self, dataset_id: int | None, columns: list[str], time_column: str | None = None) -> None:
        # dataset_id: shown only, as the number a person knows the dataset by
        super().__init__()
        self.dataset_id = dataset_id
        self.columns = columns
        self.time_column = time_column
        self.error_at: str | None = None  # the field the last problem is about

    def compose(self) -> ComposeResult:
        column_choices = [(c, c) for c in self.columns]
        with VerticalScroll(classes="dialog form", id="split-dialog"):
            yield Label(f"Split dataset {self.dataset_id} (ctrl+s to split, esc to cancel)",
                        classes="dialog-title")
            yield Label("Strategy")
            yield Select([(s, s) for s in STRATEGIES], value="stratified", allow_blank=False, id="split-strategy")
            yield Label("Seed")
            yield Input("42", id="split-seed", type="integer")
            yield Label("Time column (temporal)")
            yield Select(column_choices, value=self.time_column if self.time_column in self.columns else Select.NULL,
                         prompt="none", id="split-time")
            yield Label("Group column (group)")
            yield Select(column_choices, prompt="none", id="split-group")
            yield Label("Gap (rows between train and test, temporal)")
            yield Input("0", id="split-gap", type="integer")
            yield Static("Fractions are 70 / 15 / 15 (train / validation / test). Leakage is checked before "
                         "the split is stored.", classes="note")
            yield FormButtons("Split")

    def values(self) -> dict[str, Any] | str:
        def column(selector: str) -> str | None:
            value = self.query_one(selector, Select).value
            return None if value is Select.NULL else str(value)

        try:
            seed = int(self.query_one("#split-seed", Input).value.strip() or "42")
        except ValueError:
            self.error_at = "split-seed"
            return "the seed is a whole number"
        try:
            gap = int(self.query_one("#split-gap", Input).value.strip() or "0")
        except ValueError:
            self.error_at = "split-gap"
            return "the gap is a whole number of rows"
        if gap < 0:
            self.error_at = "split-gap"
            return "the gap cannot be negative"
        return {"strategy": str(self.query_one("#split-strategy", Select).value), "seed": seed,
                "time_column": column("#split-time"), "group_column": column("#split-group"), "gap": gap}

    def action_submit(self) -> None:
        self.error_at = None
        values = self.values()
        if isinstance(values, str):
            self.show_error(values, self.error_at)
            return
        self.finish(values)
