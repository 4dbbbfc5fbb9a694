"""Stage 1 form: the one-page problem statement and the 'is ML appropriate?' checklist.

Paragraph answers (objective, who gains and loses, feasibility of data and regulation, the
checklist notes) are multi-line; the rest are one line. Saved through ``saving_with`` when the
screen gives it, so a refused metric or threshold is shown beside its field with the form open.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, TextArea

from app.lifecycle import ML_CHECKLIST, STATEMENT_FIELDS
from app.ml.catalogue import PROBLEM_TYPES
from screens.modals.form import FormButtons, FormDialog


#: The statement's answers that are paragraphs rather than one line.
PARAGRAPHS = frozenset({"objective", "stakeholders_gain", "stakeholders_lose", "feasibility_data",
                        "feasibility_regulation"})


class StatementForm(FormDialog[dict | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="statement_form.cancel"),
        Binding("ctrl+s", "submit", "Save", id="statement_form.save"),
    ]

    def __init__(self, statement: dict[str, Any], checklist: dict[str, Any], problem_type: str) -> None:
        super().__init__()
        self.statement = statement
        self.checklist = checklist
        self.problem_type = problem_type

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form"):
            yield Label("Stage 1 · Problem statement", classes="dialog-title")
            yield Label("Problem type")
            yield Select([(t, t) for t in PROBLEM_TYPES], value=self.problem_type, allow_blank=False, id="problem_type")
            for key, label in STATEMENT_FIELDS:
                value = str(self.statement.get(key, ""))
                if key in PARAGRAPHS:
                    yield Label(f"{label} (several lines)")
                    yield TextArea(value, id=f"f-{key}", classes="paragraph")
                else:
                    yield Label(label)
                    yield Input(value=value, id=f"f-{key}")
            yield Label("Is ML appropriate here?", classes="dialog-title")
            for key, label in ML_CHECKLIST:
                yield Checkbox(label, value=bool(self.checklist.get(key, False)), id=f"c-{key}")
            yield Label("Checklist notes (several lines)")
            yield TextArea(str(self.checklist.get("notes", "")), id="notes", classes="paragraph")
            yield FormButtons("Save")

    def _text(self, key: str) -> str:
        field = self.query_one(f"#f-{key}")
        return field.text if isinstance(field, TextArea) else self.query_one(f"#f-{key}", Input).value

    def values(self) -> dict[str, Any]:
        return {
            "problem_type": self.query_one("#problem_type", Select).value,
            "statement": {key: self._text(key) for key, _ in STATEMENT_FIELDS},
            "checklist": {key: self.query_one(f"#c-{key}", Checkbox).value for key, _ in ML_CHECKLIST},
            "notes": self.query_one("#notes", TextArea).text,
        }

    def error_field(self, message: str) -> str | None:
        """The field a refusal from ``save_problem_statement`` names."""
        if message.startswith("ML metric threshold"):
            return "f-ml_metric_threshold"
        if message.startswith("ML metric") or "NDCG@k" in message:
            return "f-ml_metric"
        if "problem type" in message:
            return "problem_type"
        return None

    def action_submit(self) -> None:
        self.finish(self.values())
