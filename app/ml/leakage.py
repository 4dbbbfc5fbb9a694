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
  (ROC AUC, or R² for regression, ≥ ``threshold`` on validation + test).
* ``target_derived_identifier``: an identifier-like column (mostly unique, or named ``…id`` /
  ``…key``) whose parts or sort order predict the target; error when it is a feature,
  warning when it is only in the table (it would leak as soon as someone adds it).

The one-feature model is a lookup table, not a tree: the feature is cut into at most 64
quantile bins (categories stay themselves), and each bin predicts the class shares (or mean)
its train rows had, with unseen bins predicting the train prior. It is a depth-unlimited,
one-feature tree in effect, needs one ``bincount`` per feature (40k rows × many features in
milliseconds), and, because it is scored on rows it did not see, a unique identifier scores
no better than chance instead of looking perfect.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from app.ml.errors import DataFileError
from app.ml.findings import LeakageFinding
from app.ml.split import parse_times

_BINS = 64
_SHARED_ROWS_ERROR_SHARE = 0.01
_MAX_CLASSES = 50
_UNIQUE_SHARE = 0.9
_ID_NAME = re.compile(r"(?:^|[_\-\s.])(?:id|key|uuid|guid)$", re.IGNORECASE)
_ID_CAMEL = re.compile(r"[a-z0-9](?:Id|ID|Key|KEY)$")
_TOKEN_SPLIT = r"[^0-9A-Za-z.]+"
_TOKEN_POSITIONS: tuple[tuple[int, str], ...] = (
    (0, "first part"), (-1, "last part"), (1, "second part"), (2, "third part"),
)
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
    one-vs-rest for more than two classes). ``seed`` is accepted so callers can pass the
    split's seed; the checks themselves are deterministic and do not draw random numbers.
    """
    del seed  # deterministic checks; kept in the signature for callers and future sampling
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
    scorer = _Scorer.build(frame[target], train, held_out, problem_type)
    if scorer is None:
        return findings
    for feature in features:
        score = scorer.score(_encode(frame[feature], train))
        if score is not None and score >= threshold:
            findings.append(LeakageFinding(
                "single_feature_predictive", feature, "error",
                f"feature {feature!r} alone reaches {scorer.metric} {score:.3f} on validation + "
                f"test (threshold {threshold:g}): it almost certainly encodes the target; check "
                "how it is computed",
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


class _Scorer:
    """Fits the lookup model on train codes and scores it on the held-out rows."""

    def __init__(self, y: np.ndarray, train: np.ndarray, held_out: np.ndarray,
                 n_classes: int | None) -> None:
        self.y, self.train, self.held_out, self.n_classes = y, train, held_out, n_classes
        self.metric = "R²" if n_classes is None else "ROC AUC"

    @classmethod
    def build(cls, target: pd.Series, train: np.ndarray, held_out: np.ndarray,
              problem_type: str) -> _Scorer | None:
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
            return cls(y, train, held_out, None)
        codes, classes = pd.factorize(target, sort=True)
        if not 2 <= len(classes) <= _MAX_CLASSES:
            return None
        return cls(codes.astype(np.int64), train, held_out, len(classes))

    def score(self, codes: np.ndarray) -> float | None:
        """ROC AUC or R² of the lookup model on the held-out rows."""
        n_codes = int(codes.max()) + 1
        train_codes, eval_codes = codes[self.train], codes[self.held_out]
        if self.n_classes is None:
            y_train = self.y[self.train]
            sums = np.bincount(train_codes, weights=y_train, minlength=n_codes)
            counts = np.bincount(train_codes, minlength=n_codes)
            prior = float(y_train.mean())
            means = np.where(counts > 0, sums / np.maximum(counts, 1), prior)
            predicted, actual = means[eval_codes], self.y[self.held_out]
            total = float(((actual - actual.mean()) ** 2).sum())
            return 1.0 - float(((actual - predicted) ** 2).sum()) / total if total else None
        k = self.n_classes
        table = np.bincount(train_codes * k + self.y[self.train], minlength=n_codes * k)
        table = table.reshape(n_codes, k).astype("float64")
        prior = np.bincount(self.y[self.train], minlength=k) / len(self.train)
        shares = (table + prior) / (table.sum(axis=1, keepdims=True) + 1.0)  # m-estimate, m=1
        probabilities = shares[eval_codes]
        actual = self.y[self.held_out]
        classes = [1] if k == 2 else range(k)
        aucs = [a for c in classes
                if (a := _auc(actual == c, probabilities[:, c])) is not None]
        return float(np.mean(aucs)) if aucs else None


def _auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum formula (ties count half); None without both labels."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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


def _identifier_finding(
    series: pd.Series, name: str, is_feature: bool, scorer: _Scorer, target: pd.Series,
    train: np.ndarray, threshold: float,
) -> LeakageFinding | None:
    """The best way an identifier predicts the target, if it reaches the threshold."""
    text = series.astype("str").where(series.notna())
    views: list[tuple[str, np.ndarray]] = []
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        views.append(("its sort order", _encode(series, train)))
    else:
        order = pd.Series(pd.factorize(text, sort=True)[0], dtype="float64").where(text.notna())
        views.append(("its sort order", _encode(order, train)))
        tokens = text.str.split(_TOKEN_SPLIT, regex=True)
        n_tokens = tokens.str.len()
        if float((n_tokens >= 2).mean()) >= 0.5:
            for position, label in _TOKEN_POSITIONS:
                if position >= 0 and float((n_tokens > position).mean()) < 0.5:
                    continue
                views.append((f"its {label}", _encode(_numeric_if_possible(tokens.str[position]),
                                                      train)))
        views.append(("its first character", _encode(text.str[:1], train)))
        views.append(("its last character", _encode(text.str[-1:], train)))
    best: tuple[float, str] | None = None
    for label, codes in views:
        score = scorer.score(codes)
        if score is not None and (best is None or score > best[0]):
            best = (score, label)
    contained = _target_inside(text, target)
    severity = "error" if is_feature else "warning"
    role = "a model input" if is_feature else "not a feature now, but would leak if added"
    example = _example_pair(text, target)
    if contained >= 0.99:
        return LeakageFinding(
            "target_derived_identifier", name, severity,
            f"identifier {name!r} ({role}): the target value appears inside it in "
            f"{contained:.1%} of rows{example}: it was probably built from the label; drop it "
            "or rebuild it",
        )
    if best is not None and best[0] >= threshold:
        return LeakageFinding(
            "target_derived_identifier", name, severity,
            f"identifier {name!r} ({role}): {best[1]} predicts the target with "
            f"{scorer.metric} {best[0]:.3f} (threshold {threshold:g}){example}: it was "
            "probably built from the label; drop it or rebuild it",
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
