"""The form for a new, empty project at stage 1."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from app.lifecycle import MATURITIES
from app.ml.catalogue import PROBLEM_TYPES


class NewProjectForm(ModalScreen[dict | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="new_project.cancel"),
        Binding("ctrl+s", "save", "Create", id="new_project.create"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form"):
            yield Label("New project", classes="dialog-title")
            yield Label("Slug (lowercase letters, digits, dashes)")
            yield Input(placeholder="churn-model", id="slug")
            yield Label("Name")
            yield Input(placeholder="Customer churn prediction", id="name")
            yield Label("Problem type")
            yield Select([(t, t) for t in PROBLEM_TYPES], value=PROBLEM_TYPES[0], allow_blank=False, id="problem_type")
            yield Label("Maturity profile (decides which checks are required)")
            yield Select([(m, m) for m in MATURITIES], value="startup", allow_blank=False, id="maturity")
            with Horizontal(classes="buttons"):
                yield Button("Create (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def action_save(self) -> None:
        slug = self.query_one("#slug", Input).value.strip()
        if not slug:
            self.notify("Give the project a slug, such as churn-model.", severity="error")
            return
        self.dismiss({
            "slug": slug,
            "name": self.query_one("#name", Input).value.strip(),
            "problem_type": self.query_one("#problem_type", Select).value,
            "maturity": self.query_one("#maturity", Select).value,
        })

    def action_cancel(self) -> None:
        self.dismiss(None)
