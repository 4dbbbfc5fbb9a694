"""Renders any :class:`~reports.data.DocumentData` as a PDF.

Every document the workbench prints goes through this one renderer, so they share fonts,
escaping, page furniture, numbered tables ("Table 3. …") and figures ("Figure 2. …"), the
table of contents and the audit head on every page. The renderer never queries the
database: it reads frozen data (collect first, render second), and reportlab's ``invariant``
mode plus deterministic charts make the same data give the same bytes.

Shape follows pretix's invoice renderer: one class with small hooks and one ``story()``.
"""

from __future__ import annotations

import io
import os
import pathlib
from typing import Any

from reports.data import (
    ChartSeries, DocumentData, Facts, LineChart, Prose, Section, TableData,
)
from reports import fonts as font_registry
from reports.charts import bar_chart_png, line_chart_png
from reports.layout import (
    ACCENT, RULE, ZEBRA_BG, PageFurniture, built_phrase, document_template, numbered_canvas, stylesheet,
)
from reports.markup import plain, text
from reports.tables import TableMaker

#: Tables of at most this many rows are kept on one page when they fit on one.
KEEP_WHOLE_ROWS = 6

_TONES = {"body": "body", "lead": "lead", "note": "note", "empty": "empty", "alert": "alert",
          "mono": "mono", "meta": "meta"}


class DocumentRenderer:
    """Turns one :class:`DocumentData` into a PDF file.

    Subclass and override a hook (``cover_story``, ``title_block``, ``block``, …) to change
    one aspect without copying the rest.
    """

    def __init__(self, data: DocumentData) -> None:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm

        self.data = data
        self.pagesize = A4
        self.margin = 20 * mm
        self.fonts = font_registry.register_fonts()
        self.styles = stylesheet(self.fonts)
        # The body frame: page height less the header (26 mm) and footer (22 mm) bands.
        self.frame_height = self.pagesize[1] - 48 * mm
        self.tables = TableMaker(self.styles, self.fonts, self.frame_width, self.frame_height)
        self._table_no = 0
        self._figure_no = 0
        self._heading_no = 0

    # ------------------------------------------------------------------ building blocks

    @property
    def frame_width(self) -> float:
        return self.pagesize[0] - 2 * self.margin

    def t(self, value: object) -> str:
        """User text as safe markup, with characters the font lacks spelled out."""
        return text(value, self.fonts.coverage)

    def p(self, markup: str, style: str = "body") -> Any:
        """A Paragraph from markup that is already safe (built from :meth:`t`)."""
        return self.tables.p(markup, style)

    def heading(self, title: str, level: int, style: str) -> Any:
        """A heading that becomes a contents entry and a PDF outline (bookmark) entry."""
        self._heading_no += 1
        markup = self.t(title)
        para = self.p(markup, style)
        para._mlwb_heading = (markup, plain(title, self.fonts.coverage), level,
                              f"h{self._heading_no}")
        return para

    def keep_room(self, points: float = 90) -> Any:
        """Start a new page unless ``points`` remain: no heading or caption ends a page alone.

        (``keepWithNext`` would glue a caption to a whole long table and push it to the next
        page; a conditional break keeps the table starting right under its caption.)
        """
        from reportlab.platypus import CondPageBreak

        return CondPageBreak(points)

    def audit_head_line(self) -> Any:
        """``Audit chain head: {seq} {hash}`` in one unbroken monospace line."""
        s = self.data.stamp
        return self.p(self.t(f"Audit chain head: {s.audit_head_seq} {s.audit_head_hash}"), "mono")

    def stamp_lines(self) -> list[Any]:
        """The audit head line, and the evidence digest line where the document carries one
        (``mlwb verify-bundle`` reads both from the text)."""
        s = self.data.stamp
        lines = [self.audit_head_line()]
        if s.evidence_digest:
            lines.append(self.p(self.t(f"Evidence digest: {s.evidence_digest}"), "mono"))
        return lines

    def caption(self, kind: str, title: str) -> Any:
        if kind == "Table":
            self._table_no += 1
            number = self._table_no
        else:
            self._figure_no += 1
            number = self._figure_no
        return self.p(f"{kind} {number}. {self.t(title)}", "caption")

    # ------------------------------------------------------------------ blocks

    def block(self, item: object) -> list[Any]:
        if isinstance(item, Prose):
            return self.tables.paragraphs(item.text, _TONES.get(item.tone, "body"))
        if isinstance(item, Facts):
            return self.facts_block(item)
        if isinstance(item, TableData):
            return self.table_block(item)
        if isinstance(item, (ChartSeries, LineChart)):
            return self.chart_block(item)
        raise TypeError(f"cannot render {type(item).__name__} in a document")

    def facts_block(self, facts: Facts) -> list[Any]:
        from reportlab.pdfbase.pdfmetrics import stringWidth
        from reportlab.platypus import Spacer

        out: list[Any] = []
        if facts.title:
            out += [self.keep_room(60), self.p(self.t(facts.title), "h3")]
        if not facts.rows:
            return out + [self.p("None recorded.", "empty")]
        longest = max(stringWidth(plain(k), self.fonts.bold, 8.5) for k, _ in facts.rows)
        label = min(max(longest + 12, 30 * 2.835), self.frame_width * 0.34)
        return out + [self.tables.facts(facts.rows, label), Spacer(1, 6)]

    def table_block(self, table: TableData) -> list[Any]:
        """Numbered caption, the table, then how many rows are highlighted and the note.

        An empty table prints its title and "None recorded." — not its note, which explains
        rows that are not there.
        """
        from reportlab.platypus import Spacer

        out: list[Any] = []
        if not table.rows or not table.columns:
            if table.title:
                out += [self.keep_room(40), self.p(self.t(table.title), "h3")]
            return out + [self.p("None recorded.", "empty"), Spacer(1, 4)]
        from reportlab.platypus import KeepTogether

        n = len(table.rows)
        highlight = {i for i in table.highlight if 0 <= i < n}
        grid = self.tables.grid(table.columns, list(table.rows), highlight=highlight)
        # Room for the caption and the header with the first row, so a caption never ends a page.
        out.append(self.keep_room(max(90.0, 30.0 + getattr(grid, "head_height", 0.0))))
        part: list[Any] = [self.caption("Table", table.title or "Untitled table"), grid]
        if highlight and not table.note:  # a note says what its shading means itself
            count = len(highlight)
            part.append(self.p(f"{count} highlighted row{'s need' if count != 1 else ' needs'} "
                               "a reviewer's attention (shaded).", "note"))
        if table.note:
            part += self.tables.paragraphs(table.note, "note")
        # A short table stays whole (its last row alone overleaf made a page of one row); a long
        # one splits, its header repeated.
        out += [KeepTogether(part)] if n <= KEEP_WHOLE_ROWS else part
        out.append(Spacer(1, 4))
        return out

    def chart_block(self, chart: ChartSeries | LineChart) -> list[Any]:
        from reportlab.platypus import Image, KeepTogether

        if isinstance(chart, ChartSeries):
            empty = not chart.labels or not chart.values
        else:
            empty = not chart.x_labels or not chart.lines
        if empty:
            return [self.keep_room(50), self.p(self.t(chart.title), "h3"),
                    self.p("No values recorded.", "empty")]
        width = self.frame_width
        if isinstance(chart, ChartSeries):
            height = width * 0.36
            png = bar_chart_png(chart, width / 72.0, height / 72.0, self.fonts.coverage)
        else:
            height = width * 0.38
            png = line_chart_png(chart, width / 72.0, height / 72.0, self.fonts.coverage)
        parts = [Image(io.BytesIO(png), width=width, height=height),
                 self.caption("Figure", chart.title)]
        if isinstance(chart, ChartSeries) and chart.threshold is not None:
            red = {True: " Bars above it are drawn in red.", False: " Bars below it are drawn in red.",
                   None: ""}[chart.alarm_above]
            parts.append(self.p(self.t(f"Dashed line: threshold {chart.threshold:g}.{red}"), "note"))
        if chart.note:
            parts += self.tables.paragraphs(chart.note, "note")
        return [KeepTogether(parts)]

    # ------------------------------------------------------------------ page-level parts

    def cover_story(self) -> list[Any]:
        """Cover: document kind, project, the cover facts and the audit head in a box."""
        from reportlab.lib import colors
        from reportlab.platypus import NextPageTemplate, PageBreak, Spacer, Table, TableStyle

        d, s = self.data, self.data.stamp
        box = Table([[self.p("Audit chain head this document was built from", "cell_head")],
                     *([line] for line in self.stamp_lines()),
                     [self.p(f'Re-verify the evidence with <font name="{self.fonts.mono}">mlwb '
                             "audit verify</font>; the head it reports must match this one "
                             "(later events only add to it)."
                             + (f' The evidence digest pins the content of every event to this head: '
                                f'<font name="{self.fonts.mono}">mlwb verify-bundle</font> checks an '
                                "exported bundle's events against it." if s.evidence_digest else ""),
                             "meta")]],
                    colWidths=[self.frame_width], hAlign="LEFT")
        box.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(ZEBRA_BG)),
            ("BOX", (0, 0), (-1, -1), 0.5, colors.HexColor(RULE)),
            ("LINEBEFORE", (0, 0), (0, -1), 3, colors.HexColor(ACCENT)),
            ("LEFTPADDING", (0, 0), (-1, -1), 8),
            ("TOPPADDING", (0, 0), (-1, -1), 4),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ]))
        out: list[Any] = [
            NextPageTemplate("body"),
            Spacer(1, 24),
            self.p(self.t(d.title.upper()), "kicker"),
            *self.tables.paragraphs(s.project_name, "title"),
            self.p(self.t(s.project_slug), "subtitle"),
            Spacer(1, 18),
            self.tables.facts(d.cover, 46 * 2.835),
            Spacer(1, 18),
            box,
        ]
        if d.summary:
            out += [Spacer(1, 18), *self.tables.paragraphs(d.summary, "meta")]
        return out + [PageBreak()]

    def contents_story(self) -> list[Any]:
        from reportlab.platypus import PageBreak
        from reportlab.platypus.tableofcontents import TableOfContents

        toc = TableOfContents(dotsMinLevel=0)
        toc.levelStyles = [self.styles["toc0"], self.styles["toc1"]]
        return [self.p("Contents", "h1"), self.rule(), toc, PageBreak()]

    def title_block(self) -> list[Any]:
        """The top of page one for documents without a cover: title, stamp, audit head."""
        d, s = self.data, self.data.stamp
        facts = (f"<b>{self.t(s.project_name)}</b> ({self.t(s.project_slug)}) · "
                 f"{self.t(s.problem_type)} · {self.t(s.maturity)} profile · model "
                 f"{self.t(s.model_version)} · {self.t(built_phrase(s))} by {self.t(s.built_by)}")
        out = [self.p(self.t(d.title), "doc_title"), self.p(facts, "meta"), *self.stamp_lines()]
        if d.summary:
            out += self.tables.paragraphs(d.summary, "meta")
        return out + [self.rule(space_after=6)]

    def rule(self, space_after: float = 10) -> Any:
        from reportlab.lib import colors
        from reportlab.platypus import HRFlowable

        return HRFlowable(width="100%", thickness=1.2, color=colors.HexColor(ACCENT),
                          spaceBefore=2, spaceAfter=space_after)

    def section_story(self, section: Section, number: int, fresh_page: bool) -> list[Any]:
        from reportlab.platypus import PageBreak

        d = self.data
        out: list[Any] = []
        title = f"{number}. {section.title}" if d.contents else section.title
        if d.chapter_breaks:
            if not fresh_page:
                out.append(PageBreak())
            out += [self.heading(title, 0, "h1"), self.rule()]
        else:
            out += [self.keep_room(150), self.heading(title, 0, "h1_inline")]
        for item in section.blocks:
            out += self.block(item)
        for sub in section.subsections:
            out += [self.keep_room(150), self.heading(sub.title, 1, "h2")]
            for item in sub.blocks:
                out += self.block(item)
        return out

    def signature_story(self) -> list[Any]:
        """Lines to sign: one row per role with name, signature and date."""
        from reportlab.lib import colors
        from reportlab.lib.units import mm
        from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle

        rows = []
        for role in self.data.signatures:
            rows.append([self.p(self.t(role), "cell_bold"), "", "", ""])
            rows.append([self.p("", "cell"), self.p("Name", "meta"), self.p("Signature", "meta"),
                         self.p("Date", "meta")])
        widths = self.tables.fill_widths([46 * mm, None, 56 * mm, 30 * mm])
        grid = Table(rows, colWidths=widths, rowHeights=[16 * mm, 6 * mm] * len(self.data.signatures),
                     hAlign="LEFT")
        cmds: list[tuple[Any, ...]] = [("VALIGN", (0, 0), (-1, -1), "BOTTOM")]
        for i in range(0, len(rows), 2):
            cmds.append(("LINEBELOW", (1, i), (1, i), 0.6, colors.HexColor(RULE)))
            cmds.append(("LINEBELOW", (2, i), (2, i), 0.6, colors.HexColor(RULE)))
            cmds.append(("LINEBELOW", (3, i), (3, i), 0.6, colors.HexColor(RULE)))
        grid.setStyle(TableStyle(cmds))
        return [KeepTogether([self.heading("Sign-off", 0, "h1_inline"),
                              self.p("By signing, each person confirms they reviewed the evidence "
                                     "in this document as printed, for the audit chain head "
                                     "stated on its first page.", "meta"),
                              Spacer(1, 4), grid])]

    def story(self) -> list[Any]:
        """All flowables in reading order; the only place the document's order is decided."""
        d = self.data
        out: list[Any] = []
        # The first chapter follows the cover's (or contents') page break, or the title block.
        fresh = True
        out += self.cover_story() if d.cover else self.title_block()
        if d.contents:
            out += self.contents_story()
        for number, section in enumerate(d.sections, start=1):
            out += self.section_story(section, number, fresh_page=fresh)
            fresh = False
        if d.signatures:
            out += self.signature_story()
        return out

    def render(self, out: str | os.PathLike[str]) -> pathlib.Path:
        """Write the PDF to ``out`` atomically (temp file + rename) and return its path.

        Writing to a sibling temp file first means a failed render never leaves a
        half-written document where a reviewer might pick it up.
        """
        d, s = self.data, self.data.stamp
        target = pathlib.Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.partial")
        furniture = PageFurniture(d.title, s, self.fonts, self.pagesize, self.margin)
        doc = document_template(
            str(tmp), furniture, cover=bool(d.cover),
            title=plain(f"{d.title} — {s.project_name}"),
            author=plain(s.built_by),
            subject=plain(f"{s.project_slug}; model {s.model_version}; audit chain head "
                          f"{s.audit_head_seq} {s.audit_head_hash}"),
            creator="ML Lifecycle Workbench",
            producer="ML Lifecycle Workbench (reportlab)",
        )
        canvasmaker = numbered_canvas(furniture)
        try:
            story = self.story()
            if d.contents:
                doc.multiBuild(story, canvasmaker=canvasmaker)
            else:
                doc.build(story, canvasmaker=canvasmaker)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return target


def render_document_data(data: DocumentData, out: str | os.PathLike[str]) -> pathlib.Path:
    """Render ``data`` at ``out``; the same data always gives byte-identical output."""
    return DocumentRenderer(data).render(out)
