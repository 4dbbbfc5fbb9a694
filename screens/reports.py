"""Reports of one project: choose a document and its scope, build the PDF, see what was built.

The document list is the renderer's (``reports.render.DOCUMENTS``); the scope a document takes
(a model version, or a monitoring batch / range) is the report builder's. ``b`` builds through
the app's ``build_report`` worker: the records are collected in a thread and the PDF laid out
in a worker process, so this screen keeps answering keys; ``c`` cancels. The table lists the
last reports built (``report.built`` audit events) with a check of each file: "ok" (there,
with the SHA-256 recorded when it was built), "changed" or "missing". A deterministic build
records nothing, so it only shows in the "last written" line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, OptionList, Select, Static, Switch
from textual.widgets.option_list import Option

from app.services.report_builder import describe_scope
from screens.base import SnapshotScreen
from screens.messages import ReportBuildStarted, ReportBuilt, ReportBuildStopped
from screens.widgets.tables import row_table

if TYPE_CHECKING:
    from app.services.report_builder import BuiltReport, ReportScopes
    from app.services.workbench import Workbench

# Widths for a 120-column terminal; the path takes what is left.
REPORT_COLUMNS = (("Built", 16), ("Document", 18), ("Scope", 15), ("Pages", 5), ("Head", 6), ("File", 7),
                  ("File name", 35))
FILE_STATE_STYLE = {"ok": "green", "changed": "bold red", "missing": "yellow"}
SCOPE_HELP = {
    "version": "Scoped to the model version chosen above.",
    "batches": "Scoped to the batches from … to … chosen above (the same batch twice: that batch alone).",
    "": "Covers the whole project: no scope to choose.",
}


@dataclass(frozen=True)
class ReportsSnapshot:
    documents: dict[str, str]  # kind -> title
    scopes_by_kind: dict[str, tuple[str, ...]]
    buildable: tuple[str, ...]  # kinds this workbench can collect
    scopes: ReportScopes
    recent: list[BuiltReport]


def report_row(r: BuiltReport) -> tuple[Text, ...]:
    return (
        Text(f"{r.built_at.astimezone():%Y-%m-%d %H:%M}"), Text(r.title, style="bold"), Text(short_scope(r.scope)),
        Text(str(r.pages), justify="right"), Text(f"#{r.head_seq}", style="dim"),
        Text(r.file_state, style=FILE_STATE_STYLE.get(r.file_state, "")), Text(r.path.name, overflow="ellipsis"),
    )


def short_scope(scope: dict[str, Any]) -> str:
    """The scope in a table cell: "v3", "2026-02", "2026-01…2026-03", "whole project"."""
    batches = scope.get("batches") or ()
    return "…".join(batches) if batches and scope.get("version") is None else describe_scope(scope)


def report_detail(r: BuiltReport, heading: str) -> Text:
    """Where a report is and what it claims: the path, its pages, the head it prints, its hash."""
    out = Text()
    out.append(heading, style="bold")
    out.append(f"  {r.path}\n")
    pages = f"{r.pages} page" + ("" if r.pages == 1 else "s")
    out.append(f"{r.title}, {r.scope_text} · {pages} · prints audit head #{r.head_seq} {r.head_hash[:16]}…\n")
    out.append(f"sha256 {r.sha256}")
    if r.deterministic:
        out.append(" · deterministic, nothing recorded", style="dim")
    elif r.event_seq is not None:
        out.append(f" · recorded as audit event #{r.event_seq}", style="dim")
        out.append(f" · file {r.file_state}", style=FILE_STATE_STYLE.get(r.file_state, ""))
    else:
        out.append(" · recorded in the audit trail", style="dim")
    return out


class ReportsScreen(SnapshotScreen[ReportsSnapshot]):
    BINDINGS = [
        Binding("b", "build", "Build PDF", id="reports.build",
                tooltip="Build the chosen document as a PDF in a worker process"),
        Binding("c", "cancel_build", "Cancel build", id="reports.cancel_build",
                tooltip="Stop this project's report builds; nothing is written"),
        Binding("d", "toggle_deterministic", "Deterministic", id="reports.deterministic",
                tooltip="A reproduction that records nothing: the same records give the same bytes"),
        Binding("r", "reload", "Refresh", id="reports.refresh",
                tooltip="Reload the scopes and re-check the files of recent reports"),
        Binding("escape", "app.pop_screen", "Back", id="reports.back"),
    ]

    def __init__(self, slug: str, *, kind: str = "compliance") -> None:
        super().__init__()
        self.slug = slug
        self.initial_kind = kind
        self.snapshot: ReportsSnapshot | None = None
        self.last_built: BuiltReport | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(f"Reports · {self.slug}", id="reports-title", classes="screen-title")
        with Horizontal(id="reports-top"):
            with Vertical(id="reports-documents"):
                yield Label("Document", classes="evidence-title")
                yield OptionList(id="report-kinds")
            with Vertical(id="reports-scope"):
                yield Label("Model version", classes="evidence-title")
                yield Select[int]([], prompt="default: production", id="report-version", disabled=True)
                yield Label("Monitoring batches: from, to", classes="evidence-title")
                with Horizontal(id="report-batches"):
                    yield Select[str]([], prompt="the first batch", id="report-batch-first", disabled=True)
                    yield Select[str]([], prompt="the last batch", id="report-batch-last", disabled=True)
                with Horizontal(id="report-deterministic-row"):
                    yield Switch(value=False, id="report-deterministic")
                    yield Label("Deterministic: records nothing; the same records give the same bytes",
                                id="report-deterministic-label")
                yield Static("", id="report-scope-help", classes="note")
        yield Static("Nothing built in this session yet. b builds the highlighted document.", id="report-last")
        yield Label("Reports built (newest first)", classes="evidence-title", id="reports-recent-title")
        yield row_table("report-table", REPORT_COLUMNS)
        yield Static("", id="report-detail")

    def on_mount(self) -> None:
        self.query_one("#report-kinds", OptionList).focus()

    # --- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        super().reload()
        self.refresh_bindings()

    def load(self, wb: Workbench) -> ReportsSnapshot:
        from app.services import report_builder

        documents = report_builder.document_titles()
        return ReportsSnapshot(
            documents=documents,
            scopes_by_kind={k: report_builder.SCOPES.get(k, ()) for k in documents},
            buildable=tuple(k for k in documents if k in report_builder.COLLECTORS),
            scopes=report_builder.report_scopes(wb, self.slug),
            recent=report_builder.recent_reports(wb, self.slug),
        )

    def show(self, snapshot: ReportsSnapshot) -> None:
        first_load = self.snapshot is None
        self.snapshot = snapshot
        if first_load:
            self._fill_choices(snapshot)
        table = self.query_one("#report-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in snapshot.recent:
            table.add_row(*report_row(r), key=str(r.event_seq))
        if snapshot.recent:
            table.move_cursor(row=min(cursor, len(snapshot.recent) - 1))
        else:
            self.query_one("#report-detail", Static).update(Text("No report of this project has been built yet.",
                                                                  style="dim"))
        self._sync_scope()

    @on(DataTable.RowHighlighted, "#report-table")
    def _report_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.snapshot is None or event.row_key.value is None:
            return
        chosen = next((r for r in self.snapshot.recent if str(r.event_seq) == event.row_key.value), None)
        if chosen is not None:
            self.query_one("#report-detail", Static).update(report_detail(chosen, "Highlighted"))

    def _fill_choices(self, snapshot: ReportsSnapshot) -> None:
        kinds = self.query_one("#report-kinds", OptionList)
        kinds.clear_options()
        kinds.add_options([
            Option(title if kind in snapshot.buildable else f"{title} (not available yet)", id=kind,
                   disabled=kind not in snapshot.buildable)
            for kind, title in snapshot.documents.items()
        ])
        if self.initial_kind in snapshot.documents:
            kinds.highlighted = list(snapshot.documents).index(self.initial_kind)
        versions = self.query_one("#report-version", Select)
        if snapshot.scopes.versions:
            versions.set_options([(f"v{v} · {label}", v) for v, label in snapshot.scopes.versions])
            if snapshot.scopes.default_version is not None:
                versions.value = snapshot.scopes.default_version
        labels = [(label, label) for label in snapshot.scopes.batches]
        self.query_one("#report-batch-first", Select).set_options(labels)
        self.query_one("#report-batch-last", Select).set_options(labels)

    # --- the choice ------------------------------------------------------------------------

    @property
    def kind(self) -> str | None:
        kinds = self.query_one("#report-kinds", OptionList)
        if kinds.highlighted is None or kinds.option_count == 0:
            return None
        return kinds.get_option_at_index(kinds.highlighted).id

    @property
    def deterministic(self) -> bool:
        return self.query_one("#report-deterministic", Switch).value

    def scope(self) -> dict[str, Any]:
        """The scope keywords of ``build_report`` the highlighted document takes."""
        if self.snapshot is None or self.kind is None:
            return {}
        takes = self.snapshot.scopes_by_kind.get(self.kind, ())
        out: dict[str, Any] = {}
        if "version" in takes:
            value = self.query_one("#report-version", Select).value
            out["version"] = None if value is Select.NULL else int(value)
        if "batches" in takes and self.snapshot.scopes.batches:
            labels = self.snapshot.scopes.batches
            first = self.query_one("#report-batch-first", Select).value
            last = self.query_one("#report-batch-last", Select).value
            if first is not Select.NULL or last is not Select.NULL:  # a blank end is the first / last batch
                start = labels[0] if first is Select.NULL else str(first)
                end = labels[-1] if last is Select.NULL else str(last)
                out["batches"] = (start,) if start == end else (start, end)
        return out

    @on(OptionList.OptionHighlighted, "#report-kinds")
    def _kind_changed(self) -> None:
        self._sync_scope()

    def _sync_scope(self) -> None:
        if self.snapshot is None:
            return
        takes = self.snapshot.scopes_by_kind.get(self.kind or "", ())
        self.query_one("#report-version", Select).disabled = "version" not in takes or not self.snapshot.scopes.versions
        for selector in ("#report-batch-first", "#report-batch-last"):
            self.query_one(selector, Select).disabled = "batches" not in takes or not self.snapshot.scopes.batches
        self.query_one("#report-scope-help", Static).update(SCOPE_HELP[takes[0] if takes else ""])
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action == "build":
            return self.snapshot is not None and self.kind in self.snapshot.buildable
        if action == "cancel_build":
            return self.host.report_build_running(self.slug)
        return True

    # --- actions ---------------------------------------------------------------------------

    def action_build(self) -> None:
        kind = self.kind
        if self.snapshot is None or kind is None:
            return
        app: Any = self.app
        app.build_report(self.slug, kind, deterministic=self.deterministic, **self.scope())
        title = self.snapshot.documents[kind]
        self.query_one("#report-last", Static).update(f"Building the {title.lower()}… (c cancels)")
        self.app.notify(f"Building the {title.lower()} of {self.slug} in a worker process; the screen stays usable.",
                        title="Report queued")

    def action_cancel_build(self) -> None:
        if self.host.cancel_report_builds(self.slug):
            self.notify("Cancelling the report build…", title="Cancel requested")

    def action_toggle_deterministic(self) -> None:
        switch = self.query_one("#report-deterministic", Switch)
        switch.value = not switch.value

    # --- what the app says about this project's builds ----------------------------------------

    @on(ReportBuildStarted)
    def _build_started(self, message: ReportBuildStarted) -> None:
        if message.slug == self.slug:
            self.refresh_bindings()  # "Cancel build" applies now

    @on(ReportBuilt)
    def _report_built(self, message: ReportBuilt) -> None:
        if message.slug == self.slug:
            self._show_built(message.report)

    @on(ReportBuildStopped)
    def _build_stopped(self, message: ReportBuildStopped) -> None:
        if message.slug != self.slug:
            return
        if not self.host.report_build_running(self.slug):  # else another build of this project still runs
            if self.last_built is None:
                self.query_one("#report-last", Static).update("The build stopped; nothing was written.")
            else:
                self._show_built(self.last_built)
        self.refresh_bindings()

    def _show_built(self, built: BuiltReport) -> None:
        self.last_built = built
        self.query_one("#report-last", Static).update(report_detail(built, "Last written"))
        self.reload()
