"""The compliance report: one PDF a reviewer or auditor can read offline and sign off.

The renderer only reads a frozen :class:`~app.services.report_data.ReportData` (collect first,
render second), so it never touches the database and the same data always gives the same
bytes (reportlab's ``invariant`` mode fixes the document id and timestamps).

Shape follows pretix's invoice renderer: one class with small hooks for fonts, stylesheet,
page templates and header/footer callbacks, and one ``_story(data)`` that turns data into
flowables. "Page X of Y" comes from a numbered canvas that defers page output until the total
is known.

Security: reportlab's ``Paragraph`` parses a mini-markup. Unescaped user text could restyle the
report, pull local files in through ``<img src=...>`` or abort the export, so every user string
passes through :func:`_text` (control characters stripped, XML-escaped) before it reaches a
Paragraph, and through :func:`_plain` before it reaches the canvas or matplotlib.

reportlab and matplotlib are imported inside the functions that use them so importing
``reports`` (which the TUI does) stays cheap.
"""

from __future__ import annotations

import io
import math
import os
import pathlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable
from xml.sax.saxutils import escape

from app.services.report_data import ChartSeries, GateCheckRow, ReportData, StageChapter, TableData

if TYPE_CHECKING:  # pragma: no cover - typing only
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Flowable

__all__ = ["render_compliance_report", "ComplianceReportRenderer"]

#: The lifecycle has six stages by definition; "Stage N of 6" must not shrink if a chapter
#: is missing from the data, so the total is a constant rather than ``len(chapters)``.
STAGE_COUNT = 6

#: Where each stage's evidence answers the documents reviewers work from. Static renderer
#: text (not user data): EU AI Act Annex IV technical documentation points and the SR 11-7
#: model risk management headings.
REVIEWER_REFERENCES: dict[int, str] = {
    1: "EU AI Act Annex IV §1(a) intended purpose · SR 11-7 model purpose and design",
    2: "Annex IV §2(b) design specifications · SR 11-7 conceptual soundness",
    3: "Annex IV §2(d) data requirements and data sheets · SR 11-7 data quality and relevance",
    4: "Annex IV §2(g) validation and testing, §4 performance metrics · SR 11-7 development, outcomes analysis",
    5: "Annex IV §2(e) human oversight, §6 lifecycle changes · SR 11-7 implementation, use and governance",
    6: "Annex IV §9 post-market monitoring plan · SR 11-7 ongoing monitoring",
}

# Everything in the C0/C1 control ranges except \t and \n (\r is normalised to \n first).
# They are invisible at best and break the PDF text layer or the markup parser at worst.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# A hex digest (SHA-256 and friends) in a table cell: allowed to wrap mid-word.
_DIGEST = re.compile(r"^[0-9a-fA-F]{24,}$")

# Palette: sober inks with one accent, so the highlighted rows and gate states stand out.
_INK = "#1f2933"
_MUTED = "#5f6b7a"
_ACCENT = "#1f3a5f"
_RULE = "#c9d2dc"
_HEADER_BG = "#e6ecf3"
_ZEBRA_BG = "#f6f8fa"
_HIGHLIGHT_BG = "#fff0c2"
_HIGHLIGHT_BAR = "#d99a00"
_PASS = "#1e7b34"
_FAIL = "#b3261e"
_WARN = "#9a6700"


def _plain(value: object) -> str:
    """Return ``value`` as text without control characters, for the canvas and matplotlib.

    Control characters would show as boxes, corrupt the extracted text layer, or (NUL) end a
    string early in some viewers; lone surrogates cannot be encoded into the PDF at all.
    """
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_CHARS.sub("", text)
    return text.encode("utf-8", "replace").decode("utf-8")


def _text(value: object) -> str:
    """Return user text as safe Paragraph markup: the one gate for all user strings.

    Strips control characters (keeping newlines and tabs), XML-escapes ``& < >`` so that a
    field like ``<img src="/etc/passwd"/>`` prints literally instead of being obeyed, then
    turns newlines into ``<br/>`` (Paragraph collapses whitespace, and multi-line model card
    sections must keep their breaks) and tabs into spaces.
    """
    return escape(_plain(value)).replace("\t", "    ").replace("\n", "<br/>")


@dataclass(frozen=True)
class _FontSet:
    """Font names registered for this render; falls back to the PDF base-14 fonts."""

    regular: str
    bold: str
    italic: str
    mono: str
    unicode: bool


_FONT_FILES = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "italic": "DejaVuSans-Oblique.ttf",
    "mono": "DejaVuSansMono.ttf",
}


def _font_dirs() -> list[pathlib.Path]:
    """Places a DejaVu copy may live, most project-specific first.

    The project's own ``assets/fonts`` wins (a shipped font is reproducible), then the
    system copy, then matplotlib's bundled copy, which exists wherever our charts work.
    """
    dirs = [
        pathlib.Path(__file__).resolve().parent.parent / "assets" / "fonts",
        pathlib.Path("/usr/share/fonts/truetype/dejavu"),
        pathlib.Path("/usr/share/fonts/TTF"),
        pathlib.Path("/usr/share/fonts/dejavu"),
    ]
    try:
        import matplotlib

        dirs.append(pathlib.Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except Exception:  # pragma: no cover - matplotlib is a hard dependency, but stay usable
        pass
    return dirs


def _register_fonts() -> _FontSet:
    """Register DejaVu Sans (Latin, Greek, Cyrillic, many symbols) or fall back to Helvetica.

    Helvetica cannot draw most non-Latin user text (names like "Кирилл" come out as
    boxes), so a TrueType font is worth looking for. Registration is process-wide and
    idempotent: re-registering the same name is skipped.
    """
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    names = {key: f"MLWB-{stem.removesuffix('.ttf')}" for key, stem in _FONT_FILES.items()}
    registered = set(pdfmetrics.getRegisteredFontNames())
    if all(name in registered for name in names.values()):
        return _FontSet(names["regular"], names["bold"], names["italic"], names["mono"], True)

    for directory in _font_dirs():
        paths = {key: directory / stem for key, stem in _FONT_FILES.items()}
        if not all(path.is_file() for path in paths.values()):
            continue
        try:
            for key, path in paths.items():
                if names[key] not in registered:
                    pdfmetrics.registerFont(TTFont(names[key], str(path)))
        except Exception:  # a broken font file: try the next copy
            continue
        # Map <b>/<i> in our own markup onto the TTF family (no bold-italic file: use bold).
        family = names["regular"]
        addMapping(family, 0, 0, names["regular"])
        addMapping(family, 1, 0, names["bold"])
        addMapping(family, 0, 1, names["italic"])
        addMapping(family, 1, 1, names["bold"])
        return _FontSet(names["regular"], names["bold"], names["italic"], names["mono"], True)

    return _FontSet("Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Courier", False)


def _make_numbered_canvas(fonts: _FontSet, footer_left: str) -> type:
    """Build a canvas class that writes "Page X of Y" once the page count is known.

    reportlab emits each page as soon as it is full, before the total exists; this canvas
    keeps every page's state and draws the numbers in ``save()`` (the pretix recipe).
    """
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._page_states: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's API name
            self._page_states.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._page_states)
            for state in self._page_states:
                self.__dict__.update(state)
                self._draw_footer(total)
                super().showPage()
            super().save()

        def _draw_footer(self, total: int) -> None:
            width, _ = self._pagesize
            self.saveState()
            self.setFont(fonts.regular, 7.5)
            self.setFillColor(colors.HexColor(_MUTED))
            self.drawString(20 * mm, 12 * mm, footer_left)
            self.drawRightString(width - 20 * mm, 12 * mm, f"Page {self._pageNumber} of {total}")
            self.restoreState()

    return NumberedCanvas


class ComplianceReportRenderer:
    """Turns one :class:`ReportData` into the compliance PDF.

    Subclass and override a hook (``_stylesheet``, ``_page_templates``, ``_on_body_page``,
    a ``_*_section`` method) to change one aspect without copying the rest.
    """

    pagesize: tuple[float, float]
    margin: float

    def __init__(self, data: ReportData) -> None:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm

        self.data = data
        self.pagesize = A4
        self.margin = 20 * mm
        self.fonts = _register_fonts()
        self.styles = self._stylesheet()

    # ------------------------------------------------------------------ hooks: look and feel

    @property
    def frame_width(self) -> float:
        return self.pagesize[0] - 2 * self.margin

    def _stylesheet(self) -> dict[str, ParagraphStyle]:
        """One named style per role, so the hierarchy is decided in one place."""
        from reportlab.lib import colors
        from reportlab.lib.enums import TA_LEFT
        from reportlab.lib.styles import ParagraphStyle

        f = self.fonts
        ink = colors.HexColor(_INK)
        base = ParagraphStyle("body", fontName=f.regular, fontSize=9.5, leading=13.5,
                              textColor=ink, alignment=TA_LEFT, spaceAfter=4)
        return {
            "body": base,
            "kicker": ParagraphStyle("kicker", parent=base, fontName=f.bold, fontSize=9,
                                     textColor=colors.HexColor(_MUTED), spaceAfter=6),
            "title": ParagraphStyle("title", parent=base, fontName=f.bold, fontSize=28,
                                    leading=34, textColor=colors.HexColor(_ACCENT), spaceAfter=10),
            "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=15, leading=20,
                                       spaceAfter=4),
            "h1": ParagraphStyle("h1", parent=base, fontName=f.bold, fontSize=17, leading=22,
                                 textColor=colors.HexColor(_ACCENT), spaceBefore=0, spaceAfter=4),
            "h2": ParagraphStyle("h2", parent=base, fontName=f.bold, fontSize=12, leading=16,
                                 textColor=colors.HexColor(_ACCENT), spaceBefore=12, spaceAfter=5),
            "h3": ParagraphStyle("h3", parent=base, fontName=f.bold, fontSize=10, leading=14,
                                 spaceBefore=10, spaceAfter=4),
            "meta": ParagraphStyle("meta", parent=base, fontSize=8.5, leading=12,
                                   textColor=colors.HexColor(_MUTED), spaceAfter=2),
            "note": ParagraphStyle("note", parent=base, fontName=f.italic, fontSize=8,
                                   leading=11, textColor=colors.HexColor(_MUTED),
                                   spaceBefore=3, spaceAfter=6),
            "empty": ParagraphStyle("empty", parent=base, fontName=f.italic, fontSize=9,
                                    textColor=colors.HexColor(_MUTED), spaceAfter=6),
            # 7.5 pt monospace keeps "Audit chain head: <seq> <64 hex>" (~90 characters,
            # ~405 pt) on one line inside the 482 pt frame, so text extraction and a human
            # copying the hash both get it whole.
            "mono": ParagraphStyle("mono", parent=base, fontName=f.mono, fontSize=7.5,
                                   leading=10, spaceAfter=2),
            "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11, spaceAfter=0),
            "cell_small": ParagraphStyle("cell_small", parent=base, fontSize=7.5, leading=9.5,
                                         spaceAfter=0),
            "cell_bold": ParagraphStyle("cell_bold", parent=base, fontName=f.bold, fontSize=8.5,
                                        leading=11, spaceAfter=0),
            "cell_head": ParagraphStyle("cell_head", parent=base, fontName=f.bold, fontSize=8,
                                        leading=10.5, textColor=colors.HexColor(_ACCENT),
                                        spaceAfter=0),
        }

    def _page_templates(self, doc: Any) -> list[Any]:
        """A bare title page, then body pages with a running header."""
        from reportlab.platypus import Frame, PageTemplate
        from reportlab.lib.units import mm

        width, height = self.pagesize
        body = Frame(self.margin, 22 * mm, self.frame_width, height - 22 * mm - 26 * mm,
                     id="body", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        title = Frame(self.margin, 22 * mm, self.frame_width, height - 22 * mm - 40 * mm,
                      id="title", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        return [
            PageTemplate(id="title", frames=[title], onPage=self._on_title_page,
                         pagesize=self.pagesize),
            PageTemplate(id="body", frames=[body], onPage=self._on_body_page,
                         pagesize=self.pagesize),
        ]

    def _on_title_page(self, canvas: Any, doc: Any) -> None:
        """An accent band with the product name: the title page carries no running header."""
        from reportlab.lib import colors
        from reportlab.lib.units import mm

        width, height = self.pagesize
        canvas.saveState()
        canvas.setFillColor(colors.HexColor(_ACCENT))
        canvas.rect(0, height - 14 * mm, width, 14 * mm, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont(self.fonts.bold, 9)
        canvas.drawString(self.margin, height - 8.8 * mm, "ML LIFECYCLE WORKBENCH")
        canvas.setFont(self.fonts.regular, 9)
        canvas.drawRightString(width - self.margin, height - 8.8 * mm,
                               "Compliance evidence report")
        canvas.restoreState()

    def _on_body_page(self, canvas: Any, doc: Any) -> None:
        """Running header: report name, project slug (the key an auditor files it under)."""
        from reportlab.lib import colors
        from reportlab.lib.units import mm

        width, height = self.pagesize
        y = height - 15 * mm
        canvas.saveState()
        canvas.setFont(self.fonts.bold, 8)
        canvas.setFillColor(colors.HexColor(_ACCENT))
        canvas.drawString(self.margin, y, "Compliance report")
        canvas.setFont(self.fonts.regular, 8)
        canvas.setFillColor(colors.HexColor(_MUTED))
        canvas.drawRightString(width - self.margin, y, _plain(self.data.project_slug))
        canvas.setStrokeColor(colors.HexColor(_RULE))
        canvas.setLineWidth(0.6)
        canvas.line(self.margin, y - 2.5 * mm, width - self.margin, y - 2.5 * mm)
        canvas.line(self.margin, 16 * mm, width - self.margin, 16 * mm)
        canvas.restoreState()

    # ------------------------------------------------------------------ building blocks

    def _p(self, markup: str, style: str = "body") -> Any:
        """A Paragraph from markup that is already safe (built from :func:`_text`)."""
        from reportlab.platypus import Paragraph

        return Paragraph(markup, self.styles[style])

    def _heading(self, text: str, level: int = 0, style: str = "h1") -> Any:
        """A heading paragraph that also becomes a PDF outline (bookmark) entry."""
        para = self._p(_text(text), style)
        para._mlwb_outline = (_plain(text), level)  # read by _ReportDocTemplate.afterFlowable
        return para

    def _chapter_start(self, title: str) -> list[Any]:
        """Chapters start on a new page under a heading with an accent rule."""
        from reportlab.lib import colors
        from reportlab.platypus import HRFlowable, PageBreak

        return [
            PageBreak(),
            self._heading(title),
            HRFlowable(width="100%", thickness=1.2, color=colors.HexColor(_ACCENT),
                       spaceBefore=0, spaceAfter=10),
        ]

    def _column_widths(self, columns: tuple[str, ...], rows: list[tuple[str, ...]],
                       total: float, cell_style: str = "cell") -> list[float]:
        """Share ``total`` so that words stay whole where possible and prose takes the rest.

        Each column first gets the width of its longest unbreakable word (a run id, a model
        class name; capped so one 64-hex hash cannot eat the page, it wraps instead), then
        the remaining room goes to columns in proportion to how much wider their longest
        cell would like to be. Prose columns (many words) get a floor of their own, or a
        narrow "Notes" column turns into a tower of one-word lines. Measured in points with
        the cell fonts, not characters.
        """
        from reportlab.pdfbase.pdfmetrics import stringWidth

        n = len(columns)
        if n == 0:
            return []
        pad = 10.0 + 1.0  # left + right cell padding, plus rounding slack
        body, head = self.styles[cell_style], self.styles["cell_head"]
        sample = rows[:300]  # enough to judge the shape of a long table, cheap to measure

        def width(text: str, style: Any) -> float:
            return stringWidth(text, style.fontName, style.fontSize)

        minimum: list[float] = []
        natural: list[float] = []
        for i, col in enumerate(columns):
            cells = [_plain(r[i]) for r in sample if i < len(r)]
            words = [w for c in cells for w in c.split()]
            # Digests are meant to wrap; keeping one whole would starve the other columns.
            longest_word = max([min(width(w, body), total * 0.18) if _DIGEST.match(w)
                                else width(w, body) for w in words] +
                               [width(w, head) for w in _plain(col).split()] + [12.0])
            longest_cell = max([width(" ".join(c.split()), body) for c in cells] +
                               [width(_plain(col), head), 12.0])
            floor = min(longest_word, total * 0.32)
            if longest_cell > 2.5 * longest_word:  # prose: keep a readable measure
                floor = max(floor, min(longest_cell, total * 0.22))
            minimum.append(floor + pad)
            natural.append(min(longest_cell, total * 1.5) + pad)

        if sum(minimum) >= total:  # too many columns: shrink all minimums alike
            return [total * m / sum(minimum) for m in minimum]
        spare = total - sum(minimum)
        wants = [max(nat - m, 0.0) for nat, m in zip(natural, minimum)]
        if sum(wants) <= spare:  # everything fits on one line: hand out the slack evenly
            extra = (spare - sum(wants)) / n
            return [m + w + extra for m, w in zip(minimum, wants)]
        return [m + spare * w / sum(wants) for m, w in zip(minimum, wants)]

    def _table_style(self, n_rows: int, highlight: set[int] | None = None) -> Any:
        """Subtle house style: tinted header, hairlines, zebra rows, amber highlighted rows."""
        from reportlab.lib import colors
        from reportlab.platypus import TableStyle

        cmds: list[tuple[Any, ...]] = [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(_HEADER_BG)),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor(_ACCENT)),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor(_RULE)),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 5),
            ("RIGHTPADDING", (0, 0), (-1, -1), 5),
        ]
        for r in range(2, n_rows, 2):
            cmds.append(("BACKGROUND", (0, r), (-1, r), colors.HexColor(_ZEBRA_BG)))
        for idx in sorted(highlight or ()):
            r = idx + 1  # data row -> table row (row 0 is the header)
            cmds.append(("BACKGROUND", (0, r), (-1, r), colors.HexColor(_HIGHLIGHT_BG)))
            cmds.append(("LINEBEFORE", (0, r), (0, r), 2.5, colors.HexColor(_HIGHLIGHT_BAR)))
        return TableStyle(cmds)

    def _grid(self, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
              widths: list[float] | None = None, highlight: set[int] | None = None) -> Any:
        """A splitting table: header repeats on each page, cells wrap (all cells Paragraphs).

        ``rows`` may hold plain user strings (escaped here) or ready flowables.
        """
        from reportlab.platypus import Table

        n = len(columns)
        norm = [tuple(row[:n]) + ("",) * (n - len(row)) for row in rows]
        # Wide tables (runs, registries) get a smaller face so identifiers stay whole.
        cell_style = "cell_small" if n >= 6 else "cell"
        if widths is None:
            widths = self._column_widths(columns, [tuple(_plain(c) if isinstance(c, str) else ""
                                                        for c in r) for r in norm],
                                         self.frame_width, cell_style)
        cells: list[list[Any]] = [[self._p(_text(c), "cell_head") for c in columns]]
        for row in norm:
            cells.append([c if not isinstance(c, str) else self._p(_text(c), cell_style)
                          for c in row])
        # splitInRow: a deliverable can be a one-page problem statement; a row taller than
        # the frame must split inside the row, or reportlab aborts with LayoutError.
        table = Table(cells, colWidths=widths, repeatRows=1, splitInRow=1, hAlign="LEFT")
        table.setStyle(self._table_style(len(cells), highlight))
        return table

    def _table_block(self, table: TableData, empty_text: str = "None recorded.",
                     heading_style: str = "h3", show_title: bool = True) -> list[Any]:
        """A :class:`TableData` with its title and note; an empty one says so in words."""
        from reportlab.platypus import Spacer

        out: list[Any] = []
        if show_title and table.title:
            out.append(self._p(_text(table.title), heading_style))
        if not table.rows or not table.columns:
            out.append(self._p(_text(empty_text), "empty"))
        else:
            n = len(table.rows)
            highlight = {i for i in table.highlight if 0 <= i < n}
            out.append(self._grid(table.columns, list(table.rows), highlight=highlight))
            if highlight:
                count = len(highlight)
                out.append(self._p(f"{count} highlighted row{'s' if count != 1 else ''} "
                                   "(shaded) need a reviewer's attention.", "note"))
        if table.note:
            out.append(self._p(_text(table.note), "note"))
        out.append(Spacer(1, 4))
        return out

    def _status(self, text: str, color: str) -> Any:
        """A bold coloured status word; words, not ✓/✗, so any fallback font can draw them."""
        return self._p(f'<font color="{color}">{escape(text)}</font>', "cell_bold")

    # ------------------------------------------------------------------ sections

    def _title_section(self, data: ReportData) -> list[Any]:
        from reportlab.lib import colors
        from reportlab.platypus import Spacer, Table, TableStyle

        stage = next((c for c in data.chapters if c.number == data.current_stage), None)
        stage_text = f"Stage {data.current_stage} of {STAGE_COUNT}"
        if stage is not None:
            stage_text += f" — {stage.title}"
        rows = [
            ("Project", data.project_name),
            ("Project slug", data.project_slug),
            ("Problem type", data.problem_type),
            ("Maturity profile", data.maturity),
            ("Current stage", stage_text),
            ("Generated at", data.generated_at),
            ("Generated by", data.generated_by),
        ]
        facts = Table([[self._p(_text(k), "cell_head"), self._p(_text(v), "body")]
                       for k, v in rows],
                      colWidths=[42 * 2.835, self.frame_width - 42 * 2.835], hAlign="LEFT")
        facts.setStyle(TableStyle([
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor(_RULE)),
            ("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.HexColor(_ACCENT)),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ]))

        head = Table([[self._p("Audit chain head this report was built from", "cell_head")],
                      [self._audit_head_line(data)],
                      [self._p("Re-verify the evidence with <font name=\"%s\">mlwb audit "
                               "verify</font>; the head it reports must match this one."
                               % self.fonts.mono, "meta")]],
                     colWidths=[self.frame_width], hAlign="LEFT")
        head.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(_ZEBRA_BG)),
            ("BOX", (0, 0), (-1, -1), 0.5, colors.HexColor(_RULE)),
            ("LINEBEFORE", (0, 0), (0, -1), 3, colors.HexColor(_ACCENT)),
            ("LEFTPADDING", (0, 0), (-1, -1), 8),
            ("TOPPADDING", (0, 0), (-1, -1), 4),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ]))
        return [
            Spacer(1, 30),
            self._p("COMPLIANCE REPORT", "kicker"),
            self._p(_text(data.project_name), "title"),
            self._p(_text(data.project_slug), "subtitle"),
            Spacer(1, 24),
            facts,
            Spacer(1, 24),
            head,
            Spacer(1, 24),
            self._p("This document was generated offline from the workbench registry. It "
                    "records, for each of the six lifecycle stages, the stored deliverables, "
                    "the gate checks and their outcome, followed by the model card, drift "
                    "results, approvals and the state of the tamper-evident audit trail.",
                    "meta"),
        ]

    def _audit_head_line(self, data: ReportData) -> Any:
        """``Audit chain head: {seq} {hash}`` in one unbroken monospace line."""
        return self._p(_text(f"Audit chain head: {data.audit_head_seq} {data.audit_head_hash}"),
                       "mono")

    def _summary_section(self, data: ReportData) -> list[Any]:
        from reportlab.lib.units import mm

        rows: list[tuple[Any, ...]] = []
        current: set[int] = set()
        for i, ch in enumerate(sorted(data.chapters, key=lambda c: c.number)):
            required = [c for c in ch.checks if c.required]
            passed = sum(1 for c in required if c.passed)
            status = (self._status("PASSED", _PASS) if ch.gate_passed
                      else self._status("OPEN", _FAIL))
            rows.append((str(ch.number), ch.title, ch.risk,
                         f"{passed} of {len(required)}", status))
            if ch.number == data.current_stage:
                current.add(i)
        out = self._chapter_start("Stage summary")
        out.append(self._p(
            f"Gate status of the {STAGE_COUNT} lifecycle stages. The current stage "
            f"({data.current_stage}) is shaded. A gate is <b>passed</b> when every required "
            "check holds; optional checks only warn under this project's maturity profile.",
            "body"))
        if rows:
            out.append(self._grid(("#", "Stage", "Primary risk", "Required checks", "Gate"),
                                  rows, widths=self._fill_widths([10 * mm, 50 * mm, None,
                                                                  28 * mm, 22 * mm]),
                                  highlight=current))
        else:
            out.append(self._p("No stage chapters recorded.", "empty"))
        refs = [(str(n), REVIEWER_REFERENCES[n]) for n in sorted(REVIEWER_REFERENCES)]
        out.append(self._p("Where reviewers find it", "h2"))
        out.append(self._grid(("Stage", "Evidence for"), refs,
                              widths=self._fill_widths([16 * mm, None])))
        return out

    def _fill_widths(self, widths: list[float | None]) -> list[float]:
        """Fixed widths plus one ``None`` column that takes the rest of the frame."""
        fixed = sum(w for w in widths if w is not None)
        flexible = max(self.frame_width - fixed, 30.0)
        return [w if w is not None else flexible for w in widths]

    def _stage_section(self, ch: StageChapter) -> list[Any]:
        from reportlab.lib.units import mm

        out = self._chapter_start(f"Stage {ch.number}: {ch.title}")
        gate = (f'<font color="{_PASS}"><b>Gate passed</b></font>' if ch.gate_passed
                else f'<font color="{_FAIL}"><b>Gate open</b></font>')
        out.append(self._p(f"{gate} &nbsp;·&nbsp; <b>Primary risk:</b> {_text(ch.risk)}", "body"))
        if ch.number in REVIEWER_REFERENCES:
            out.append(self._p(_text(REVIEWER_REFERENCES[ch.number]), "meta"))

        out.append(self._p("Deliverables", "h2"))
        if ch.deliverables:
            out.append(self._grid(("Deliverable", "Recorded value"),
                                  [(self._p(_text(k), "cell_bold"), v)
                                   for k, v in ch.deliverables],
                                  widths=self._fill_widths([52 * mm, None])))
        else:
            out.append(self._p("No deliverables recorded.", "empty"))

        out.append(self._p("Gate checks", "h2"))
        if ch.checks:
            out.append(self._grid(("Check", "Result", "Kind", "Detail"),
                                  [self._check_row(c) for c in ch.checks],
                                  widths=self._fill_widths([62 * mm, 22 * mm, 20 * mm, None]),
                                  highlight={i for i, c in enumerate(ch.checks)
                                             if c.required and not c.passed}))
        else:
            out.append(self._p("No gate checks defined for this stage.", "empty"))

        for table in ch.tables:
            out.extend(self._table_block(table, heading_style="h2"))
        return out

    def _check_row(self, check: GateCheckRow) -> tuple[Any, ...]:
        if check.passed:
            result = self._status("PASS", _PASS)
        else:
            result = self._status("MISSING", _FAIL if check.required else _WARN)
        kind = "required" if check.required else "optional"
        return (check.label, result, kind, check.detail or "—")

    def _model_card_section(self, data: ReportData) -> list[Any]:
        from reportlab.platypus import KeepTogether

        out = self._chapter_start("Model card")
        if not data.model_card:
            out.append(self._p("No model card recorded for this project.", "empty"))
            return out
        for section, body in data.model_card:
            # Keep a section heading with at least its first lines.
            out.append(KeepTogether([self._p(_text(section), "h2"),
                                     self._p(_text(body) or "<i>(empty)</i>", "body")]))
        return out

    def _drift_section(self, data: ReportData) -> list[Any]:
        out = self._chapter_start("Drift")
        out.extend(self._table_block(data.drift_table,
                                     empty_text="No drift results recorded.",
                                     heading_style="h2",
                                     show_title=bool(data.drift_table.title)))
        if data.charts:
            out.append(self._p("Charts", "h2"))
            for chart in data.charts:
                out.extend(self._chart_block(chart))
        return out

    def _chart_block(self, chart: ChartSeries) -> list[Any]:
        from reportlab.platypus import Image, KeepTogether

        title = self._p(_text(chart.title), "h3")
        if not chart.labels or not chart.values:
            return [title, self._p("No values recorded.", "empty")]
        width = self.frame_width
        height = width * 0.36
        png = _bar_chart_png(chart, width / 72.0, height / 72.0)
        parts = [title, Image(io.BytesIO(png), width=width, height=height)]
        if chart.threshold is not None:
            parts.append(self._p(_text(f"Dashed line: threshold {chart.threshold:g}. "
                                       "Bars above it are drawn in red."), "note"))
        return [KeepTogether(parts)]

    def _approvals_section(self, data: ReportData) -> list[Any]:
        out = self._chapter_start("Approvals")
        out.extend(self._table_block(data.approvals, empty_text="No approvals recorded.",
                                     heading_style="h2",
                                     show_title=bool(data.approvals.title)))
        return out

    def _audit_section(self, data: ReportData) -> list[Any]:
        from reportlab.lib.units import mm
        from reportlab.platypus import Spacer

        out = self._chapter_start("Audit trail")
        out.append(self._p(
            "Every change in the workbench writes an audit event whose hash covers the "
            "previous event's hash (HMAC-SHA256), so editing, deleting, reordering or "
            "truncating any event breaks the chain from that point on.", "body"))
        facts = [
            ("Events in the chain", str(data.audit_event_count)),
            ("Head sequence number", str(data.audit_head_seq)),
            ("Head hash", self._p(_text(data.audit_head_hash), "mono")),
        ]
        out.append(self._grid(("Property", "Value"), facts,
                              widths=self._fill_widths([52 * mm, None])))
        out.append(Spacer(1, 6))
        out.append(self._audit_head_line(data))
        out.append(self._p("How to re-verify", "h2"))
        mono = self.fonts.mono
        out.append(self._p(
            f'1. In the workspace this report came from, run <font name="{mono}">mlwb audit '
            "verify</font>. It recomputes every link and names the first broken one.", "body"))
        out.append(self._p(
            "2. Compare the head it reports with the sequence number and hash above. Events "
            "after this head are later work; a different hash at the same sequence number "
            "means the trail was changed after this report was generated.", "body"))
        out.append(self._p(_text(f"Report generated at {data.generated_at} by "
                                 f"{data.generated_by}."), "meta"))
        return out

    # ------------------------------------------------------------------ assembly

    def _story(self, data: ReportData) -> list[Flowable]:
        """All flowables in reading order; the only place the chapter order is decided."""
        from reportlab.platypus import NextPageTemplate

        story: list[Any] = [NextPageTemplate("body")]
        story += self._title_section(data)
        story += self._summary_section(data)
        for chapter in sorted(data.chapters, key=lambda c: c.number):
            story += self._stage_section(chapter)
        story += self._model_card_section(data)
        story += self._drift_section(data)
        story += self._approvals_section(data)
        story += self._audit_section(data)
        return story

    def render(self, out: str | os.PathLike[str]) -> pathlib.Path:
        """Write the PDF to ``out`` atomically (temp file + rename) and return its path.

        Writing to a sibling temp file first means a failed render never leaves a
        half-written report where a reviewer might pick it up.
        """
        data = self.data
        target = pathlib.Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.partial")
        doc = _ReportDocTemplate(
            str(tmp),
            pagesize=self.pagesize,
            leftMargin=self.margin, rightMargin=self.margin,
            topMargin=self.margin, bottomMargin=self.margin,
            title=_plain(f"Compliance report — {data.project_name}"),
            author=_plain(data.generated_by),
            subject=_plain(f"{data.project_slug}; audit chain head {data.audit_head_seq}"),
            creator="ML Lifecycle Workbench",
            producer="ML Lifecycle Workbench (reportlab)",
            invariant=1,
            lang="en",
        )
        doc.addPageTemplates(self._page_templates(doc))
        footer = _plain(f"{data.project_slug} · generated {data.generated_at} · "
                        f"audit head #{data.audit_head_seq}")
        canvasmaker: Callable[..., Any] = _make_numbered_canvas(self.fonts, footer)
        try:
            doc.build(self._story(data), canvasmaker=canvasmaker)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return target


def _ReportDocTemplate(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - acts as a class
    """A BaseDocTemplate that turns marked headings into PDF outline entries.

    Built lazily so reportlab is imported only when a report is rendered.
    """
    from reportlab.platypus import BaseDocTemplate

    class ReportDocTemplate(BaseDocTemplate):
        _outline_counter = 0

        def afterFlowable(self, flowable: Any) -> None:  # noqa: N802 - reportlab's API name
            outline = getattr(flowable, "_mlwb_outline", None)
            if outline is None:
                return
            title, level = outline
            self._outline_counter += 1
            key = f"h{self._outline_counter}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(title, key, level=level, closed=False)

    return ReportDocTemplate(*args, **kwargs)


def _bar_chart_png(chart: ChartSeries, width_in: float, height_in: float) -> bytes:
    """Draw one bar chart to PNG bytes in memory.

    Uses matplotlib's object API (``Figure`` + Agg canvas) instead of pyplot: it never
    touches the process-wide backend or pyplot's figure registry, so it is safe in a worker
    thread next to the TUI and there is no figure to forget to close. The effect is what
    ``matplotlib.use("Agg")`` + ``plt.close`` aim for, without the global state.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def label(s: object) -> str:
        # "$" starts mathtext in matplotlib: a feature named "price $" would be parsed as
        # math (and invalid math raises), so user labels are made literal.
        # Long labels are shortened so tight_layout can still fit the axes.
        text = " ".join(_plain(s).split())
        if len(text) > 28:
            text = text[:27] + "…"
        return text.replace("$", r"\$")

    n = min(len(chart.labels), len(chart.values))
    labels = [label(x) for x in chart.labels[:n]]
    raw = [float(v) for v in chart.values[:n]]
    values = [v if math.isfinite(v) else 0.0 for v in raw]
    threshold = chart.threshold if chart.threshold is not None and math.isfinite(
        chart.threshold) else None

    over, under, muted = "#b3261e", "#5b7fa6", "#9aa5b1"
    colors = [
        muted if not math.isfinite(r) else (over if threshold is not None and v > threshold
                                            else under)
        for r, v in zip(raw, values)
    ]
    fig = Figure(figsize=(width_in, height_in), dpi=200)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    positions = list(range(n))
    ax.bar(positions, values, color=colors, width=0.6, zorder=2)
    for x, r, v in zip(positions, raw, values):
        ax.annotate("n/a" if not math.isfinite(r) else f"{v:.3g}", (x, v),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                    fontsize=7, color="#1f2933")
    if threshold is not None:
        ax.axhline(threshold, color="#1f2933", linestyle="--", linewidth=1, zorder=3,
                   label=f"threshold {threshold:g}")
        ax.legend(loc="upper right", fontsize=7, frameon=False)
    top = max(values + ([threshold] if threshold is not None else []) + [0.0])
    bottom = min(values + [0.0])
    span = (top - bottom) or 1.0
    ax.set_ylim(bottom - (0.05 * span if bottom < 0 else 0), top + 0.18 * span)
    ax.set_xticks(positions)
    # Rotate tick labels only when they would collide (about 95 characters fit across).
    rotate = sum(len(x) + 3 for x in labels) > 95 or n > 12
    ax.set_xticklabels(labels, rotation=30 if rotate else 0, ha="right" if rotate else "center",
                       fontsize=7.5)
    ax.tick_params(axis="y", labelsize=7.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#e3e8ee", linewidth=0.6, zorder=0)
    fig.tight_layout()
    buf = io.BytesIO()
    # No "Software" metadata: the bytes then depend only on the data and the drawing code.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def render_compliance_report(data: ReportData, out: str | os.PathLike[str]) -> pathlib.Path:
    """Render ``data`` as the compliance PDF at ``out`` and return the written path.

    The same ``data`` always gives byte-identical output, so a re-rendered report can be
    compared with an archived one by hash.
    """
    return ComplianceReportRenderer(data).render(out)
