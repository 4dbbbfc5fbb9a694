"""Small unicode charts for a terminal: horizontal bars in eighths of a cell, and sparklines.

Plain functions that return rich ``Text`` so any ``Static`` can show them; no plotting
library is imported, which keeps the runs screen as fast to open as the rest of the TUI
(matplotlib alone costs ≈ 0.7 s, see STYLE.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from rich.text import Text

# Index i draws i/8 of a cell; index 0 is empty.
EIGHTHS = " ▏▎▍▌▋▊▉█"
SPARKS = "▁▂▃▄▅▆▇█"


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def hbar(value: float, low: float, high: float, width: int) -> str:
    """A bar of ``width`` cells filled in proportion to where ``value`` sits in [low, high].

    Eighths give 8× the resolution of whole blocks, so fold-to-fold differences of a
    percent are visible in a 20-cell bar. A value at ``low`` still gets a sliver, so a bar
    is never mistaken for a missing value.
    """
    if width <= 0:
        return ""
    span = high - low
    share = 1.0 if span <= 0 else min(max((value - low) / span, 0.0), 1.0)
    eighths = max(1, round(share * width * 8))
    full, rest = divmod(eighths, 8)
    bar = "█" * full + (EIGHTHS[rest] if rest else "")
    return bar.ljust(width)


#: A scale spans at least this share of the values' magnitude: scores that differ in the fourth
#: decimal (0.7089 vs 0.7091) then draw as near-equal bars, not as 5 cells against 24.
MIN_RELATIVE_SPAN = 0.05
#: A series whose values all lie within this share of their magnitude is drawn flat and says so.
NEAR_CONSTANT = 0.005


#: What a near-constant series is drawn with in a trend row: a level line, not bars of noise.
FLAT_LINE = "─"


def near_constant(values: Sequence[float | None]) -> bool:
    """True when the finite values differ by less than ``NEAR_CONSTANT`` of their magnitude (or
    not at all): a shape drawn from them would only magnify rounding noise."""
    finite = _finite(values)
    if len(finite) < 2:
        return False
    span = max(finite) - min(finite)
    magnitude = max(abs(v) for v in finite)
    return span == 0 or (magnitude > 0 and span <= NEAR_CONSTANT * magnitude)


def bar_range(values: Sequence[float | None], *, floor_at_zero: bool = False) -> tuple[float, float]:
    """The scale of a bar chart: the values' range with room below the smallest.

    Metrics like ROC AUC vary in the third decimal across folds; scaling from 0 would draw
    identical bars, so by default the scale starts below the smallest value, by a quarter of
    the range and at least so far that the scale spans ``MIN_RELATIVE_SPAN`` of the values'
    magnitude (a difference in the fourth decimal stays a sliver). ``bar_chart`` prints where
    the scale starts, since it is not zero.
    """
    finite = _finite(values)
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if floor_at_zero and low >= 0:
        return 0.0, high or 1.0
    span = max((high - low) * 1.25, MIN_RELATIVE_SPAN * max(abs(low), abs(high))) or 1.0
    return high - span, high


def _bars(labels: Sequence[str], values: Sequence[float | None], low: float, high: float, width: int,
          draw: Callable[[Text, int, float], None]) -> Text:
    """Labelled rows of bars between ``low`` and ``high``; ``draw`` adds a finite value's bar and text."""
    label_width = max((len(label) for label in labels), default=0)
    out = Text()
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if i:
            out.append("\n")
        out.append(label.ljust(label_width) + " ", style="dim")
        if value is None or not math.isfinite(float(value)):
            out.append("—".ljust(width), style="dim")
            out.append("  n/a", style="dim")
        else:
            draw(out, i, float(value))
    return out


def bar_chart(labels: Sequence[str], values: Sequence[float | None], *, width: int = 24,
              fmt: str = "{:.4f}", highlight: int | None = None, floor_at_zero: bool = False) -> Text:
    """One labelled bar per value, its value printed after it; ``highlight`` marks one row (e.g.
    the best trial). A last line states where the scale starts when it is not zero, and says
    when the values are near-equal."""
    low, high = bar_range(values, floor_at_zero=floor_at_zero)

    def draw(out: Text, i: int, value: float) -> None:
        out.append(hbar(value, low, high, width), style="bold green" if i == highlight else "cyan")
        out.append("  " + fmt.format(value), style="bold" if i == highlight else "")
        if i == highlight:
            out.append("  ◀ best", style="green")

    chart = _bars(labels, values, low, high, width, draw)
    if _finite(values) and low != 0.0:
        label_width = max((len(label) for label in labels), default=0)
        note = f"scale {fmt.format(low)} → {fmt.format(high)}, not from zero"
        if near_constant(values):
            note += f"; near-equal: all within {fmt.format(max(_finite(values)) - min(_finite(values)))}"
        chart.append("\n" + " " * (label_width + 1) + note, style="dim")
    return chart


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, ▁ for the lowest and █ for the highest; a gap for a missing one.

    A near-constant series (``near_constant``) is drawn flat at mid height: stretching a
    difference in the fourth decimal to the full height would draw noise as a swing. Callers
    say so with ``flat_note``.
    """
    finite = _finite(values)
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = 0.0 if near_constant(values) else high - low
    chars = []
    for v in values:
        if v is None or not math.isfinite(float(v)):
            chars.append(" ")
        elif span <= 0:
            chars.append(SPARKS[len(SPARKS) // 2])
        else:
            chars.append(SPARKS[min(len(SPARKS) - 1, int((float(v) - low) / span * len(SPARKS)))])
    return "".join(chars)


def flat_note(values: Sequence[float | None], fmt: str = "{:.4f}") -> str:
    """" (flat: within 0.0002)" after the sparkline of a near-constant series, else ""."""
    if not near_constant(values):
        return ""
    finite = _finite(values)
    return f" (flat: all within {fmt.format(max(finite) - min(finite))})"


# --- Trends over monitoring batches (screens/monitoring.py) ---------------------------------

def coloured_bar_chart(labels: Sequence[str], values: Sequence[float | None], styles: Sequence[str], *,
                       at_least: float = 0.0, width: int = 24, fmt: str = "{:.3f}",
                       marks: Sequence[str] = ()) -> Text:
    """One bar per value from zero, each in its own style (e.g. the colour of its PSI band).

    For quantities whose limits carry the meaning (PSI), the colour says more than the length:
    the scale starts at zero and reaches at least ``at_least`` (the last limit), so a small
    value never fills the bar. ``marks`` adds a short note after a value (e.g. "▲ 2 drifted").
    """
    high = max([*_finite(values), at_least], default=1.0) or 1.0

    def draw(out: Text, i: int, value: float) -> None:
        out.append(hbar(value, 0.0, high, width), style=styles[i])
        out.append("  " + fmt.format(value), style=styles[i])
        if i < len(marks) and marks[i]:
            out.append("  " + marks[i], style=styles[i])

    return _bars(labels, values, 0.0, high, width, draw)


def trend(values: Sequence[float | None], *, fmt: str = "{:.4f}", higher_is_better: bool | None = None) -> Text:
    """A sparkline and the first → last change: "▇▅▁ 0.7025 → 0.6800 (−0.0225)".

    With ``higher_is_better`` the change is coloured green when it improves and red when it
    worsens; without it (a quantity with no good direction) it stays plain.
    """
    finite = _finite(values)
    # A near-constant series is drawn as a level line (FLAT_LINE), the same width as its sparkline,
    # so the row keeps to one line in a narrow panel; the change beside it gives the size.
    out = Text(FLAT_LINE * len(values), style="dim cyan") if near_constant(values) else Text(sparkline(values),
                                                                                          style="cyan")
    if not finite:
        return out.append("no values yet", style="dim")
    first, last = finite[0], finite[-1]
    out.append(" " + fmt.format(first))
    if len(finite) > 1:
        delta = last - first
        style = ""
        if higher_is_better is not None and delta:
            style = "green" if (delta > 0) == higher_is_better else "red"
        out.append(" → " + fmt.format(last))
        out.append(" (" + ("+" if delta >= 0 else "−") + fmt.format(abs(delta)) + ")", style=style)
    return out
