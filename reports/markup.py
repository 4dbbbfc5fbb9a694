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
# They are invisible at best and break the PDF text layer or the markup parser at worst.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _undrawable(char: str) -> str:
    """How to print a character the font has no glyph for.

    Spaces become a plain space and invisible format characters (zero-width joiners,
    variation selectors, direction marks) are dropped: neither carries visible content. Any
    other character is printed as its code point, ``[U+4E2D]``, so a reviewer can still read
    exactly what was typed instead of an empty box (which the text layer turns into NUL).
    """
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    if category in ("Cf", "Mn", "Me"):
        return ""
    return f"[U+{ord(char):04X}]"


def plain(value: object, coverage: Collection[int] | None = None) -> str:
    """Return ``value`` as text without control characters, for the canvas and matplotlib.

    Control characters would show as boxes, corrupt the extracted text layer, or (NUL) end a
    string early in some viewers; lone surrogates cannot be encoded into the PDF at all.
    With ``coverage`` (the code points the font draws), other characters are spelled out.
    """
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_CHARS.sub("", text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    if coverage is not None and not text.isascii():
        text = "".join(c if ord(c) in coverage else _undrawable(c) for c in text)
    return text


def text(value: object, coverage: Collection[int] | None = None) -> str:
    """Return user text as safe Paragraph markup: the one gate for all user strings.

    Strips control characters (keeping newlines and tabs), XML-escapes ``& < >`` so that a
    field like ``<img src="/etc/passwd"/>`` prints literally instead of being obeyed, then
    turns newlines into ``<br/>`` (Paragraph collapses whitespace, and multi-line model card
    sections must keep their breaks) and tabs into spaces.
    """
    return escape(plain(value, coverage)).replace("\t", "    ").replace("\n", "<br/>")


def fit(value: str, font: str, size: float, width: float) -> str:
    """Shorten one line of canvas text with an ellipsis so it stays inside ``width`` points."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    line = " ".join(value.split())
    if stringWidth(line, font, size) <= width:
        return line
    while line and stringWidth(line + "…", font, size) > width:
        line = line[: max(len(line) * 9 // 10, len(line) - 40) if len(line) > 60 else -1]
    return line + "…"
