"""Charts as PNG bytes: matplotlib's object API on the Agg canvas, deterministic output.

``Figure`` + ``FigureCanvasAgg`` instead of pyplot: no process-wide backend switch, no figure
registry to leak, safe in a worker next to the TUI. The PNG carries no "Software" metadata and
is drawn at a fixed dpi, so its bytes depend only on the data and this code.
"""

from __future__ import annotations

import io
import math
from collections.abc import Collection
from typing import Any

from reports.data import ChartSeries, LineChart
from reports.markup import plain

DPI = 150
_INK = "#1f2933"
_GRID = "#e3e8ee"
_OVER, _UNDER, _MUTED = "#b3261e", "#5b7fa6", "#9aa5b1"
# Colour-blind-safe line colours (Okabe–Ito), cycled in a fixed order.
_LINE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
                 "#f0e442")


def _label(value: object, coverage: Collection[int] | None, limit: int = 28) -> str:
    """A user label made literal for matplotlib and short enough for tight_layout.

    "$" starts mathtext: a feature named "price $" would be parsed as math (and invalid math
    raises), so it is escaped.
    """
    text = " ".join(plain(value, coverage).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _figure(width_in: float, height_in: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="both", labelsize=7.5)
    return fig, ax


def _png(fig: Any) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    # No "Software" metadata: the bytes then depend only on the data and the drawing code.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _x_ticks(ax: Any, labels: list[str]) -> None:
    """Label every bar or point; past 24 of them, every n-th (and the last) so names stay legible."""
    step = math.ceil(len(labels) / 16) if len(labels) > 24 else 1
    shown = [i for i in range(len(labels)) if i % step == 0 or i == len(labels) - 1]
    if len(shown) > 1 and shown[-1] - shown[-2] < step:  # the last label would collide
        shown.pop(-2)
    texts = [labels[i] for i in shown]
    # Rotate tick labels only when they would collide (about 95 characters fit across).
    rotate = sum(len(x) + 3 for x in texts) > 95 or len(texts) > 12
    ax.set_xticks(shown)
    ax.set_xticklabels(texts, rotation=30 if rotate else 0, ha="right" if rotate else "center", fontsize=7.5)
    ax.set_xlim(-0.6, len(labels) - 0.4)


#: A value axis spans at least this share of the values' magnitude, so a line through 0.7089
#: and 0.7091 is drawn flat rather than stretched from the bottom of the plot to the top.
MIN_RELATIVE_SPAN = 0.05


def value_labels(values: list[float]) -> list[str]:
    """Labels with the fewest significant digits (3 to 6) that keep different values different:
    0.7089 and 0.7091 both read "0.709" at three."""
    for digits in range(3, 7):
        texts = [f"{v:.{digits}g}" for v in values]
        if len(set(texts)) == len(set(values)):
            return texts
    return [f"{v:.6g}" for v in values]


def _value_limits(ys: list[float], threshold: float | None) -> tuple[float, float] | None:
    """The y limits of a line chart, widened to ``MIN_RELATIVE_SPAN`` of the magnitude around a
    near-constant series; None lets matplotlib choose (the span is wide enough)."""
    finite = ys + ([threshold] if threshold is not None else [])
    if not finite:
        return None
    low, high = min(finite), max(finite)
    least = MIN_RELATIVE_SPAN * max(abs(low), abs(high))
    if high - low >= least or least == 0:
        return None
    middle = (low + high) / 2
    return middle - least / 2 * 1.1, middle + least / 2 * 1.1


def bar_chart_png(chart: ChartSeries, width_in: float, height_in: float,
                  coverage: Collection[int] | None = None) -> bytes:
    """One bar per label; bars above the threshold in red, missing values as grey "n/a"."""
    n = min(len(chart.labels), len(chart.values))
    labels = [_label(x, coverage) for x in chart.labels[:n]]
    raw = [_finite(v) for v in chart.values[:n]]
    values = [v if v is not None else 0.0 for v in raw]
    threshold = _finite(chart.threshold)
    def alarming(v: float) -> bool:
        if threshold is None or chart.alarm_above is None:
            return False
        return v > threshold if chart.alarm_above else v < threshold

    colours = [_MUTED if r is None else (_OVER if alarming(v) else _UNDER) for r, v in zip(raw, values)]
    fig, ax = _figure(width_in, height_in)
    positions = list(range(n))
    ax.bar(positions, values, color=colours, width=0.6, zorder=2)
    if n <= 40:
        texts = value_labels(values)
        for x, r, v, text in zip(positions, raw, values, texts):
            ax.annotate("n/a" if r is None else text, (x, v), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7,
                        color=_INK)
    if threshold is not None:
        ax.axhline(threshold, color=_INK, linestyle="--", linewidth=1, zorder=3,
                   label=f"threshold {threshold:g}")
        # Above the plot area, so it never covers a bar or its value.
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False,
                  borderaxespad=0.2)
    top = max(values + ([threshold] if threshold is not None else []) + [0.0])
    bottom = min(values + [0.0])
    span = (top - bottom) or 1.0
    ax.set_ylim(bottom - (0.05 * span if bottom < 0 else 0), top + 0.18 * span)
    _x_ticks(ax, labels)
    if chart.y_label:
        ax.set_ylabel(_label(chart.y_label, coverage, 40), fontsize=7.5)
    ax.grid(axis="y", color=_GRID, linewidth=0.6, zorder=0)
    return _png(fig)


def line_chart_png(chart: LineChart, width_in: float, height_in: float,
                   coverage: Collection[int] | None = None) -> bytes:
    """Lines over the x labels; gaps where a value is missing; dashed threshold."""
    labels = [_label(x, coverage, 16) for x in chart.x_labels]
    fig, ax = _figure(width_in, height_in)
    positions = list(range(len(labels)))
    marker = "o" if len(labels) <= 30 else None
    for i, (name, values) in enumerate(chart.lines):
        ys = [(_finite(v) if v is not None else None) for v in values[: len(labels)]]
        ys += [None] * (len(labels) - len(ys))
        ax.plot(positions, [math.nan if y is None else y for y in ys],
                color=_LINE_COLOURS[i % len(_LINE_COLOURS)], linewidth=1.3, marker=marker,
                markersize=3, label=_label(name, coverage, 24), zorder=3)
    threshold = _finite(chart.threshold)
    if threshold is not None:
        ax.axhline(threshold, color=_INK, linestyle="--", linewidth=1, zorder=2,
                   label=f"threshold {threshold:g}")
    drawn = [y for _, values in chart.lines for v in values[: len(labels)] if (y := _finite(v)) is not None]
    limits = _value_limits(drawn, threshold)
    if limits is not None:
        ax.set_ylim(*limits)
    ax.ticklabel_format(axis="y", useOffset=False)  # no "+7.089e-1" offset that hides the scale
    _x_ticks(ax, labels)
    if chart.y_label:
        ax.set_ylabel(_label(chart.y_label, coverage, 40), fontsize=7.5)
    ax.grid(axis="y", color=_GRID, linewidth=0.6, zorder=0)
    if chart.lines or threshold is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    return _png(fig)
