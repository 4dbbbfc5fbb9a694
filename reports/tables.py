"""Tables that never overflow a page: every cell wraps, long rows split, headers repeat.

Column widths are measured in points with the cell fonts: each column gets room for its
longest unbreakable word, prose columns a readable measure, and the rest is shared by need.
"""

from __future__ import annotations

import re
from typing import Any

from reports.fonts import FontSet
from reports.layout import (
    ACCENT, HEADER_BG, HIGHLIGHT_BAR, HIGHLIGHT_BG, RULE, STATUS_COLOURS, ZEBRA_BG,
)
from reports.markup import plain, text, text_pieces

# A hex digest (SHA-256 and friends) in a table cell: allowed to wrap mid-word.
_DIGEST = re.compile(r"^[0-9a-fA-F]{24,}$")
# Scripts whose letters join or run right to left (Hebrew, Arabic, Syriac, Thaana, NKo and
# their presentation forms): a paragraph with any of them is shaped.
_SHAPED_SCRIPTS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def needs_shaping(markup: str) -> bool:
    return _SHAPED_SCRIPTS.search(markup) is not None


def _water_fill(widths: list[float], total: float) -> list[float]:
    """Cap the widest columns at one level so the sum is ``total``: narrow columns (a sequence
    number, a date) keep their room and only the columns of long tokens wrap more."""
    ordered = sorted(widths)
    remaining, count = total, len(widths)
    for w in ordered:
        level = remaining / count
        if w <= level:
            remaining -= w
            count -= 1
        else:
            return [min(x, level) for x in widths]
    return list(widths)


def _paragraph_class() -> type:
    """A Paragraph that remembers its last wrap: wrapping again at the same width is free.

    A table that splits a tall row at a page break builds a new table from the rest and wraps
    every remaining cell again, so a cell of many paragraphs (:meth:`TableMaker.paragraphs`)
    would be laid out once per page it spans. A Paragraph's lines depend only on the width, so
    the previous result stands. (``split`` may drop ``blPara``; then it is computed afresh.)
    """
    from reportlab.platypus import Paragraph

    class WrapOnceParagraph(Paragraph):
        def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
            done = self.__dict__.get("_wrapped")
            if done is not None and done[0] == availWidth and "blPara" in self.__dict__:
                self.width, self.height = done[1]
                return done[1]
            size = super().wrap(availWidth, availHeight)
            self._wrapped = (availWidth, size)
            return size

    return WrapOnceParagraph


#: A row that does not fit moves to the next page only when less than this share of a page is left.
MOVE_WITHIN = 0.2


def _table_class() -> type:
    """A Table that moves a short row to the next page rather than cut it in two.

    With ``splitInRow`` reportlab cuts any row that does not fit the space left, so a two-line
    row could end a page with one line and continue overleaf. A row that fits on a fresh page
    is moved there when little room is left (``MOVE_WITHIN`` of a page); a tall row (an audit
    event with its signed statement, a pasted essay) facing more room than that is split inside,
    as ``splitInRow`` does, so moving it never leaves most of a page blank.
    """
    from reportlab.platypus import Table

    class RowKeepingTable(Table):
        frame_height: float = 0.0

        def split(self, availWidth: float, availHeight: float) -> list[Any]:  # noqa: N803
            self._calc(availWidth, availHeight)
            parts = self._splitRows(availHeight, doInRowSplit=0)
            if parts:
                return parts
            head = self.repeatRows if isinstance(self.repeatRows, int) else max(self.repeatRows) + 1
            need = sum(self._rowHeights[: head + 1])
            if availHeight < need <= self.frame_height and availHeight < self.frame_height * MOVE_WITHIN:
                return []  # the next row fits on a fresh page and little room is lost: go there
            return super().split(availWidth, availHeight)

    return RowKeepingTable


class TableMaker:
    """Builds the house-style tables for one render (fonts and styles fixed per document)."""

    def __init__(self, styles: dict[str, Any], fonts: FontSet, frame_width: float,
                 frame_height: float) -> None:
        self.styles = styles
        self.fonts = fonts
        self.frame_width = frame_width
        self.table_class = _table_class()
        self.table_class.frame_height = frame_height
        self.paragraph_class = _paragraph_class()

    def p(self, markup: str, style: str = "body") -> Any:
        if self.fonts.shaping and needs_shaping(markup):
            return self.paragraph_class(markup, self._shaped(style))
        return self.paragraph_class(markup, self.styles[style])

    def paragraphs(self, value: object, style: str = "body") -> list[Any]:
        """User text as one Paragraph, or as several stacked ones when it is long.

        Layout stays linear in the text (see ``reports.markup.text_pieces``). The pieces of one
        text sit flush: only the first keeps the style's space before, only the last its space
        after, so they read as the one paragraph they are.
        """
        pieces = text_pieces(value, self.fonts.coverage)
        if len(pieces) == 1:
            return [self.p(pieces[0], style)]
        out = []
        for i, markup in enumerate(pieces):
            place = "head" if i == 0 else "tail" if i == len(pieces) - 1 else "middle"
            para = self.p(markup, self._flush(style, place))
            out.append(para)
        return out

    def _flush(self, style: str, place: str) -> str:
        """``style`` without the space between the pieces of one text (``place``: head,
        middle or tail piece)."""
        name = f"{style}+{place}"
        if name not in self.styles:
            base = self.styles[style]
            self.styles[name] = base.clone(
                name, spaceBefore=base.spaceBefore if place == "head" else 0,
                spaceAfter=base.spaceAfter if place == "tail" else 0)
        return name

    def _shaped(self, style: str) -> Any:
        """``style`` with HarfBuzz shaping on: only for the paragraphs that need it, because
        shaping every word of a 100-page report would slow it down for nothing."""
        shaped = f"{style}+shaped"
        if shaped not in self.styles:
            self.styles[shaped] = self.styles[style].clone(shaped, shaping=1)
        return self.styles[shaped]

    def cell(self, value: str, style: str) -> Any:
        """A user string as a wrapping cell; a bare status word gets its colour.

        A long string becomes a list of paragraphs (a cell may hold a list of flowables, and a
        row split at a page break splits it between them): see :meth:`paragraphs`.
        """
        colour = STATUS_COLOURS.get(value.strip()) if len(value) < 12 else None
        if colour:
            return self.p(f'<font color="{colour}">{text(value, self.fonts.coverage)}</font>',
                          "cell_bold")
        paragraphs = self.paragraphs(value, style)
        return paragraphs[0] if len(paragraphs) == 1 else paragraphs

    def fill_widths(self, widths: list[float | None]) -> list[float]:
        """Fixed widths plus one ``None`` column that takes the rest of the frame."""
        fixed = sum(w for w in widths if w is not None)
        flexible = max(self.frame_width - fixed, 30.0)
        return [w if w is not None else flexible for w in widths]

    def column_widths(self, columns: tuple[str, ...], rows: list[tuple[str, ...]],
                      total: float, cell_style: str = "cell") -> list[float]:
        """Share ``total`` so that words stay whole where possible and prose takes the rest.

        Each column first gets the width of its longest unbreakable word (a run id, a date, a
        header word, a status drawn in bold; capped so one 64-hex hash cannot eat the page, it
        wraps instead). Prose columns (many words) would like a readable measure on top; they
        get it while the page allows, and give it up before any word column has to break a
        word. The remaining room goes to columns in proportion to how much wider their longest
        cell would like to be. Measured in points with the cell fonts, not characters.
        """
        from reportlab.pdfbase.pdfmetrics import stringWidth

        n = len(columns)
        if n == 0:
            return []
        pad = 10.0 + 1.0  # left + right cell padding, plus rounding slack
        body, head, bold = self.styles[cell_style], self.styles["cell_head"], self.styles["cell_bold"]
        sample = rows[:300]  # enough to judge the shape of a long table, cheap to measure

        def width(value: str, style: Any) -> float:
            return stringWidth(value, style.fontName, style.fontSize)

        words_min: list[float] = []
        floors: list[float] = []
        natural: list[float] = []
        for i, col in enumerate(columns):
            # Very long cells (a pasted essay) are measured by their first 2,000 characters.
            cells = [plain(r[i])[:2000] for r in sample if i < len(r)]
            words = [w for c in cells for w in c.split()]
            longest_word = max([min(width(w, body), total * 0.18) if _DIGEST.match(w)
                                else min(width(w, bold if w in STATUS_COLOURS else body), total * 0.3)
                                for w in words] +
                               [width(w, head) for w in plain(col).split()] + [12.0])
            longest_cell = max([width(" ".join(c.split()), body) for c in cells] +
                               [width(plain(col), head), 12.0])
            floor = longest_word
            if longest_cell > 2.5 * longest_word:  # prose: keep a readable measure
                floor = max(floor, min(longest_cell, total * 0.22))
            words_min.append(longest_word + pad)
            floors.append(floor + pad)
            natural.append(min(longest_cell, total * 1.5) + pad)

        if sum(words_min) >= total:  # too many long words: trim the widest columns first
            return _water_fill(words_min, total)
        if sum(floors) > total:  # prose gives up part of its measure; words stay whole
            spare = total - sum(words_min)
            excess = [f - m for f, m in zip(floors, words_min)]
            return [m + spare * e / sum(excess) for m, e in zip(words_min, excess)]
        spare = total - sum(floors)
        wants = [max(nat - m, 0.0) for nat, m in zip(natural, floors)]
        if sum(wants) <= spare:  # everything fits on one line: hand out the slack evenly
            extra = (spare - sum(wants)) / n
            return [m + w + extra for m, w in zip(floors, wants)]
        return [m + spare * w / sum(wants) for m, w in zip(floors, wants)]

    def style(self, n_rows: int, highlight: set[int] | None = None) -> Any:
        """Subtle house style: tinted header, hairlines, zebra rows, amber highlighted rows."""
        from reportlab.lib import colors
        from reportlab.platypus import TableStyle

        cmds: list[tuple[Any, ...]] = [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(HEADER_BG)),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor(ACCENT)),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor(RULE)),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 5),
            ("RIGHTPADDING", (0, 0), (-1, -1), 5),
        ]
        for r in range(2, n_rows, 2):
            cmds.append(("BACKGROUND", (0, r), (-1, r), colors.HexColor(ZEBRA_BG)))
        for idx in sorted(highlight or ()):
            r = idx + 1  # data row -> table row (row 0 is the header)
            cmds.append(("BACKGROUND", (0, r), (-1, r), colors.HexColor(HIGHLIGHT_BG)))
            cmds.append(("LINEBEFORE", (0, r), (0, r), 2.5, colors.HexColor(HIGHLIGHT_BAR)))
        return TableStyle(cmds)

    def grid(self, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
             widths: list[float] | None = None, highlight: set[int] | None = None) -> Any:
        """A splitting table: header repeats on each page, long cells wrap.

        ``rows`` may hold plain user strings or ready flowables. A string that fits its column
        on one line is drawn as a plain string (no markup is parsed, so nothing needs escaping,
        and it is several times cheaper than a Paragraph: long reports are mostly such cells);
        anything longer becomes an escaped, wrapping Paragraph.
        """
        from reportlab.lib import colors
        from reportlab.pdfbase.pdfmetrics import stringWidth

        n = len(columns)
        norm = [tuple(row[:n]) + ("",) * (n - len(row)) for row in rows]
        # Wide tables (runs, registries) get a smaller face so identifiers stay whole.
        cell_style = "cell_small" if n >= 6 else "cell"
        if widths is None:
            widths = self.column_widths(columns, [tuple(c if isinstance(c, str) else ""
                                                        for c in r) for r in norm],
                                        self.frame_width, cell_style)
        body, bold = self.styles[cell_style], self.styles["cell_bold"]
        size, leading = body.fontSize, body.leading
        cmds: list[tuple[Any, ...]] = [
            ("FONT", (0, 1), (-1, -1), body.fontName, size, leading),
            ("TEXTCOLOR", (0, 1), (-1, -1), body.textColor),
        ]
        cells: list[list[Any]] = [[self.p(text(c, self.fonts.coverage), "cell_head")
                                   for c in columns]]
        for r, row in enumerate(norm, start=1):
            out: list[Any] = []
            for c, value in enumerate(row):
                if not isinstance(value, str):
                    out.append(value)
                    continue
                line = " ".join(plain(value, self.fonts.coverage).split()) if len(value) < 200 else ""
                colour = STATUS_COLOURS.get(line) if len(line) < 12 else None
                font = bold.fontName if colour else body.fontName
                if line and "\n" not in value and stringWidth(line, font, size) <= widths[c] - 11:
                    out.append(line)
                    if colour:
                        cmds += [("FONT", (c, r), (c, r), font, size, leading),
                                 ("TEXTCOLOR", (c, r), (c, r), colors.HexColor(colour))]
                elif not line and not value.strip():
                    out.append("")
                else:
                    out.append(self.cell(value, cell_style))
            cells.append(out)
        # splitInRow: a cell can hold a one-page problem statement; a row taller than the
        # frame must split inside the row, or reportlab aborts with LayoutError.
        table = self.table_class(cells, colWidths=widths, repeatRows=1, splitInRow=1, hAlign="LEFT")
        table.setStyle(self.style(len(cells), highlight))
        table.setStyle(cmds)
        table.head_height = self._rows_height(cells[:2], widths, leading)
        return table

    def _rows_height(self, rows: list[list[Any]], widths: list[float], leading: float) -> float:
        """How tall the header and the first row will be (capped at a page): what must fit below
        a caption, or the caption would end a page alone. Only these few cells are wrapped."""
        total = 0.0
        for row in rows:
            tallest = leading
            for value, width in zip(row, widths):
                flowables = value if isinstance(value, list) else [value]
                height = 0.0
                for flowable in flowables:  # a long cell's pieces: only until a page is full
                    if hasattr(flowable, "wrap") and height < self.table_class.frame_height:
                        height += flowable.wrap(max(width - 10, 1), self.table_class.frame_height)[1]
                tallest = max(tallest, height)
            total += tallest + 7  # top and bottom padding
        return min(total, self.table_class.frame_height * 0.5)

    def facts(self, rows: tuple[tuple[str, str], ...], label_width: float) -> Any:
        """Label → value pairs: bold labels, wrapping values, hairlines, no header row."""
        from reportlab.lib import colors
        from reportlab.platypus import TableStyle

        cells = [[self.p(text(k, self.fonts.coverage), "cell_bold"), self.cell(v, "cell")]
                 for k, v in rows]
        table = self.table_class(cells, colWidths=[label_width, self.frame_width - label_width],
                                 splitInRow=1, hAlign="LEFT")
        table.setStyle(TableStyle([
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor(RULE)),
            ("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.HexColor(ACCENT)),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 5),
        ]))
        return table
