"""Error analysis of one run: which columns to break the metrics down by, and which attribute to
measure fairness across (the choices ``mlwb analyse RUN --segment COL --sensitive COL
[--learning-curve]`` takes).

The columns are the run's dataset version's own (read by the runs screen before the form
opens), so a name cannot be mistyped; the target is left out, since segmenting by the answer
says nothing about the model. The analysis itself runs as a job after the form closes.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Label, Select, SelectionList, Static

from screens.modals.form import FormButtons, FormDialog

NO_SENSITIVE = ""  # the Select value for "no fairness analysis"


class ErrorAnalysisDialog(FormDialog[dict[str, Any] | None]):
    """Returns {"segments": tuple[str, ...], "sensitive": str | None, "learning_curve": bool}, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="error_analysis_dialog.cancel", tooltip="Close without analysing"),
        Binding("ctrl+s", "submit", "Analyse", id="error_analysis_dialog.analyse",
                tooltip="Queue the error analysis of the run on its validation rows"),
    ]

    def __init__(self, run_id: int | str,  # shown as the run's number in the project
                 columns: list[str], *, features: list[str] | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.columns = columns
        self.features = set(features or columns)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="error-analysis-dialog"):
            yield Label(f"Error analysis of run {self.run_id} · ctrl+s runs, esc cancels", classes="dialog-title")
            yield Static("Confusion matrix, curves, calibration and permutation importance are always computed on "
                         "the validation rows (the test part stays sealed).", classes="note")
            yield Label("Segments: metrics per value of these columns (space ticks)")
            yield SelectionList[str](*[(c + ("" if c in self.features else "  (not a feature)"), c)
                                       for c in self.columns], id="analysis-segments")
            yield Label("Fairness across (a sensitive attribute)")
            yield Select[str]([("none: no fairness analysis", NO_SENSITIVE)] + [(c, c) for c in self.columns],
                              value=NO_SENSITIVE, allow_blank=False, id="analysis-sensitive")
            yield Checkbox("Learning curve (refits on growing shares of the train part: slower)",
                           id="analysis-learning-curve")
            yield Static("A fairness gap over the profile's limit raises a finding, tracked on the release screen "
                         "(f).", classes="note")
            yield FormButtons("Analyse")

    def values(self) -> dict[str, Any]:
        sensitive = self.query_one("#analysis-sensitive", Select).value
        return {"segments": tuple(self.query_one("#analysis-segments", SelectionList).selected),
                "sensitive": str(sensitive) if sensitive not in (NO_SENSITIVE, Select.NULL) else None,
                "learning_curve": self.query_one("#analysis-learning-curve", Checkbox).value}

    def action_submit(self) -> None:
        self.finish(self.values())
