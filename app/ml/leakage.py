"""Leakage checks: signs that a model could see the answer it is asked to predict.

They run on the data and a split before any model is trained, so a leaked feature stops the
gate instead of inflating a metric that later turns out to be unreachable in production. Each
check has a fixed name, and returns nothing on a clean dataset:

* ``shared_rows``: test rows with an identical twin (features + target) in train; the model
  can memorise the answer. Error from 1 % of test rows; below that a warning, because a few
  exact repeats occur naturally in low-cardinality data and barely move a metric.
* ``temporal_overlap``: with a time column, the newest train row is not older than the oldest
  test row (error) or validation row (warning): the model is tested on the past.
* ``unavailable_at_serving``: a model input the framing marks as not available when the model
  is called; its offline score is unreachable.
* ``single_feature_predictive``: one feature alone predicts the target almost perfectly
  (ROC AUC, or R² for regression). An error, which stops training, only when the lower end of
  the score's 95 % confidence interval reaches ``threshold``: near-certain leakage. A point
  estimate at the threshold whose interval reaches below it is a warning: on a few hundred rows
  a genuinely strong feature (one with ROC AUC 0.975 over a whole medical dataset) crosses 0.98
  by chance, and that must not block training.
* ``target_derived_identifier``: an identifier-like column (mostly unique, or named ``…id`` /
  ``…key``) whose parts, characters, letters or sort order predict the target ("A-123" for
  positives and "B-456" for negatives, a code in the middle, a suffix); error when it is a
  feature and the bound reaches the threshold, warning when it is only in the table (it would
  leak as soon as someone adds it) or only the point estimate does.

The one-feature model is a lookup table, not a tree: the feature is cut into at most 64
quantile bins (categories stay themselves), and each bin predicts the class shares (or mean)
its train rows had, with unseen bins predicting the train prior. It is a depth-unlimited,
one-feature tree in effect, needs one ``bincount`` per feature (40k rows × many features in
milliseconds), and, because it is scored on rows it did not see, a unique identifier scores
no better than chance instead of looking perfect.

The score is measured on every row the lookup did not see: the validation and test rows by the
table of all train rows, and each train row by the table of the other train folds
(cross-fitting, ``_FOLDS`` folds). Judging on all rows instead of the ~15–30 % held out makes the
interval three times narrower. The interval is DeLong's for ROC AUC (one-vs-rest, averaged, for
several classes) and the delta method's for R². DeLong's variance is zero on a sample that
separates perfectly, however small; the bound is then capped by the rule of three,
1 − 3 / min(positives, negatives), so ten perfectly separated rows are not called certain.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.ml.errors import DataFileError
from app.ml.findings import LeakageFinding
from app.ml.split import parse_times

_BINS = 64
_FOLDS = 5
#: z of the two-sided 95 % interval: an error needs its lower end at the threshold.
_Z = 1.959963984540054
_SHARED_ROWS_ERROR_SHARE = 0.01
_MAX_CLASSES = 50
_UNIQUE_SHARE = 0.9
_ID_NAME = re.compile(r"(?:^|[_\-\s.])(?:id|key|uuid|guid)$", re.IGNORECASE)
_ID_CAMEL = re.compile(r"[a-z0-9](?:Id|ID|Key|KEY)$")
_TOKEN_SPLIT = r"[^0-9A-Za-z.]+"
_TOKEN_POSITIONS: tuple[tuple[int, str], ...] = (
    (0, "first part"), (-1, "last part"), (1, "second part"), (2, "third part"),
)
#: How many characters from each end of an identifier are looked at one by one.
_ID_CHARACTERS = 8
REGRESSION = "regression"
NO_TARGET_TYPES = frozenset({"clustering"})


def shared_rows(df: pd.DataFrame, left: Sequence[int], right: Sequence[int], columns: Sequence[str]) -> int:
    """How many rows of ``right`` have an exact twin (on ``columns``) in ``left``.

    A twin in train of a test row lets a model memorise the answer, inflating test scores.
    """
    hashes = pd.util.hash_pandas_object(df[list(columns)], index=False)
    seen = set(hashes.iloc[list(left)].tolist())
    return int(sum(h in seen for h in hashes.iloc[list(right)].tolist()))


def leakage_findings(
    df: pd.DataFrame,
    assignments: dict[str, list[int]],
    *,
    target: str,
    features: list[str],
    problem_type: str,
    time_column: str | None = None,
    unavailable_at_serving: Sequence[str] = (),
    threshold: float = 0.98,
    seed: int = 0,
) -> list[LeakageFinding]:
    """Run every leakage check on ``df`` split by ``assignments`` (row positions per part).

    ``features`` are the model inputs; ``problem_type`` "regression" scores single features
    by R², "clustering" skips the target-based checks, anything else by ROC AUC (macro
    one-vs-rest for more than two classes). ``seed`` shuffles the train rows into the folds the
    lookup is cross-fitted on, so the same split and seed always give the same findings.
    """
    for column in [target, *features, *([time_column] if time_column else [])]:
        if column not in df.columns:
            raise DataFileError(
                f"column {column!r} is not in the table (columns: "
                f"{', '.join(map(str, df.columns))}): check the target and feature names"
            )
    train = np.asarray(assignments.get("train", []), dtype=np.int64)
    test = np.asarray(assignments.get("test", []), dtype=np.int64)
    if not len(train) or not len(test):
        raise DataFileError("the split has no train or no test rows: make the split again")
    held_out = np.asarray(
        sorted(int(i) for part, rows in assignments.items() if part != "train" for i in rows),
        dtype=np.int64,
    )
    frame = df.reset_index(drop=True)
    features = [f for f in dict.fromkeys(features) if f != target]
    findings: list[LeakageFinding] = []
    findings += _shared_rows(frame, train, test, [*features, target])
    if time_column:
        findings += _temporal_overlap(frame[time_column], assignments)
    unavailable = set(unavailable_at_serving)
    for feature in features:
        if feature in unavailable:
            findings.append(LeakageFinding(
                "unavailable_at_serving", feature, "error",
                f"feature {feature!r} is marked as not available at serving time in the "
                "framing, but it is a model input: its offline score cannot be reached in "
                "production; drop it or change how it is sourced",
            ))
    if problem_type in NO_TARGET_TYPES:
        return findings
    scorer = _Scorer.build(frame[target], train, held_out, problem_type, seed)
    if scorer is None:
        return findings
    for feature in features:
        estimate = scorer.estimate(_encode(frame[feature], train))
        if estimate is None or estimate.point < threshold:
            continue
        certain = estimate.lower >= threshold
        findings.append(LeakageFinding(
            "single_feature_predictive", str(feature), "error" if certain else "warning",
            f"feature {str(feature)!r} alone reaches {scorer.metric} {estimate.describe(threshold)}: "
            + ("it almost certainly encodes the target; check how it is computed" if certain else
               "a strong feature or a leak, the data cannot tell which on this many rows; check how it "
               "is computed before trusting the model's score"),
        ))
    for column in frame.columns:
        if column in (target, time_column) or not _identifier_like(frame[column]):
            continue
        finding = _identifier_finding(frame[column], str(column), column in features, scorer,
                                      frame[target], train, threshold)
        if finding is not None:
            findings.append(finding)
    return findings


# --- shared rows and time -------------------------------------------------------------------


def _shared_rows(
    frame: pd.DataFrame, train: np.ndarray, test: np.ndarray, columns: list[str]
) -> list[LeakageFinding]:
    """Test rows whose features and target equal a train row's."""
    hashes = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()
    twin = np.isin(hashes[test], hashes[train])
    count = int(twin.sum())
    if not count:
        return []
    share = count / len(test)
    first = ", ".join(str(int(p)) for p in np.sort(test[twin])[:5])
    severity = "error" if share >= _SHARED_ROWS_ERROR_SHARE else "warning"
    return [LeakageFinding(
        "shared_rows", None, severity,
        f"{count:,} of {len(test):,} test rows ({share:.2%}) have an identical twin in train "
        f"over the {len(columns) - 1} features and the target (first row positions: {first}): "
        "drop duplicates before splitting or split by group",
    )]


def _temporal_overlap(times: pd.Series, assignments: dict[str, list[int]]) -> list[LeakageFinding]:
    """The newest train time must be before the oldest validation and test times."""
    try:
        parsed = parse_times(times)
    except DataFileError as exc:
        return [LeakageFinding("temporal_overlap", str(times.name), "warning",
                               f"the time order could not be checked: {exc}")]
    train = parsed.iloc[list(assignments["train"])]
    findings: list[LeakageFinding] = []
    for part, severity in (("test", "error"), ("validation", "warning")):
        rows = assignments.get(part) or []
        if not rows or not len(train):
            continue
        other = parsed.iloc[list(rows)]
        newest, oldest = train.max(), other.min()
        if newest >= oldest:
            n_older = int((other <= newest).sum())
            findings.append(LeakageFinding(
                "temporal_overlap", str(times.name), severity,
                f"the newest train time {_when(newest)} is not before the oldest {part} time "
                f"{_when(oldest)} ({n_older:,} of {len(other):,} {part} rows are not after "
                "train): the model is tested on the past; use a temporal split",
            ))
    return findings


def _when(value: object) -> str:
    """A timestamp (or plain number) as a short string for the evidence."""
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is not None and value.utcoffset() == pd.Timedelta(0):
            value = value.tz_localize(None)
        return value.isoformat(sep=" ") if (value.hour or value.minute or value.second) \
            else value.date().isoformat()
    return str(value)


# --- one-feature lookup model ---------------------------------------------------------------


def _encode(series: pd.Series, train: np.ndarray) -> np.ndarray:
    """Integer codes of a feature: quantile bins (edges from train) or its categories.

    Missing values get a code of their own, so "is missing" can carry signal as well.
    """
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        finite = values[train][np.isfinite(values[train])]
        if len(finite) and len(np.unique(finite)) > _BINS:
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, _BINS + 1))[1:-1])
            codes = np.searchsorted(edges, values, side="right")
            codes[~np.isfinite(values)] = len(edges) + 1
            return codes.astype(np.int64)
    try:
        codes, _ = pd.factorize(series, use_na_sentinel=True)
    except TypeError:
        codes, _ = pd.factorize(series.astype("str"), use_na_sentinel=True)
    codes = codes.astype(np.int64)
    codes[codes < 0] = codes.max() + 1
    return codes


@dataclass(frozen=True)
class _Estimate:
    """How well a one-feature lookup predicts the target, with the evidence behind it.

    ``point`` and ``lower`` are over every row the lookup did not see (train rows cross-fitted),
    ``held_out`` over validation + test only and ``train`` over the cross-fitted train rows.
    """

    point: float
    lower: float
    held_out: float | None
    train: float | None
    rows: int

    def describe(self, threshold: float) -> str:
        parts = [f"validation + test {self.held_out:.3f}" if self.held_out is not None else "",
                 f"train, cross-fitted, {self.train:.3f}" if self.train is not None else ""]
        where = "; ".join(p for p in parts if p)
        side = "at or above" if self.lower >= threshold else "below"
        return (f"{self.point:.3f} over {self.rows:,} rows it did not see ({where}); the lower end of its 95 % "
                f"interval, {self.lower:.3f}, is {side} the threshold {threshold:g}")


class _Scorer:
    """Fits the lookup model on train codes and scores it on every row it did not see."""

    def __init__(self, y: np.ndarray, train: np.ndarray, held_out: np.ndarray,
                 n_classes: int | None, seed: int) -> None:
        self.y, self.train, self.held_out, self.n_classes = y, train, held_out, n_classes
        self.metric = "R²" if n_classes is None else "ROC AUC"
        order = np.random.default_rng(seed).permutation(len(train))
        folds = np.empty(len(train), dtype=np.int64)
        folds[order] = np.arange(len(train)) % _FOLDS
        self.folds = folds if len(train) >= 2 * _FOLDS else None
        self.rows = np.concatenate([held_out, train]) if self.folds is not None else held_out

    @classmethod
    def build(cls, target: pd.Series, train: np.ndarray, held_out: np.ndarray,
              problem_type: str, seed: int = 0) -> _Scorer | None:
        """None when the target cannot be scored (missing everywhere, one class, too many)."""
        present = target.notna().to_numpy()
        train, held_out = train[present[train]], held_out[present[held_out]]
        if not len(train) or not len(held_out):
            return None
        if problem_type == REGRESSION:
            y = pd.to_numeric(target, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            keep = np.isfinite(y)
            train, held_out = train[keep[train]], held_out[keep[held_out]]
            if not len(train) or len(held_out) < 2 or np.var(y[held_out]) == 0:
                return None
            return cls(y, train, held_out, None, seed)
        codes, classes = pd.factorize(target, sort=True)
        if not 2 <= len(classes) <= _MAX_CLASSES:
            return None
        return cls(codes.astype(np.int64), train, held_out, len(classes), seed)

    def _fit(self, codes: np.ndarray, fit: np.ndarray) -> np.ndarray:
        """The lookup fitted on ``fit`` rows: one prediction per code, the means (regression) or
        the class shares (an (n_codes, classes) table)."""
        n_codes = int(codes.max()) + 1
        fit_codes = codes[fit]
        if self.n_classes is None:
            y_fit = self.y[fit]
            sums = np.bincount(fit_codes, weights=y_fit, minlength=n_codes)
            counts = np.bincount(fit_codes, minlength=n_codes)
            return np.where(counts > 0, sums / np.maximum(counts, 1), float(y_fit.mean()))
        k = self.n_classes
        table = np.bincount(fit_codes * k + self.y[fit], minlength=n_codes * k)
        table = table.reshape(n_codes, k).astype("float64")
        prior = np.bincount(self.y[fit], minlength=k) / len(fit)
        return (table + prior) / (table.sum(axis=1, keepdims=True) + 1.0)  # m-estimate, m=1

    def _judge(self, codes: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float] | None:
        """(score, lower end of its 95 % interval) over parts, each (rows, the lookup they get).

        Each part is judged on its own and the parts are averaged (weighted by pairs for ROC AUC,
        rows for R²): the train folds' tables differ a little, and ranking one fold's predictions
        against another's would add an ordering that is only the folds' noise.
        """
        if self.n_classes is None:
            return _combine([_r2_measure(self.y[rows], table[codes[rows]]) for rows, table in parts])
        classes = [1] if self.n_classes == 2 else range(self.n_classes)
        judged = [b for c in classes if (b := _combine([_auc_measure(self.y[rows] == c, codes[rows], table[:, c])
                                                        for rows, table in parts])) is not None]
        if not judged:
            return None
        return float(np.mean([b[0] for b in judged])), float(np.mean([b[1] for b in judged]))

    def estimate(self, codes: np.ndarray) -> _Estimate | None:
        """Score and bound of the lookup on the held-out rows and the cross-fitted train rows."""
        held = [(self.held_out, self._fit(codes, self.train))]
        held_out = self._judge(codes, held)
        if self.folds is None:
            return None if held_out is None else _Estimate(held_out[0], held_out[1], held_out[0], None,
                                                           len(self.held_out))
        crossed = []
        for fold in range(_FOLDS):
            inside = self.folds == fold
            crossed.append((self.train[inside], self._fit(codes, self.train[~inside])))
        train = self._judge(codes, crossed)
        pooled = self._judge(codes, held + crossed)
        if pooled is None:
            return None
        return _Estimate(pooled[0], pooled[1], held_out[0] if held_out else None, train[0] if train else None,
                         len(self.rows))


@dataclass(frozen=True)
class _Measure:
    """A score on one part of the rows, its variance and how much it weighs in an average."""

    value: float
    variance: float
    weight: float
    positives: int = 0  # ROC AUC only: rows of each class, for the rule-of-three cap
    negatives: int = 0


def _combine(parts: list[_Measure | None]) -> tuple[float, float] | None:
    """The weighted mean of the parts' scores and the lower end of its 95 % interval.

    For ROC AUC the bound is capped by the rule of three on the smaller class: DeLong's variance
    is zero on a sample that separates perfectly however small it is, and
    1 − 3 / min(positives, negatives) says how sure that many rows can make anyone.
    """
    judged = [p for p in parts if p is not None]
    total = sum(p.weight for p in judged)
    if not judged or total <= 0:
        return None
    value = sum(p.weight * p.value for p in judged) / total
    variance = sum((p.weight / total) ** 2 * p.variance for p in judged)
    lower = value - _Z * math.sqrt(max(variance, 0.0))
    smaller = min(sum(p.positives for p in judged), sum(p.negatives for p in judged))
    if smaller:
        lower = min(lower, 1.0 - 3.0 / smaller)
    return float(value), float(lower)


def _auc_measure(positive: np.ndarray, codes: np.ndarray, score_of_code: np.ndarray) -> _Measure | None:
    """ROC AUC (ties count half) with DeLong's (1988) variance; None without both labels.

    Every row of a code has the same score, so the rows are counted per distinct score (one
    ``bincount``) instead of ranked one by one.
    """
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return None
    values, level = np.unique(score_of_code, return_inverse=True)
    row_level = level.reshape(-1)[codes]
    pos = np.bincount(row_level, weights=positive.astype("float64"), minlength=len(values))
    neg = np.bincount(row_level, minlength=len(values)) - pos
    # Placement of a positive among the negatives (share below it, ties half) and vice versa.
    v10 = (np.cumsum(neg) - neg + 0.5 * neg) / n_neg
    v01 = (n_pos - np.cumsum(pos) + 0.5 * pos) / n_pos
    auc = float((pos * v10).sum() / n_pos)
    variance = 0.0
    if n_pos > 1:
        variance += float((pos * (v10 - auc) ** 2).sum() / (n_pos - 1)) / n_pos
    if n_neg > 1:
        variance += float((neg * (v01 - auc) ** 2).sum() / (n_neg - 1)) / n_neg
    return _Measure(auc, variance, float(n_pos * n_neg), n_pos, n_neg)


def _r2_measure(actual: np.ndarray, predicted: np.ndarray) -> _Measure | None:
    """R² with the delta method's variance of the ratio of the mean squared error to the
    variance; None when the target does not vary."""
    n = len(actual)
    a = (actual - predicted) ** 2
    b = (actual - actual.mean()) ** 2
    if n < 3 or not b.sum():
        return None
    ratio = float(a.mean() / b.mean())
    cov = np.cov(a, b, ddof=1)
    variance = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (n * b.mean() ** 2)
    return _Measure(1.0 - ratio, float(variance), float(n))


# --- identifiers ----------------------------------------------------------------------------


def _identifier_like(series: pd.Series) -> bool:
    """Named like an id/key, or text/integer values that are mostly unique."""
    name = str(series.name)
    if _ID_NAME.search(name) or _ID_CAMEL.search(name):
        return True
    if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return False
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return False
    present = series.dropna()
    try:
        return len(present) > 0 and present.nunique() >= _UNIQUE_SHARE * len(present)
    except TypeError:
        return False


def _identifier_views(series: pd.Series, train: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The ways an identifier could carry the label, each as lookup codes: its sort order, its
    parts between separators, its letters with the digits taken out, and each of its first and
    last ``_ID_CHARACTERS`` characters (a code in a fixed position, with or without separators)."""
    text = series.astype("str").where(series.notna())
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        views = [("its sort order", _encode(series, train))]
        text = pd.Series(pd.array(series, dtype="Int64"), index=series.index).astype("str").where(series.notna())
    else:
        order = pd.Series(pd.factorize(text, sort=True)[0], dtype="float64").where(text.notna())
        views = [("its sort order", _encode(order, train))]
        tokens = text.str.split(_TOKEN_SPLIT, regex=True)
        n_tokens = tokens.str.len()
        if float((n_tokens >= 2).mean()) >= 0.5:
            for position, label in _TOKEN_POSITIONS:
                if position >= 0 and float((n_tokens > position).mean()) < 0.5:
                    continue
                views.append((f"its {label}", _encode(_numeric_if_possible(tokens.str[position]), train)))
        letters = text.str.replace(r"[0-9]+", "#", regex=True)
        if letters.nunique() < 0.5 * max(int(text.notna().sum()), 1):
            views.append(("its letters (digits left out)", _encode(letters, train)))
    lengths = text.str.len()
    for i in range(_ID_CHARACTERS):
        if float((lengths > i).mean()) < 0.5:
            break
        views.append((_ordinal(i, "first"), _encode(text.str[i], train)))
        views.append((_ordinal(i, "last"), _encode(text.str[-(i + 1)], train)))
    return views


def _ordinal(i: int, end: str) -> str:
    if i == 0:
        return f"its {end} character"
    names = {1: "second", 2: "third"}
    return f"its {names.get(i, f'{i + 1}th')} character from the {'start' if end == 'first' else 'end'}"


def _identifier_finding(
    series: pd.Series, name: str, is_feature: bool, scorer: _Scorer, target: pd.Series,
    train: np.ndarray, threshold: float,
) -> LeakageFinding | None:
    """The best way an identifier predicts the target, if it reaches the threshold."""
    text = series.astype("str").where(series.notna())
    best: tuple[_Estimate, str] | None = None
    for label, codes in _identifier_views(series, train):
        estimate = scorer.estimate(codes)
        if estimate is not None and (best is None or (estimate.lower, estimate.point) > (best[0].lower,
                                                                                           best[0].point)):
            best = (estimate, label)
    contained = _target_inside(text, target)
    role = "a model input" if is_feature else "not a feature now, but would leak if added"
    example = _example_pair(text, target)
    if contained >= 0.99:
        return LeakageFinding(
            "target_derived_identifier", name, "error" if is_feature else "warning",
            f"identifier {name!r} ({role}): the target value appears inside it in "
            f"{contained:.1%} of rows{example}: it was probably built from the label; drop it "
            "or rebuild it",
        )
    if best is not None and best[0].point >= threshold:
        estimate, label = best
        certain = estimate.lower >= threshold
        return LeakageFinding(
            "target_derived_identifier", name, "error" if is_feature and certain else "warning",
            f"identifier {name!r} ({role}): {label} predicts the target with "
            f"{scorer.metric} {estimate.describe(threshold)}{example}: "
            + ("it was probably built from the label; drop it or rebuild it" if certain else
               "it may have been built from the label; check how it is assigned"),
        )
    return None


def _numeric_if_possible(tokens: pd.Series) -> pd.Series:
    """Numbers when every present token is one (so they are binned), else the tokens."""
    numbers = pd.to_numeric(tokens, errors="coerce")
    if int(numbers.notna().sum()) == int(tokens.notna().sum()):
        return numbers.astype("float64")
    return tokens


def _target_inside(text: pd.Series, target: pd.Series) -> float:
    """Share of rows whose identifier has the row's target as one of its parts.

    Only for targets with many distinct values (regression): with two classes "0" and "1" a
    number-only identifier contains one of them by chance, and the lookup views cover that case.
    """
    present = text.notna() & target.notna()
    if target[present].nunique() <= _MAX_CLASSES:
        return 0.0
    hits = 0
    for identifier, value in zip(text[present].tolist(), target[present].tolist()):
        parts = re.split(_TOKEN_SPLIT, identifier)
        wanted = _as_token(value)
        hits += wanted in parts or any(_same_number(p, value) for p in parts)
    return hits / int(present.sum()) if present.any() else 0.0


def _as_token(value: object) -> str:
    """How a target value would be written inside an identifier (1.0 → "1")."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _same_number(part: str, value: object) -> bool:
    """Whether ``part`` is ``value`` written with the decimals ``part`` shows.

    Signs are ignored because the token split drops a "-" that was used as a separator.
    """
    try:
        number, wanted = abs(float(part)), abs(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    decimals = len(part.split(".", 1)[1]) if "." in part else 0
    return math.isfinite(number) and abs(number - wanted) <= 0.5 * 10.0 ** -decimals + 1e-12


def _example_pair(text: pd.Series, target: pd.Series) -> str:
    """' (e.g. '17_1' with target 1)' for the first row that has both."""
    present = text.notna() & target.notna()
    if not present.any():
        return ""
    first = int(np.flatnonzero(present.to_numpy())[0])
    value = target.iloc[first]
    value = value.item() if isinstance(value, np.generic) else value
    return f" (e.g. {text.iloc[first]!r} with target {value!r})"
