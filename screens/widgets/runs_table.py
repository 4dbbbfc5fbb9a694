"""A table of runs that shows 100,000 as cheaply as 50: it holds only the window it draws.

The table never has every run. It knows how many runs match (``total``), holds one window of
them (``runs``, at most ``WINDOW`` rows starting at position ``window_start`` of the query's
order) and draws only the lines on screen (the Line API). When the viewport or the cursor comes
within ``MARGIN`` rows of the window's edge it posts ``WindowWanted``; the screen fetches that
window in a thread (``app.services.run_query.query_runs(offset=…)``) and hands it back with
``set_window``. Until it arrives, the rows outside the window are drawn as dim placeholders, so
scrolling never waits for the database. Filtering and sorting are the query's (SQL over the
``run_metric`` index), not Python's: the table keeps only the sort the header shows
(``sort_column``, ``sort_descending``) and says which query key it means (``query_sort``).

Why not ``DataTable``: a DataTable holds every row and measures every cell; at 10,000 runs a
refilter took hundreds of milliseconds, and at 100,000 the runs alone were a gigabyte.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from app.ml.catalogue import RUNG_OF_KIND, project_metric
from app.services.training import RunView

MISSING = "—"
GAP = 1  # blank cells between columns
WINDOW = 80  # rows fetched at a time: three screens' worth; a 200-row window cost ~3× the query time
MARGIN = 20  # fetch the next window when the viewport comes this close to the edge of this one


def primary_of(run: RunView) -> str:
    return project_metric(run.problem_type)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _fmt(value: float | None, spec: str = "{:.4f}") -> str:
    return MISSING if value is None else spec.format(value)


@dataclass(frozen=True)
class Column:
    """One column: its header, width, how to turn a run into a cell, and which query sort it is.

    ``sort`` is the ``query_runs`` sort key (``{primary}`` is the project's metric, e.g.
    ``roc_auc``); ``descending`` is the first direction a sort by this column takes: best
    metric first, oldest run first for the others.
    """

    key: str
    label: str
    width: int
    cell: Callable[[RunView], tuple[str, str]]  # (text, rich style name or "")
    sort: str
    descending: bool = False
    align_right: bool = False


def rescored_from(run: RunView) -> int | None:
    """The id of the run this one re-scores on another split (``comparison.rescore``), if any."""
    value = (run.params or {}).get("rescored_from")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rung_cell(run: RunView) -> tuple[str, str]:
    if run.parent_run_id is not None:
        return f"trial←{run.parent_number}", "dim"
    rung = RUNG_OF_KIND.get(run.model_kind, "?")
    if run.is_baseline:
        return f"{rung} ★", "bold yellow"
    return rung, ""


def _val(run: RunView) -> float | None:
    return _num(run.metrics.get(f"val_{primary_of(run)}"))


def _cv_cell(run: RunView) -> tuple[str, str]:
    primary = primary_of(run)
    mean, std = _num(run.metrics.get(f"cv_{primary}_mean")), _num(run.metrics.get(f"cv_{primary}_std"))
    if mean is None:
        return MISSING, "dim"
    return f"{mean:.4f}±{(std or 0.0):.4f}", ""


def _trials(run: RunView) -> int:
    return int((run.tuning or {}).get("trials") or 0)


def _test_cell(run: RunView) -> tuple[str, str]:
    if run.parent_run_id is not None:
        return MISSING, "dim"
    if not run.test_metrics:
        return "sealed", "dim"
    value = _num(run.test_metrics.get(primary_of(run)))
    return (f"scored {value:.3f}" if value is not None else "scored"), "bold magenta"


COLUMNS: tuple[Column, ...] = (
    # a person's run number (a trial has none); sorted by id, which is the same order
    Column("id", "Run", 6, lambda r: (str(r.number or ""), "bold"), "id", align_right=True),
    Column("model", "Model", 22, lambda r: (r.model_kind, ""), "model"),
    Column("rung", "Rung", 14, _rung_cell, "rung"),
    Column("val", "Validation", 12, lambda r: (_fmt(_val(r)), ""), "val_{primary}", descending=True,
           align_right=True),
    Column("cv", "CV mean±std", 15, _cv_cell, "cv_{primary}_mean", descending=True, align_right=True),
    Column("trials", "Trials", 6, lambda r: (str(_trials(r)) if _trials(r) else MISSING, ""), "trials",
           descending=True, align_right=True),
    Column("test", "Test", 12, _test_cell, "test_{primary}", descending=True),
    Column("seconds", "Seconds", 8, lambda r: (f"{r.duration_s:.1f}", ""), "seconds", align_right=True),
    Column("created_by", "Created by", 13, lambda r: (r.created_by, ""), "author"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


class RunsTable(ScrollView, can_focus=True):
    """Runs, one line each, of which only a window is held; a fixed header line shows the sort.

    Public state the screen reads: ``total`` (runs matching the query), ``runs`` (the window,
    in display order), ``window_start`` (the position of ``runs[0]``), ``cursor`` (a position in
    the whole ordering, 0 … total - 1), ``selected`` (the run under the cursor, None while its
    window is being fetched).
    """

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False, id="runs_table.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="runs_table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="runs_table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="runs_table.page_down"),
        Binding("home", "jump(0)", "First run", show=False, id="runs_table.first"),
        Binding("end", "jump(-1)", "Last run", show=False, id="runs_table.last"),
        Binding("enter", "select", "Details", id="runs_table.details", tooltip="Show the selected run's details"),
    ]

    COMPONENT_CLASSES = {"runs-table--header", "runs-table--cursor", "runs-table--marked",
                         "runs-table--placeholder"}

    # Self-contained defaults so the widget also looks right outside the workbench app (bench);
    # the app's layout rules live in assets/workbench.tcss.
    DEFAULT_CSS = """
    RunsTable { height: 1fr; }
    RunsTable > .runs-table--header { text-style: bold; background: $boost; color: $accent; }
    RunsTable > .runs-table--cursor { background: $block-cursor-blurred-background; }
    RunsTable:focus > .runs-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    RunsTable > .runs-table--marked { text-style: bold; color: $warning; }
    RunsTable > .runs-table--placeholder { color: $text-disabled; }
    """

    @dataclass
    class RunSelected(Message):
        """Enter (or a click on the highlighted row) chose a run."""

        table: RunsTable
        run: RunView

    @dataclass
    class SortChanged(Message):
        """The header's sort changed: the screen queries the runs again in the new order."""

        table: RunsTable
        column: str
        descending: bool

    @dataclass
    class WindowWanted(Message):
        """The viewport neared the edge of the window held: fetch ``limit`` rows from ``offset``."""

        table: RunsTable
        offset: int
        limit: int

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.runs: list[RunView] = []
        self.window_start = 0
        self.total = 0
        self.counted = True  # False between a new query's first window and its count
        self.cursor = 0
        self.sort_column = "id"
        self.sort_descending = False
        self.filter_text = ""  # shown in the status line; the screen's query holds the filter
        self.show_trials = False
        self.problem_type = "binary_classification"
        self.marks: dict[int, str] = {}  # run id -> "A" / "B"
        self.rescored_numbers: dict[int, int] = {}  # run id -> its number, for "re-scores run N"
        self._cells: list[tuple[tuple[str, str], ...]] = []
        self._strips: dict[int, Strip] = {}
        self._wanted: int | None = None  # the offset of the window asked for and not yet here
        self._widths = tuple(c.width for c in COLUMNS)

    def on_mount(self) -> None:
        self.virtual_size = Size(self._total_width, self.total + 1)

    # --- data ----------------------------------------------------------------------------

    @property
    def _total_width(self) -> int:
        return sum(self._widths) + GAP * (len(self._widths) - 1) + 1

    @property
    def primary(self) -> str:
        return project_metric(self.problem_type)

    def query_sort(self) -> str:
        """The ``query_runs`` sort for the header's column and direction, e.g. ``-val_roc_auc``."""
        spec = COLUMNS[COLUMN_KEYS.index(self.sort_column)]
        return ("-" if self.sort_descending else "") + spec.sort.format(primary=self.primary)

    def _cells_of(self, run: RunView) -> tuple[tuple[str, str], ...]:
        cells = tuple(c.cell(run) for c in COLUMNS)
        original = rescored_from(run)
        if original is not None:  # a re-scoring of run N on another split, to compare with it
            rung, style = cells[2]
            cells = (*cells[:2], (f"{rung} ↻{self.rescored_numbers.get(original, '?')}", style), *cells[3:])
        return cells

    def set_window(self, runs: Sequence[RunView], *, start: int, total: int | None, reset: bool = False,
                   select_run: int | None = None) -> None:
        """Hold ``runs`` as the rows from position ``start`` of ``total`` matching runs
        (None: not counted yet; the table then reaches to the end of this window until
        ``set_total`` says how far it goes).

        ``reset`` says the query changed (a filter, a sort, trials shown or hidden, a reload):
        the cursor goes back to the run it was on if that run is in the window, else to the
        top. ``select_run`` puts the cursor on that run instead when the window has it.
        """
        keep = select_run if select_run is not None else (self.selected.id if self.selected else None)
        self.runs = list(runs)
        self.window_start = start
        self.counted = total is not None
        total = start + len(self.runs) if total is None else total
        self.total = total
        self._cells = [self._cells_of(r) for r in self.runs]
        self._strips = {}
        self._wanted = None
        if reset or select_run is not None:
            position = next((start + i for i, r in enumerate(self.runs) if r.id == keep), None)
            self.cursor = position if position is not None else (0 if reset else self.cursor)
        self.cursor = min(self.cursor, max(0, total - 1))
        self.virtual_size = Size(self._total_width, total + 1)
        if reset:
            self._scroll_cursor_into_view()
            # The new height reaches the scroll limits after the next layout; scroll again then.
            self.call_after_refresh(self._scroll_cursor_into_view)
        self.refresh()
        self.call_after_refresh(self._want_window)

    def set_total(self, total: int) -> None:
        """The count of the query's runs, once known (it follows the first window)."""
        self.total, self.counted = total, True
        self.cursor = min(self.cursor, max(0, total - 1))
        self.virtual_size = Size(self._total_width, total + 1)
        self.refresh()

    def set_sort(self, column: str, descending: bool | None = None) -> None:
        """Show ``column`` as the sort without asking for it (the screen's reload restores it)."""
        spec = COLUMNS[COLUMN_KEYS.index(column)]
        self.sort_column = column
        self.sort_descending = spec.descending if descending is None else descending
        self._strips = {}
        self.refresh()

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        """Sort by ``column``; ``descending`` None takes the column's natural direction. The
        screen hears ``SortChanged`` and fetches the runs in that order."""
        self.set_sort(column, descending)
        self.post_message(self.SortChanged(self, column, self.sort_descending))

    def cycle_sort(self) -> str:
        """Move the sort to the next column (the `s` key)."""
        nxt = COLUMN_KEYS[(COLUMN_KEYS.index(self.sort_column) + 1) % len(COLUMN_KEYS)]
        self.sort_by(nxt)
        return nxt

    def set_marks(self, marks: dict[int, str]) -> None:
        self.marks = dict(marks)
        self._strips = {}
        self.refresh()

    def _want_window(self) -> None:
        """Ask for the window around the viewport and cursor when this one does not reach far
        enough (``MARGIN`` rows beyond the screen, or the ends of the ordering)."""
        if not self.is_mounted or self.total == 0:
            return
        top = round(self.scroll_y)
        rows = self._rows_on_screen
        low = max(0, min(top, self.cursor) - MARGIN)
        high = min(self.total, max(top + rows, self.cursor + 1) + MARGIN)
        end = self.window_start + len(self.runs)
        if self.window_start <= low and high <= end:
            return
        offset = max(0, min(top, self.cursor) - (WINDOW - rows) // 2)
        offset = max(0, min(offset, self.total - WINDOW))
        if self._wanted != offset:
            self._wanted = offset
            self.post_message(self.WindowWanted(self, offset, WINDOW))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._want_window()

    # --- state the screen reads -------------------------------------------------------------

    def run_at(self, position: int) -> RunView | None:
        """The run at ``position`` of the whole ordering, if the window holds it."""
        i = position - self.window_start
        return self.runs[i] if 0 <= i < len(self.runs) else None

    @property
    def selected(self) -> RunView | None:
        if not 0 <= self.cursor < self.total:
            return None
        return self.run_at(self.cursor)

    @property
    def visible_runs(self) -> list[RunView]:
        """The runs of the window held, in display order (all of them when they fit in one)."""
        return list(self.runs)

    def row_text(self, position: int) -> list[str]:
        """The cell texts of the row at ``position`` (tests and the bench read the table so)."""
        return [text for text, _ in self._cells[position - self.window_start]]

    def select_run(self, run_id: int) -> bool:
        """Put the cursor on this run, if the window holds it."""
        for i, run in enumerate(self.runs):
            if run.id == run_id:
                self._move_to(self.window_start + i)
                return True
        return False

    # --- rendering ---------------------------------------------------------------------------

    def _cell_segments(self, cells: Sequence[tuple[str, str]], base: Style, cursor: bool) -> list[Segment]:
        segments: list[Segment] = []
        for n, ((text, style_name), spec) in enumerate(zip(cells, COLUMNS, strict=True)):
            width = spec.width
            if len(text) > width:
                text = text[: width - 1] + "…"
            text = text.rjust(width) if spec.align_right else text.ljust(width)
            style = base if cursor or not style_name else base + Style.parse(style_name)
            segments.append(Segment(text, style))
            if n < len(COLUMNS) - 1:
                segments.append(Segment(" " * GAP, base))
        segments.append(Segment(" ", base))
        return segments

    def _header_strip(self) -> Strip:
        style = self.get_component_rich_style("runs-table--header")
        cells = []
        for spec in COLUMNS:
            label = f"val {self.primary}"[:12] if spec.key == "val" else spec.label
            if spec.key == self.sort_column:
                label = f"{label} {'▼' if self.sort_descending else '▲'}"
            cells.append((label, ""))
        return Strip(self._cell_segments(cells, style, cursor=True), self._total_width)

    def _row_strip(self, position: int) -> Strip:
        index = position - self.window_start
        cached = self._strips.get(index)
        if cached is None:
            run = self.runs[index]
            cells = self._cells[index]
            mark = self.marks.get(run.id)
            if mark:
                first = (f"{mark} {cells[0][0]}", "")
                cells = (first, *cells[1:])
                base = self.get_component_rich_style("runs-table--marked")
            else:
                base = self.rich_style
            cached = Strip(self._cell_segments(cells, base, cursor=False), self._total_width)
            self._strips[index] = cached
        return cached

    def _placeholder_strip(self) -> Strip:
        cells = [("…" if n == 0 else "", "") for n in range(len(COLUMNS))]
        style = self.get_component_rich_style("runs-table--placeholder")
        return Strip(self._cell_segments(cells, style, cursor=True), self._total_width)

    def render_line(self, y: int) -> Strip:
        """Line 0 is the header; line y shows row ``scroll_y + y - 1`` of the ordering (a
        placeholder while its window is on the way)."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header_strip().crop_extend(scroll_x, scroll_x + width, self.rich_style)
        position = scroll_y + y - 1
        if not 0 <= position < self.total:
            return Strip.blank(width, self.rich_style)
        if self.run_at(position) is None:
            strip = self._placeholder_strip()
        else:
            strip = self._row_strip(position)
        if position == self.cursor:
            strip = strip.apply_style(self.get_component_rich_style("runs-table--cursor"))
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    # --- cursor and keys -------------------------------------------------------------------

    @property
    def _rows_on_screen(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True, force=True)
        elif self.cursor >= top + self._rows_on_screen:
            self.scroll_to(y=self.cursor - self._rows_on_screen + 1, animate=False, immediate=True, force=True)

    def _move_to(self, position: int) -> None:
        if not self.total:
            return
        old = self.cursor
        self.cursor = min(max(position, 0), self.total - 1)
        if old != self.cursor:
            self._scroll_cursor_into_view()
            self._want_window()
            self.refresh()

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * self._rows_on_screen)

    def action_jump(self, position: int) -> None:
        self._move_to(self.total - 1 if position < 0 else position)

    def action_select(self) -> None:
        run = self.selected
        if run is not None:
            self.post_message(self.RunSelected(self, run))

    def _column_at(self, x: int) -> str | None:
        left = 0
        for spec in COLUMNS:
            if left <= x < left + spec.width + GAP:
                return spec.key
            left += spec.width + GAP
        return None

    def on_click(self, event: events.Click) -> None:
        """A header click sorts (a second click reverses); a row click moves the cursor there,
        and a click on the highlighted row opens it."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll_x, scroll_y = self.scroll_offset
        if offset.y == 0:
            column = self._column_at(offset.x + scroll_x)
            if column is not None:
                if column == self.sort_column:
                    self.sort_by(column, not self.sort_descending)
                else:
                    self.sort_by(column)
            return
        position = scroll_y + offset.y - 1
        if 0 <= position < self.total:
            if position == self.cursor:
                self.action_select()
            else:
                self._move_to(position)
