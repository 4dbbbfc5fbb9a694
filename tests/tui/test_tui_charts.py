"""Terminal charts that do not lie: near-equal scores draw as near-equal bars with their values
and the scale's start printed, and a near-constant sparkline is drawn flat and says so."""

from __future__ import annotations

from screens.widgets.charts import EIGHTHS, FLAT_LINE, bar_chart, flat_note, near_constant, sparkline, trend


def _cells(bar_line: str) -> float:
    """How many cells a drawn bar fills (eighths counted)."""
    return sum(1.0 if ch == "█" else EIGHTHS.index(ch) / 8 for ch in bar_line if ch in EIGHTHS[1:])


def test_two_near_equal_scores_draw_as_near_equal_bars_with_values_and_the_scale() -> None:
    chart = bar_chart(["A", "B"], [0.7089, 0.7091], width=24).plain
    a, b, scale = chart.splitlines()
    assert "0.7089" in a and "0.7091" in b  # the values are printed
    # Before: 5 cells against 24. Now the difference is a sliver of the bar.
    assert _cells(b) == 24 and _cells(a) >= 23
    assert "scale" in scale and "not from zero" in scale and "near-equal" in scale


def test_scores_that_really_differ_still_differ_visibly() -> None:
    a, b, scale = bar_chart(["A", "B"], [0.70, 0.75], width=24).plain.splitlines()
    assert _cells(b) == 24 and _cells(a) <= 12
    assert "not from zero" in scale and "near-equal" not in scale


def test_a_chart_from_zero_needs_no_scale_line() -> None:
    assert len(bar_chart(["A", "B"], [0.2, 0.4], floor_at_zero=True).plain.splitlines()) == 2


def test_a_near_constant_sparkline_is_flat_and_says_so() -> None:
    values = [0.7089, 0.7091, 0.7090]
    assert near_constant(values)
    assert len(set(sparkline(values))) == 1  # flat, not ▁█▄
    assert flat_note(values) == " (flat: all within 0.0002)"
    assert trend(values).plain.startswith(FLAT_LINE * 3 + " 0.7089 → 0.7090")  # a level line in a trend row
    moving = [0.70, 0.75, 0.80]
    assert not near_constant(moving) and len(set(sparkline(moving))) == 3 and flat_note(moving) == ""
    # small numbers that differ a lot relative to their size are not "flat"
    assert not near_constant([0.001, 0.002])
