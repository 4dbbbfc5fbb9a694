"""Does laying out a PDF cost time linear in the user text it prints? (issue 12, point 12)

A 100,000-character project name once made the compliance build run for over 18 minutes.
Each case renders a small document through the workbench's renderer with one long user text
(10k to 100k characters) and prints the time and the ratio per doubling of the text (linear
is about 2.0, quadratic about 4.0):

- an unbreakable run (no space: a pasted hash list, a base64 blob) and a text of short words,
  each as a prose paragraph and as one table cell;
- a project name of that length (cover title, and the running header on every page).

Baseline, in the same run: the previous behaviour, the whole text as one reportlab Paragraph
(in prose and in the table cell), at the sizes where it finishes in reasonable time.
``--quick`` stops at 40k characters.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = (10_000, 20_000, 40_000, 80_000, 100_000)
BASELINE_MAX = 80_000  # one 80k-character Paragraph already takes seconds; 100k adds little


def _texts(n: int) -> dict[str, str]:
    return {"unbreakable": "".join(f"{i:05d}" for i in range(n // 5 + 1))[:n],
            "words": " ".join(f"w{i}" for i in range(n // 5 + 1))[:n]}


def _stamp(name: str = "Long text") -> Any:
    from reports.data import ReportStamp

    return ReportStamp("long-text", name, "binary_classification", "growth", "v1",
                       "deterministic build", "bench", 1, "0" * 64, 1, True)


def _document(where: str, value: str) -> Any:
    from reports.data import DocumentData, Prose, Section, TableData

    if where == "name":
        return DocumentData("validation", "Long text", _stamp(value),
                            (Section("Evidence", (Prose("A short paragraph."),)),),
                            cover=(("Project", "bench"),))
    block = Prose(value) if where == "prose" else TableData("Comments", ("#", "Text"), (("1", value),))
    return DocumentData("validation", "Long text", _stamp(), (Section("Evidence", (block,)),))


def _old_renderer() -> type:
    """The previous behaviour: a user text is one reportlab Paragraph, wherever it is."""
    from reportlab.platypus import Paragraph

    from reports.data import Prose
    from reports.documents import DocumentRenderer
    from reports.markup import text

    class OneParagraphRenderer(DocumentRenderer):
        def __init__(self, data: Any) -> None:
            super().__init__(data)
            tables = self.tables

            def cell(value: str, style: str) -> Any:
                return Paragraph(text(value, self.fonts.coverage), self.styles[style])

            tables.cell = cell  # type: ignore[method-assign]

        def block(self, item: object) -> list[Any]:
            if isinstance(item, Prose):
                return [Paragraph(self.t(item.text), self.styles["body"])]
            return super().block(item)

    return OneParagraphRenderer


def _time(renderer: type, data: Any, out: Path) -> float:
    started = time.perf_counter()
    renderer(data).render(out)
    return time.perf_counter() - started


def _row(label: str, times: dict[int, float]) -> str:
    cells, previous = [], None
    for n in SIZES:
        if n not in times:
            cells.append(f"{'—':>16s}")
            continue
        ratio = ""
        if previous is not None and n == 2 * previous[0]:
            ratio = f" (x{times[n] / previous[1]:.1f})"
        cells.append(f"{times[n]:7.2f} s{ratio:>8s}")
        previous = (n, times[n])
    return f"{label:34s}" + "".join(cells)


def main(argv: list[str] | None = None) -> None:
    from reports.documents import DocumentRenderer

    argv = sys.argv[1:] if argv is None else argv
    sizes = [n for n in SIZES if n <= (40_000 if "--quick" in argv else SIZES[-1])]
    old = _old_renderer()
    out = Path(tempfile.mkdtemp(prefix="mlwb-bench-pdf-long-text-"))
    DocumentRenderer(_document("prose", "warm-up")).render(out / "warm.pdf")  # fonts, imports
    print("== PDF layout of one long user text: seconds, (xN) = ratio per doubling, linear ≈ 2 ==")
    print(f"{'case':34s}" + "".join(f"{n:>16,d}" for n in SIZES))
    for where in ("prose", "table"):
        for kind in ("unbreakable", "words"):
            ours = {n: _time(DocumentRenderer, _document(where, _texts(n)[kind]), out / "o.pdf")
                    for n in sizes}
            print(_row(f"{where}, {kind}", ours))
            base = {n: _time(old, _document(where, _texts(n)[kind]), out / "b.pdf")
                    for n in sizes if n <= BASELINE_MAX}
            print(_row("  baseline: one Paragraph", base))
    for kind in ("unbreakable", "words"):
        ours = {n: _time(DocumentRenderer, _document("name", _texts(n)[kind]), out / "n.pdf")
                for n in sizes}
        print(_row(f"project name, {kind}", ours))
    data = _document("prose", _texts(sizes[-1])["words"])
    print(f"(pages at {sizes[-1]:,} characters of words in prose: "
          f"{_pages(DocumentRenderer(data).render(out / 'p.pdf'))})")


def _pages(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)


if __name__ == "__main__":
    main()
