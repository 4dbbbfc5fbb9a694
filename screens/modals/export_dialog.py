"""Export a project's evidence bundle (``mlwb export PROJECT --out PATH``): where to write it.

One field, the path, filled with a new name in the workspace's exports folder; a name ending in
.zip writes one archive, any other name a new folder. The release screen hands the form
``export_bundle`` through ``saving_with``, so the export runs in the form's thread worker and a
refusal (no signing key, a key nobody registered, a folder that does not exist or is not
empty) is shown in the form with the typed path still there.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Static

from screens.modals.form import FormButtons, FormDialog

PATH_FIELD = "export-path"


def default_bundle_path(folder: Path, slug: str) -> Path:
    """``{slug}-evidence-{timestamp}.zip`` in ``folder`` (a new name: the export never overwrites)."""
    stem = f"{slug}-evidence-{datetime.now():%Y%m%d-%H%M%S}"
    candidate, n = folder / f"{stem}.zip", 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}-{n}.zip"
    return candidate


class ExportBundleDialog(FormDialog[object]):
    """Returns the path typed (or, with ``saving_with``, what the save returned), or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="export_dialog.cancel", tooltip="Close without exporting"),
        Binding("ctrl+s", "submit", "Export", id="export_dialog.export",
                tooltip="Write the bundle, signed with your key, and record the export in the audit trail"),
    ]

    def __init__(self, slug: str, default: Path, *, signing: str = "") -> None:
        super().__init__()
        self.slug = slug
        self.default = default
        self.signing = signing

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="export-dialog"):
            yield Label(f"Export the evidence bundle of {self.slug} · ctrl+s exports, esc cancels",
                        classes="dialog-title")
            yield Static("The compliance PDF, the evidence tables, this project's audit events (others' as hashes) "
                         "and a manifest signed with your key; a validator checks it with `mlwb verify-bundle` and "
                         "reviews it with `mlwb review open`.", classes="note")
            yield Label("Write to (a path ending in .zip: one archive; any other: a new folder)")
            yield Input(str(self.default), id=PATH_FIELD)
            if self.signing:
                yield Static(self.signing, classes="note")
            yield FormButtons("Export")

    def on_input_submitted(self) -> None:
        self.action_submit()

    def error_field(self, message: str) -> str | None:
        """A refusal about the key concerns the whole form; one about the path, the path field."""
        return None if "signing key" in message else PATH_FIELD

    def action_submit(self) -> None:
        text = self.query_one(f"#{PATH_FIELD}", Input).value.strip()
        if not text:
            self.show_error("Type where the bundle goes: a path ending in .zip, or a new folder.", PATH_FIELD)
            return
        self.finish(text)
