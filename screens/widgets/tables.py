"""The table every screen lists its records in, and how a cut cell is read in full.

Fixed column widths keep a screen reading the same whatever the data, so long cells are cut.
A cut is only acceptable when the text is one key away: every ``ReadableTable`` opens the
highlighted row in full on space (and on enter where enter has no other meaning), one column
can stretch to the table's width (``flex``) so a wide terminal shows more before cutting, and
rows can wrap (``wrap``) where a table is short enough to show everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable

#: The fewest cells a stretching column gets, however narrow the terminal (the table then
#: scrolls horizontally: left / right in a row-cursor table).
FLEX_MIN_WIDTH = 12


def row_cells(table: DataTable[Any], row_index: int | None = None) -> list[tuple[str, Text]]:
    """The (column label, full cell text) pairs of a row (the cursor's by default), whatever the
    column widths cut on screen; [] when the table is empty."""
    if table.row_count == 0:
        return []
    index = table.cursor_row if row_index is None else row_index
    index = min(max(index, 0), table.row_count - 1)
    cells = table.get_row_at(index)
    out = []
    for column, value in zip(table.ordered_columns, cells):
        text = value.copy() if isinstance(value, Text) else Text(str(value))
        out.append((column.label.plain, text))
    return out


class ReadableTable(DataTable[Text]):
    """A zebra-striped row-cursor table whose every cell can be read in full.

    - space (and enter, with ``enter_shows_row``) opens the highlighted row unabridged;
    - ``flex`` names a column that takes the width the others leave (its set width is the
      minimum), recomputed when the table is resized;
    - ``wrap`` gives every row the height its cells need in their column widths, so nothing is
      cut at all (for short tables such as a stage's evidence).
    """

    BINDINGS = [
        Binding("space", "show_row", "Full text", id="table.full_text",
                tooltip="Read the highlighted row in full: every cell, unabridged"),
    ]

    def __init__(self, *, flex: str | None = None, flex_min: int = FLEX_MIN_WIDTH, wrap: bool = False,
                 enter_shows_row: bool = False, title: str = "",
                 full_row: Callable[[str | None], Sequence[tuple[str, Text | str]]] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self.flex = flex
        self.flex_min = flex_min
        self.wrap = wrap
        self.enter_shows_row = enter_shows_row
        self.title = title
        #: What space shows for a row key, when the screen holds more than the cells (a payload
        #: key by key, a message the service shortened); by default the row's own cells.
        self.full_row = full_row
        self._fitted_width = -1

    # --- rows -----------------------------------------------------------------------------

    def add_row(self, *cells: Any, height: int | None = 1, key: str | None = None,
                label: Any = None) -> Any:
        """As ``DataTable.add_row``; in a wrapping table every row takes the height it needs."""
        return super().add_row(*cells, height=None if self.wrap else height, key=key, label=label)

    # --- reading in full ------------------------------------------------------------------

    def action_show_row(self) -> None:
        if self.row_count == 0:
            return
        cells = self.full_row(cursor_key(self)) if self.full_row is not None else row_cells(self)
        if not cells:
            return
        from screens.modals.row_in_full import RowInFull

        self.app.push_screen(RowInFull(self.title or "Row in full", cells))

    def action_select_cursor(self) -> None:
        super().action_select_cursor()
        if self.enter_shows_row:
            self.action_show_row()

    # --- keeping the cursor in view -------------------------------------------------------

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        """Also scroll the container: a table as tall as its rows (a stage's evidence in the
        project screen's scrolling body) would otherwise move its cursor below the fold."""
        super()._scroll_cursor_into_view(animate=animate)
        if self.max_scroll_y == 0 and self.row_count:
            self.call_after_refresh(self._reveal_cursor_row)

    def _reveal_cursor_row(self) -> None:
        from textual.containers import ScrollableContainer
        from textual.geometry import Region

        try:
            container = next(a for a in self.ancestors if isinstance(a, ScrollableContainer))
        except StopIteration:
            return
        _, y, _, height = self._get_row_region(self.cursor_row)
        top = self.content_region.y + y - container.content_region.y + int(container.scroll_y)
        header = self.header_height if self.show_header else 0
        # the header stays in view with the row when the row is the table's first
        region = Region(0, top - header if self.cursor_row == 0 else top, 1, height + (header if self.cursor_row == 0 else 0))
        container.scroll_to_region(region, animate=False)

    # --- fitting the flexible column ------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self.fit_columns)

    def fit_columns(self) -> None:
        """Give the ``flex`` column the width the other columns leave; re-wrap rows if it changed."""
        if self.flex is None or not self.is_mounted:
            return
        available = self.scrollable_content_region.width
        if available <= 0 or available == self._fitted_width:
            return
        column = next((c for c in self.columns.values() if c.label.plain == self.flex), None)
        if column is None:
            return
        others = sum(c.get_render_width(self) for c in self.columns.values() if c is not column)
        width = max(self.flex_min, available - others - 2 * self.cell_padding)
        self._fitted_width = available
        if width == column.width and not column.auto_width:
            return
        column.width, column.auto_width = width, False
        if self.wrap and self.row_count:
            self._rewrap()
        else:
            self._clear_caches()
            self._require_update_dimensions = True  # the virtual width follows on idle
            self.refresh()

    def _rewrap(self) -> None:
        """Add the rows again so their heights follow the new width (a row's height is measured
        when it is added)."""
        rows = [(row_key.value, self.get_row(row_key), self.rows[row_key].label) for row_key in
                (r.key for r in self.ordered_rows)]
        cursor = self.cursor_row
        self.clear()
        for key, cells, label in rows:
            self.add_row(*cells, key=key, label=label)
        if rows:
            self.move_cursor(row=min(cursor, len(rows) - 1), animate=False)


def row_table(table_id: str, columns: Sequence[tuple[str, int]], *, flex: str | None = None,
              enter_shows_row: bool = False, title: str = "") -> ReadableTable:
    """A zebra-striped table with a row cursor and fixed column widths, so a screen reads the
    same whatever the data; long cells are cut on screen and read in full with space.

    ``flex`` names the column that stretches to the table's width (its width here is the
    minimum); ``enter_shows_row`` for tables where enter has nothing else to do.
    """
    table = ReadableTable(id=table_id, flex=flex, flex_min=dict(columns).get(flex or "", FLEX_MIN_WIDTH),
                          enter_shows_row=enter_shows_row, title=title)
    for label, width in columns:
        table.add_column(label, width=width)
    return table


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor; None when the table is empty."""
    if table.row_count == 0:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
