"""What a drift result measures, declared once (and importable without numpy or scipy).

The engine's result (``app.ml.drift.DriftResult``) and the services' read model of a stored
result (``app.services.monitoring_batches.DriftResultView``) are the same concept at two
layers: both extend these fields, so the statistics they carry cannot drift apart. The fields
are keyword-only, so each subclass keeps its own positional fields first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DriftStatistics:
    """Each test's statistic for one column (None where it does not apply to the column's kind,
    never zero) and the verdict: drifted when a test is significant and an effect size reaches
    its threshold (see ``app.ml.drift``)."""

    ks: float | None
    ks_pvalue: float | None
    psi: float | None
    chi2: float | None
    chi2_pvalue: float | None
    js: float | None
    drifted: bool
    #: The normed Wasserstein distance (numeric features; None for results analysed before it was
    #: measured). A default, so the positional fields of the subclasses stay first.
    wasserstein: float | None = None


def describe_basis(n_rows: int, sample_rows: int | None) -> str:
    """What a profile's statistics are exact against, in one sentence for a person (a drift
    result, a screen and a report quote it, so it is worded once, here)."""
    if sample_rows is not None and sample_rows < n_rows:
        return (f"a seeded sample of {sample_rows:,} of the {n_rows:,} reference rows "
                "(statistics exact against the sample)")
    return f"all {n_rows:,} reference rows (statistics exact against the training data)"
