"""Very long user text (issue 12, point 12): printed whole, in order, in prose and in table cells.

A 100,000-character field once took the compliance build over 18 minutes because reportlab lays
a Paragraph out again from its first unprinted word at every page break. The text is now handed
to reportlab in bounded pieces (``reports.markup.text_pieces``); these tests build real PDFs at
two sizes and read every character back, so a piece lost, doubled or reordered at a seam
fails. How the time grows is measured in ``bench/pdf_long_text.py``, never asserted here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pypdf
import pytest

from reports.data import DocumentData, Facts, Prose, ReportStamp, Section, TableData
from reports.documents import render_document_data
from reports.markup import PIECE_CHARS, fit, text_pieces

STAMP = ReportStamp("long-text", "Long text", "binary_classification", "growth", "v1",
                    "deterministic build", "tester", 1, "0" * 64, 1, True)
# A whole line of the unbreakable run (digits only) or of the spaced text ("w123 w124 …"):
# page furniture, headers and captions never match, so the run can be read back across pages.
RUN_LINE = re.compile(r"^\d+$")
WORDS_LINE = re.compile(r"^w\d+( w\d+)*$")


def unbreakable(n: int) -> str:
    """``n`` digits with no space, every five a counter: a seam that drops or repeats text shows."""
    return "".join(f"{i:05d}" for i in range(n // 5 + 1))[:n]


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n // 5 + 1))


def printed(path: Path, line: re.Pattern[str]) -> list[str]:
    reader = pypdf.PdfReader(str(path))
    return [row.strip() for page in reader.pages for row in (page.extract_text() or "").splitlines()
            if line.match(row.strip())]


def document(where: str, run: str, spaced: str) -> DocumentData:
    if where == "prose":
        blocks: tuple = (Prose(run), Prose(spaced))
    elif where == "table":
        blocks = (TableData("Comments", ("#", "Text"), (("", run), ("", spaced))),)
    else:
        blocks = (Facts((("Comment", run), ("Description", spaced))),)
    return DocumentData("validation", "Long text", STAMP, (Section("Evidence", blocks),))


@pytest.mark.parametrize("size", [20_000, 80_000])
@pytest.mark.parametrize("where", ["prose", "table", "facts"])
def test_long_text_is_printed_whole_and_in_order(tmp_path: Path, where: str, size: int) -> None:
    run, spaced = unbreakable(size), words(size)
    assert len(spaced) >= size
    path = render_document_data(document(where, run, spaced), tmp_path / f"{where}-{size}.pdf")
    assert "".join(printed(path, RUN_LINE)) == run
    assert " ".join(printed(path, WORDS_LINE)).split() == spaced.split()
    assert len(pypdf.PdfReader(str(path)).pages) > size // 8_000  # it flowed over pages


def test_pieces_are_bounded_and_lose_nothing() -> None:
    text = "line one\n" + unbreakable(5_000) + " " + words(5_000) + "\n\nlast <b>line</b>"
    pieces = text_pieces(text)
    assert len(pieces) >= 5
    assert all(len(p.replace("<br/>", "\n")) <= PIECE_CHARS for p in pieces[:-1])
    assert text_pieces("short <b>text</b>\x07") == ["short &lt;b&gt;text&lt;/b&gt;[U+0007]"]
    # A cut on a line break or a space takes that character; only the run is cut inside.
    escaped = text.replace("<", "&lt;").replace(">", "&gt;")
    assert "".join("".join(pieces).replace("<br/>", " ").split()) == "".join(escaped.split())
    assert unbreakable(5_000) in "".join(pieces)
    tokens = " ".join(pieces).replace("<br/>", " ").split()
    assert [t for t in tokens if t.startswith("w")] == words(5_000).split()


def test_a_header_line_is_fitted_without_measuring_the_whole_text() -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from reports.fonts import register_fonts

    font = register_fonts().regular
    line = fit("N" * 100_000, font, 8, 200)
    assert line.endswith("…") and stringWidth(line, font, 8) <= 200
    assert stringWidth(line[:-1] + "N…", font, 8) > 200  # the longest prefix that fits
    assert fit("short title", font, 8, 200) == "short title"
