"""Stage 4 at full size: every run of a project, their details, comparisons, training and the
sealed test set.

The screen never holds every run: a project with 100,000 runs costs what one with 50 does. A
load reads the counts (``run_counts``) and the window of runs the table shows
(``run_query.query_runs(offset=…, with_total=True)``); filtering (the filter box speaks the
query grammar: a bare word still finds a run number, model or author), sorting and showing or
hiding trials ask the query again, in SQL, from a thread worker (``exclusive``: a keystroke
replaces the query of the one before); scrolling asks for the next window when the table nears
the edge of the one it holds. A filter the grammar refuses is explained under the box and the
table keeps the last good result. Everything that changes state — training, comparing, opening
the test set, reproducing — is a service call in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from app.ml.catalogue import RUNG_OF_KIND
from screens.base import SnapshotScreen
from screens.widgets.charts import bar_chart, flat_note, sparkline
from screens.widgets.runs_table import COLUMNS, WINDOW, RunsTable, primary_of, rescored_from

if TYPE_CHECKING:
    from app.jobs import ProgressCallback
    from app.services.comparison import ComparisonView
    from app.services.evaluation import Reproduction, TestEvaluation
    from app.services.run_query import RunCounts, RunPage
    from app.services.training import RunView
    from app.services.workbench import Workbench

COLUMN_LABEL = {c.key: c.label for c in COLUMNS}
MAX_TRIAL_BARS = 30  # more trials than this show as the sparkline only
SEALED_QUESTION = "Open the sealed test set for run {run}?"
SEALED_DETAIL = ("This is recorded in the audit trail; a second look in this experiment is flagged by the gate.")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class RunQuery:
    """What the table shows: the filter box's text, the header's sort, trials shown or not."""

    where: str = ""
    sort: str = "id"
    include_trials: bool = False


@dataclass(frozen=True)
class RunsSnapshot:
    """One load: the project's counts, the window of runs at ``offset`` of ``query``'s order and,
    when a run's details are open, that run and its trials re-read."""

    counts: RunCounts
    query: RunQuery
    offset: int
    page: RunPage
    detail: tuple[RunView, list[RunView]] | None = None


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt_value(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def run_detail(run: RunView, trials: list[RunView] | None, *, rescores: int | None = None) -> Text:
    """The detail pane of one run: params, metrics, CV per fold, tuning trials, test metrics.

    ``trials`` None: they are still being read. ``rescores``: the number of the run this one
    re-scores on another split. A function of plain data (no widget, no service) so it renders
    the same in a test.
    """
    primary = primary_of(run)
    out = Text()
    rung = f"tuning trial of run {run.parent_number}" if run.parent_run_id else RUNG_OF_KIND.get(run.model_kind, "?")
    if rescored_from(run) is not None:
        rung += f", a re-scoring of run {rescores if rescores is not None else '?'} on split {run.split_id}"
    out.append(f"Run {run.number} · {run.model_kind}" if run.number is not None else f"Trial · {run.model_kind}",
               style="bold")
    out.append(f"  ({rung}{', baseline' if run.is_baseline else ''}) · experiment {run.experiment} · "
               f"dataset {run.dataset_number} · split {run.split_id} · seed {run.seed} · "
               f"{run.duration_s:.1f} s · {run.created_by}\n", style="dim")

    out.append("\nParameters\n", style="bold underline")
    params = dict(run.params)
    features = params.pop("features", None)
    for key in ("target", "cv", "tune", "overrides"):
        value = params.pop(key, None)
        if value:
            out.append(f"  {key:<22}", style="dim")
            out.append(_fmt_value(value) + "\n")
    for key, value in sorted(params.items()):
        out.append(f"  {key:<22}", style="dim")
        out.append(_fmt_value(value) + "\n")
    if features:
        out.append(f"  {'features':<22}", style="dim")
        out.append(", ".join(features) + "\n")

    out.append("\nValidation metrics\n", style="bold underline")
    shown = {k: v for k, v in run.metrics.items() if not k.startswith("cv_")}
    for key, value in sorted(shown.items()):
        out.append(f"  {key:<22}", style="dim")
        out.append(_fmt_value(value) + "\n", style="bold" if key == f"val_{primary}" else "")
    if not shown:
        out.append("  none recorded\n", style="dim")

    out.append("\nCross-validation\n", style="bold underline")
    if run.cv_metrics:
        for metric, summary in sorted(run.cv_metrics.items()):
            folds = [float(v) for v in summary.get("folds", [])]
            out.append(f"  {metric:<22}", style="bold" if metric == primary else "dim")
            out.append(f"{summary.get('mean', float('nan')):.4f} ± {summary.get('std', float('nan')):.4f}  ")
            out.append(sparkline(folds) + flat_note(folds) + "\n", style="cyan")
            if metric == primary and folds:
                chart = bar_chart([f"    fold {i + 1}" for i in range(len(folds))], folds, width=24)
                out.append_text(chart)
                out.append("\n")
    else:
        out.append("  not cross-validated (train with CV folds to see per-fold values)\n", style="dim")

    out.append("\nTuning\n", style="bold underline")
    if trials is None:
        out.append(f"  reading its {(run.tuning or {}).get('trials', '')} trials…\n", style="dim")
    elif trials:
        values = [t.metrics.get(f"val_{primary}") for t in trials]
        finite = [(v, i) for i, v in enumerate(values) if isinstance(v, (int, float))]
        best = max(finite)[1] if finite else None
        method = (run.params.get("tune") or {}).get("method", "?")
        out.append(f"  {len(trials)} trials ({method}) · val_{primary} by trial  ", style="dim")
        out.append(sparkline(values) + flat_note(values) + "\n", style="cyan")
        shown_trials = trials[:MAX_TRIAL_BARS]
        chart = bar_chart([f"    trial {i + 1}" for i in range(len(shown_trials))],
                          values[:MAX_TRIAL_BARS], width=24,
                          highlight=best if best is not None and best < MAX_TRIAL_BARS else None)
        out.append_text(chart)
        out.append("\n")
        if len(trials) > MAX_TRIAL_BARS:
            out.append(f"    … {len(trials) - MAX_TRIAL_BARS} more in the sparkline\n", style="dim")
        best_params = (run.tuning or {}).get("best_params")
        if best_params:
            out.append(f"  best parameters: {_fmt_value(best_params)}\n")
    elif run.parent_run_id is None:
        out.append("  not tuned\n", style="dim")
    else:
        out.append("  this run is one trial; its parent holds the chosen parameters\n", style="dim")

    out.append("\nTest set\n", style="bold underline")
    if run.test_metrics:
        for key, value in sorted(run.test_metrics.items()):
            out.append(f"  {key:<22}", style="dim")
            out.append(_fmt_value(value) + "\n", style="bold magenta" if key == primary else "")
    elif run.parent_run_id is None:
        out.append("  sealed — press e to open it for this run (audited; once per experiment)\n", style="dim")
    else:
        out.append("  trials are never scored on the test set\n", style="dim")
    return out


class RunsScreen(SnapshotScreen[RunsSnapshot]):
    """All runs of one project, with detail, compare, train, test-set and reproduce actions."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="runs.filter",
                tooltip="Filter runs as you type: a word finds a run number, model or author; or a query "
                        "such as val_roc_auc > 0.8 and model ~ tree (and params.max_depth <= 6, author = ana)"),
        Binding("s", "cycle_sort", "Sort", id="runs.sort",
                tooltip="Sort by the next column (click a header to sort by it)"),
        Binding("S", "reverse_sort", "Reverse", show=False, id="runs.reverse_sort",
                tooltip="Reverse the sort direction"),
        Binding("t", "toggle_trials", "Trials", id="runs.trials", tooltip="Show or hide tuning trials (child runs)"),
        Binding("a", "mark('A')", "Mark A", id="runs.mark_a", tooltip="Mark the selected run as A (the reference)"),
        Binding("b", "mark('B')", "B", id="runs.mark_b", tooltip="Mark the selected run as B (the challenger)"),
        Binding("c", "compare", "Compare A/B", id="runs.compare",
                tooltip="Test whether B is significantly better than A"),
        Binding("C", "compare_5x2cv", "5×2cv", id="runs.compare_5x2cv",
                tooltip="Compare A and B with the 5×2cv paired t-test: both recipes refitted ten times in a worker "
                        "process (slower, and it judges the recipes rather than the two fitted models)"),
        Binding("x", "analyse", "Error analysis", id="runs.analyse",
                tooltip="Analyse the selected run's errors on validation rows: confusion, calibration, metrics per "
                        "segment, fairness across a sensitive attribute (a job)"),
        Binding("n", "train", "Train", id="runs.train", tooltip="Train a model, with CV and tuning if wanted"),
        Binding("e", "score_test", "Test set", id="runs.test_set",
                tooltip="Open the sealed test set for the selected run (audited)"),
        Binding("r", "reproduce", "Reproduce", id="runs.reproduce",
                tooltip="Re-run the selected run and check its metrics match"),
        Binding("g", "register", "Register", id="runs.register",
                tooltip="Register the selected run's model as the next model version (the release screen takes "
                        "it from there)"),
        Binding("j", "jobs", "Jobs", show=False, id="runs.jobs", tooltip="Background jobs; cancel one there"),
        Binding("escape", "back", "Back", id="runs.back", tooltip="Leave the filter, or go back to the project"),
    ]

    def __init__(self, slug: str) -> None:
        super().__init__()
        self._binding_state: tuple[bool, bool, bool] | None = None
        self.slug = slug
        self.loaded = False
        self.counts: RunCounts | None = None
        self.shown_query = RunQuery()  # the query the table shows (the last one the grammar took)
        self._wanted = RunQuery()  # the newest query asked for (shown once its rows arrive)
        self.query_error: str | None = None
        self._offset = 0  # where the table's window starts (read by the load thread)
        self.marks: dict[str, int] = {}  # "A"/"B" -> run id
        self._numbers: dict[int, int | None] = {}  # run id -> number, for runs marked or detailed
        self.last_comparison: ComparisonView | None = None
        self.last_reproduction: Reproduction | None = None
        self.last_analysis: tuple[int, dict[str, Any]] | None = None
        self.detail_run: int | None = None

    @dataclass
    class WindowLoaded(Message, bubble=False):
        """Rows of ``query`` from ``offset``; ``reset``: a new query (filter, sort, trials)."""

        query: RunQuery
        offset: int
        page: RunPage
        reset: bool

    @dataclass
    class RunsCounted(Message, bubble=False):
        """How many runs match ``query``: it follows the query's first window."""

        query: RunQuery
        total: int

    @dataclass
    class QueryRejected(Message, bubble=False):
        query: RunQuery
        error: str

    @dataclass
    class DetailLoaded(Message, bubble=False):
        run: RunView
        trials: list[RunView]

    @dataclass
    class RunsCompared(Message, bubble=False):
        comparison: ComparisonView

    @dataclass
    class TestSetScored(Message, bubble=False):
        evaluation: TestEvaluation

    @dataclass
    class RunReproduced(Message, bubble=False):
        reproduction: Reproduction

    @dataclass
    class RunAnalysed(Message, bubble=False):
        run_id: int
        result: dict[str, Any]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="runs-screen"):
            yield Static(f"[b]{self.slug}[/b] · runs  loading…", id="runs-title")
            yield Input(placeholder="/ filter: a run number, model or author — or val_roc_auc > 0.8 and model ~ tree",
                        id="runs-filter", compact=True)
            yield Static("", id="runs-filter-error")
            yield RunsTable(id="runs")
            yield Static("", id="runs-status")
            with VerticalScroll(id="run-detail"):
                yield Static("Enter on a run shows its parameters, metrics, folds and trials.", id="run-detail-body")

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()

    @property
    def table(self) -> RunsTable:
        return self.query_one("#runs", RunsTable)

    # --- loading ---------------------------------------------------------------------------

    def load(self, wb: Workbench) -> RunsSnapshot:
        from app.services.run_query import QueryError, run_counts, run_with_trials

        counts = run_counts(wb, self.slug)
        query, offset = self._wanted, self._offset  # a reload keeps the window scrolled to
        try:
            page = self._query(wb, query, offset, with_total=True)
        except QueryError:  # the filter being typed does not parse: reload what is shown
            query = self.shown_query
            page = self._query(wb, query, offset, with_total=True)
        if offset and not page.runs:
            offset, page = 0, self._query(wb, query, 0, with_total=True)
        detail = None
        if self.detail_run is not None:
            try:
                detail = run_with_trials(wb, self.slug, self.detail_run)
            except QueryError:
                detail = None
        return RunsSnapshot(counts, query, offset, page, detail)

    def _query(self, wb: Workbench, query: RunQuery, offset: int, *, with_total: bool) -> RunPage:
        """A window of ``query`` in a worker thread. A sort by a metric no run has yet (the test
        column before any test set is opened) lists by id rather than failing."""
        from app.services.run_query import query_runs

        return query_runs(wb, self.slug, query.where, query.sort, limit=WINDOW, offset=offset,
                          include_trials=query.include_trials, with_total=with_total, strict_sort=False)

    def show(self, snapshot: RunsSnapshot) -> None:
        self.counts = snapshot.counts
        self.loaded = True
        self.table.problem_type = snapshot.counts.problem_type
        if snapshot.query == self._wanted or snapshot.query == self.shown_query:
            self._show_window(snapshot.query, snapshot.offset, snapshot.page, reset=True)
        if snapshot.detail is not None and snapshot.detail[0].id == self.detail_run:
            self._show_detail(*snapshot.detail)
        self._update_title()
        self.refresh_bindings()

    def _show_window(self, query: RunQuery, offset: int, page: RunPage, *, reset: bool) -> None:
        table = self.table
        self.shown_query, self._offset = query, offset
        table.rescored_numbers.update(page.rescored_numbers)
        table.filter_text = query.where
        table.show_trials = query.include_trials
        if page.total is not None:
            total: int | None = page.total
        elif reset:  # a new query's first window; its count follows (RunsCounted)
            total = None
        else:
            total = table.total
        table.set_window(page.runs, start=offset, total=total, reset=reset)
        for run in page.runs:
            if run.id in self._numbers:
                self._numbers[run.id] = run.number
        self._update_title()

    def _ask(self, query: RunQuery) -> None:
        """Show ``query`` once its first window arrives; until then the table keeps what it has."""
        self._wanted = query
        self._fetch(query)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-query")
    def _fetch(self, query: RunQuery) -> None:
        """The first window of ``query``, then (if it filled the window) the count of its runs:
        the rows reach the screen without waiting for an index walk over every match."""
        from app.services.run_query import QueryError, count_runs

        worker = get_current_worker()
        try:
            page = self._query(self.wb, query, 0, with_total=False)
        except QueryError as error:
            if not worker.is_cancelled:
                self.post_message(self.QueryRejected(query, str(error)))
            return
        if worker.is_cancelled:
            return
        if len(page.runs) < WINDOW:  # the window holds every match: that is the count
            self.post_message(self.WindowLoaded(query, 0, replace(page, total=len(page.runs)), True))
            return
        self.post_message(self.WindowLoaded(query, 0, page, True))
        total = count_runs(self.wb, self.slug, query.where, include_trials=query.include_trials)
        if not worker.is_cancelled:
            self.post_message(self.RunsCounted(query, total))

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-window")
    def _fetch_window(self, query: RunQuery, offset: int) -> None:
        page = self._query(self.wb, query, offset, with_total=False)
        if not get_current_worker().is_cancelled:
            self.post_message(self.WindowLoaded(query, offset, page, False))

    @on(WindowLoaded)
    def _window_loaded(self, message: WindowLoaded) -> None:
        if message.query != self._wanted:
            return  # a newer query replaced it
        if message.reset:
            self._set_query_error(None)
        self._show_window(message.query, message.offset, message.page, reset=message.reset)
        self.call_after_refresh(self._sync_bindings)

    @on(RunsCounted)
    def _counted(self, message: RunsCounted) -> None:
        if message.query == self.shown_query:
            self.table.set_total(message.total)
            self._update_title()

    @on(QueryRejected)
    def _query_rejected(self, message: QueryRejected) -> None:
        if message.query != self._wanted:
            return
        self._wanted = self.shown_query
        self._set_query_error(message.error)

    @on(RunsTable.WindowWanted)
    def _window_wanted(self, event: RunsTable.WindowWanted) -> None:
        if self.loaded and self._wanted == self.shown_query:
            self._fetch_window(self.shown_query, event.offset)

    def _set_query_error(self, error: str | None) -> None:
        self.query_error = error
        label = self.query_one("#runs-filter-error", Static)
        label.update(f"{error} · the table shows the last filter that worked" if error else "")
        label.display = bool(error)

    def _number(self, run_id: int) -> int | str:
        """What a person calls the run with this id: its number in the project."""
        run = next((r for r in self.table.runs if r.id == run_id), None)
        number = run.number if run is not None else self._numbers.get(run_id)
        return number if number is not None else "?"

    def _update_title(self) -> None:
        table, counts = self.table, self.counts
        direction = "▼" if table.sort_descending else "▲"
        marks = "  ".join(f"{k}=run {self._number(v)}" for k, v in sorted(self.marks.items())) or "none (a / b)"
        if counts is not None:
            self.query_one("#runs-title", Static).update(
                f"[b]{self.slug}[/b] · {counts.runs:,} run(s), {counts.trials:,} tuning trial(s) · "
                f"judged on [b]val_{table.primary}[/b]"
            )
        shown = (f"{table.total:,} shown" if table.counted else f"{table.total:,}+ shown (counting…)") + (f" matching “{table.filter_text}”" if table.filter_text else "")
        self.query_one("#runs-status", Static).update(
            f"{shown} · sorted by {COLUMN_LABEL[table.sort_column]} {direction} · "
            f"trials {'shown' if table.show_trials else 'hidden'} (t) · marked: {marks}"
        )

    # --- table interaction ---------------------------------------------------------------

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._ask(replace(self._wanted, where=event.value.strip()))

    @on(Input.Submitted, "#runs-filter")
    def _filter_done(self) -> None:
        self.table.focus()

    @on(RunsTable.SortChanged)
    def _sorted(self) -> None:
        self._ask(replace(self._wanted, sort=self.table.query_sort()))
        self._update_title()

    @on(RunsTable.RunSelected)
    def _run_selected(self, event: RunsTable.RunSelected) -> None:
        self._show_detail(event.run)

    def _show_detail(self, run: RunView, trials: list[RunView] | None = None) -> None:
        """Show a run at once; a tuned run's trials are read in a thread and shown when here."""
        self.detail_run = run.id
        self._numbers[run.id] = run.number
        if trials is None and not (run.tuning or {}).get("trials"):
            trials = []
        original = rescored_from(run)
        rescores = self.table.rescored_numbers.get(original) if original is not None else None
        self.query_one("#run-detail-body", Static).update(run_detail(run, trials, rescores=rescores))
        if trials is None:
            self._fetch_detail(run.id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-detail")
    def _fetch_detail(self, run_id: int) -> None:
        from app.services.run_query import run_with_trials

        run, trials = run_with_trials(self.wb, self.slug, run_id)
        if not get_current_worker().is_cancelled:
            self.post_message(self.DetailLoaded(run, trials))

    @on(DetailLoaded)
    def _detail_loaded(self, message: DetailLoaded) -> None:
        if message.run.id == self.detail_run:
            self._show_detail(message.run, message.trials)

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_back(self) -> None:
        if self.focused is self.query_one("#runs-filter", Input):
            self.table.focus()
        else:
            self.app.pop_screen()

    def action_cycle_sort(self) -> None:
        self.table.cycle_sort()

    def action_reverse_sort(self) -> None:
        self.table.sort_by(self.table.sort_column, not self.table.sort_descending)

    def action_toggle_trials(self) -> None:
        self._ask(replace(self._wanted, include_trials=not self._wanted.include_trials))

    def action_mark(self, which: str) -> None:
        run = self.table.selected
        if run is None:
            return
        if run.parent_run_id is not None:
            self.notify("A tuning trial kept no validation predictions: mark its parent run.", severity="warning")
            return
        self.marks = {k: v for k, v in self.marks.items() if v != run.id} | {which: run.id}
        self._numbers[run.id] = run.number
        self.table.set_marks({v: k for k, v in self.marks.items()})
        self._update_title()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer only what applies to the selected run (the footer then teaches the rest)."""
        if not self.is_mounted or not self.loaded:
            return action in ("back", "filter", "jobs")
        run = self.table.selected
        if action in ("compare", "compare_5x2cv"):
            return "A" in self.marks and "B" in self.marks
        if action in ("score_test", "reproduce", "mark"):
            return run is not None and run.parent_run_id is None
        if action in ("register", "analyse"):
            return run is not None and run.parent_run_id is None and run.artifact_sha256 is not None
        return True

    def on_key(self) -> None:
        # The selected run decides which actions apply: keep the footer in step with the cursor.
        self.call_after_refresh(self._sync_bindings)

    def _sync_bindings(self) -> None:
        """Refresh the footer only when what applies changed: recomposing it costs ~80 ms, which
        on every cursor move was most of the key-to-screen latency."""
        run = self.table.selected if self.is_mounted and self.loaded else None
        state = (self.loaded, run is not None and run.parent_run_id is None, "A" in self.marks and "B" in self.marks,
                 run is not None and run.artifact_sha256 is not None)
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    # --- actions that call services ------------------------------------------------------

    def action_compare(self) -> None:
        if "A" not in self.marks or "B" not in self.marks:
            self.notify("Mark a reference run with a and a challenger with b first.", severity="warning")
            return
        self.notify(f"Comparing run {self._number(self.marks['A'])} (A) with run {self._number(self.marks['B'])} (B)…")
        self._compare(self.marks["A"], self.marks["B"])

    @work(thread=True, exit_on_error=False, group="runs-compare")
    def _compare(self, run_a: int, run_b: int) -> None:
        from app.services.comparison import compare_runs

        self.post_message(self.RunsCompared(compare_runs(self.wb, self.slug, run_a, run_b)))

    @on(RunsCompared)
    def _compared(self, message: RunsCompared) -> None:
        from screens.modals.compare_result import CompareResult

        self.last_comparison = message.comparison
        self.app.push_screen(CompareResult(message.comparison))

    def action_compare_5x2cv(self) -> None:
        if "A" not in self.marks or "B" not in self.marks:
            self.notify("Mark a reference run with a and a challenger with b first.", severity="warning")
            return
        run_a, run_b = self.marks["A"], self.marks["B"]
        self.notify(f"5×2cv test of run {self._number(run_a)} (A) against run {self._number(run_b)} (B): ten refits each in a worker process; "
                    "progress is at the bottom, j cancels.", title="Job queued")
        self._compare_5x2cv(run_a, run_b)

    @work(thread=True, exit_on_error=False, group="runs-jobs")
    def _compare_5x2cv(self, run_a: int, run_b: int) -> None:
        from app.services.comparison import five_by_two

        comparison = self._with_progress(f"5×2cv, runs {run_a} vs {run_b}", lambda on_progress: five_by_two(
            self.wb, self.runner, self.slug, run_a, run_b, on_progress=on_progress))
        self.post_message(self.RunsCompared(comparison))

    def action_analyse(self) -> None:
        run = self.table.selected
        if run is None or run.parent_run_id is not None or run.artifact_sha256 is None:
            return
        self._open_analysis_form(run)

    @work(thread=True, exit_on_error=False, group="runs-read")
    def _open_analysis_form(self, run: RunView) -> None:
        """Read the dataset version's columns (a query) in a thread, then open the form on the loop."""
        from app.services.datasets import dataset_columns

        target = run.params.get("target")
        columns = sorted(c for c in dataset_columns(self.wb, self.slug, run.dataset_version_id) if c != target)
        self.app.call_from_thread(self._show_analysis_form, run, columns)

    def _show_analysis_form(self, run: RunView, columns: list[str]) -> None:
        from screens.modals.error_analysis_dialog import ErrorAnalysisDialog

        def chosen(values: dict[str, Any] | None) -> None:
            if values:
                self.notify(f"Analysing run {run.number}'s errors in a worker process; progress is at the bottom.",
                            title="Job queued")
                self._analyse(run.id, values["segments"], values["sensitive"], values["learning_curve"])

        self.app.push_screen(ErrorAnalysisDialog(run.number, columns, features=run.params.get("features")), chosen)

    @work(thread=True, exit_on_error=False, group="runs-jobs")
    def _analyse(self, run_id: int, segments: tuple[str, ...], sensitive: str | None, learning_curve: bool) -> None:
        from app.services.error_analysis import analyse_run

        result = self._with_progress(f"error analysis, run {self._number(run_id)}", lambda on_progress: analyse_run(
            self.wb, self.runner, self.slug, run_id, segments=segments, sensitive=sensitive,
            learning_curve=learning_curve, on_progress=on_progress))
        self.post_message(self.RunAnalysed(run_id, result))

    @on(RunAnalysed)
    def _analysed(self, message: RunAnalysed) -> None:
        from screens.modals.error_analysis_result import ErrorAnalysisResult

        self.last_analysis = (message.run_id, message.result)
        self.app.push_screen(ErrorAnalysisResult(self._number(message.run_id), message.result))
        self.announce_change(everywhere=True)  # fairness findings, the gate's fairness check

    def action_train(self) -> None:
        from screens.modals.train_dialog import TrainDialog

        def chosen(values: dict[str, Any] | None) -> None:
            if values:
                self.host.train_model(self.slug, values["kind"], cv=values["cv"],
                                     tune=values["tune"], trials=values["trials"])
                extras = [f"{values['cv']}-fold CV" if values["cv"] else "",
                          f"{values['tune']} tuning, {values['trials']} trials" if values["tune"] else ""]
                detail = ", ".join(e for e in extras if e)
                self.notify(f"Training {values['kind']}{f' ({detail})' if detail else ''} in a worker process; "
                            "progress is at the bottom, j cancels.", title="Job queued")

        self.app.push_screen(TrainDialog(), chosen)

    def action_score_test(self) -> None:
        from screens.modals.confirm import ConfirmDialog

        run = self.table.selected
        if run is None or run.parent_run_id is not None:
            return
        if run.test_metrics:
            self.notify(f"Run {run.number} was already scored on the test set; its metrics are in the details.")
            self._show_detail(run)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._score(run.id)

        self.app.push_screen(ConfirmDialog(SEALED_QUESTION.format(run=run.number), SEALED_DETAIL), answered)

    def _with_progress(self, label: str, job: Callable[[ProgressCallback], ResultT]) -> ResultT:
        """Run ``job`` (in this worker thread) with its progress in the jobs panel under ``label``;
        the jobs it started leave the panel when it ends, however it ends."""
        progress = self.host.progress
        seen: list[int] = []

        def on_progress(job_id: int, fraction: float, message: str) -> None:
            if job_id not in seen:
                seen.append(job_id)
            progress.update(job_id, label, fraction, message)

        try:
            return job(on_progress)
        finally:
            for job_id in seen:
                progress.finish(job_id)

    @work(thread=True, exit_on_error=False, group="runs-jobs")
    def _score(self, run_id: int) -> None:
        from app.services.evaluation import score_on_test

        evaluation = self._with_progress(f"test set, run {self._number(run_id)}", lambda on_progress: score_on_test(
            self.wb, self.runner, self.slug, run_id, on_progress=on_progress))
        self.post_message(self.TestSetScored(evaluation))

    @on(TestSetScored)
    def _scored(self, message: TestSetScored) -> None:
        result = message.evaluation
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.metrics.items()) if isinstance(v, float))[:120]
        warning = (f" This is look {result.looks_in_experiment} in the experiment: the stage 4 gate flags it."
                   if result.looks_in_experiment > 1 else "")
        self.notify(f"Run {result.run_number} on the test set: {shown}.{warning}", title="Test set opened",
                    severity="warning" if warning else "information", timeout=10)
        self.detail_run = result.run_id
        self.announce_change(everywhere=True)

    def action_reproduce(self) -> None:
        run = self.table.selected
        if run is None or run.parent_run_id is not None:
            return
        self.notify(f"Re-running run {run.number} from its recorded inputs in a worker process…")
        self._reproduce(run.id)

    @work(thread=True, exit_on_error=False, group="runs-jobs")
    def _reproduce(self, run_id: int) -> None:
        from app.services.evaluation import reproduce_run

        reproduction = self._with_progress(f"reproduce run {self._number(run_id)}", lambda on_progress: reproduce_run(
            self.wb, self.runner, self.slug, run_id, on_progress=on_progress))
        self.post_message(self.RunReproduced(reproduction))

    @on(RunReproduced)
    def _reproduced(self, message: RunReproduced) -> None:
        result = self.last_reproduction = message.reproduction
        if result.matches:
            self.notify(f"Run {result.run_number} reproduced: every validation metric matches "
                        f"(largest difference {result.max_difference:.2g}).", title="Reproducible")
        else:
            self.notify(f"Run {result.run_number} did NOT reproduce: largest metric difference "
                        f"{result.max_difference:.4g}.", title="Mismatch", severity="error", timeout=15)

    def action_register(self) -> None:
        from screens.modals.register_dialog import RegisterDialog

        run = self.table.selected
        if run is None or run.parent_run_id is not None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._register(run.id)

        self.app.push_screen(RegisterDialog(run, f"val_{primary_of(run)}"), confirmed)

    @work(thread=True, exit_on_error=False, group="runs-write")
    def _register(self, run_id: int) -> None:
        """Waits (off the loop) for the job that profiles the run's training data for the drift
        reference, with its progress in the jobs panel."""
        from app.services.registry import register_model

        v = self._with_progress(f"drift profile, run {self._number(run_id)}", lambda on_progress: register_model(
            self.wb, self.slug, run_id, runner=self.runner, on_progress=on_progress))
        self.notify(f"Run {self._number(run_id)} is model version {v.version}: write its card, ask for a review and promote it on "
                    "the release screen (R on the project).", title="Version registered", timeout=10)
        self.announce_change(everywhere=True)

    def action_jobs(self) -> None:
        from screens.jobs import JobsScreen

        self.app.push_screen(JobsScreen())
