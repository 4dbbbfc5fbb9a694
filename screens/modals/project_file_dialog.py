"""Apply a project file from the TUI: the preview of what it would change, then the apply.

The TUI face of `mlwb project apply FILE.toml`. The file picker's check is the service's dry
run (``apply_project_file(..., dry_run=True)``), so a file that is not TOML, names an unknown
table or field, or belongs to another project is refused beside the path with the picker still
open. This dialog then shows the dry run's changed fields, before and after, and ctrl+s applies
them through the same service with the previewed file's SHA-256, so what is recorded is exactly
the diff shown (a file edited meanwhile is refused here, the dialog staying open).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Static

from screens.modals.form import FormButtons, FormDialog

if TYPE_CHECKING:
    from app.services.project_file import ApplyOutcome


def shown(value: Any) -> str:
    """A field's value as the CLI prints it: quoted, so an empty or multi-line value shows as such;
    a feature spec one feature a line, as the framing form writes it."""
    if value is None:
        return "(unset)"
    if isinstance(value, list) and all(isinstance(f, dict) and "name" in f for f in value):
        from screens.modals.framing_form import format_features

        return format_features(value) or "(no features)"
    return json.dumps(value, ensure_ascii=False)


class ApplyProjectFileDialog(FormDialog[Any]):
    """Shows a dry run's changes; returns what the screen's save returned (the applied outcome),
    or None when cancelled (or when there was nothing to apply)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="apply_file.cancel", tooltip="Close; nothing is recorded"),
        Binding("ctrl+s", "submit", "Apply", id="apply_file.apply",
                tooltip="Save the changed fields and audit them (project_file.applied)"),
    ]

    def __init__(self, preview: ApplyOutcome) -> None:
        super().__init__()
        self.preview = preview

    def compose(self) -> ComposeResult:
        p = self.preview
        count = len(p.changes)
        with VerticalScroll(classes="dialog form", id="apply-file-dialog"):
            yield Label(Text(f"Apply {p.path} to {p.slug} · ctrl+s applies, esc cancels" if count else
                             f"Apply {p.path} to {p.slug} · esc closes"), classes="dialog-title")
            if count:
                yield Static(f"{count} field(s) would change (file sha256 {p.sha256[:16]}…). Applying saves them with "
                             "their audit events in one unit of work; nothing else changes.", classes="note")
                yield DataTable(cursor_type="row", zebra_stripes=True, id="apply-changes")
                yield FormButtons("Apply")
            else:
                yield Static(Text(f"Nothing to change: {p.slug}'s documents already match this file. Nothing is "
                                  "recorded.", style="bold"), id="apply-nothing")

    def on_mount(self) -> None:
        super().on_mount()
        if not self.preview.changes:
            return
        table = self.query_one("#apply-changes", DataTable)
        for label, width in (("Field", 30), ("Before", 25), ("After", 25)):
            table.add_column(label, width=width)
        for c in self.preview.changes:
            table.add_row(Text(f"{c.table}.{c.field}", style="bold"), Text(shown(c.before), style="red"),
                          Text(shown(c.after), style="green"), height=None)
        table.focus()

    def action_submit(self) -> None:
        if self.preview.changes:
            self.finish(self.preview)
