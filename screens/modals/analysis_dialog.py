"""Run a release analysis of a version against production: shadow, canary or A/B test, with its limits.

The fields are the CLI's options (``mlwb release shadow|canary|ab``) with the same defaults;
only the chosen analysis's fields show. A value that is not a number is refused beside its
field; whether the prediction log holds enough traffic is the service's to say.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from screens.modals.form import FormButtons, FormDialog

# kind -> (title, what it answers, [(parameter, label, default, optional)])
ANALYSES: dict[str, tuple[str, str, list[tuple[str, str, str, bool]]]] = {
    "shadow": ("Shadow", "how the version would have answered production's requests (agreement, latency)",
               [("min_agreement", "Minimum agreement with production (0–1)", "0.9", False),
                ("max_latency_p99_ms", "Maximum p99 latency (ms)", "50", False)]),
    "canary": ("Canary", "guardrails on the canary's share of traffic; a breach rolls it back",
               [("max_error_rate", "Maximum error rate (0–1)", "0.01", False),
                ("max_latency_p99_ms", "Maximum p99 latency (ms)", "50", False),
                ("max_metric_drop", "Maximum drop of the labelled metric", "0.02", False)]),
    "ab_test": ("A/B test", "production (A) against the canary (B) on the labelled outcome",
                [("alpha", "Significance level α", "0.05", False),
                 ("mde", "Minimum detectable effect (blank: none)", "", True),
                 ("power", "Power", "0.8", False)]),
}


class AnalysisDialog(FormDialog[dict[str, Any] | None]):
    """Returns {"kind": "shadow" | "canary" | "ab_test", "params": {name: float | None}}, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="analysis_dialog.cancel", tooltip="Close without analysing"),
        Binding("ctrl+s", "submit", "Analyse", id="analysis_dialog.analyse",
                tooltip="Run the analysis on the prediction log and record its verdict"),
    ]

    def __init__(self, version: int, production: int, *, kind: str = "shadow") -> None:
        super().__init__()
        self.version = version
        self.production = production
        self.kind = kind
        self.error = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="analysis-dialog"):
            yield Label(f"Release analysis of v{self.version} against production v{self.production} · "
                        "ctrl+s runs, esc cancels", classes="dialog-title")
            with RadioSet(id="analysis-kind"):
                for kind, (title, _what, _fields) in ANALYSES.items():
                    yield RadioButton(title, value=kind == self.kind, id=f"analysis-{kind}")
            for kind, (_title, what, fields) in ANALYSES.items():
                with Vertical(id=f"analysis-fields-{kind}", classes="analysis-fields"):
                    yield Static(Text(what, style="dim"), classes="note")
                    for name, label, default, _optional in fields:
                        yield Label(label)
                        yield Input(default, id=f"{kind}-{name}")
            yield Static("", id="analysis-error", classes="dialog-error")
            yield FormButtons("Analyse")

    def on_mount(self) -> None:
        self._show_fields()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.kind = (event.pressed.id or "analysis-shadow").removeprefix("analysis-")
        self._show_fields()

    def _show_fields(self) -> None:
        for kind in ANALYSES:
            self.query_one(f"#analysis-fields-{kind}").display = kind == self.kind
        self.query_one("#analysis-error", Static).update("")

    def on_input_submitted(self) -> None:
        self.action_submit()

    def values(self) -> dict[str, Any] | str:
        params: dict[str, float | None] = {}
        for name, label, _default, optional in ANALYSES[self.kind][2]:
            text = self.query_one(f"#{self.kind}-{name}", Input).value.strip()
            if not text and optional:
                params[name] = None
                continue
            try:
                params[name] = float(text)
            except ValueError:
                return f"{label}: '{text}' is not a number"
        return {"kind": self.kind, "params": params}

    def action_submit(self) -> None:
        values = self.values()
        if isinstance(values, str):
            self.error = values
            self.query_one("#analysis-error", Static).update(values)
            return
        self.dismiss(values)
