"""A heat table of drift: one row per feature (then the prediction and the label), one column
per monitoring batch, each cell the batch's PSI for that feature coloured by its band.

The bands are the ones risk teams read PSI by (below 0.1 stable, 0.1–0.25 worth a look, above
0.25 act); the thresholds come from the monitoring service through the screen, so the colours
and the alerts never disagree. A cell is marked ▲ when the test's verdict for that feature was
"drifted" — that verdict uses the project's thresholds and the KS / chi-square results, so a
yellow cell can be drifted and a red one (on a tiny category) can be not.

The cursor highlights a whole column: moving it left or right chooses the batch whose
statistics the screen shows in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

if TYPE_CHECKING:
    from app.services.monitoring_batches import BatchView, DriftResultView

DRIFTED_MARK = "▲"
NOT_MEASURED = "—"
NOT_ANALYSED = "…"
SUBJECT_ORDER = {"feature": 0, "prediction": 1, "label": 2}
# Background colours readable with both light and dark text themes; the text carries the
# number, so a colour-blind reader loses nothing but the glance.
BAND_STYLES = {
    "stable": "#e8f5e9 on #1b5e20",
    "watch": "#1a1a1a on #f9a825",
    "act": "bold #ffffff on #b71c1c",
}
# The same bands as plain foreground colours, for bars and numbers outside the table.
BAND_COLOURS = {"stable": "green", "watch": "yellow", "act": "bold red"}
CELL_WIDTH = 9
LABEL_WIDTH = 18  # longer feature names are cut with an ellipsis (the batch detail has them whole)


def band(psi: float, watch: float, act: float) -> str:
    """"stable" below ``watch``, "watch" up to ``act`` (inclusive), "act" above it."""
    if psi < watch:
        return "stable"
    return "watch" if psi <= act else "act"


def row_key(row: DriftResultView) -> str:
    return f"{row.subject}:{row.feature}"


def row_label(row: DriftResultView, width: int | None = None) -> str:
    """"user_age"; "prediction" (the engine names it "__prediction__" or similar); "label (clicked)"."""
    if row.subject == "feature":
        label = row.feature
    elif row.subject == "prediction":
        internal = row.feature == "prediction" or (row.feature.startswith("__") and row.feature.endswith("__"))
        label = "prediction" if internal else f"prediction ({row.feature})"
    else:
        label = f"label ({row.feature})"
    return label if width is None or len(label) <= width else label[: width - 1] + "…"


def heat_rows(batches: Sequence[BatchView]) -> list[tuple[str, str]]:
    """(key, label) of every row: features in the order the first batch that has them lists
    them, then what the model predicted, then the label."""
    seen: dict[str, tuple[int, int, str]] = {}
    order = 0
    for batch in batches:
        for row in batch.drift:
            key = row_key(row)
            if key not in seen:
                seen[key] = (SUBJECT_ORDER.get(row.subject, 3), order, row_label(row, LABEL_WIDTH))
                order += 1
    return [(key, label) for key, (_, _, label) in sorted(seen.items(), key=lambda item: item[1][:2])]


def heat_cell(row: DriftResultView | None, *, analysed: bool, watch: float, act: float) -> Text:
    """The cell text: PSI to three decimals in its band's colour, ▲ when the verdict is drifted."""
    if row is None:
        return Text((NOT_MEASURED if analysed else NOT_ANALYSED).center(CELL_WIDTH), style="dim")
    mark = f" {DRIFTED_MARK}" if row.drifted else "  "
    if row.psi is None:
        # No PSI (e.g. a label with too few classes): the verdict still shows.
        return Text(f"{NOT_MEASURED:>6}{mark} ", style="bold" if row.drifted else "dim")
    return Text(f"{row.psi:>6.3f}{mark} ", style=BAND_STYLES[band(row.psi, watch, act)])


def legend(watch: float, act: float) -> Text:
    out = Text("PSI  ", style="bold")
    for name, text in (("stable", f"< {watch:g} stable"), ("watch", f"{watch:g}–{act:g} watch"),
                       ("act", f"> {act:g} act")):
        out.append(f" {text} ", style=BAND_STYLES[name])
        out.append(" ")
    out.append(f"\n{DRIFTED_MARK} drifted (test verdict)  {NOT_MEASURED} not measured  {NOT_ANALYSED} not analysed",
               style="dim")
    return out


class DriftHeat(Vertical):
    """Rows = features (+ prediction, label), columns = batches, cells = PSI by band."""

    @dataclass
    class BatchHighlighted(Message):
        """The column cursor moved to a batch."""

        heat: DriftHeat
        batch: BatchView

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.batches: list[BatchView] = []
        self.watch = 0.1
        self.act = 0.25

    def compose(self) -> ComposeResult:
        yield DataTable(id="drift-heat-table", cursor_type="column", zebra_stripes=False)
        yield Static("", id="drift-heat-legend")

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#drift-heat-table", DataTable)

    @property
    def selected(self) -> BatchView | None:
        if not self.batches or not self.table.columns:
            return None
        column = min(self.table.cursor_column, len(self.batches) - 1)
        return self.batches[column]

    def set_batches(self, batches: Sequence[BatchView], *, watch: float, act: float) -> None:
        """Redraw for these batches (in arrival order), keeping the cursor on the same batch."""
        keep = self.selected.id if self.selected else None
        self.batches, self.watch, self.act = list(batches), watch, act
        table = self.table
        table.clear(columns=True)
        for batch in self.batches:
            title = batch.label if len(batch.label) <= CELL_WIDTH else batch.label[: CELL_WIDTH - 1] + "…"
            table.add_column(Text(title, style="bold"), width=CELL_WIDTH, key=str(batch.id))
        by_batch = {b.id: {row_key(r): r for r in b.drift} for b in self.batches}
        for key, label in heat_rows(self.batches):
            table.add_row(*(heat_cell(by_batch[b.id].get(key), analysed=b.analysed, watch=watch, act=act)
                            for b in self.batches), key=key, label=Text(label, style="bold"))
        self.query_one("#drift-heat-legend", Static).update(legend(watch, act))
        ids = [b.id for b in self.batches]
        if ids:
            # Start on the newest batch: that is the one a person opening the screen asks about.
            table.move_cursor(column=ids.index(keep) if keep in ids else len(ids) - 1)

    def select_batch(self, label: str) -> bool:
        for i, batch in enumerate(self.batches):
            if batch.label == label:
                self.table.move_cursor(column=i)
                return True
        return False

    @on(DataTable.ColumnHighlighted, "#drift-heat-table")
    def _column_highlighted(self, event: DataTable.ColumnHighlighted) -> None:
        event.stop()
        if 0 <= event.cursor_column < len(self.batches):
            self.post_message(self.BatchHighlighted(self, self.batches[event.cursor_column]))
