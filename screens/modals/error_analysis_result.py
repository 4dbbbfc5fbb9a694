"""What an error analysis found, in the order a reviewer reads it: where the model is wrong
(confusion matrix, calibration), for whom (fairness across a sensitive attribute, metrics per
segment), and what it leans on (permutation importance). The numbers are ``analyse_run``'s; the
stored artifact holds the curves too (the PDF draws them)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

TOP_FEATURES = 10


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def analysis_text(result: dict[str, Any]) -> Text:
    """The analysis as text (plain data in, so a test reads the same lines the modal shows)."""
    out = Text()
    out.append(f"{result.get('rows', '?')} validation rows · {result.get('problem_type', '?')}\n", style="dim")
    confusion = result.get("confusion")
    if confusion:
        labels = [str(label) for label in confusion["labels"]]
        width = max(7, *(len(label) + 1 for label in labels))
        out.append("\nConfusion matrix (rows true, columns predicted)\n", style="bold underline")
        out.append(" " * width + "".join(f"{label:>{width}}" for label in labels) + "\n", style="dim")
        for label, row in zip(labels, confusion["matrix"]):
            out.append(f"{label:>{width}}", style="dim")
            out.append("".join(f"{v:>{width}}" for v in row) + "\n")
    calibration = result.get("calibration")
    if calibration and "ece" in calibration:
        out.append(f"\nCalibration: expected calibration error {calibration['ece']:.4f}\n", style="bold")
    fair = result.get("fairness")
    out.append("\nFairness\n", style="bold underline")
    if fair:
        out.append(f"  across {fair['attribute']}: demographic parity difference "
                   f"{fair['demographic_parity_difference']:.4f}, equalized odds difference "
                   f"{fair['equalized_odds_difference']:.4f}\n")
        for group in fair.get("groups", []):
            shown = ", ".join(f"{k} {_num(v)}" for k, v in group.items() if k != "group")
            out.append(f"    {group['group']}: ", style="bold")
            out.append(shown + "\n")
    else:
        out.append("  not measured (choose a sensitive attribute)\n", style="dim")
    segments = result.get("segments") or {}
    out.append("\nSegments\n", style="bold underline")
    if not segments:
        out.append("  none chosen\n", style="dim")
    for column, rows in segments.items():
        out.append(f"  by {column}\n", style="bold")
        for row in rows:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if isinstance(v, float))
            small = "  (too few rows to trust)" if row.get("too_small") else ""
            out.append(f"    {row['segment']}: {row['rows']} rows · {shown}{small}\n")
    importance = result.get("permutation_importance") or []
    if importance:
        out.append("\nPermutation importance (what the model leans on)\n", style="bold underline")
        for item in importance[:TOP_FEATURES]:
            out.append(f"  {item['feature']:<24}{item['importance_mean']:.4f} ± {item['importance_std']:.4f}\n")
    curve = result.get("learning_curve")
    if curve:
        out.append(f"\nLearning curve ({curve.get('metric', '?')}: train / validation by train rows)\n",
                   style="bold underline")
        for size, train, validation in zip(curve.get("sizes", []), curve.get("train", []),
                                           curve.get("validation", [])):
            out.append(f"  {size:>8} rows  {_num(train)} / {_num(validation)}\n")
    return out


class ErrorAnalysisResult(ModalScreen[None]):
    """The result of one error analysis; esc closes."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="error_analysis_result.close",
                        tooltip="Back to the runs")]

    def __init__(self, run_id: int | str,  # shown as the run's number in the project
                 result: dict[str, Any]) -> None:
        super().__init__()
        self.run_id = run_id
        self.result = result

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="error-analysis-result"):
            yield Label(f"Error analysis of run {self.run_id}", classes="dialog-title")
            yield Static(analysis_text(self.result), id="error-analysis-body")
            yield Static("Stored with the run and written to the audit trail; the compliance report shows it. "
                         "Esc closes.", classes="note")

    def action_close(self) -> None:
        self.dismiss(None)
