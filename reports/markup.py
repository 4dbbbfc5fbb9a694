"""The one gate user text passes before it reaches a PDF: cleaned, escaped, shown verbatim.

reportlab's ``Paragraph`` parses a mini-markup. Unescaped user text could restyle a report,
pull local files in through ``<img src=...>`` or abort the export, so every user string goes
through :func:`text` before it reaches a Paragraph, and through :func:`plain` before it reaches
the canvas or matplotlib.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from xml.sax.saxutils import escape

# Everything in the C0/C1 control ranges except \t and \n (\r is normalised to \n first).
# Drawn as they are, they are invisible at best and break the PDF text layer or the markup
# parser at worst; dropped, they would hide what was typed (an escape sequence in a file name).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def code_point(char: str) -> str:
    """The visible stand-in for a character the report cannot draw: ``[U+4E2D]``, ``[U+0007]``."""
    return f"[U+{ord(char):04X}]"


def _undrawable(char: str) -> str:
    """How to print a character the font has no glyph for.

    Spaces become a plain space and invisible format characters (zero-width joiners,
    variation selectors, direction marks) are dropped: neither carries visible content. Any
    other character is printed as its :func:`code_point`, so a reviewer can still read
    exactly what was typed instead of an empty box (which the text layer turns into NUL).
    """
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    if category in ("Cf", "Mn", "Me"):
        return ""
    return code_point(char)


def plain(value: object, coverage: Collection[int] | None = None) -> str:
    """Return ``value`` as text without control characters, for the canvas and matplotlib.

    Control characters (other than newline and tab) are printed as their code points,
    ``[U+001B]``, like any character the font cannot draw: as themselves they would show as
    boxes, corrupt the extracted text layer, or (NUL) end a string early in some viewers.
    Lone surrogates cannot be encoded into the PDF at all and become U+FFFD.
    With ``coverage`` (the code points the font draws), other characters are spelled out.
    """
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_CHARS.sub(lambda match: code_point(match.group()), text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    if coverage is not None and not text.isascii():
        text = "".join(c if ord(c) in coverage else _undrawable(c) for c in text)
    return text


def text(value: object, coverage: Collection[int] | None = None) -> str:
    """Return user text as safe Paragraph markup: the one gate for all user strings.

    Spells out control characters as code points (keeping newlines and tabs), XML-escapes
    ``& < >`` so that a field like ``<img src="/etc/passwd"/>`` prints literally instead of
    being obeyed, then
    turns newlines into ``<br/>`` (Paragraph collapses whitespace, and multi-line model card
    sections must keep their breaks) and tabs into spaces.
    """
    return _markup(plain(value, coverage))


def _markup(clean: str) -> str:
    """Markup for text already passed through :func:`plain`."""
    return escape(clean).replace("\t", "    ").replace("\n", "<br/>")


#: The most characters one reportlab Paragraph is given (see :func:`text_pieces`).
PIECE_CHARS = 2_000


def text_pieces(value: object, coverage: Collection[int] | None = None,
                limit: int = PIECE_CHARS) -> list[str]:
    """User text as :func:`text` markup, cut into pieces of at most ``limit`` characters.

    Why: reportlab lays a Paragraph out again from its first unprinted word every time it
    splits it at a page (or table-row) break, and breaks a long unbreakable word one character
    at a time each time; one Paragraph of n characters over n/k pages therefore costs about
    n²/k (a 100,000-character field took minutes). Pieces of bounded size, stacked with no
    space between them, keep the layout linear in the text.

    A piece ends at a line break where one lies in the second half of the window (the printed
    lines are then exactly those typed), else at a space (the line ends a little early), else
    inside an unbreakable run, which reportlab would have cut at an arbitrary character anyway.
    Never more than one piece for text up to ``limit`` characters.
    """
    clean = plain(value, coverage)
    pieces: list[str] = []
    start = 0
    while len(clean) - start > limit:
        end = start + limit
        cut = clean.rfind("\n", start + limit // 2, end + 1)
        if cut < 0:
            cut = clean.rfind(" ", start + limit // 2, end + 1)
        if cut < 0:
            pieces.append(clean[start:end])
            start = end
        else:
            pieces.append(clean[start:cut])
            start = cut + 1  # the newline or space becomes the boundary between pieces
    pieces.append(clean[start:])
    return [_markup(piece) for piece in pieces]


def fit(value: str, font: str, size: float, width: float) -> str:
    """Shorten one line of canvas text with an ellipsis so it stays inside ``width`` points.

    Returns the longest prefix that fits with its "…". The prefix is found by measuring
    prefixes of doubling length, then bisecting between the last two, so the cost follows the
    text that is printed (a header line of a few hundred characters), not the whole value: the
    previous version re-measured the whole string after cutting 40 characters at a time, which
    is quadratic, and a 100,000-character project name in every page header took minutes.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth

    line = " ".join(value.split())

    def fits(n: int) -> bool:
        return stringWidth(line[:n] + "…", font, size) <= width

    # Gallop: ``good`` is a prefix length that fits, ``bad`` one that does not (or the end).
    good, probe = 0, 64
    while probe < len(line) and fits(probe):
        good, probe = probe, probe * 2
    if probe >= len(line) and stringWidth(line, font, size) <= width:
        return line
    bad = min(probe, len(line))
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if fits(mid) else (good, mid)
    return line[:good] + "…"
