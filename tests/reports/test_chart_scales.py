"""PDF charts that do not lie: value labels keep near-equal values apart, and a line chart of a
near-constant series is drawn on an axis wide enough to look flat."""

from __future__ import annotations

from reports.charts import MIN_RELATIVE_SPAN, _value_limits, line_chart_png, value_labels
from reports.data import LineChart


def test_value_labels_tell_near_equal_values_apart() -> None:
    assert value_labels([0.7089, 0.7091]) == ["0.7089", "0.7091"]  # "0.709" twice at 3 digits
    assert value_labels([0.5, 0.25]) == ["0.5", "0.25"]
    assert value_labels([0.7, 0.7]) == ["0.7", "0.7"]


def test_a_near_constant_line_gets_a_wide_enough_axis() -> None:
    low, high = _value_limits([0.7089, 0.7091], None)  # type: ignore[misc]
    assert high - low >= MIN_RELATIVE_SPAN * 0.7091
    assert low < 0.7089 and high > 0.7091
    assert _value_limits([0.60, 0.75], None) is None  # a real change keeps matplotlib's axis
    chart = LineChart("AUC over batches", ("b1", "b2"), (("auc", (0.7089, 0.7091)),), y_label="AUC")
    assert line_chart_png(chart, 4.0, 2.0).startswith(b"\x89PNG")
