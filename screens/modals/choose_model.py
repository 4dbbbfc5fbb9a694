"""Pick the kind of model to train."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from app.ml.catalogue import KIND_INFO

# The kinds this menu offers, in its order: the rule baseline the problem statement names
# first, then up the ladder. What each kind is comes from the catalogue, which imports no
# scikit-learn; the worker refuses a kind that does not fit the project's problem type, with
# a clear message.
OFFERED = ("popularity_baseline", "majority_baseline", "mean_baseline", "logistic_regression",
           "linear_regression", "decision_tree", "hist_gradient_boosting", "random_forest")
KINDS = tuple(
    (kind, f"{KIND_INFO[kind].rung.capitalize()} ({', '.join(KIND_INFO[kind].problem_types)}): "
           f"{KIND_INFO[kind].description}")
    for kind in OFFERED
)


class ChooseModel(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choose_model.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Train which model? (enter to start, esc to cancel)", classes="dialog-title")
            yield OptionList(*(Option(f"[b]{kind}[/b]  {text}", id=kind) for kind, text in KINDS), id="kinds")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
