"""Data-quality report and per-column distributions of a loaded table.

The report is the stage-3 deliverable a reviewer reads before any model is trained: each
problem is a ``Finding`` naming the column, with counts, so the gate can require "no error
findings" and a reviewer can see why. Distributions are the charts' data and are stored as
JSON, so they contain plain Python types only.

Severity rules (the same for every project, so findings compare across datasets):

* missing values: info below 5 % of rows, warning below 50 %, error from 50 % (a column
  missing in most rows is more imputation than data);
* duplicate rows: warning (they over-weight some rows and can end up on both sides of a split);
* outliers: info (they may be real; the count lets a reviewer decide);
* constant column, high-cardinality categorical, mixed types: warning;
* class imbalance of a classification target: warning when the minority class is under 10 %
  of rows, error under 1 % (accuracy becomes meaningless, and a stratified split has few
  positives per part). For anomaly detection a rare class is the point, so it is info.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from app.ml.findings import Finding
from app.ml.tabular import NON_FINITE_PATTERN, column_kind

CLASSIFICATION_TYPES = frozenset(
    {"binary_classification", "multiclass_classification", "anomaly_detection", "classification"}
)
_MISSING_WARNING = 0.05
_MISSING_ERROR = 0.5
_IQR_FACTOR = 1.5
_Z_LIMIT = 3.0
_HIGH_CARDINALITY_SHARE = 0.5
_HIGH_CARDINALITY_COUNT = 50
_IMBALANCE_WARNING = 0.10
_IMBALANCE_ERROR = 0.01
_TOP_CATEGORIES = 10
_QUANTILES: tuple[tuple[str, float], ...] = (
    ("min", 0.0), ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95),
    ("max", 1.0),
)


def quality_report(
    df: pd.DataFrame, *, target: str | None = None, problem_type: str | None = None
) -> list[Finding]:
    """Every quality finding of ``df``, table-level first, then column by column.

    ``problem_type`` decides whether the target is checked for class imbalance; when it is
    None, a target with few distinct values (or text values) is treated as classification.
    """
    findings: list[Finding] = []
    n = len(df)
    if n == 0:
        return [Finding("empty_table", None, "error", "the table has no rows: import the rows too")]
    findings += _duplicates(df)
    for name in df.columns:
        series = df[name]
        label = str(name)
        kind = column_kind(series)
        findings += _missing(series, label)
        present = series.dropna()
        if not len(present):
            continue
        try:
            n_unique = int(present.nunique())
        except TypeError:  # unhashable cells: nothing below applies
            continue
        if n_unique == 1:
            findings.append(Finding(
                "constant", label, "warning",
                f"column {label!r} has the single value {_plain(present.iloc[0])!r} in every "
                "non-empty row: it cannot help a model",
            ))
            continue
        if kind == "numeric":
            findings += _outliers(series, label)
        elif kind == "categorical" and label != target:
            findings += _mixed_types(present, label)
            share = n_unique / len(present)
            if n_unique > _HIGH_CARDINALITY_COUNT and share > _HIGH_CARDINALITY_SHARE:
                findings.append(Finding(
                    "high_cardinality", label, "warning",
                    f"column {label!r} has {n_unique:,} distinct values in {len(present):,} "
                    f"rows ({share:.0%}): it looks like an identifier or free text, which a "
                    "model memorises instead of learning from; leave it out or group its values",
                ))
    if target is not None and target in df.columns:
        findings += _target_classes(df[target], target, problem_type)
        findings += _imbalance(df[target], target, problem_type)
    return findings


def _target_classes(target: pd.Series, label: str, problem_type: str | None) -> list[Finding]:
    """A binary project whose target has more than two classes is framed wrongly (or the column is)."""
    if problem_type != "binary_classification":
        return []
    classes = target.dropna().unique()
    if len(classes) <= 2:
        return []
    shown = ", ".join(repr(_plain(c)) for c in sorted(classes, key=str)[:6]) + (", …" if len(classes) > 6 else "")
    return [Finding(
        "target_classes", label, "error",
        f"target {label!r} has {len(classes)} classes ({shown}) but the project is binary classification: "
        "map it to two classes, or create a multiclass project",
    )]


def _duplicates(df: pd.DataFrame) -> list[Finding]:
    """Rows identical in every column to an earlier row."""
    try:
        hashes = pd.util.hash_pandas_object(df, index=False)
    except TypeError:
        return []
    count = int(hashes.duplicated().sum())
    if not count:
        return []
    return [Finding(
        "duplicate_rows", None, "warning",
        f"{count:,} of {len(df):,} rows ({count / len(df):.2%}) repeat an earlier row exactly: "
        "they weigh those rows twice and can land on both sides of a split; drop them unless "
        "they are real repeated events",
    )]


def _missing(series: pd.Series, label: str) -> list[Finding]:
    """Missing values, with a severity that grows with their share."""
    count = int(series.isna().sum())
    if not count:
        return []
    share = count / len(series)
    severity = "info" if share < _MISSING_WARNING else "warning" if share < _MISSING_ERROR else "error"
    return [Finding(
        "missing_values", label, severity,
        f"column {label!r} is missing in {count:,} of {len(series):,} rows ({share:.1%})",
    )]


def _outliers(series: pd.Series, label: str) -> list[Finding]:
    """Counts of values outside the 1.5×IQR fences and with |z| > 3, on finite values.

    Columns with at most two distinct values (flags) are skipped: every rare value would be
    an "outlier". The IQR rule is skipped when the IQR is 0 (most values equal), for the same
    reason, and the detail says so.
    """
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    values = values[np.isfinite(values)]
    if len(values) < 4 or len(np.unique(values)) <= 2:
        return []
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    parts: list[str] = []
    if iqr > 0:
        low, high = q1 - _IQR_FACTOR * iqr, q3 + _IQR_FACTOR * iqr
        n_iqr = int(((values < low) | (values > high)).sum())
        if n_iqr:
            parts.append(
                f"{n_iqr:,} values outside the 1.5×IQR fences [{_num(low)}, {_num(high)}]"
            )
    std = float(values.std())
    if std > 0:
        z = np.abs(values - values.mean()) / std
        n_z = int((z > _Z_LIMIT).sum())
        if n_z:
            parts.append(f"{n_z:,} values with |z| > 3")
    if not parts:
        return []
    return [Finding(
        "outliers", label, "info",
        f"column {label!r} has {' and '.join(parts)} (of {len(values):,}): check they are real "
        "before a model fits them",
    )]


def _mixed_types(present: pd.Series, label: str) -> list[Finding]:
    """A text column whose values are mostly numbers: usually a few typos block the numbers.

    ``load_table`` reports the same with line numbers; this catches frames built elsewhere.
    """
    if present.dtype == object:
        kinds = present.map(lambda v: "number" if isinstance(v, (int, float, np.number))
                            and not isinstance(v, bool) else "text")
        if kinds.nunique() > 1:
            n_number = int((kinds == "number").sum())
            return [_mixed_finding(label, n_number, len(present))]
    text = present.astype("str").str.strip()
    special = text.str.fullmatch(NON_FINITE_PATTERN, case=False)
    number = pd.to_numeric(text.mask(special), errors="coerce").notna() | special
    share = float(number.mean())
    if 0.5 < share < 1.0:
        return [_mixed_finding(label, int(number.sum()), len(present))]
    return []


def _mixed_finding(label: str, n_number: int, n: int) -> Finding:
    return Finding(
        "mixed_types", label, "warning",
        f"column {label!r} mixes numbers ({n_number:,} of {n:,} values) and text: fix the text "
        "cells so it can be used as a number, or treat it as a category on purpose",
    )


def _imbalance(target: pd.Series, label: str, problem_type: str | None) -> list[Finding]:
    """Minority share of a classification target."""
    present = target.dropna()
    if not len(present):
        return []
    if problem_type is None:
        classification = column_kind(present) != "numeric" or present.nunique() <= 20
    else:
        classification = problem_type in CLASSIFICATION_TYPES
    if not classification:
        return []
    counts = present.value_counts()
    if len(counts) < 2:
        return [Finding(
            "class_imbalance", label, "error",
            f"target {label!r} has the single class {_plain(counts.index[0])!r}: a classifier "
            "needs at least two",
        )]
    minority, n_minority = counts.index[-1], int(counts.iloc[-1])
    share = n_minority / len(present)
    if share >= _IMBALANCE_WARNING:
        return []
    if problem_type == "anomaly_detection":
        severity = "info"
    else:
        severity = "error" if share < _IMBALANCE_ERROR else "warning"
    return [Finding(
        "class_imbalance", label, severity,
        f"target {label!r}: the minority class {_plain(minority)!r} is {share:.1%} of rows "
        f"({n_minority:,} of {len(present):,}); judge models by ROC AUC / PR AUC, not accuracy, "
        "and consider class weights",
    )]


def column_distributions(df: pd.DataFrame, *, bins: int = 10) -> dict[str, dict[str, Any]]:
    """Per column: histogram and quantiles (numeric) or the top values (everything else).

    Plain JSON types only (no numpy scalars, no NaN or inf), because the result is stored with
    the dataset version and drawn by the report without pandas.
    """
    result: dict[str, dict[str, Any]] = {}
    for name in df.columns:
        series = df[name]
        kind = column_kind(series)
        entry: dict[str, Any] = {"kind": kind, "count": int(series.notna().sum()),
                                 "missing": int(series.isna().sum())}
        if kind == "numeric":
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64",
                                                                     na_value=np.nan)
            finite = values[np.isfinite(values)]
            entry["non_finite"] = int(np.isinf(values).sum())
            if len(finite):
                counts, edges = np.histogram(finite, bins=bins)
                entry["histogram"] = {"edges": [float(e) for e in edges],
                                      "counts": [int(c) for c in counts]}
                quantiles = np.quantile(finite, [q for _, q in _QUANTILES])
                entry["quantiles"] = {key: float(v) for (key, _), v in zip(_QUANTILES, quantiles)}
                entry["mean"] = float(finite.mean())
                entry["std"] = float(finite.std(ddof=1)) if len(finite) > 1 else None
            else:
                entry["histogram"] = {"edges": [], "counts": []}
                entry["quantiles"] = {key: None for key, _ in _QUANTILES}
        elif kind == "datetime":
            present = series.dropna()
            entry["min"] = present.min().isoformat() if len(present) else None
            entry["max"] = present.max().isoformat() if len(present) else None
        else:
            present = series.dropna()
            try:
                counts = present.astype("str").value_counts() if present.dtype == object \
                    else present.value_counts()
            except TypeError:
                counts = present.astype("str").value_counts()
            top = counts.head(_TOP_CATEGORIES)
            entry["unique"] = int(len(counts))
            entry["top"] = [[_plain(value), int(count)] for value, count in top.items()]
            entry["other"] = int(counts.iloc[_TOP_CATEGORIES:].sum())
        result[str(name)] = entry
    return result


def _num(value: float) -> str:
    """A number short enough for a sentence."""
    return f"{value:.4g}"


def _plain(value: Any) -> Any:
    """A numpy scalar as the matching Python type; anything else non-JSON as its string."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
