"""Pick the kind of model to train."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

# Kept here (not imported from app.ml) so opening this dialog never imports scikit-learn.
KINDS = (
    ("popularity_baseline", "Rule baseline: score = the feature the baseline heuristic names"),
    ("logistic_regression", "Logistic regression on scaled numbers and one-hot categories"),
    ("hist_gradient_boosting", "Histogram gradient boosting with native categorical splits"),
    ("random_forest", "Random forest, 100 shallow trees"),
)


class ChooseModel(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Train which model? (enter to start, esc to cancel)", classes="dialog-title")
            yield OptionList(*(Option(f"[b]{kind}[/b]  {text}", id=kind) for kind, text in KINDS), id="kinds")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
