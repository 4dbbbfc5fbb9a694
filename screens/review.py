"""`mlwb review open BUNDLE`: an evidence bundle, read-only, for a validator with no workspace.

The screen reads the bundle through ``app.bundle_reader`` (verified first: the verdict of
`mlwb verify-bundle` is the first thing on screen) and lays it out in five tabs: the report's
chapters, the evidence tables, the audit trail, the figures, and the validator's own findings.
Every list moves with the arrow keys and shows its item beside it; 1–5 switch tabs. Nothing
here opens a database or a workspace: the only file it writes is the signed review
(``app.review_file``), and only when the validator signs.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from app.errors import WorkbenchError
from screens.review_dialogs import ConclusionDialog, FindingDialog
from app.signing import short_fingerprint
from screens.widgets.charts import bar_chart, sparkline

if TYPE_CHECKING:
    from app.bundle_reader import BundleEvent, BundleFigure, BundleSection, OpenedBundle
    from app.review_file import ReviewFinding

EVENT_COLUMNS = (("Seq", 6), ("Time (UTC)", 19), ("Actor", 16), ("Action", 22), ("Entity", 16), ("Project", 12),
                 ("Payload", 60))
FINDING_COLUMNS = (("#", 3), ("Severity", 8), ("Title", 36), ("Concerns", 30), ("Remediation", 30), ("Due", 10))
#: Rows of a table printed inside a report section (the Tables tab shows every row).
SECTION_TABLE_ROWS = 40


class ReviewScreen(Screen[None]):
    """One bundle under review; ``written`` is the review file once signed."""

    BINDINGS = [
        Binding("1", "show_tab('report')", "Report", id="review.report", tooltip="The report's chapters"),
        Binding("2", "show_tab('tables')", "Tables", id="review.tables", tooltip="The evidence tables (the CSVs)"),
        Binding("3", "show_tab('audit')", "Audit", id="review.audit", tooltip="The audit trail (audit/events.jsonl)"),
        Binding("4", "show_tab('figures')", "Figures", id="review.figures", tooltip="Every figure of the report"),
        Binding("5", "show_tab('findings')", "Findings", id="review.findings", tooltip="Your findings so far"),
        Binding("6", "show_tab('verification')", "Verification", id="review.verification",
                tooltip="Every check of verify-bundle in full, and each signer's full fingerprint"),
        Binding("f", "add_finding", "Add finding", id="review.add_finding",
                tooltip="Record a finding about what is selected"),
        Binding("e", "edit_finding", "Edit finding", id="review.edit_finding", tooltip="Edit the selected finding"),
        Binding("delete,x", "remove_finding", "Remove finding", id="review.remove_finding",
                tooltip="Remove the selected finding from the review"),
        Binding("s", "sign", "Conclude & sign", id="review.sign",
                tooltip="Choose the conclusion, sign with your key and write review.json"),
        Binding("q", "app.quit", "Quit", show=False, id="review.quit",
                tooltip="Leave (an unsigned review is not kept)"),
    ]

    @dataclass
    class Opened(Message, bubble=False):
        bundle: OpenedBundle

    @dataclass
    class Written(Message, bubble=False):
        path: Path
        fingerprint: str

    def __init__(self, bundle_path: Path, *, key_file: Path | None = None) -> None:
        super().__init__()
        self.bundle_path = Path(bundle_path)
        self.key_file = key_file
        self.bundle: OpenedBundle | None = None
        self.findings: list[ReviewFinding] = []
        self.written: Path | None = None
        self.conclusion: dict[str, Any] = {"conclusion": "approve", "summary": "", "reviewer": getpass.getuser(),
                                           "out": ""}

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Verifying {self.bundle_path} …", id="review-verdict")
        yield Static("", id="review-about")
        with TabbedContent(id="review-tabs", initial="tab-report"):
            with TabPane("1 Report", id="tab-report"), Horizontal(classes="review-split"):
                yield OptionList(id="review-sections", classes="review-list")
                with VerticalScroll(id="review-section-body", classes="review-body"):
                    yield Static("", id="review-section")
            with TabPane("2 Tables", id="tab-tables"), Horizontal(classes="review-split"):
                yield OptionList(id="review-tables", classes="review-list")
                table: DataTable[str] = DataTable(id="review-table", zebra_stripes=True, classes="review-body")
                yield table
            with TabPane("3 Audit trail", id="tab-audit"):
                events: DataTable[Text] = DataTable(id="review-events", cursor_type="row", zebra_stripes=True)
                for label, width in EVENT_COLUMNS:
                    events.add_column(label, width=width)
                yield events
                yield Static("", id="review-event")
            with TabPane("4 Figures", id="tab-figures"), Horizontal(classes="review-split"):
                yield OptionList(id="review-figures", classes="review-list")
                with VerticalScroll(id="review-figure-body", classes="review-body"):
                    yield Static("", id="review-figure")
            with TabPane("5 Findings", id="tab-findings"):
                found: DataTable[Text] = DataTable(id="review-findings", cursor_type="row", zebra_stripes=True)
                for label, width in FINDING_COLUMNS:
                    found.add_column(label, width=width)
                yield found
                yield Static("", id="review-status")
            with TabPane("6 Verification", id="tab-verification"), VerticalScroll(id="review-verification-body"):
                yield Static("", id="review-verification")
        yield Footer()

    def on_mount(self) -> None:
        self._show_findings()
        self.open_bundle()

    # --- reading the bundle ---------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, exclusive=True, group="review-open")
    def open_bundle(self) -> None:
        from app.bundle_reader import open_bundle

        self.post_message(self.Opened(open_bundle(self.bundle_path)))

    @on(Opened)
    def _opened(self, message: Opened) -> None:
        from app.review_file import default_review_path

        b = self.bundle = message.bundle
        self.conclusion["out"] = str(default_review_path(b.path))
        self.query_one("#review-verdict", Static).update(_verdict_summary(b))
        self.query_one("#review-verification", Static).update(_verdict_in_full(b))
        sha = b.model_sha256 or "not stated"
        self.query_one("#review-about", Static).update(Text.assemble(
            (b.title, "bold"), f" · exported {b.created_at} by {b.created_by}",
            f"\nmodel SHA-256 {sha}\nmanifest SHA-256 {b.manifest_digest}",
            f"\naudit head #{b.head_seq} {b.head_hash} · evidence digest {b.evidence_digest}"))
        self.sub_title = b.title
        sections = self.query_one("#review-sections", OptionList)
        sections.add_options([Option(("  " * s.depth) + f"{s.number} {s.title}", id=f"section-{i}")
                              for i, s in enumerate(b.sections)])
        tables = self.query_one("#review-tables", OptionList)
        tables.add_options([Option(f"{i + 1:02d} {t.label}", id=f"table-{i}") for i, t in enumerate(b.tables)])
        figures = self.query_one("#review-figures", OptionList)
        figures.add_options([Option(f.label, id=f"figure-{i}") for i, f in enumerate(b.figures)])
        events = self.query_one("#review-events", DataTable)
        for e in b.events:
            events.add_row(Text(str(e.seq), style="bold"), Text(e.ts[:19].replace("T", " ")), Text(e.actor),
                           Text(e.action or "(hash only)", style="cyan" if e.action else "dim"), Text(e.entity),
                           Text(e.project or "—"), Text(e.payload),
                           key=str(e.seq))
        for widget, count in ((sections, len(b.sections)), (tables, len(b.tables)), (figures, len(b.figures))):
            if count:
                widget.highlighted = 0
        self._focus_tab(self.query_one("#review-tabs", TabbedContent).active)

    # --- moving around --------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#review-tabs", TabbedContent).active = f"tab-{tab}"
        self._focus_tab(f"tab-{tab}")

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab(event.pane.id or "")
        self.refresh_bindings()

    def _focus_tab(self, pane: str) -> None:
        target = {"tab-report": "#review-sections", "tab-tables": "#review-tables", "tab-audit": "#review-events",
                  "tab-figures": "#review-figures", "tab-findings": "#review-findings",
                  "tab-verification": "#review-verification-body"}.get(pane)
        if target:
            self.query_one(target).focus()

    @property
    def tab(self) -> str:
        return (self.query_one("#review-tabs", TabbedContent).active or "tab-report").removeprefix("tab-")

    @on(OptionList.OptionHighlighted, "#review-sections")
    def _section_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self.bundle is not None:
            self.query_one("#review-section", Static).update(_section(self.bundle.sections[event.option_index]))
            self.query_one("#review-section-body", VerticalScroll).scroll_home(animate=False)

    @on(OptionList.OptionHighlighted, "#review-tables")
    def _table_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self.bundle is None:
            return
        t = self.bundle.tables[event.option_index]
        grid = self.query_one("#review-table", DataTable)
        grid.clear(columns=True)
        grid.add_columns(*t.columns)
        grid.add_rows([_fit(row, len(t.columns)) for row in t.rows])
        grid.border_title = f"{t.label} · {len(t.rows)} row(s) · {t.file}"

    @on(DataTable.RowHighlighted, "#review-events")
    def _event_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.bundle is None or event.row_key.value is None:
            return
        seq = int(event.row_key.value)
        e = next((e for e in self.bundle.events if e.seq == seq), None)
        if e is not None:
            self.query_one("#review-event", Static).update(_event(e))

    @on(OptionList.OptionHighlighted, "#review-figures")
    def _figure_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self.bundle is not None:
            self.query_one("#review-figure", Static).update(_figure(self.bundle.figures[event.option_index]))

    def selected_concerns(self) -> str:
        """What the selected item is, as a finding's "concerns" names it."""
        b = self.bundle
        if b is None:
            return ""
        tab = self.tab
        if tab == "report":
            i = self.query_one("#review-sections", OptionList).highlighted
            return f"section {b.sections[i].number} {b.sections[i].title}" if i is not None and b.sections else ""
        if tab == "tables":
            i = self.query_one("#review-tables", OptionList).highlighted
            return f"table '{b.tables[i].label}' ({b.tables[i].file})" if i is not None and b.tables else ""
        if tab == "figures":
            i = self.query_one("#review-figures", OptionList).highlighted
            return f"figure '{b.figures[i].label}'" if i is not None and b.figures else ""
        if tab == "audit":
            grid = self.query_one("#review-events", DataTable)
            if grid.row_count:
                e = b.events[grid.cursor_row]
                return f"audit event #{e.seq} {e.action} ({e.entity})"
        return ""

    # --- findings and signing -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("edit_finding", "remove_finding"):
            return self.tab == "findings" and bool(self.findings)
        if action == "sign":
            return self.bundle is not None and self.bundle.verified
        return True

    def action_add_finding(self) -> None:
        def added(finding: ReviewFinding | None) -> None:
            if finding is not None:
                self.findings.append(finding)
                self._show_findings()
                self.notify(f"Finding {len(self.findings)} added ({finding.severity}): {finding.title}",
                            title="Finding")

        self.app.push_screen(FindingDialog(self.selected_concerns()), added)

    def _selected_finding(self) -> int | None:
        grid = self.query_one("#review-findings", DataTable)
        return grid.cursor_row if self.findings and 0 <= grid.cursor_row < len(self.findings) else None

    def action_edit_finding(self) -> None:
        index = self._selected_finding()
        if index is None:
            return

        def edited(finding: ReviewFinding | None) -> None:
            if finding is not None:
                self.findings[index] = finding
                self._show_findings()

        self.app.push_screen(FindingDialog(finding=self.findings[index]), edited)

    def action_remove_finding(self) -> None:
        index = self._selected_finding()
        if index is not None:
            removed = self.findings.pop(index)
            self._show_findings()
            self.notify(f"Removed: {removed.title}", title="Finding")

    def _show_findings(self) -> None:
        grid = self.query_one("#review-findings", DataTable)
        grid.clear()
        styles = {"high": "bold red", "medium": "yellow", "low": ""}
        for i, f in enumerate(self.findings, start=1):
            grid.add_row(Text(str(i)), Text(f.severity, style=styles.get(f.severity, "")), Text(f.title),
                         Text(f.concerns), Text(f.remediation), Text(f.due_date or "—"))
        self._show_status()
        self.refresh_bindings()

    def _show_status(self) -> None:
        status = Text(f"{len(self.findings)} finding(s). ")
        if self.written is not None:
            status.append(f"Signed review written to {self.written}.", style="bold green")
        else:
            status.append("f adds a finding about what is selected in any tab; s chooses the conclusion, signs "
                          "with your key and writes review.json.", style="dim")
        self.query_one("#review-status", Static).update(status)

    def action_sign(self) -> None:
        if self.bundle is None or not self.bundle.verified:
            self.notify("This bundle failed verification and cannot be signed.", severity="error")
            return

        def concluded(values: dict[str, Any] | None) -> None:
            if values is not None:
                self.conclusion = values
                self.sign_and_write(values)

        c = self.conclusion
        self.app.push_screen(ConclusionDialog(list(self.findings), reviewer=c["reviewer"], out=c["out"],
                                              conclusion=c["conclusion"], summary=c["summary"]), concluded)

    @work(thread=True, exit_on_error=False, exclusive=True, group="review-sign")
    def sign_and_write(self, values: dict[str, Any]) -> None:
        from app.review_file import reviewer_key, sign_review, write_review

        assert self.bundle is not None
        key = reviewer_key(self.key_file)
        document = sign_review(self.bundle, key, reviewer=values["reviewer"], conclusion=values["conclusion"],
                               summary=values["summary"], findings=list(self.findings))
        self.post_message(self.Written(write_review(document, values["out"]), key.fingerprint))

    @on(Written)
    def _written(self, message: Written) -> None:
        self.written = message.path
        self._show_status()
        self.notify(f"{message.path}\nsigned with key {short_fingerprint(message.fingerprint)}. Send it to the ML "
                    "team: `mlwb review import review.json`.", title="Review signed", timeout=12)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place this screen's background work reports a failure: a notification."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, WorkbenchError):
            if event.worker.group == "review-open":
                self.query_one("#review-verdict", Static).update(Text(str(error), style="bold red"))
            self.notify(str(error), title="Cannot do that", severity="error", timeout=12)
        else:
            self.log.error(repr(error))
            self.notify(f"Unexpected error: {type(error).__name__}: {error}", title="Bug", severity="error",
                        timeout=15)


# --- drawing the bundle's records -------------------------------------------------------------


def _verdict_summary(b: OpenedBundle) -> Text:
    """The top of the screen: verify-bundle's verdict, each check's outcome, the signers."""
    shown = Text(b.verdict.summary(), style="bold green" if b.verified else "bold red")
    shown.append("\n")
    for i, check in enumerate(b.verdict.checks):
        shown.append(" · " if i else "")
        shown.append(f"{check.outcome} {check.name}", style="green" if check.ok else "bold red")
    if b.problems:
        shown.append(f" · FAILED reading: {'; '.join(b.problems)}", style="bold red")
    if b.verdict.signers:
        shown.append("\nsigners: " + "; ".join(f"{s.name} ({s.role}) {short_fingerprint(s.fingerprint)}"
                                              for s in b.verdict.signers), style="cyan")
    if not b.verified:
        shown.append("\nThis bundle cannot be signed: see 6 Verification, and ask the ML team for a new export.",
                     style="bold red")
    return shown


def _verdict_in_full(b: OpenedBundle) -> Text:
    shown = Text(b.verdict.summary(), style="bold green" if b.verified else "bold red")
    for check in b.verdict.checks:
        shown.append("\n\n" + check.line(), style="green" if check.ok else "red")
    for problem in b.problems:
        shown.append(f"\n\nFAILED  {problem}", style="red")
    if b.verdict.signers:
        shown.append("\n\nCompare each signer's fingerprint with the one its owner gave you out of band:", style="bold")
    for signer in b.verdict.signers:
        shown.append("\n" + signer.line(), style="cyan")
    return shown


def _rich_table(block: dict[str, Any], limit: int | None = None) -> Table:
    columns = [str(c) for c in block.get("columns") or ()]
    rows = list(block.get("rows") or ())
    table = Table(title=str(block.get("title") or ""), title_justify="left", show_lines=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows[:limit] if limit else rows:
        cells = [("" if c is None else str(c)) for c in row][:len(columns)]
        table.add_row(*cells, *([""] * (len(columns) - len(cells))))
    if limit and len(rows) > limit:
        table.caption = f"{limit} of {len(rows)} rows shown here; the Tables tab (2) shows all of them"
    return table


def _section(section: BundleSection) -> RenderableType:
    from app.bundle_reader import block_kind

    parts: list[RenderableType] = [Text(f"{section.number} {section.title}", style="bold")]
    tones = {"lead": "bold", "note": "dim", "empty": "dim italic", "alert": "bold red"}
    for block in section.blocks:
        kind = block_kind(block)
        if kind == "prose":
            parts.append(Text(str(block.get("text", "")), style=tones.get(str(block.get("tone")), "")))
        elif kind == "facts":
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold")
            grid.add_column()
            for row in block.get("rows") or ():
                grid.add_row(*(str(c) for c in list(row)[:2]))
            if block.get("title"):
                parts.append(Text(str(block["title"]), style="underline"))
            parts.append(grid)
        elif kind == "table":
            parts.append(_rich_table(block, SECTION_TABLE_ROWS))
            if block.get("note"):
                parts.append(Text(str(block["note"]), style="dim"))
        elif kind in ("bars", "lines"):
            parts.append(Text(f"Figure: {block.get('title', '')} (Figures tab, 4)", style="italic cyan"))
        parts.append(Text(""))
    if not section.blocks:
        parts.append(Text("(the sub-sections below hold this chapter's content)", style="dim"))
    return Group(*parts)


def _event(e: BundleEvent) -> Text:
    return Text.assemble((f"#{e.seq} {e.action}", "bold"), f" · {e.entity} · {e.actor} · {e.ts}\n",
                         (e.payload, ""), (f"\nhash {e.hash}", "dim"))


def _figure(f: BundleFigure) -> RenderableType:
    parts: list[RenderableType] = [Text(f.title, style="bold")]
    if f.y_label:
        parts.append(Text(f.y_label, style="dim"))
    if f.kind == "bars":
        parts.append(bar_chart(f.labels, f.values, width=40, floor_at_zero=True))
    else:
        table = Table(show_lines=False)
        table.add_column("series")
        table.add_column("trend")
        for label in f.labels:
            table.add_column(label, justify="right")
        for name, values in f.lines:
            table.add_row(name, sparkline(values), *("—" if v is None else f"{v:.4g}" for v in values))
        parts.append(table)
    if f.threshold is not None:
        parts.append(Text(f"threshold {f.threshold:g}", style="yellow"))
    if f.note:
        parts.append(Text(f.note, style="dim"))
    return Group(*parts)


def _fit(row: tuple[str, ...], width: int) -> tuple[str, ...]:
    """A CSV row cut or padded to the table's columns (a hand-edited CSV may differ)."""
    return row[:width] + ("",) * (width - len(row))
