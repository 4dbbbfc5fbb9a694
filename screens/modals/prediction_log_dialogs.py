"""Stage 6 from the prediction log that ``mlwb serve`` writes: collect the requests logged since
the last such batch into a monitoring batch (``mlwb monitor collect``), and attach delayed
labels to logged requests by their request id (``mlwb monitor label-log``).

Collecting is one field, the batch label, handed to ``batch_from_predictions`` through the form
base's ``saving_with``: a refusal (no production model, no new requests, a label already taken)
is shown in the form with the label kept. Labelling reads a file, so it is an import dialog
(``screens.modals.import_dialog``): the picker, the first rows, the id and label columns chosen
from the file's header, the service call in a thread.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, Static

from screens.modals.form import FormButtons, FormDialog
from screens.modals.import_dialog import ImportDialog

if TYPE_CHECKING:
    from app.services.table_preview import TablePreview
    from app.services.workbench import Workbench

LABEL_FIELD = "collect-label"
REQUEST_ID = "request_id"  # the column `mlwb serve` logs each request under, and the CLI's default


def _select_value(select: Select[str]) -> str | None:
    value = select.value
    return None if value is Select.NULL else str(value)


class CollectBatchDialog(FormDialog[Any]):
    """Returns {"label", "analyse"} (or, with ``saving_with``, what the save returned), or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="collect_dialog.cancel", tooltip="Close without collecting"),
        Binding("ctrl+s", "submit", "Collect", id="collect_dialog.collect",
                tooltip="Collect the requests logged since the last such batch into a new batch"),
    ]

    def __init__(self, slug: str, *, label: str | None = None) -> None:
        super().__init__()
        self.slug = slug
        self.label = label or f"log-{date.today():%Y-%m-%d}"

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="collect-dialog"):
            yield Label(f"Collect a batch from the prediction log of {self.slug} · ctrl+s collects, esc cancels",
                        classes="dialog-title")
            yield Static("The requests production answered since the last batch collected from the log, with "
                         "their request ids (labels attach to them later) and any labels already logged.",
                         classes="note")
            yield Label("Batch label")
            yield Input(self.label, id=LABEL_FIELD)
            yield Checkbox("Analyse its drift right away (a job in a worker process)", value=True,
                           id="collect-analyse")
            yield FormButtons("Collect")

    def on_input_submitted(self) -> None:
        self.action_submit()

    def error_field(self, message: str) -> str | None:
        return LABEL_FIELD if "label" in message else None

    def action_submit(self) -> None:
        label = self.query_one(f"#{LABEL_FIELD}", Input).value.strip()
        if not label:
            self.show_error("Give the batch a label, such as the week it covers (week-12).", LABEL_FIELD)
            return
        self.finish({"label": label, "analyse": self.query_one("#collect-analyse", Checkbox).value})


class LogLabelsDialog(ImportDialog):
    """Delayed labels for logged requests, joined by request id (returns the number labelled)."""

    TITLE = "Attach labels to logged requests"
    DIALOG_ID = "log-labels-dialog"
    MONITORING = True
    SUBMIT = "Attach labels"

    def compose_fields(self) -> ComposeResult:
        with Vertical(classes="import-field"):
            yield Label("Request id column")
            yield Select[str]([], prompt="choose", id="import-id")
        with Vertical(classes="import-field"):
            yield Label("Label column (outcome)")
            yield Select[str]([], prompt="choose", id="import-label-column")

    def fill_fields(self, preview: TablePreview) -> None:
        choices = [(c, c) for c in preview.columns]
        ids = self.query_one("#import-id", Select)
        ids.set_options(choices)
        suggested = REQUEST_ID if REQUEST_ID in preview.columns else preview.suggested_id
        ids.value = suggested if suggested else Select.NULL
        labels = self.query_one("#import-label-column", Select)
        labels.set_options(choices)
        others = [c for c in preview.columns if c != suggested]
        guess = preview.suggested_target if preview.suggested_target in others else (
            others[0] if len(others) == 1 else None)
        labels.value = guess if guess else Select.NULL

    def values(self) -> dict[str, Any] | str:
        id_column = _select_value(self.query_one("#import-id", Select))
        label_column = _select_value(self.query_one("#import-label-column", Select))
        if id_column is None or label_column is None:
            return "Choose both the request id column and the label column of the labels file."
        if id_column == label_column:
            return "The id column and the label column must be different columns."
        return {"id_column": id_column, "label_column": label_column}

    def perform(self, wb: Workbench, path: str, values: dict[str, Any]) -> Any:
        from app.services.monitoring_batches import label_predictions

        self.report(-1.0, f"matching the ids of {Path(path).name} with the prediction log (one step)")
        return label_predictions(wb, self.slug, path, id_column=values["id_column"],
                                 label_column=values["label_column"])
