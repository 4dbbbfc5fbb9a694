"""Stage 1 form: the one-page problem statement and the 'is ML appropriate?' checklist."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select

from app.lifecycle import ML_CHECKLIST, STATEMENT_FIELDS
from app.ml.catalogue import PROBLEM_TYPES
from screens.modals.form import FormButtons, FormDialog


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
                yield Label(label)
                yield Input(value=str(self.statement.get(key, "")), id=f"f-{key}")
            yield Label("Is ML appropriate here?", classes="dialog-title")
            for key, label in ML_CHECKLIST:
                yield Checkbox(label, value=bool(self.checklist.get(key, False)), id=f"c-{key}")
            yield Label("Checklist notes")
            yield Input(value=str(self.checklist.get("notes", "")), id="notes")
            yield FormButtons("Save")

    def action_submit(self) -> None:
        self.dismiss({
            "problem_type": self.query_one("#problem_type", Select).value,
            "statement": {key: self.query_one(f"#f-{key}", Input).value for key, _ in STATEMENT_FIELDS},
            "checklist": {key: self.query_one(f"#c-{key}", Checkbox).value for key, _ in ML_CHECKLIST},
            "notes": self.query_one("#notes", Input).value,
        })
