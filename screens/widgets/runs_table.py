"""A table of runs that stays fast with tens of thousands of rows.

Why not ``DataTable``: filtering or sorting a DataTable means ``clear()`` and ``add_row`` for
every row, which builds per-row objects and measures every cell — hundreds of milliseconds
for 10,000 runs (``python -m bench.runs_table`` prints both). Here the runs stay a plain
list in memory, each row's cells and sort keys are computed once when the runs arrive, the
visible ordering is a list of indices computed with plain Python (a comprehension for the
filter, a cached ``sorted`` per column), and the Line API draws only the rows on screen.
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

from app.ml.catalogue import RUNG_OF_KIND, project_metric, rung_rank
from app.services.training import RunView

MISSING = "—"
GAP = 1  # blank cells between columns


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
    """One column: its header, width, and how to turn a run into a cell and a sort key.

    ``descending`` is the first direction a sort by this column takes: best metric first,
    newest id last is the natural reading for the others.
    """

    key: str
    label: str
    width: int
    cell: Callable[[RunView], tuple[str, str]]  # (text, rich style name or "")
    sort_key: Callable[[RunView], Any]
    descending: bool = False
    align_right: bool = False


def _rung_cell(run: RunView) -> tuple[str, str]:
    if run.parent_run_id is not None:
        return f"trial←{run.parent_number}", "dim"
    rung = RUNG_OF_KIND.get(run.model_kind, "?")
    if run.is_baseline:
        return f"{rung} ★", "bold yellow"
    return rung, ""


def _val(run: RunView) -> float | None:
    return _num(run.metrics.get(f"val_{primary_of(run)}"))


def _cv(run: RunView) -> tuple[float | None, float | None]:
    primary = primary_of(run)
    return _num(run.metrics.get(f"cv_{primary}_mean")), _num(run.metrics.get(f"cv_{primary}_std"))


def _cv_cell(run: RunView) -> tuple[str, str]:
    mean, std = _cv(run)
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


def _neg_inf(value: float | None) -> float:
    return -math.inf if value is None else value


COLUMNS: tuple[Column, ...] = (
    # a person's run number (a trial has none); sorted by id, which is the same order
    Column("id", "Run", 6, lambda r: (str(r.number or ""), "bold"), lambda r: r.id, align_right=True),
    Column("model", "Model", 22, lambda r: (r.model_kind, ""), lambda r: (r.model_kind, r.id)),
    Column("rung", "Rung", 11, _rung_cell, lambda r: (r.parent_run_id is not None,
                                                      rung_rank(RUNG_OF_KIND.get(r.model_kind, "")), r.id)),
    Column("val", "Validation", 12, lambda r: (_fmt(_val(r)), ""), lambda r: _neg_inf(_val(r)), descending=True,
           align_right=True),
    Column("cv", "CV mean±std", 15, _cv_cell, lambda r: _neg_inf(_cv(r)[0]), descending=True, align_right=True),
    Column("trials", "Trials", 6, lambda r: (str(_trials(r)) if _trials(r) else MISSING, ""), _trials,
           descending=True, align_right=True),
    Column("test", "Test", 12, _test_cell, lambda r: (bool(r.test_metrics), _neg_inf(_num(
        (r.test_metrics or {}).get(primary_of(r))))), descending=True),
    Column("seconds", "Seconds", 8, lambda r: (f"{r.duration_s:.1f}", ""), lambda r: r.duration_s, align_right=True),
    Column("created_by", "Created by", 16, lambda r: (r.created_by, ""), lambda r: (r.created_by, r.id)),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


class RunsTable(ScrollView, can_focus=True):
    """Runs, one line each; a fixed header line shows the sort column and direction.

    Public state the screen reads: ``order`` (indices into ``runs`` in display order),
    ``cursor`` (a position in ``order``), ``selected`` (the run under the cursor).
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

    COMPONENT_CLASSES = {"runs-table--header", "runs-table--cursor", "runs-table--marked"}

    # Self-contained defaults so the widget also looks right outside the workbench app (bench);
    # the app's layout rules live in assets/workbench.tcss.
    DEFAULT_CSS = """
    RunsTable { height: 1fr; }
    RunsTable > .runs-table--header { text-style: bold; background: $boost; color: $accent; }
    RunsTable > .runs-table--cursor { background: $block-cursor-blurred-background; }
    RunsTable:focus > .runs-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    RunsTable > .runs-table--marked { text-style: bold; color: $warning; }
    """

    @dataclass
    class RunSelected(Message):
        """Enter (or a click on the highlighted row) chose a run."""

        table: RunsTable
        run: RunView

    @dataclass
    class SortChanged(Message):
        table: RunsTable
        column: str
        descending: bool

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.runs: list[RunView] = []
        self.order: list[int] = []
        self.cursor = 0
        self.sort_column = "id"
        self.sort_descending = False
        self.filter_text = ""
        self.show_trials = False
        self.marks: dict[int, str] = {}  # run id -> "A" / "B"
        self._cells: list[tuple[tuple[str, str], ...]] = []
        self._haystack: list[str] = []
        self._is_trial: list[bool] = []
        self._sorted: dict[str, list[int]] = {}
        self._strips: dict[int, Strip] = {}
        self._widths = tuple(c.width for c in COLUMNS)
        self._metric_label = "Validation"

    def on_mount(self) -> None:
        self.virtual_size = Size(self._total_width, len(self.order) + 1)

    # --- data ----------------------------------------------------------------------------

    @property
    def _total_width(self) -> int:
        return sum(self._widths) + GAP * (len(self._widths) - 1) + 1

    def set_runs(self, runs: Sequence[RunView], *, keep_selection: bool = True) -> None:
        """Take a new list of runs; cells, search text and sort keys are computed here, once."""
        previous = self.selected.id if keep_selection and self.selected else None
        self.runs = list(runs)
        self._cells = [tuple(c.cell(r) for c in COLUMNS) for r in self.runs]
        self._haystack = [f"{r.number or ''} {r.model_kind} {r.created_by}".lower() for r in self.runs]
        self._is_trial = [r.parent_run_id is not None for r in self.runs]
        self._sorted = {}
        self._strips = {}
        if self.runs:
            self._metric_label = f"val {primary_of(self.runs[0])}"[:12]
        self._recompute(select_run=previous)

    def set_filter(self, text: str) -> None:
        """Keep the runs whose id, model or author contains ``text`` (case-insensitive)."""
        self.filter_text = text
        self._recompute()

    def set_show_trials(self, show: bool) -> None:
        self.show_trials = show
        self._recompute()

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        """Sort by ``column``; ``descending`` None takes the column's natural direction."""
        spec = COLUMNS[COLUMN_KEYS.index(column)]
        self.sort_column = column
        self.sort_descending = spec.descending if descending is None else descending
        self._recompute()
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

    def _order(self, column: str) -> list[int]:
        """All rows in ascending order of ``column``, cached until the runs change."""
        order = self._sorted.get(column)
        if order is None:
            key = COLUMNS[COLUMN_KEYS.index(column)].sort_key
            runs = self.runs
            keys = [key(r) for r in runs]
            order = sorted(range(len(runs)), key=keys.__getitem__)
            self._sorted[column] = order
        return order

    def _recompute(self, select_run: int | None = None) -> None:
        keep = select_run if select_run is not None else (self.selected.id if self.selected else None)
        order = self._order(self.sort_column)
        if self.sort_descending:
            order = order[::-1]
        needle = self.filter_text.strip().lower()
        hay, trial = self._haystack, self._is_trial
        if self.show_trials:
            self.order = [i for i in order if needle in hay[i]] if needle else list(order)
        elif needle:
            self.order = [i for i in order if not trial[i] and needle in hay[i]]
        else:
            self.order = [i for i in order if not trial[i]]
        self.cursor = 0
        if keep is not None:
            for pos, i in enumerate(self.order):
                if self.runs[i].id == keep:
                    self.cursor = pos
                    break
        self.virtual_size = Size(self._total_width, len(self.order) + 1)
        self._scroll_cursor_into_view()
        # The new height reaches the scroll limits after the next layout; scroll again then.
        self.call_after_refresh(self._scroll_cursor_into_view)
        self.refresh()

    # --- state the screen reads -------------------------------------------------------------

    @property
    def selected(self) -> RunView | None:
        if not self.order or not 0 <= self.cursor < len(self.order):
            return None
        return self.runs[self.order[self.cursor]]

    @property
    def visible_runs(self) -> list[RunView]:
        return [self.runs[i] for i in self.order]

    def row_text(self, position: int) -> list[str]:
        """The cell texts of a visible row (tests and the bench read the table through this)."""
        return [text for text, _ in self._cells[self.order[position]]]

    def select_run(self, run_id: int) -> bool:
        for pos, i in enumerate(self.order):
            if self.runs[i].id == run_id:
                self._move_to(pos)
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
            label = self._metric_label if spec.key == "val" else spec.label
            if spec.key == self.sort_column:
                label = f"{label} {'▼' if self.sort_descending else '▲'}"
            cells.append((label, ""))
        return Strip(self._cell_segments(cells, style, cursor=True), self._total_width)

    def _row_strip(self, position: int) -> Strip:
        index = self.order[position]
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

    def render_line(self, y: int) -> Strip:
        """Line 0 is the header; line y shows visible row ``scroll_y + y - 1``."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header_strip().crop_extend(scroll_x, scroll_x + width, self.rich_style)
        position = scroll_y + y - 1
        if not 0 <= position < len(self.order):
            return Strip.blank(width, self.rich_style)
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
        if not self.order:
            return
        old = self.cursor
        self.cursor = min(max(position, 0), len(self.order) - 1)
        if old != self.cursor:
            self._scroll_cursor_into_view()
            self.refresh()

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * self._rows_on_screen)

    def action_jump(self, position: int) -> None:
        self._move_to(len(self.order) - 1 if position < 0 else position)

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
        if 0 <= position < len(self.order):
            if position == self.cursor:
                self.action_select()
            else:
                self._move_to(position)
