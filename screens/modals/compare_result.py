"""The answer to "is run B better than run A?": the test, the numbers and a verdict in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

if TYPE_CHECKING:
    from app.services.comparison import ComparisonView


def verdict_of(c: ComparisonView) -> str:
    """The sentence a reviewer reads first; the numbers below it are the evidence."""
    if c.significant and c.difference > 0:
        return f"B (run {c.run_b_number}) is significantly better than A (run {c.run_a_number}) at α={c.alpha:g}"
    if c.p_value < c.alpha and c.difference < 0:
        # The service's ``significant`` means "B better"; a small p with B behind is the reverse.
        return f"B (run {c.run_b_number}) is significantly worse than A (run {c.run_a_number}) at α={c.alpha:g}"
    return f"Difference not significant at α={c.alpha:g}: B (run {c.run_b_number}) is not shown to beat A (run {c.run_a_number})"


class CompareResult(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="compare_result.close")]

    def __init__(self, comparison: ComparisonView) -> None:
        super().__init__()
        self.comparison = comparison
        self.verdict = verdict_of(comparison)

    def compose(self) -> ComposeResult:
        c = self.comparison
        with Vertical(classes="dialog", id="compare-result"):
            yield Label(f"Run {c.run_a_number} (A) vs run {c.run_b_number} (B) · comparison {c.id}", classes="dialog-title")
            good = c.significant and c.difference > 0
            style = "bold green" if good else "bold red" if c.p_value < c.alpha else "bold yellow"
            yield Static(Text(self.verdict, style=style), id="compare-verdict")
            lines = Text()
            for label, value in (
                ("test", c.test), ("metric", c.metric), ("difference (B − A)", f"{c.difference:+.4f}"),
                # The 5×2cv test stores the range of its ten fold differences where others store a CI.
                ("fold range" if c.test == "5x2cv_t" else "95% CI", f"[{c.ci[0]:+.4f}, {c.ci[1]:+.4f}]"),
                ("p-value", f"{c.p_value:.4g}"),
                ("data", f"{c.data_part} part (the test part stays sealed)"),
            ):
                lines.append(f"{label:<20}", style="dim")
                lines.append(f"{value}\n")
            yield Static(lines, id="compare-numbers")
            yield Static("Stored and written to the audit trail. Esc closes.", classes="note")

    def action_close(self) -> None:
        self.dismiss(None)
