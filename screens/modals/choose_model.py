"""Pick the kind of model to train."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

# Kept here (not imported from app.ml) so opening this dialog never imports scikit-learn; the
# worker refuses a kind that does not fit the project's problem type, with a clear message.
KINDS = (
    ("popularity_baseline", "Rule baseline: score = the feature the baseline heuristic names"),
    ("majority_baseline", "Baseline: predicts the class frequencies of the train part"),
    ("mean_baseline", "Baseline (regression): predicts the train mean"),
    ("logistic_regression", "Simple: logistic regression on scaled numbers and one-hot categories"),
    ("linear_regression", "Simple (regression): ridge regression"),
    ("decision_tree", "Simple: a shallow decision tree"),
    ("hist_gradient_boosting", "Complex: histogram gradient boosting with native categorical splits"),
    ("random_forest", "Complex: random forest, 100 shallow trees"),
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
