"""Rendering the documents' plain tables, facts and gate checklists as Textual widgets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from reports.data import Facts, TableData

if TYPE_CHECKING:
    from app.services.gates import CheckResult


# Long free text is cut at these widths (the full text is in the PDF and the edit forms), so
# the tables fit a 120-column terminal without a horizontal scrollbar.
EVIDENCE_WIDTH = 22
VALUE_WIDTH = 60


def _cell(value: str, highlight: bool) -> Text:
    return Text(value, style="bold yellow" if highlight else "")


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
        grid: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
        grid.add_columns(*self.table.columns)
        for i, row in enumerate(self.table.rows):
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
        grid: DataTable[Text] = DataTable(cursor_type="row", show_cursor=False)
        grid.add_column("")
        grid.add_column("Check")
        grid.add_column("Evidence", width=EVIDENCE_WIDTH)
        grid.add_column("Required")
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
        grid: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
        grid.add_column("Item")
        grid.add_column("Value", width=VALUE_WIDTH)
        for label, value in self.rows:
            grid.add_row(Text(label, style="bold"), Text(value if value else "—", style="" if value and value != "—" else "dim"))
        yield grid
