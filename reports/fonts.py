"""Fonts for every document: DejaVu Sans (Latin, Greek, Cyrillic, Arabic, Hebrew, Armenian,
Georgian, many symbols) registered as TrueType, or the PDF base-14 fonts when no copy exists.
Arabic and Hebrew are shaped with HarfBuzz (uharfbuzz), so letters join and run right to left.

Also records which characters the font can draw (its *coverage*), so the markup layer can print
a character no font here has (CJK ideographs, most Indic scripts) as its code point instead of
an empty box that loses it from the text layer.

reportlab is imported inside the functions, so importing ``reports`` stays cheap.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

_FONT_FILES = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "italic": "DejaVuSans-Oblique.ttf",
    "mono": "DejaVuSansMono.ttf",
}


@dataclass(frozen=True)
class FontSet:
    """Font names registered for this render; falls back to the PDF base-14 fonts.

    ``coverage`` holds the code points the regular face can draw (``None``: not known, draw
    everything and let the font substitute). ``shaping``: paragraphs in a right-to-left or
    joining script can be shaped by HarfBuzz (see ``reports.tables.needs_shaping``).
    """

    regular: str
    bold: str
    italic: str
    mono: str
    unicode: bool
    coverage: frozenset[int] | None = None
    shaping: bool = False  # uharfbuzz is importable and the fonts are TrueType


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


def _base14_coverage() -> frozenset[int]:
    """What Helvetica can show: the characters of its WinAnsi (cp1252) encoding."""
    points = set()
    for code in range(32, 256):
        try:
            points.add(ord(bytes([code]).decode("cp1252")))
        except UnicodeDecodeError:
            continue
    return frozenset(points | {9, 10})


def _utf16_to_unicode_cmap() -> None:
    """Make reportlab's ToUnicode map write characters above U+FFFF as UTF-16 pairs.

    reportlab formats each entry as ``<%04X>``, so an emoji (U+1F600, which DejaVu draws)
    comes out as the odd-length ``<1F600>``; PDF readers reject it and the character vanishes
    from the text layer. The PDF spec wants the UTF-16BE code units. Patched once, by wrapping
    the module function reportlab looks up at save time; BMP entries are unchanged.
    """
    from reportlab.pdfbase import ttfonts

    original = ttfonts.makeToUnicodeCMap
    if getattr(original, "_mlwb_utf16", False):
        return

    def make_to_unicode_cmap(fontname: str, subset: list[int]) -> str:
        text = original(fontname, subset)
        for value in subset:
            if value > 0xFFFF:
                units = chr(value).encode("utf-16-be").hex().upper()
                text = text.replace(f"<{value:04X}>", f"<{units}>")
        return text

    make_to_unicode_cmap._mlwb_utf16 = True  # type: ignore[attr-defined]
    ttfonts.makeToUnicodeCMap = make_to_unicode_cmap


def _shaping_available() -> bool:
    """Whether reportlab can shape text: it needs uharfbuzz (a dependency; a copy of the
    workbench without it still renders, with Arabic letters unjoined).

    reportlab shapes with discretionary ligatures on (``dlig``), which DejaVu draws as a
    decorative "st" that reads as a stray glyph in "heuristic"; every text renderer leaves
    them off unless asked, so its default feature set is changed once, here. Joining and the
    required ligatures of Arabic are not features one can turn off, so shaping is unaffected.
    """
    try:
        import uharfbuzz  # noqa: F401
        from reportlab.pdfbase import ttfonts
    except ImportError:
        return False
    defaults = ttfonts.shapeFragWord.__defaults__
    if defaults and isinstance(defaults[0], dict):
        defaults[0]["dlig"] = False
    return True


def register_fonts() -> FontSet:
    """Register DejaVu Sans or fall back to Helvetica.

    Helvetica cannot draw most non-Latin user text (names like "Кирилл" come out as
    boxes), so a TrueType font is worth looking for. Registration is process-wide and
    idempotent: re-registering the same name is skipped.
    """
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    _utf16_to_unicode_cmap()
    names = {key: f"MLWB-{stem.removesuffix('.ttf')}" for key, stem in _FONT_FILES.items()}
    registered = set(pdfmetrics.getRegisteredFontNames())

    def font_set() -> FontSet:
        face = pdfmetrics.getFont(names["regular"]).face
        return FontSet(names["regular"], names["bold"], names["italic"], names["mono"], True,
                       frozenset(face.charToGlyph) | {9, 10}, _shaping_available())

    if all(name in registered for name in names.values()):
        return font_set()

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
        return font_set()

    return FontSet("Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Courier", False,
                   _base14_coverage())
