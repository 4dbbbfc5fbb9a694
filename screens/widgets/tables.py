"""The table every screen lists its records in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable


def row_table(table_id: str, columns: Sequence[tuple[str, int]]) -> DataTable[Text]:
    """A zebra-striped table with a row cursor and fixed column widths, so a screen reads the
    same whatever the data and long cells are cut rather than pushing columns off-screen."""
    table: DataTable[Text] = DataTable(id=table_id, cursor_type="row", zebra_stripes=True)
    for label, width in columns:
        table.add_column(label, width=width)
    return table


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor; None when the table is empty."""
    if table.row_count == 0:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
