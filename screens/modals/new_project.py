"""The form for a new, empty project at stage 1; a slug the service refuses (taken, malformed)
is shown beside the slug with the form open when the screen saves through ``saving_with``."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Select

from app.lifecycle import MATURITIES
from app.ml.catalogue import PROBLEM_TYPES
from screens.modals.form import FormButtons, FormDialog


class NewProjectForm(FormDialog[dict | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="new_project.cancel"),
        Binding("ctrl+s", "submit", "Create", id="new_project.create"),
    ]

    def error_field(self, message: str) -> str | None:
        """Most refusals of ``create_project`` are about the slug (taken, not lowercase…)."""
        lowered = message.lower()
        if "maturity" in lowered:
            return "maturity"
        if "problem type" in lowered:
            return "problem_type"
        return "slug"

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
            yield FormButtons("Create")

    def action_submit(self) -> None:
        slug = self.query_one("#slug", Input).value.strip()
        if not slug:
            self.show_error("Give the project a slug, such as churn-model.", "slug")
            return
        self.finish({
            "slug": slug,
            "name": self.query_one("#name", Input).value.strip(),
            "problem_type": self.query_one("#problem_type", Select).value,
            "maturity": self.query_one("#maturity", Select).value,
        })
