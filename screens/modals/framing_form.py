"""Stage 2 form: target, label strategy and the feature spec (one feature per line).

The target is one line; label strategy, cold start, temporal aspects and proxy metrics are
paragraphs (multi-line). A malformed feature line, or a feature the service refuses, is shown
under the feature spec with the form open.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Static, TextArea

from app.lifecycle import FRAMING_FIELDS
from screens.modals.form import FormButtons, FormDialog

FEATURE_HELP = (
    "One feature per line: name | type | source | available at serving (yes/no/?) | personal data (yes/no/?)\n"
    "type is numeric, categorical, boolean, datetime or text."
)
ANSWERS = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False, "?": None, "": None}


class FeatureLineError(ValueError):
    """A line of the feature spec the form cannot read; the message names the line."""


def _answer(raw: str, line: int, what: str) -> bool | None:
    value = raw.strip().lower()
    if value not in ANSWERS:
        raise FeatureLineError(f"line {line}: '{raw.strip()}' for {what} — write yes, no or ?")
    return ANSWERS[value]


def parse_features(text: str) -> list[dict[str, Any]]:
    """Read the one-line-per-feature format; raise with the line number on a malformed line."""
    features = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 5:
            raise FeatureLineError(f"line {number} has {len(parts)} part(s); expected 5 separated by |")
        name, ftype, source, serving, pii = parts
        features.append({"name": name, "type": ftype, "source": source,
                         "available_at_serving": _answer(serving, number, "serving-time availability"),
                         "pii": _answer(pii, number, "personal data")})
    return features


def format_features(features: list[dict[str, Any]]) -> str:
    word = {True: "yes", False: "no", None: "?"}
    return "\n".join(
        f"{f['name']} | {f['type']} | {f.get('source', '')} | {word[f.get('available_at_serving')]} | {word[f.get('pii')]}"
        for f in features
    )


#: The framing's answers that are paragraphs rather than one line.
PARAGRAPHS = frozenset({"label_strategy", "cold_start", "temporal_aspects", "proxy_metrics"})


class FramingForm(FormDialog[dict | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="framing_form.cancel"),
        Binding("ctrl+s", "submit", "Save", id="framing_form.save"),
    ]

    def __init__(self, framing: dict[str, Any]) -> None:
        super().__init__()
        self.framing = framing

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form"):
            yield Label("Stage 2 · Problem framing", classes="dialog-title")
            for key, label in FRAMING_FIELDS:
                value = str(self.framing.get(key, ""))
                if key in PARAGRAPHS:
                    yield Label(f"{label} (several lines)")
                    yield TextArea(value, id=f"f-{key}", classes="paragraph")
                else:
                    yield Label(label)
                    yield Input(value=value, id=f"f-{key}")
            yield Label("Feature spec")
            yield Static(FEATURE_HELP, classes="note")
            yield TextArea(format_features(self.framing.get("features", [])), id="features")
            yield FormButtons("Save")

    def _text(self, key: str) -> str:
        field = self.query_one(f"#f-{key}")
        return field.text if isinstance(field, TextArea) else self.query_one(f"#f-{key}", Input).value

    def error_field(self, message: str) -> str | None:
        """The field a refusal from ``save_framing`` names: its feature checks name a feature."""
        return "features" if message.startswith("feature") else None

    def action_submit(self) -> None:
        try:
            features = parse_features(self.query_one("#features", TextArea).text)
        except FeatureLineError as exc:
            self.show_error(f"Feature spec {exc}", "features")
            return
        self.finish({"fields": {key: self._text(key) for key, _ in FRAMING_FIELDS}, "features": features})
