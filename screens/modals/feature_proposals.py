"""Stage 2 from a dataset: propose the feature spec from a dataset version's profile, then read
the guesses and confirm the ones that are right.

Two dialogs, the TUI face of `mlwb frame PROJECT --infer-from DATASET` and `--confirm`:

- ``ProposeFeaturesDialog`` chooses the dataset version and the target column; its save (the
  screen's, in a thread) is ``deliverables.propose_features``, which stores the guesses as a
  proposal (audited) and leaves the framing alone.
- ``ProposalReviewDialog`` shows every proposed feature with its type, serving-time availability
  and personal-data guess and why each was guessed; space (or enter) takes a feature in or
  leaves it out, and ctrl+s confirms the ones taken through ``deliverables.confirm_proposals``
  (the person's decision, audited). What is left out stays proposed for later.

Nothing guessed counts until it is confirmed: the gate, the trainer and the reports read only
the framing. A guess that is wrong is fixed after confirming it, in the framing form (e).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Select, Static

from app.services.numbering import dataset_label as numbered_dataset
from screens.modals.form import FormButtons, FormDialog

if TYPE_CHECKING:
    from app.services.datasets import DatasetVersionView

WORD = {True: "yes", False: "no", None: "?"}
NOTHING_TAKEN = "Take at least one feature (space), or close with esc: nothing is confirmed until you do."


def dataset_label(dataset: DatasetVersionView) -> str:
    """How a person tells the project's dataset versions apart in the choice."""
    return (f"{numbered_dataset(dataset.number)} · {dataset.source_name} · {dataset.n_rows:,} rows × {dataset.n_columns} · "
            f"{dataset.created_at:%Y-%m-%d}")


def default_target(dataset: DatasetVersionView, framing_target: str) -> str:
    """The framing's target when the dataset has that column, else the one it was imported with,
    else its last column (the usual place of a label)."""
    if framing_target and framing_target in dataset.schema:
        return framing_target
    if dataset.target and dataset.target in dataset.schema:
        return dataset.target
    return list(dataset.schema)[-1]


class ProposeFeaturesDialog(FormDialog[dict[str, Any] | None]):
    """Returns what the screen's save returned (the stored proposal), or None when cancelled;
    without a save, {"dataset_id": int, "target": str}."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="propose_features.cancel", tooltip="Close without proposing"),
        Binding("ctrl+s", "submit", "Propose", id="propose_features.propose",
                tooltip="Guess the features from this dataset version (kept as a proposal, audited)"),
    ]

    def __init__(self, slug: str, datasets: list[DatasetVersionView], framing_target: str = "") -> None:
        super().__init__()
        self.slug = slug
        self.datasets = {d.id: d for d in datasets}
        self.framing_target = framing_target

    def compose(self) -> ComposeResult:
        first = next(iter(self.datasets.values()))
        with VerticalScroll(classes="dialog form", id="propose-features-dialog"):
            yield Label(f"Propose {self.slug}'s features from a dataset · ctrl+s proposes, esc cancels",
                        classes="dialog-title")
            yield Static("Each column but the target becomes a proposed feature with a guessed type, serving-time "
                         "availability and personal-data flag, and the reason for each guess. Guesses count for "
                         "nothing until you confirm them on the next screen.", classes="note")
            yield Label("Dataset version")
            yield Select([(Text(dataset_label(d)), d.id) for d in self.datasets.values()], value=first.id,
                         allow_blank=False, id="propose-dataset")
            yield Label("Target column (left out of the features)")
            yield Select(self._target_options(first), value=default_target(first, self.framing_target),
                         allow_blank=False, id="propose-target")
            yield FormButtons("Propose")

    @staticmethod
    def _target_options(dataset: DatasetVersionView) -> list[tuple[Text, str]]:
        return [(Text(f"{name}  ({kind})"), name) for name, kind in dataset.schema.items()]

    @on(Select.Changed, "#propose-dataset")
    def _dataset_changed(self, event: Select.Changed) -> None:
        dataset = self.datasets.get(event.value)  # type: ignore[arg-type]
        if dataset is None:
            return
        target = self.query_one("#propose-target", Select)
        target.set_options(self._target_options(dataset))
        target.value = default_target(dataset, self.framing_target)

    def error_field(self, message: str) -> str | None:
        return "propose-target" if message.startswith("target") else None

    def action_submit(self) -> None:
        dataset_id = self.query_one("#propose-dataset", Select).value
        target = self.query_one("#propose-target", Select).value
        self.finish({"dataset_id": dataset_id, "target": target})


def _why(feature: dict[str, Any]) -> str:
    """The reasons worth reading: the ones behind a guess that departs from the usual (a type
    that may be an identifier, a column not available at serving time, personal data)."""
    basis = feature.get("basis", {})
    notable = [basis["type"]] if "distinct values" in basis.get("type", "") else []
    notable += [basis[k] for k, usual in (("available_at_serving", True), ("pii", False))
                if feature.get(k) is not usual and basis.get(k)]
    return "; ".join(notable) or "nothing notable in the name: look at the values"


class ProposalReviewDialog(FormDialog[Any]):
    """Returns what the screen's save returned (the confirmation), or None when closed; without a
    save, the list of names taken."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="proposal_review.close",
                tooltip="Close; the proposals stay for later (c on stage 2 reopens them)"),
        Binding("space", "toggle", "Take / leave", id="proposal_review.toggle",
                tooltip="Take the highlighted feature into the framing, or leave it out"),
        Binding("a", "take_all", "Take all", id="proposal_review.take_all",
                tooltip="Take every proposed feature"),
        Binding("ctrl+s", "submit", "Confirm", id="proposal_review.confirm",
                tooltip="Record the features taken as your decision in the framing (audited)"),
    ]

    def __init__(self, slug: str, proposal: dict[str, Any], framing_features: list[dict[str, Any]],
                 dataset: str = "") -> None:
        super().__init__()
        self.slug = slug
        self.proposal = proposal
        self.features: list[dict[str, Any]] = list(proposal.get("features", []))
        self.existing = {f["name"] for f in framing_features}
        self.taken = {f["name"] for f in self.features}
        self.dataset = dataset or f"dataset {proposal.get('dataset_version')}"

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="proposal-review-dialog"):
            yield Label(f"Proposed features of {self.slug} · space takes or leaves · ctrl+s confirms · esc closes",
                        classes="dialog-title")
            yield Static(Text(f"Guessed from {self.dataset}, target {self.proposal.get('target') or '—'}, by "
                              f"{self.proposal.get('proposed_by', '?')}. These are guesses, not anyone's decision: "
                              "read them, leave out what is wrong, confirm the rest (a wrong type or flag is fixed "
                              "after confirming, in the framing form: e)."), classes="note")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="proposal-table")
            yield Static("", id="proposal-count", classes="note")
            yield FormButtons("Confirm")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#proposal-table", DataTable)
        # Widths fit the dialog (90 columns, less padding) so nothing scrolls sideways; the reasons
        # wrap in their column, each row as tall as its reason needs.
        for label, width in (("Take", 4), ("Feature", 16), ("Type", 11), ("Serving", 7), ("PII", 3),
                             ("Why", 30)):
            table.add_column(label, width=width, key=label.lower())
        for f in self.features:
            table.add_row(*self._cells(f), key=f["name"], height=None)
        self._count()
        table.focus()

    def _cells(self, f: dict[str, Any]) -> tuple[Text, ...]:
        name = f["name"]
        if name in self.existing:
            take = Text("kept", style="dim")
        elif name in self.taken:
            take = Text("✔", style="bold green")
        else:
            take = Text("—", style="dim")
        return (take, Text(name, style="bold"), Text(f["type"]),
                Text(WORD[f.get("available_at_serving")], style="" if f.get("available_at_serving") else "bold yellow"),
                Text(WORD[f.get("pii")], style="bold yellow" if f.get("pii") else ""),
                Text(_why(f), style="dim"))

    def _count(self) -> None:
        taken = [n for n in self.taken if n not in self.existing]
        kept = sorted(self.existing & {f["name"] for f in self.features})
        line = f"{len(taken)} of {len(self.features)} feature(s) taken."
        if kept:
            line += f" The framing already lists {', '.join(kept)}: what it says there is kept."
        self.query_one("#proposal-count", Static).update(Text(line))

    def _refresh_row(self, name: str) -> None:
        table = self.query_one("#proposal-table", DataTable)
        feature = next(f for f in self.features if f["name"] == name)
        table.update_cell(name, "take", self._cells(feature)[0])
        self._count()

    def action_toggle(self) -> None:
        table = self.query_one("#proposal-table", DataTable)
        if table.row_count == 0:
            return
        name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        self.taken.symmetric_difference_update({name})
        self._refresh_row(name)

    @on(DataTable.RowSelected, "#proposal-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_toggle()

    def action_take_all(self) -> None:
        self.taken = {f["name"] for f in self.features}
        for name in self.taken:
            self._refresh_row(name)

    def action_submit(self) -> None:
        names = [f["name"] for f in self.features if f["name"] in self.taken]
        if not names:
            self.show_error(NOTHING_TAKEN)
            return
        self.finish(names)
