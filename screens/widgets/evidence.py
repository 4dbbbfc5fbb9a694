"""Rendering the documents' plain tables, facts and gate checklists as Textual widgets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from reports.data import Facts, TableData
from screens.widgets.tables import ReadableTable

if TYPE_CHECKING:
    from app.services.gates import CheckResult


# Nothing here is cut: each table gives its longest column the width the others leave and
# wraps rows to the height their text needs (the tables are a few rows each), and space opens a
# row in full. These are the widths the other columns keep.
CHECK_WIDTH = 36
REQUIRED_WIDTH = 10
ITEM_MAX_WIDTH = 28
COLUMN_MAX_WIDTH = 36


def _cell(value: str, highlight: bool) -> Text:
    return Text(value, style="bold yellow" if highlight else "")


def _longest_column(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """The index of the column with the most text: the one that stretches."""
    widths = [max([len(c), *(len(r[i]) for r in rows if i < len(r))]) for i, c in enumerate(columns)]
    return max(range(len(widths)), key=widths.__getitem__) if widths else 0


class EvidenceTable(Vertical):
    """A titled, read-only table; highlighted rows are the numbers that matter. Facts (label →
    value pairs, such as a model card) are shown as a two-column table."""

    def __init__(self, table: TableData | Facts, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(classes="evidence", **kwargs)
        self.table = table if isinstance(table, TableData) else TableData(table.title, ("Item", "Value"), table.rows)

    def compose(self) -> ComposeResult:
        yield Label(self.table.title, classes="evidence-title")
        if not self.table.rows:
            yield Static("None recorded yet.", classes="empty")
            return
        columns, rows = self.table.columns, self.table.rows
        stretch = _longest_column(columns, rows)
        grid = ReadableTable(flex=columns[stretch], wrap=True, title=self.table.title)
        for i, label in enumerate(columns):
            longest = max([len(label), *(len(r[i]) for r in rows if i < len(r))])
            grid.add_column(label, width=min(longest, COLUMN_MAX_WIDTH if i != stretch else max(len(label), 12)))
        for i, row in enumerate(rows):
            grid.add_row(*(_cell(v, i in self.table.highlight) for v in row))
        yield grid
        if self.table.note:
            yield Static(self.table.note, classes="note")


class GateChecklist(Vertical):
    def __init__(self, passed: bool, checks: Sequence[CheckResult], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(classes="gate", **kwargs)
        self.passed = passed
        self.checks = checks

    def compose(self) -> ComposeResult:
        verdict = Text("Gate passed", style="bold green") if self.passed else Text("Gate open", style="bold red")
        yield Label(verdict, classes="evidence-title")
        grid = ReadableTable(flex="Evidence", wrap=True, zebra_stripes=False, title="Gate check")
        grid.add_column("", width=1)
        grid.add_column("Check", width=CHECK_WIDTH)
        grid.add_column("Evidence", width=12)
        grid.add_column("Required", width=REQUIRED_WIDTH)
        for c in self.checks:
            mark = Text("✔", style="green") if c.passed else Text("✘" if c.required else "!", style="red" if c.required else "yellow")
            grid.add_row(mark, Text(c.label), Text(c.detail), Text("required" if c.required else "warns only"))
        yield grid


class Deliverables(Vertical):
    def __init__(self, rows: tuple[tuple[str, str], ...], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(classes="deliverables", **kwargs)
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield Label("Deliverables", classes="evidence-title")
        grid = ReadableTable(flex="Value", wrap=True, title="Deliverable")
        grid.add_column("Item", width=min(max((len(label) for label, _ in self.rows), default=4), ITEM_MAX_WIDTH))
        grid.add_column("Value", width=12)
        for label, value in self.rows:
            grid.add_row(Text(label, style="bold"), Text(value if value else "—", style="" if value and value != "—" else "dim"))
        yield grid
