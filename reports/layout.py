"""Look and page furniture shared by every document.

One stylesheet, one palette, a cover band, a running header and footer ("Page X of Y", project,
model version and audit head on every page) and a document template that feeds the table of
contents and the PDF outline. The numbered canvas follows pretix's invoice renderer: it keeps
every page's state and draws the footers in ``save()``, once the page count is known.

reportlab is imported inside the functions so importing ``reports`` stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reports.data import DETERMINISTIC_BUILD, ReportStamp
from reports.fonts import FontSet
from reports.markup import fit, plain

if TYPE_CHECKING:  # pragma: no cover - typing only
    from reportlab.lib.styles import ParagraphStyle

# Palette: sober inks with one accent, so the highlighted rows and gate states stand out.
INK = "#1f2933"
MUTED = "#5f6b7a"
ACCENT = "#1f3a5f"
RULE = "#c9d2dc"
HEADER_BG = "#e6ecf3"
ZEBRA_BG = "#f6f8fa"
HIGHLIGHT_BG = "#fff0c2"
HIGHLIGHT_BAR = "#d99a00"
PASS = "#1e7b34"
FAIL = "#b3261e"
WARN = "#9a6700"

# A cell whose whole text is one of these words is drawn in its colour: the verdict columns of
# gate checks, the requirements map and drift tables. Upper case only, so prose never matches.
STATUS_COLOURS = {
    "PASS": PASS, "PASSED": PASS, "PRESENT": PASS, "OK": PASS, "APPROVED": PASS,
    "MISSING": FAIL, "FAIL": FAIL, "FAILED": FAIL, "OPEN": FAIL, "BREACHED": FAIL,
    "DRIFT": FAIL, "REJECTED": FAIL, "BROKEN": FAIL,
    "WAIVED": WARN, "WARN": WARN, "WATCH": WARN, "PARTIAL": WARN, "NOT MET": WARN, "N/A": MUTED,
}


def stylesheet(fonts: FontSet) -> dict[str, ParagraphStyle]:
    """One named style per role, so the hierarchy is decided in one place."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.styles import ParagraphStyle

    f = fonts
    ink = colors.HexColor(INK)
    muted = colors.HexColor(MUTED)
    accent = colors.HexColor(ACCENT)
    # No widows or orphans: a paragraph never leaves one line alone at the top or the foot of a
    # page (a last word overleaf made a page that was blank but for it).
    base = ParagraphStyle("body", fontName=f.regular, fontSize=9.5, leading=13.5,
                          textColor=ink, alignment=TA_LEFT, spaceAfter=4, allowWidows=0, allowOrphans=0)
    return {
        "body": base,
        "lead": ParagraphStyle("lead", parent=base, fontSize=10.5, leading=15, spaceAfter=8),
        "alert": ParagraphStyle("alert", parent=base, textColor=colors.HexColor(FAIL)),
        "kicker": ParagraphStyle("kicker", parent=base, fontName=f.bold, fontSize=9,
                                 textColor=muted, spaceAfter=6),
        "title": ParagraphStyle("title", parent=base, fontName=f.bold, fontSize=26,
                                leading=32, textColor=accent, spaceAfter=10),
        "doc_title": ParagraphStyle("doc_title", parent=base, fontName=f.bold, fontSize=17,
                                    leading=21, textColor=accent, spaceAfter=2),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=14, leading=19,
                                   spaceAfter=4),
        "h1": ParagraphStyle("h1", parent=base, fontName=f.bold, fontSize=17, leading=22,
                             textColor=accent, spaceBefore=0, spaceAfter=4),
        "h1_inline": ParagraphStyle("h1_inline", parent=base, fontName=f.bold, fontSize=12,
                                    leading=16, textColor=accent, spaceBefore=8, spaceAfter=3),
        "h2": ParagraphStyle("h2", parent=base, fontName=f.bold, fontSize=12, leading=16,
                             textColor=accent, spaceBefore=12, spaceAfter=5),
        "h3": ParagraphStyle("h3", parent=base, fontName=f.bold, fontSize=10, leading=14,
                             spaceBefore=10, spaceAfter=4),
        "caption": ParagraphStyle("caption", parent=base, fontName=f.bold, fontSize=8.5,
                                  leading=11.5, textColor=accent, spaceBefore=8, spaceAfter=4),
        "meta": ParagraphStyle("meta", parent=base, fontSize=8.5, leading=12,
                               textColor=muted, spaceAfter=2),
        # Notes and "none recorded" lines are workbench text (never user text), so they may
        # use the oblique face, which lacks a few scripts the upright one has.
        "note": ParagraphStyle("note", parent=base, fontName=f.italic, fontSize=8,
                               leading=11, textColor=muted, spaceBefore=3, spaceAfter=6),
        "empty": ParagraphStyle("empty", parent=base, fontName=f.italic, fontSize=9,
                                textColor=muted, spaceAfter=6),
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
                                    leading=10.5, textColor=accent, spaceAfter=0),
        "toc0": ParagraphStyle("toc0", parent=base, fontName=f.bold, fontSize=10, leading=15,
                               leftIndent=0, firstLineIndent=0, spaceBefore=3, spaceAfter=0),
        "toc1": ParagraphStyle("toc1", parent=base, fontSize=9, leading=12.5, leftIndent=16,
                               firstLineIndent=0, spaceAfter=0),
    }


def built_phrase(stamp: ReportStamp) -> str:
    """"built 2026-03-01 12:00:00 UTC", or "deterministic build" for a reproducible build."""
    return DETERMINISTIC_BUILD if stamp.built_at == DETERMINISTIC_BUILD else f"built {stamp.built_at}"


@dataclass(frozen=True)
class PageFurniture:
    """What is drawn around the text: cover band, running header, footer with page numbers.

    Every body page carries the document title and project (header) and the model version,
    audit chain head and build time (footer), so a single printed page still says what it
    belongs to. All user text is cleaned with :func:`plain` and shortened to fit one line.
    """

    title: str
    stamp: ReportStamp
    fonts: FontSet
    pagesize: tuple[float, float]
    margin: float
    # Fitted lines by (text, font, size, width): the header and footer repeat the same lines on
    # every page, and cleaning a long title costs its length; once per document keeps the
    # furniture linear in the text (a title is as long as the pages it fills on the cover).
    _fitted: dict[tuple[str, str, float, float], str] = field(default_factory=dict, compare=False,
                                                              repr=False)

    def _line(self, value: str, font: str, size: float, width: float) -> str:
        key = (value, font, size, width)
        if key not in self._fitted:
            self._fitted[key] = fit(plain(value, self.fonts.coverage), font, size, width)
        return self._fitted[key]

    def cover(self, canvas: Any, doc: Any) -> None:
        """An accent band with the product name; the cover has no running header."""
        from reportlab.lib import colors
        from reportlab.lib.units import mm

        width, height = self.pagesize
        canvas.saveState()
        canvas.setFillColor(colors.HexColor(ACCENT))
        canvas.rect(0, height - 14 * mm, width, 14 * mm, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont(self.fonts.bold, 9)
        canvas.drawString(self.margin, height - 8.8 * mm, "ML LIFECYCLE WORKBENCH")
        canvas.setFont(self.fonts.regular, 9)
        canvas.drawRightString(width - self.margin, height - 8.8 * mm,
                               self._line(self.title, self.fonts.regular, 9, width / 2))
        canvas.restoreState()

    def header(self, canvas: Any, doc: Any) -> None:
        """Running header: document title and project name left, slug and model version right."""
        from reportlab.lib import colors
        from reportlab.lib.units import mm

        width, height = self.pagesize
        inner = width - 2 * self.margin
        y = height - 15 * mm
        s = self.stamp
        right = self._line(f"{s.project_slug} · model {s.model_version}", self.fonts.regular, 8,
                           inner * 0.45)
        canvas.saveState()
        canvas.setFont(self.fonts.bold, 8)
        canvas.setFillColor(colors.HexColor(ACCENT))
        canvas.drawString(self.margin, y, self._line(f"{self.title} — {s.project_name}",
                                                     self.fonts.bold, 8, inner * 0.53))
        canvas.setFont(self.fonts.regular, 8)
        canvas.setFillColor(colors.HexColor(MUTED))
        canvas.drawRightString(width - self.margin, y, right)
        canvas.setStrokeColor(colors.HexColor(RULE))
        canvas.setLineWidth(0.6)
        canvas.line(self.margin, y - 2.5 * mm, width - self.margin, y - 2.5 * mm)
        canvas.restoreState()

    def footer(self, canvas: Any, page: int, total: int) -> None:
        """Footer on every page: project, model version, audit head, build time, Page X of Y."""
        from reportlab.lib import colors
        from reportlab.lib.units import mm

        width, _ = self.pagesize
        s = self.stamp
        counter = f"Page {page} of {total}"
        room = width - 2 * self.margin - 60
        left = (f"{s.project_slug} · model {s.model_version} · audit head {s.audit_head_seq} "
                f"{s.audit_head_hash[:16]}… · {built_phrase(s)}")
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor(RULE))
        canvas.setLineWidth(0.6)
        canvas.line(self.margin, 16 * mm, width - self.margin, 16 * mm)
        canvas.setFont(self.fonts.regular, 7.5)
        canvas.setFillColor(colors.HexColor(MUTED))
        canvas.drawString(self.margin, 12 * mm, self._line(left, self.fonts.regular, 7.5, room))
        canvas.drawRightString(width - self.margin, 12 * mm, counter)
        canvas.restoreState()


def numbered_canvas(furniture: PageFurniture) -> type:
    """A canvas class that draws each page's footer once the page count is known.

    reportlab emits each page as soon as it is full, before the total exists; this canvas
    keeps every page's state and draws the footers in ``save()`` (the pretix recipe).
    """
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
                furniture.footer(self, self._pageNumber, total)
                super().showPage()
            super().save()

    return NumberedCanvas


def page_templates(furniture: PageFurniture, cover: bool = True) -> list[Any]:
    """A cover page without header, then body pages with the running header.

    The first template is the one page one uses: without a cover, the document starts on a
    body page.
    """
    from reportlab.lib.units import mm
    from reportlab.platypus import Frame, PageTemplate

    width, height = furniture.pagesize
    inner = width - 2 * furniture.margin
    pad = {"leftPadding": 0, "rightPadding": 0, "topPadding": 0, "bottomPadding": 0}
    body = Frame(furniture.margin, 22 * mm, inner, height - 22 * mm - 26 * mm, id="body", **pad)
    cover_frame = Frame(furniture.margin, 22 * mm, inner, height - 22 * mm - 40 * mm, id="cover",
                        **pad)
    templates = [
        PageTemplate(id="cover", frames=[cover_frame], onPage=furniture.cover,
                     pagesize=furniture.pagesize),
        PageTemplate(id="body", frames=[body], onPage=furniture.header, pagesize=furniture.pagesize),
    ]
    return templates if cover else templates[::-1]


def document_template(path: str, furniture: PageFurniture, *, cover: bool, **meta: Any) -> Any:
    """A BaseDocTemplate whose marked headings feed the table of contents and the outline.

    A heading carries ``_mlwb_heading = (markup, plain title, level, key)``; the key is fixed
    when the story is built, so the bookmarks the contents link to are the same in every pass
    of ``multiBuild`` (and in every build: the output stays byte-identical).
    """
    from reportlab.platypus import BaseDocTemplate

    class DocumentTemplate(BaseDocTemplate):
        def afterFlowable(self, flowable: Any) -> None:  # noqa: N802 - reportlab's API name
            heading = getattr(flowable, "_mlwb_heading", None)
            if heading is None:
                return
            markup, title, level, key = heading
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(title, key, level=level, closed=level > 0)
            self.notify("TOCEntry", (level, markup, self.page, key))

    m = furniture.margin
    doc = DocumentTemplate(path, pagesize=furniture.pagesize, leftMargin=m, rightMargin=m,
                           topMargin=m, bottomMargin=m, invariant=1, lang="en", **meta)
    doc.addPageTemplates(page_templates(furniture, cover))
    return doc
