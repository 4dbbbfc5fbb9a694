"""Stage 3 at full size: a project's dataset versions, their findings, splits and leakage.

What a reviewer needs to trust the data in one place: for the selected version, what the
import and the quality report noticed, how the latest split was made (so it can be
re-created: strategy, seed, fractions, fingerprint) and what the leakage checks found, with
the evidence. Checking and splitting are service calls in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from screens.base import SnapshotScreen
from screens.widgets.tables import cursor_key, row_table

if TYPE_CHECKING:
    from app.services.datasets import DataCheck, DatasetVersionView, SplitView
    from app.services.mlflow_import import MlflowImport
    from app.services.workbench import Workbench

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
NO_LEAKAGE = "No leakage found: no shared rows, no temporal overlap, no target-leaking feature."
DATASET_COLUMNS = (("Version", 8), ("Role", 10), ("Source", 28), ("Rows × cols", 14), ("Target", 12),
                   ("Time column", 12), ("Findings", 8))


@dataclass(frozen=True)
class DataSnapshot:
    datasets: list[DatasetVersionView]
    splits: list[SplitView]


def findings_of(dataset: DatasetVersionView) -> list[dict[str, Any]]:
    """Import and quality findings, each (check, column) once — both reports notice constant or
    mixed-type columns, and counting them twice would overstate the problems."""
    seen: set[tuple[Any, Any]] = set()
    unique = []
    for f in [*dataset.findings, *dataset.quality]:
        key = (f.get("check"), f.get("column"))
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _severity(severity: str) -> Text:
    return Text(f"{severity:<8}", style=SEVERITY_STYLE.get(severity, ""))


def findings_text(title: str, findings: list[dict[str, Any]] | tuple[dict[str, Any], ...], *,
                  detail_key: str = "detail", subject_key: str = "column", empty: str = "none") -> Text:
    out = Text()
    out.append(f"{title}\n", style="bold underline")
    if not findings:
        out.append(f"  {empty}\n", style="green")
        return out
    for f in sorted(findings, key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 3)):
        severity = str(f.get("severity", "info"))
        out.append("  ")
        out.append_text(_severity(severity))
        subject = f.get(subject_key) or "(table)"
        out.append(f"{f.get('check')} · {subject}: ", style="bold" if severity == "error" else "")
        out.append(f"{f.get(detail_key, '')}\n", style="red" if severity == "error" else "")
    return out


def split_text(split: SplitView | None) -> Text:
    out = Text()
    out.append("Latest split\n", style="bold underline")
    if split is None:
        out.append("  none yet — press s to split this version\n", style="dim")
        return out
    fractions = " / ".join(f"{k} {v:.0%}" for k, v in split.fractions.items())
    counts = " / ".join(f"{k} {v:,}" for k, v in split.counts.items() if k != "train_test_overlap")
    overlap = split.counts.get("train_test_overlap", 0)
    rows = (
        ("split", f"{split.id} (created {split.created_at:%Y-%m-%d %H:%M})"),
        ("strategy", split.strategy), ("seed", str(split.seed)), ("fractions", fractions), ("rows", counts),
        ("train/test shared rows", str(overlap)), ("time column", split.time_column or "—"),
        ("group column", split.group_column or "—"), ("gap", str(split.gap)), ("fingerprint", split.fingerprint),
    )
    for label, value in rows:
        out.append(f"  {label:<24}", style="dim")
        out.append(value + "\n", style="bold red" if label.startswith("train/test") and overlap else "")
    return out


class DataScreen(SnapshotScreen[DataSnapshot]):
    """Dataset versions of one project; the selected one's findings, split and leakage."""

    BINDINGS = [
        Binding("i", "import_file", "Import", id="data.import",
                tooltip="Import a CSV or Parquet file as a dataset version: pick it, choose the target and time "
                        "columns, see its first rows and findings"),
        Binding("c", "check", "Check", id="data.check",
                tooltip="Re-run the quality and leakage check of the selected version"),
        Binding("s", "split", "Split", id="data.split",
                tooltip="Split the selected version (random, stratified, temporal, group)"),
        Binding("m", "import_mlflow", "From MLflow", id="data.import_mlflow",
                tooltip="Import runs, metric histories, tags and registered versions from an MLflow store (an "
                        "mlruns/ folder or a .db file), filed under the newest training data; models are not loaded"),
        Binding("r", "reload", "Refresh", id="data.refresh", tooltip="Read the datasets and splits again"),
        Binding("escape", "app.pop_screen", "Back", id="data.back", tooltip="Back to the project"),
    ]

    def __init__(self, slug: str, *, then: str | None = None) -> None:
        """``then`` names an action to run once the first snapshot is shown (the command palette's
        "import a dataset" opens this screen with ``then="import_file"``)."""
        super().__init__()
        self.slug = slug
        self.snapshot: DataSnapshot | None = None
        self.last_check: DataCheck | None = None
        self.then = then
        self.select_after: int | None = None  # the version just imported, highlighted once shown

    @dataclass
    class DatasetChecked(Message, bubble=False):
        result: DataCheck

    @dataclass
    class SplitStored(Message, bubble=False):
        split: SplitView

    def compose_body(self) -> ComposeResult:
        with Vertical(id="data"):
            yield Static(f"[b]{self.slug}[/b] · dataset versions  loading…", id="data-title")
            yield row_table("datasets", DATASET_COLUMNS)
            with VerticalScroll(id="data-detail"):
                yield Static("", id="data-findings")
                yield Static("", id="data-split")
                yield Static("", id="data-leakage")
                yield Static("", id="data-check")

    def on_mount(self) -> None:
        self.query_one("#datasets", DataTable).focus()

    def load(self, wb: Workbench) -> DataSnapshot:
        from app.services.datasets import list_datasets, list_splits

        return DataSnapshot(list_datasets(wb, self.slug), list_splits(wb, self.slug))

    def show(self, snapshot: DataSnapshot) -> None:
        self.snapshot = snapshot
        table = self.query_one("#datasets", DataTable)
        keep = self.select_after if self.select_after is not None else self.selected.id if self.selected else None
        self.select_after = None
        table.clear()
        for d in snapshot.datasets:
            count = len(findings_of(d))
            table.add_row(Text(str(d.number), style="bold"), Text(d.role, style="bold" if d.role == "training" else ""),
                          Text(d.source_name), Text(f"{d.n_rows:,} × {d.n_columns}"), Text(d.target or "—"),
                          Text(d.time_column or "—"), Text(str(count), style="yellow" if count else "green"),
                          key=str(d.id))
        if keep is not None:
            ids = [d.id for d in snapshot.datasets]
            if keep in ids:
                table.move_cursor(row=ids.index(keep))
        roles = sorted({d.role for d in snapshot.datasets})
        self.query_one("#data-title", Static).update(
            f"[b]{self.slug}[/b] · {len(snapshot.datasets)} dataset version(s) ({', '.join(roles) or 'none'}) · "
            f"{len(snapshot.splits)} split(s)"
        )
        self._show_selected()
        if self.then:
            action, self.then = self.then, None
            self.call_after_refresh(self.run_action, action)

    @property
    def selected(self) -> DatasetVersionView | None:
        if self.snapshot is None or not self.snapshot.datasets:
            return None
        key = cursor_key(self.query_one("#datasets", DataTable))
        return next((d for d in self.snapshot.datasets if str(d.id) == key), None)

    def latest_split(self, dataset_id: int) -> SplitView | None:
        if self.snapshot is None:
            return None
        splits = [s for s in self.snapshot.splits if s.dataset_version_id == dataset_id]
        return splits[-1] if splits else None

    @on(DataTable.RowHighlighted, "#datasets")
    def _highlighted(self) -> None:
        self._show_selected()
        self.refresh_bindings()

    def _show_selected(self) -> None:
        dataset = self.selected
        findings = self.query_one("#data-findings", Static)
        split_box = self.query_one("#data-split", Static)
        leakage_box = self.query_one("#data-leakage", Static)
        if dataset is None:
            findings.update("No dataset versions yet: press i to import a CSV or Parquet file "
                            "(or `mlwb data import` from a shell).")
            split_box.update("")
            leakage_box.update("")
            return
        text = Text()
        text.append(f"Dataset {dataset.number}", style="bold")
        text.append(f" · {dataset.role} · sha256 {dataset.sha256[:16]}… · imported by {dataset.created_by} "
                    f"{dataset.created_at:%Y-%m-%d %H:%M}\n\n", style="dim")
        text.append_text(findings_text("Import findings", dataset.findings, empty="none: the file loaded cleanly"))
        text.append("\n")
        text.append_text(findings_text("Quality findings", dataset.quality, empty="none"))
        findings.update(text)
        check = self.query_one("#data-check", Static)
        if self.last_check is None or self.last_check.dataset_version_id != dataset.id:
            check.update("")
        if not dataset.target:
            split_box.update(Text("Latest split\n", style="bold underline")
                             + Text("  not split: a monitoring batch has no target; it is compared with the "
                                    "training data for drift instead\n", style="dim"))
            leakage_box.update("")
            return
        split = self.latest_split(dataset.id)
        split_box.update(split_text(split))
        leakage_box.update(findings_text("Leakage findings", split.leakage if split else (), detail_key="evidence",
                                         subject_key="feature",
                                         empty=NO_LEAKAGE if split else "no split yet — c checks a provisional one"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Check and split need a target column; monitoring batches have none."""
        if action in ("check", "split"):
            if not self.is_mounted:
                return True
            dataset = self.selected
            return dataset is not None and bool(dataset.target)
        return True

    # --- actions -------------------------------------------------------------------------

    def action_import_file(self) -> None:
        from screens.modals.import_dialog import DatasetImportDialog

        def imported(dataset: DatasetVersionView | None) -> None:
            if dataset is None:
                return
            count = len(findings_of(dataset))
            self.notify(f"Dataset {dataset.number}: {dataset.n_rows:,} rows × {dataset.n_columns}, "
                        f"{count} finding(s)" + ("" if dataset.is_new else " (these bytes were already imported)"),
                        title="Dataset imported", severity="warning" if count else "information")
            self.select_after = dataset.id
            self.announce_change(everywhere=True)

        self.app.push_screen(DatasetImportDialog(self.slug), imported)

    def action_import_mlflow(self) -> None:
        """Pick an MLflow store; the picker's check (a thread worker) runs the import itself, so a
        refusal (not an MLflow store, no training data) is shown beside the path and the picker
        stays open for another try."""
        from pathlib import Path

        from app.services.mlflow_store import looks_like_file_store
        from screens.modals.file_picker import FilePicker

        wb, slug = self.wb, self.slug

        def import_store(path: Path) -> MlflowImport:
            from app.services.mlflow_import import import_mlflow

            return import_mlflow(wb, slug, path)

        def imported(result: MlflowImport | None) -> None:
            if result is None:
                return
            notes = sorted({run.model_note for run in result.runs if run.new})
            self.notify(f"{result.summary}. Filed under dataset {result.dataset_number}, split {result.split_id}; "
                        "the metrics (mlflow.…) are MLflow's, on data the workbench did not see: not comparable "
                        "until re-scored. " + " ".join(f"{n}." for n in notes + result.skipped),
                        title="Imported from MLflow", timeout=20,
                        severity="information" if any(r.new for r in result.runs) else "warning")
            self.announce_change(everywhere=True)

        self.app.push_screen(FilePicker(f"Import an MLflow store into {slug} (an mlruns/ folder or a .db file)",
                                        check=import_store, suffixes=(".db", ".sqlite"),
                                        chooses_folder=looks_like_file_store), imported)

    def action_check(self) -> None:
        dataset = self.selected
        if dataset is None or not dataset.target:
            return
        self.query_one("#data-check", Static).update(Text(f"Checking dataset {dataset.number}…", style="dim"))
        self._check(dataset.id)

    @work(thread=True, exit_on_error=False, exclusive=True, group="data-check")
    def _check(self, dataset_id: int) -> None:
        from app.services.datasets import check_dataset

        self.post_message(self.DatasetChecked(check_dataset(self.wb, self.slug, dataset_id)))

    @on(DatasetChecked)
    def _checked(self, message: DatasetChecked) -> None:
        result = message.result
        self.last_check = result
        errors = [f for f in [*result.quality, *result.leakage] if f.get("severity") == "error"]
        against = f"split {result.split_id}" if result.split_id else "a provisional stratified split (not stored)"
        text = Text()
        text.append(f"Check of dataset {result.dataset_number} against {against}\n",
                    style="bold underline")
        verdict = (Text(f"  {len(errors)} error(s): fix them before training\n", style="bold red") if errors
                   else Text(f"  no errors · {len(result.quality)} quality finding(s) · "
                             f"{len(result.leakage)} leakage finding(s)\n", style="bold green"))
        text.append_text(verdict)
        text.append_text(findings_text("  Leakage", result.leakage, detail_key="evidence", subject_key="feature",
                                       empty=NO_LEAKAGE))
        self.query_one("#data-check", Static).update(text)
        self.notify(verdict.plain.strip(), title=f"Dataset {result.dataset_number} checked",
                    severity="error" if errors else "information")

    def action_split(self) -> None:
        from screens.modals.split_dialog import SplitDialog

        dataset = self.selected
        if dataset is None or not dataset.target:
            return
        columns = [c for c in dataset.schema if c != dataset.target]

        def chosen(values: dict[str, Any] | None) -> None:
            if values:
                self.notify(f"Splitting dataset {dataset.number} ({values['strategy']}, seed {values['seed']})…")
                self._split(dataset.id, values)

        self.app.push_screen(SplitDialog(dataset.number, columns, dataset.time_column), chosen)

    @work(thread=True, exit_on_error=False, group="data-write")
    def _split(self, dataset_id: int, values: dict[str, Any]) -> None:
        from app.services.datasets import create_split

        self.post_message(self.SplitStored(create_split(self.wb, self.slug, dataset_id=dataset_id, **values)))

    @on(SplitStored)
    def _split_stored(self, message: SplitStored) -> None:
        split = message.split
        errors = [f for f in split.leakage if f.get("severity") == "error"]
        self.notify(f"Split {split.id}: {split.strategy}, fingerprint {split.fingerprint[:12]}…"
                    + (f" — {len(errors)} leakage error(s) block training" if errors else ", no leakage errors"),
                    title="Split stored", severity="error" if errors else "information", timeout=10)
        self.reload()
