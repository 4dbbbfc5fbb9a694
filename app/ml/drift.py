"""Data drift between a reference sample (what the model was trained on) and a current batch.

Two tests per numeric feature, because they fail differently: the KS test has a p-value but
flags trivial shifts on large batches; PSI measures the size of the shift in the terms risk
teams already use (0.1 watch, 0.25 act). Categorical features get PSI over categories, with a
category never seen in the reference counted as its own bucket, since a new market or product
line is exactly the drift monitoring must surface.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from app.ml.errors import DataFileError

# Share given to a bucket with no rows, so PSI stays finite; small enough that a bucket that
# really empties out still scores as a large shift.
PSI_EPSILON = 1e-4


def psi(
    reference_values: Iterable[Any],
    current_values: Iterable[Any],
    kind: str,
    bins: int = 10,
) -> float:
    """Population Stability Index of ``current`` against ``reference`` (missing values dropped).

    Numeric: buckets are cut at reference quantiles with open outer buckets, so every current
    value lands somewhere and each reference bucket holds about 1/bins of the rows.
    Categorical: one bucket per category seen in either sample. Returns nan if either side
    has no values, so the caller can say so rather than report a made-up zero.
    """
    if kind == "numeric":
        ref = _numeric_values(reference_values)
        cur = _numeric_values(current_values)
        if len(ref) == 0 or len(cur) == 0:
            return math.nan
        edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
        cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    elif kind == "categorical":
        ref_s = _category_values(reference_values)
        cur_s = _category_values(current_values)
        if len(ref_s) == 0 or len(cur_s) == 0:
            return math.nan
        ref_vc = ref_s.value_counts()
        cur_vc = cur_s.value_counts()
        categories = sorted(set(ref_vc.index) | set(cur_vc.index))
        ref_counts = ref_vc.reindex(categories, fill_value=0).to_numpy()
        cur_counts = cur_vc.reindex(categories, fill_value=0).to_numpy()
    else:
        raise ValueError(f"unknown feature kind {kind!r}: use 'numeric' or 'categorical'")
    ref_share = np.maximum(ref_counts / ref_counts.sum(), PSI_EPSILON)
    cur_share = np.maximum(cur_counts / cur_counts.sum(), PSI_EPSILON)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: dict[str, str],
    *,
    psi_threshold: float = 0.25,
    ks_alpha: float = 0.05,
    bins: int = 10,
) -> list[dict[str, Any]]:
    """One result per (feature, test): KS and PSI for numeric features, PSI for categorical.

    A feature with no values on either side gets a single PSI row with ``statistic`` None and
    a note, instead of a zero that would read as "no drift".
    """
    missing = [f for f in features if f not in reference.columns or f not in current.columns]
    if missing:
        raise DataFileError(
            f"drift needs the features {', '.join(map(repr, missing))} in both the reference "
            "and the current data: add them to the batch or drop them from the model's features"
        )
    results: list[dict[str, Any]] = []
    for feature, kind in features.items():
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"feature {feature!r} has kind {kind!r}: use 'numeric' or 'categorical'")
        ref_col, cur_col = reference[feature], current[feature]
        if kind == "numeric":
            ref_vals, cur_vals = _numeric_values(ref_col), _numeric_values(cur_col)
            empty = len(ref_vals) == 0 or len(cur_vals) == 0
        else:
            empty = ref_col.notna().sum() == 0 or cur_col.notna().sum() == 0
        if empty:
            results.append(
                {
                    "feature": feature,
                    "kind": kind,
                    "test": "psi",
                    "statistic": None,
                    "p_value": None,
                    "drifted": False,
                    "note": "no values",
                }
            )
            continue
        if kind == "numeric":
            ks = ks_2samp(ref_vals, cur_vals)
            p_value = float(ks.pvalue)
            results.append(
                {
                    "feature": feature,
                    "kind": kind,
                    "test": "ks",
                    "statistic": float(ks.statistic),
                    "p_value": p_value,
                    "drifted": bool(p_value < ks_alpha),
                }
            )
        value = psi(ref_col, cur_col, kind, bins=bins)
        results.append(
            {
                "feature": feature,
                "kind": kind,
                "test": "psi",
                "statistic": value,
                "p_value": None,
                "drifted": bool(value > psi_threshold),
            }
        )
    return results


def _numeric_values(values: Iterable[Any]) -> np.ndarray:
    """Finite floats only: missing and non-numeric entries are dropped, not guessed."""
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return array[np.isfinite(array)]


def _category_values(values: Iterable[Any]) -> pd.Series:
    """Non-missing values as text, so 1 and "1" from two file formats are the same category."""
    series = pd.Series(values)
    return series[series.notna()].astype(str)
