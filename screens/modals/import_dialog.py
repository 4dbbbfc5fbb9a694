"""Importing a file from the TUI: a dataset version (stage 3), a monitoring batch, or the delayed
labels of a batch (stage 6).

Each dialog opens the file picker first; the chosen file is read as the import reads it
(``app.services.table_preview``, in a thread, nothing stored), so the person chooses the
columns from the file's own header while seeing its first rows and the findings the import
will record. Import runs the service in a thread worker and keeps the dialog open until it
ends: a refusal (a column the service rejects, no production model, a stage rule) is shown in
the dialog with everything chosen still in place, and success closes it with the result.

Progress is what the service can honestly tell: a dataset or batch import is one in-process
step (read, fingerprint, store: no fraction is known, so the bar is indeterminate with the
step named), while attaching labels is a job in a worker process whose real progress
reaches both the dialog and the jobs strip, and esc cancels it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, DataTable, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState

from app.errors import JobCancelled, WorkbenchError
from screens.host import host_of
from screens.modals.file_picker import FilePicker
from screens.modals.form import FormButtons, FormDialog

if TYPE_CHECKING:
    from app.services.table_preview import TablePreview
    from app.services.workbench import Workbench

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
IMPORT_PROGRESS_KEY = 0  # an in-process import has no job row (the key report builds use too)


def findings_preview(findings: tuple[dict[str, Any], ...], *, n_rows: int) -> Text:
    """The findings the import will record, errors first, each on one line."""
    out = Text()
    out.append(f"What the import will record ({len(findings)} finding(s))\n", style="bold underline")
    if not findings:
        out.append(f"  none: the {n_rows:,} rows load cleanly\n", style="green")
    for f in sorted(findings, key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 3)):
        severity = str(f.get("severity", "info"))
        out.append(f"  {severity:<8}", style=SEVERITY_STYLE.get(severity, ""))
        out.append(f"{f.get('check')} · {f.get('column') or '(table)'}: ", style="bold")
        out.append(f"{f.get('detail', '')}\n")
    return out


def _select_value(select: Select[str]) -> str | None:
    value = select.value
    return None if value is Select.NULL else str(value)


class ImportDialog(FormDialog[Any]):
    """What the three imports share: picker first, preview and findings, the run and its progress.

    Subclasses write ``compose_fields``, ``fill_fields`` (from a new preview), ``values`` (the
    chosen columns, or a sentence saying what to fix) and ``perform`` (the service call, in a
    thread). The dialog returns what ``perform`` returned, or None when cancelled.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="import_dialog.cancel",
                tooltip="Close without importing (while labels are attached, cancel their job)"),
        Binding("ctrl+s", "submit", "Import", id="import_dialog.import",
                tooltip="Import the file with the columns chosen; the dialog closes when it is stored"),
        Binding("ctrl+o", "choose_file", "Another file", id="import_dialog.file",
                tooltip="Choose another file (the picker opens in this file's folder)"),
    ]
    TITLE: ClassVar[str] = "Import a file"
    DIALOG_ID: ClassVar[str] = "import-dialog"
    MONITORING: ClassVar[bool] = False  # preview as a batch of production inputs (no target)
    SUBMIT: ClassVar[str] = "Import"

    @dataclass
    class Previewed(Message, bubble=False):
        preview: TablePreview

    @dataclass
    class Progressed(Message, bubble=False):
        fraction: float
        message: str

    @dataclass
    class Finished(Message, bubble=False):
        result: Any

    @dataclass
    class Failed(Message, bubble=False):
        error: str

    def __init__(self, slug: str, *, preview: TablePreview | None = None) -> None:
        super().__init__()
        self.slug = slug
        self.preview = preview
        self.running = False
        self.job_id: int | None = None  # the job being run (labels, drift), which esc can cancel
        self.progress_key: int | None = None  # the jobs strip's entry this dialog writes

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form import-dialog", id=self.DIALOG_ID):
            yield Label(f"{self.TITLE} · ctrl+s imports, ctrl+o another file, esc cancels", classes="dialog-title")
            yield Static("choosing a file…", id="import-file", classes="note")
            with Horizontal(id="import-fields"):
                yield from self.compose_fields()
            yield Label("First rows", classes="import-section")
            yield DataTable(id="import-preview", cursor_type="none", zebra_stripes=True)
            yield Static("", id="import-findings")
            yield Static("", id="import-status", classes="note")
            yield ProgressBar(total=None, show_eta=False, id="import-progress")
            yield Static("", id="import-error", classes="dialog-error")
            yield FormButtons(self.SUBMIT)

    def compose_fields(self) -> ComposeResult:
        raise NotImplementedError

    def fill_fields(self, preview: TablePreview) -> None:
        """Set the column choices from a newly chosen file's header."""
        raise NotImplementedError

    def values(self) -> dict[str, Any] | str:
        raise NotImplementedError

    def perform(self, wb: Workbench, path: str, values: dict[str, Any]) -> Any:
        """The import itself, in a worker thread; ``self.report`` says how far it got."""
        raise NotImplementedError

    def on_mount(self) -> None:
        self.query_one("#import-progress", ProgressBar).display = False
        if self.preview is None:
            self.action_choose_file()
        else:
            self._show_file(self.preview)

    @property
    def wb(self) -> Workbench:
        wb = host_of(self.app).wb
        if wb is None:
            raise WorkbenchError("The workspace is still opening; try again in a moment.")
        return wb

    # --- the file and its preview ---------------------------------------------------------------

    def read_preview(self, path: Path, target: str | None = None) -> TablePreview:
        """Runs in a thread (the picker's, or this dialog's): read the file as the import would."""
        from app.services.table_preview import preview_table

        return preview_table(self.wb, self.slug, path, target=target, monitoring=self.MONITORING)

    def action_choose_file(self) -> None:
        if self.running:
            return
        start = Path(self.preview.path).parent if self.preview else None

        def chosen(preview: TablePreview | None) -> None:
            if preview is not None:
                self._show_file(preview)
            elif self.preview is None:  # cancelled before any file was chosen: nothing to import
                self.dismiss(None)

        self.app.push_screen(FilePicker(f"{self.TITLE}: choose the file", check=self.read_preview, start=start),
                             chosen)

    def _show_file(self, preview: TablePreview) -> None:
        self.preview = preview
        self._show_error("")
        self.query_one("#import-file", Static).update(
            Text.assemble((preview.name, "bold"), f" · {preview.n_rows:,} rows × {len(preview.columns)} columns · ",
                          (preview.path, "dim")))
        table = self.query_one("#import-preview", DataTable)
        table.clear(columns=True)
        for column in preview.columns:
            table.add_column(Text(column, style="bold"), key=column)
        for row in preview.head:
            table.add_row(*row)
        self.fill_fields(preview)
        self._show_findings(preview)
        fields = self.query("#import-fields Select, #import-fields Input")
        if fields:
            fields.first().focus()

    def _show_findings(self, preview: TablePreview) -> None:
        text = findings_preview(preview.findings, n_rows=preview.n_rows)
        for note in preview.notes:
            text.append(f"  note: {note}\n", style="dim")
        self.query_one("#import-findings", Static).update(text)

    @work(thread=True, exit_on_error=False, exclusive=True, group="import-preview")
    def repreview(self, target: str | None) -> None:
        """Findings depend on the target (class balance, a target with gaps): read them again."""
        if self.preview is not None:
            self.post_message(self.Previewed(self.read_preview(Path(self.preview.path), target)))

    @on(Previewed)
    def _previewed(self, message: Previewed) -> None:
        self.preview = message.preview
        self._show_findings(message.preview)

    # --- running the import -----------------------------------------------------------------------

    def _show_error(self, error: str) -> None:
        self.query_one("#import-error", Static).update(error)

    def action_submit(self) -> None:
        if self.running:
            return
        if self.preview is None:
            self._show_error("Choose a file first (ctrl+o).")
            return
        values = self.values()
        if isinstance(values, str):
            self._show_error(values)
            return
        self._show_error("")
        self.running = True
        bar = self.query_one("#import-progress", ProgressBar)
        bar.display = True
        bar.update(total=None)
        self.query_one("#import-status", Static).update(f"importing {self.preview.name}…")
        self._run(self.preview.path, values)

    def report(self, fraction: float, message: str, *, job_id: int | None = None) -> None:
        """Progress from the worker thread: to the jobs strip (as the job, when there is one) and here."""
        progress = host_of(self.app).progress
        if job_id is not None:
            self.job_id = job_id
        key = job_id if job_id is not None else IMPORT_PROGRESS_KEY
        if self.progress_key is not None and self.progress_key != key:
            progress.finish(self.progress_key)  # the in-process step ended; the job's entry takes over
        self.progress_key = key
        progress.update(key, f"{self.SUBMIT.lower()} {self.preview.name if self.preview else ''} ({self.slug})",
                        fraction, message)
        self.post_message(self.Progressed(fraction, message))

    @work(thread=True, exit_on_error=False, exclusive=True, group="import-run")
    def _run(self, path: str, values: dict[str, Any]) -> None:
        try:
            self.post_message(self.Finished(self.perform(self.wb, path, values)))
        except (WorkbenchError, JobCancelled) as exc:
            self.post_message(self.Failed(str(exc)))
        finally:
            if self.progress_key is not None:
                host_of(self.app).progress.finish(self.progress_key)
                self.progress_key = None

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        bar = self.query_one("#import-progress", ProgressBar)
        if message.fraction < 0:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=round(message.fraction * 100))
        self.query_one("#import-status", Static).update(message.message)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self.running = False
        self.dismiss(message.result)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.running = False
        self.job_id = None
        self.query_one("#import-progress", ProgressBar).display = False
        self.query_one("#import-status", Static).update("")
        self._show_error(message.error)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """A failure that is not a refusal (a bug) still ends the run, and the app reports it."""
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "import-run":
            self.post_message(self.Failed(f"the import failed: {type(event.worker.error).__name__}: "
                                          f"{event.worker.error}"))
        elif isinstance(event.worker.error, WorkbenchError):
            self._show_error(str(event.worker.error))
            return
        host_of(self.app).report_worker_error(event)

    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(None)
            return
        runner = host_of(self.app).runner
        if self.job_id is not None and runner is not None and runner.cancel(self.job_id):
            self.query_one("#import-status", Static).update(f"cancelling job {self.job_id}…")
        else:
            self.notify("The file is being stored; that cannot be stopped half-way and takes a moment.",
                        severity="warning")


class DatasetImportDialog(ImportDialog):
    """Stage 3: a CSV or Parquet file becomes a dataset version (returns its ``DatasetVersionView``)."""

    TITLE = "Import a dataset"
    DIALOG_ID = "dataset-import-dialog"

    def compose_fields(self) -> ComposeResult:
        with Vertical(classes="import-field"):
            yield Label("Target column (what is predicted)")
            yield Select[str]([], prompt="none (unsupervised)", id="import-target")
        with Vertical(classes="import-field"):
            yield Label("Time column (temporal splits, leakage)")
            yield Select[str]([], prompt="none", id="import-time")

    def fill_fields(self, preview: TablePreview) -> None:
        choices = [(c, c) for c in preview.columns]
        target = self.query_one("#import-target", Select)
        target.set_options(choices)
        target.value = preview.suggested_target if preview.suggested_target else Select.NULL
        time = self.query_one("#import-time", Select)
        time.set_options(choices)
        time.value = preview.suggested_time if preview.suggested_time else Select.NULL

    @on(Select.Changed, "#import-target")
    def _target_changed(self, event: Select.Changed) -> None:
        target = None if event.value is Select.NULL else str(event.value)
        if self.preview is not None and target != self.preview.target:
            self.repreview(target)

    def values(self) -> dict[str, Any] | str:
        target = _select_value(self.query_one("#import-target", Select))
        time_column = _select_value(self.query_one("#import-time", Select))
        if target is not None and target == time_column:
            return "The target and the time column must be different columns."
        return {"target": target, "time_column": time_column}

    def perform(self, wb: Workbench, path: str, values: dict[str, Any]) -> Any:
        from app.services.datasets import import_dataset

        self.report(-1.0, f"checking, fingerprinting and storing {Path(path).name} (one step)")
        return import_dataset(wb, self.slug, path, target=values["target"], time_column=values["time_column"])


class BatchImportDialog(ImportDialog):
    """Stage 6: a file of production inputs becomes a monitoring batch (returns its ``BatchView``)."""

    TITLE = "Import a monitoring batch"
    DIALOG_ID = "batch-import-dialog"
    MONITORING = True

    def compose_fields(self) -> ComposeResult:
        with Vertical(classes="import-field"):
            yield Label("Batch label (its period)")
            yield Input(id="import-label", placeholder="2026-04")
        with Vertical(classes="import-field"):
            yield Label("Id column (for labels)")
            yield Select[str]([], prompt="none (no labels later)", id="import-id")
        with Vertical(classes="import-field"):
            yield Label("Drift")
            yield Checkbox("analyse now", value=True, id="import-analyse",
                           tooltip="Analyse drift right away, as a job in a worker process; unticked, a on the monitoring screen does it later")

    def fill_fields(self, preview: TablePreview) -> None:
        label = self.query_one("#import-label", Input)
        if not label.value.strip():
            label.value = Path(preview.name).stem
        ids = self.query_one("#import-id", Select)
        ids.set_options([(c, c) for c in preview.columns])
        ids.value = preview.suggested_id if preview.suggested_id else Select.NULL

    def values(self) -> dict[str, Any] | str:
        label = self.query_one("#import-label", Input).value.strip()
        if not label:
            return "Give the batch a label, such as the month it covers (2026-04)."
        return {"label": label, "id_column": _select_value(self.query_one("#import-id", Select)),
                "analyse": self.query_one("#import-analyse", Checkbox).value}

    def perform(self, wb: Workbench, path: str, values: dict[str, Any]) -> Any:
        """Store the batch (step 1, in-process), then analyse it (step 2, a job with real progress).

        Importing the same file under the same label again returns the stored batch, so after a
        failed analysis ctrl+s simply tries the analysis again."""
        from app.services.monitoring_analysis import analyse_batch
        from app.services.monitoring_batches import import_batch

        steps = 2 if values["analyse"] else 1
        self.report(-1.0, f"step 1 of {steps}: checking, fingerprinting and storing {Path(path).name} as batch "
                          f"{values['label']}")
        batch = import_batch(wb, self.slug, path, label=values["label"], id_column=values["id_column"])
        runner = host_of(self.app).runner
        if not values["analyse"] or runner is None:
            return batch
        self.report(0.0, f"step 2 of 2: drift of batch {batch.label} against the reference (starting the job)")
        return analyse_batch(wb, runner, self.slug, batch.label,
                             on_progress=lambda job_id, fraction, message: self.report(
                                 fraction, f"step 2 of 2: {message}", job_id=job_id))


class LabelsImportDialog(ImportDialog):
    """Stage 6: delayed labels joined to a batch by id; performance, label shift and SLA checks run
    as a job in a worker process (returns the batch's ``BatchView``)."""

    TITLE = "Attach delayed labels"
    DIALOG_ID = "labels-import-dialog"
    MONITORING = True
    SUBMIT = "Attach labels"

    def __init__(self, slug: str, batches: list[str], *, batch: str | None = None,
                 preview: TablePreview | None = None) -> None:
        super().__init__(slug, preview=preview)
        self.batches = batches
        self.batch = batch if batch in batches else (batches[-1] if batches else None)

    def compose_fields(self) -> ComposeResult:
        with Vertical(classes="import-field"):
            yield Label("Batch")
            yield Select[str]([(b, b) for b in self.batches], value=self.batch or Select.NULL,
                              prompt="choose a batch", id="import-batch")
        with Vertical(classes="import-field"):
            yield Label("Id column")
            yield Select[str]([], prompt="choose", id="import-id")
        with Vertical(classes="import-field"):
            yield Label("Label column (outcome)")
            yield Select[str]([], prompt="choose", id="import-label-column")

    def fill_fields(self, preview: TablePreview) -> None:
        choices = [(c, c) for c in preview.columns]
        ids = self.query_one("#import-id", Select)
        ids.set_options(choices)
        ids.value = preview.suggested_id if preview.suggested_id else Select.NULL
        labels = self.query_one("#import-label-column", Select)
        labels.set_options(choices)
        labels.value = preview.suggested_target if preview.suggested_target else Select.NULL

    def values(self) -> dict[str, Any] | str:
        batch = _select_value(self.query_one("#import-batch", Select))
        id_column = _select_value(self.query_one("#import-id", Select))
        label_column = _select_value(self.query_one("#import-label-column", Select))
        if batch is None:
            return "Choose the batch these labels belong to (import a batch first with i)."
        if id_column is None or label_column is None:
            return "Choose both the id column and the label column of the labels file."
        if id_column == label_column:
            return "The id column and the label column must be different columns."
        return {"batch": batch, "id_column": id_column, "label_column": label_column}

    def perform(self, wb: Workbench, path: str, values: dict[str, Any]) -> Any:
        from app.services.monitoring_analysis import attach_labels

        runner = host_of(self.app).runner
        if runner is None:
            raise WorkbenchError("The workspace is still opening; try again in a moment.")
        self.report(0.0, f"queueing the labels job for batch {values['batch']}")
        return attach_labels(wb, runner, self.slug, values["batch"], path, id_column=values["id_column"],
                             label_column=values["label_column"],
                             on_progress=lambda job_id, fraction, message: self.report(fraction, message,
                                                                                       job_id=job_id))
