"""The statistics behind shadow, canary and A/B releases of a challenger model.

Three kinds of evidence, because they answer different questions before a model takes traffic:
a shadow run (both models score the same requests, only production answers) shows whether the
challenger *behaves* like production and is fast enough; a canary (a small share of real traffic)
shows whether it breaks anything, judged against fixed guardrails so the rollback decision does
not wait for significance; an A/B test shows whether it *improves* the business metric, with a
p-value, a confidence interval and the sample size the test needed.

A shadow or canary *passes* only on evidence: each guardrail it held must also be shown to hold
with 95 % confidence (one-sided), so a canary on 44 requests without labels is *inconclusive*, not
passed, and its ``missing`` says what is lacking (requests, labels, the power reached). A breach of
a guardrail's point value still fails at once: a rollback does not wait for significance.

* error rate at most ``max_error_rate``: the Clopper-Pearson upper bound of the canary's error
  rate; with no error at all that needs ln 0.05 / ln(1 − limit) requests (299 for 1 %);
* p99 latency at most the limit: an order statistic that is a 95 % upper bound of the p99, which
  exists from 299 requests on (the largest of 299 is above the p99 with probability 1 − 0.99²⁹⁹);
* p99 latency at most ``max_latency_p99_ratio`` times production's p99 measured over the same
  window (a relative guardrail): both arms answer the same traffic on the same machine at the
  same time, so a slow or busy machine slows both and does not break it. Because it compares two
  noisy tails, its breach needs the canary to be *shown* slower: its p99 above the limit **and**
  more of its requests above the limit than a canary as fast as production gives by chance
  (binomial test against the 1 % a p99 leaves above it, at ``RELATIVE_LATENCY_ALPHA``); a p99
  above the limit without that is missing evidence, not a rollback;
* metric drop at most ``max_metric_drop`` (labels needed in both arms): the upper bound of the
  drop in accuracy, a non-inferiority test whose power the result reports;
* shadow agreement at least ``min_agreement``: the Clopper-Pearson lower bound of the agreement.

Every result is a frozen dataclass whose ``as_dict()`` holds only JSON types (no numpy scalars,
no NaN or infinity), because services store it as-is in ``ReleaseAnalysis.results``.
Bad input raises ``ValueError`` with a message that says what to change: the caller shows it as
given.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any, cast

import numpy as np
from scipy import stats

SHADOW_PROBLEM_TYPES: tuple[str, ...] = ("binary_classification", "multiclass_classification", "regression")
DIFFERENCE_QUANTILES: dict[str, float] = {
    "p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95, "p99": 0.99,
}
HISTOGRAM_BINS = 20
# SRM is checked on every test, so its alpha is strict: a false alarm would send engineers hunting
# for a bug in the traffic split that is not there.
SRM_ALPHA = 0.001
#: One-sided confidence of the bounds a "passed" verdict rests on.
EVIDENCE_CONFIDENCE = 0.95
#: The power a metric guardrail's sample is planned for.
PLANNED_POWER = 0.8
#: How sure a relative latency breach must be that the canary is slower than production: strict,
#: as for SRM, because a false alarm rolls a good challenger back on a busy machine's noise.
RELATIVE_LATENCY_ALPHA = 0.001
# Guardrails are compared with this much slack so that a value equal to its limit on paper
# (0.91 - 0.89 against a 0.02 drop) does not count as a breach through float rounding.
_LIMIT_SLACK = 1e-12


def _jsonable(value: Any) -> Any:
    """Plain JSON types only: a JSON column (and the audit payload hashed from it) must not hold
    numpy scalars or tuples that reload as lists and then compare unequal."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


class _AsDict:
    """``as_dict()`` for the result dataclasses below (nested results become nested dicts)."""

    def as_dict(self) -> dict[str, Any]:
        return cast(dict[str, Any], _jsonable(dataclasses.asdict(cast(Any, self))))


def _exceeds(value: float, limit: float) -> bool:
    return value > limit + _LIMIT_SLACK


def _falls_short(value: float, limit: float) -> bool:
    return value < limit - _LIMIT_SLACK


def _values(values: Sequence[float], name: str, *, min_n: int = 1) -> np.ndarray:
    """``values`` as a 1-D float array, refusing what would make every statistic meaningless."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers; convert or drop the non-numeric entries.") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat list of numbers, one per request or row.")
    if array.size < min_n:
        raise ValueError(
            f"{name} needs at least {min_n} value(s), got {array.size}; collect more data first."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; drop or fix those rows first.")
    return array


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be a whole number (a count), got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} cannot be negative, got {value}.")
    return int(value)


def _open_unit(value: float, name: str) -> float:
    """A share, alpha or power: the formulas divide by it or by one minus it."""
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}.")
    return float(value)


def _positive(value: float, name: str) -> float:
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def _percent(share: float, digits: int = 1) -> str:
    return f"{100.0 * share:.{digits}f}%"


# ---------------------------------------------------------------------------------------------
# Evidence: the bounds a "passed" verdict needs


def proportion_upper(successes: int, n: int, confidence: float = EVIDENCE_CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound of a rate (exact, so right for 0 of 44 as well)."""
    if successes >= n:
        return 1.0
    return float(stats.beta.ppf(confidence, successes + 1, n - successes))


def proportion_lower(successes: int, n: int, confidence: float = EVIDENCE_CONFIDENCE) -> float:
    """One-sided Clopper-Pearson lower bound of a rate."""
    if successes <= 0:
        return 0.0
    return float(stats.beta.ppf(1.0 - confidence, successes, n - successes + 1))


def requests_for_zero_errors(limit: float, confidence: float = EVIDENCE_CONFIDENCE) -> int | None:
    """Requests without a single error that show the error rate is at most ``limit``; None for a
    limit of 0, which no sample can show."""
    if limit <= 0:
        return None
    if limit >= 1:
        return 1
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(1.0 - limit) - 1e-9))


def requests_for_p99(confidence: float = EVIDENCE_CONFIDENCE) -> int:
    """The fewest requests whose largest latency is a ``confidence`` upper bound of the p99."""
    return math.ceil(math.log(1.0 - confidence) / math.log(0.99) - 1e-9)


def p99_upper(latencies_ms: Sequence[float], confidence: float = EVIDENCE_CONFIDENCE) -> float | None:
    """A distribution-free upper bound of the p99: the k-th smallest latency, for the smallest k
    with P(Binomial(n, 0.99) < k) >= confidence; None when even the largest is not one."""
    ordered = np.sort(np.asarray(latencies_ms, dtype=float))
    n = ordered.size
    if n == 0:
        return None
    k = int(stats.binom.ppf(confidence, n, 0.99)) + 1  # smallest k with cdf(k - 1) >= confidence
    while k > 1 and stats.binom.cdf(k - 2, n, 0.99) >= confidence:
        k -= 1
    while k <= n and stats.binom.cdf(k - 1, n, 0.99) < confidence:
        k += 1
    return float(ordered[k - 1]) if k <= n else None


def _requests_for_rate_above(observed: float, minimum: float, confidence: float = EVIDENCE_CONFIDENCE) -> int | None:
    """About how many requests, at the observed rate, show it is at least ``minimum``."""
    if observed <= minimum:
        return None
    low, high = 1, 1
    while proportion_lower(round(observed * high), high, confidence) < minimum:
        high *= 2
        if high > 10**8:
            return None
    while low < high:
        mid = (low + high) // 2
        if proportion_lower(round(observed * mid), mid, confidence) >= minimum:
            high = mid
        else:
            low = mid + 1
    return high


# ---------------------------------------------------------------------------------------------
# Latency


@dataclass(frozen=True)
class LatencySummary(_AsDict):
    """Tail latency, because an SLA is broken by the slowest requests, not the average one."""

    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float


def latency_summary(latencies_ms: Sequence[float]) -> LatencySummary:
    """Percentiles use linear interpolation (numpy's default), so small samples still give a p99."""
    return _latency(latencies_ms, "latencies_ms")


def _latency(latencies_ms: Sequence[float], name: str) -> LatencySummary:
    array = _values(latencies_ms, name)
    if np.any(array < 0):
        raise ValueError(f"{name} contains negative durations; check the clock used to time requests.")
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return LatencySummary(
        n=int(array.size),
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        mean_ms=float(array.mean()),
    )


# ---------------------------------------------------------------------------------------------
# Shadow


@dataclass(frozen=True)
class ShadowAnalysis(_AsDict):
    """How a shadow model's answers and speed compare with production's on the same requests.

    For multiclass labels a numeric difference means nothing (class 3 is not "2 more" than
    class 1), so there the differences are disagreement indicators: 1.0 where the labels differ,
    0.0 where they match, and ``mean_abs_difference`` is the disagreement rate.
    """

    n: int
    agreement_rate: float
    mean_abs_difference: float
    difference_quantiles: dict[str, float]
    histogram: list[tuple[float, float, int]]
    primary_latency: LatencySummary
    shadow_latency: LatencySummary
    verdict: str
    reasons: tuple[str, ...]
    missing: tuple[str, ...] = ()
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)


def shadow_analysis(
    primary_scores: Sequence[Any],
    shadow_scores: Sequence[Any],
    primary_latency_ms: Sequence[float],
    shadow_latency_ms: Sequence[float],
    *,
    problem_type: str = "binary_classification",
    threshold: float = 0.5,
    min_agreement: float = 0.9,
    max_latency_p99_ms: float | None = 50.0,
    tolerance: float = 0.0,
) -> ShadowAnalysis:
    """Compare the shadow's outputs with production's, row by row, and check its tail latency.

    Binary: scores are positive-class probabilities and the decision is ``score >= threshold``
    (the decisions must agree; the scores give the differences). Multiclass: scores are labels.
    Regression: values agree when ``|shadow - primary| <= tolerance``. The latency lists may
    differ in length from the scores (timings can be sampled separately).

    The verdict is "failed" when a point value breaks a limit, "inconclusive" when none does but
    the sample cannot show it (the lower bound of the agreement or the upper bound of the p99 is
    on the wrong side), with ``missing`` saying what more it needs, else "passed".

    ``max_latency_p99_ms`` None judges the shadow on its answers alone (its timings are still
    summarised): a shadow's latency is its background batch's time, and a caller may leave the
    latency question to the canary, where the challenger answers requests itself.
    """
    if problem_type not in SHADOW_PROBLEM_TYPES:
        raise ValueError(
            f"Shadow analysis does not know problem type {problem_type!r}; use one of "
            f"{', '.join(SHADOW_PROBLEM_TYPES)} "
            "(compare other numeric outputs as 'regression' with a tolerance)."
        )
    if not 0.0 <= min_agreement <= 1.0:
        raise ValueError(f"min_agreement is a share and must be between 0 and 1, got {min_agreement!r}.")
    if max_latency_p99_ms is not None:
        _positive(max_latency_p99_ms, "max_latency_p99_ms")
    if len(primary_scores) != len(shadow_scores):
        raise ValueError(
            f"primary_scores has {len(primary_scores)} rows and shadow_scores {len(shadow_scores)}; "
            "pass both models' outputs for the same requests, in the same order."
        )
    if len(primary_scores) == 0:
        raise ValueError("Shadow analysis needs at least one request scored by both models.")

    if problem_type == "multiclass_classification":
        primary_labels = np.asarray(primary_scores, dtype=object)
        shadow_labels = np.asarray(shadow_scores, dtype=object)
        if primary_labels.ndim != 1 or shadow_labels.ndim != 1:
            raise ValueError(
                "Multiclass shadow analysis takes one predicted label per request for each model."
            )
        agree = primary_labels == shadow_labels
        differences = (~agree).astype(float)
    else:
        primary = _values(primary_scores, "primary_scores")
        shadow = _values(shadow_scores, "shadow_scores")
        differences = shadow - primary
        if problem_type == "binary_classification":
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold must be a probability between 0 and 1, got {threshold!r}.")
            for name, scores in (("primary_scores", primary), ("shadow_scores", shadow)):
                if np.any((scores < 0) | (scores > 1)):
                    raise ValueError(
                        f"{name} are not probabilities (outside 0..1); pass positive-class probabilities, "
                        "or use problem_type='regression' with a tolerance for raw scores."
                    )
            agree = (primary >= threshold) == (shadow >= threshold)
        else:
            if not (math.isfinite(tolerance) and tolerance >= 0):
                raise ValueError(f"tolerance must be zero or a positive number, got {tolerance!r}.")
            agree = np.abs(differences) <= tolerance

    primary_latency = _latency(primary_latency_ms, "primary_latency_ms")
    shadow_latency = _latency(shadow_latency_ms, "shadow_latency_ms")
    agreement_rate = float(np.mean(agree))
    quantiles = np.quantile(differences, list(DIFFERENCE_QUANTILES.values()))
    counts, edges = np.histogram(differences, bins=HISTOGRAM_BINS)
    histogram = [(float(edges[i]), float(edges[i + 1]), int(counts[i])) for i in range(HISTOGRAM_BINS)]

    reasons: list[str] = []
    if _falls_short(agreement_rate, min_agreement):
        reasons.append(
            f"agreement {_percent(agreement_rate)} < {_percent(min_agreement)} minimum "
            f"({int(np.sum(~agree))} of {agree.size} requests differ)"
        )
    if max_latency_p99_ms is not None and _exceeds(shadow_latency.p99_ms, max_latency_p99_ms):
        reasons.append(
            f"shadow latency p99 {shadow_latency.p99_ms:.1f} ms > {max_latency_p99_ms:.1f} ms limit "
            f"(production p99 {primary_latency.p99_ms:.1f} ms)"
        )
    agreed = int(np.sum(agree))
    agreement_lower = proportion_lower(agreed, int(agree.size))
    latency_bound = p99_upper(shadow_latency_ms)
    missing: list[str] = []
    if not reasons and _falls_short(agreement_lower, min_agreement):
        needed = _requests_for_rate_above(agreement_rate, min_agreement)
        missing.append(
            f"requests: the agreement's 95% lower bound {_percent(agreement_lower)} on {agree.size} requests is "
            f"below the {_percent(min_agreement)} minimum"
            + (f"; about {needed:,} requests at this agreement would show it" if needed else "")
        )
    if max_latency_p99_ms is None:
        pass  # no latency guardrail: nothing to show about the tail
    elif not reasons and latency_bound is None:
        missing.append(
            f"requests: {shadow_latency.n} timed shadow requests, {requests_for_p99()} needed for a 95% upper "
            "bound of the p99 latency"
        )
    elif not reasons and _exceeds(latency_bound, max_latency_p99_ms):  # type: ignore[arg-type]
        missing.append(
            f"latency: the p99's 95% upper bound {latency_bound:.1f} ms is above the {max_latency_p99_ms:.1f} ms "
            f"limit (p99 {shadow_latency.p99_ms:.1f} ms on {shadow_latency.n} requests)"
        )
    return ShadowAnalysis(
        n=int(agree.size),
        agreement_rate=agreement_rate,
        mean_abs_difference=float(np.mean(np.abs(differences))),
        difference_quantiles={key: float(q) for key, q in zip(DIFFERENCE_QUANTILES, quantiles, strict=True)},
        histogram=histogram,
        primary_latency=primary_latency,
        shadow_latency=shadow_latency,
        verdict="failed" if reasons else ("inconclusive" if missing else "passed"),
        reasons=tuple(reasons),
        missing=tuple(missing),
        evidence={"confidence": EVIDENCE_CONFIDENCE, "agreement_lower": agreement_lower,
                  "latency_p99_upper_ms": latency_bound, "requests_for_p99": requests_for_p99()},
    )


# ---------------------------------------------------------------------------------------------
# Two proportions (shared by the canary's error rates and the A/B conversion test)


@dataclass(frozen=True)
class _TwoProportions:
    rate_a: float
    rate_b: float
    difference: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float


def _two_proportions(successes_a: int, n_a: int, successes_b: int, n_b: int, alpha: float) -> _TwoProportions:
    """z-test with the pooled SE (the null says both rates are equal, so estimate one rate), and a
    Wald interval with the unpooled SE (the interval describes rates that may differ).

    When both arms are all-0 or all-1 the pooled SE is zero and the rates are identical: the
    statistic is 0 and the p-value 1, rather than the NaN that would not fit a JSON column.
    """
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    difference = rate_b - rate_a
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se_pooled = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    statistic = difference / se_pooled if se_pooled > 0 else 0.0
    p_value = float(min(1.0, 2.0 * stats.norm.sf(abs(statistic))))
    se = math.sqrt(rate_a * (1.0 - rate_a) / n_a + rate_b * (1.0 - rate_b) / n_b)
    half_width = float(stats.norm.ppf(1.0 - alpha / 2.0)) * se
    return _TwoProportions(
        rate_a=rate_a,
        rate_b=rate_b,
        difference=difference,
        statistic=float(statistic),
        p_value=p_value,
        ci_low=difference - half_width,
        ci_high=difference + half_width,
    )


# ---------------------------------------------------------------------------------------------
# Latency relative to production


@dataclass(frozen=True)
class RelativeLatency(_AsDict):
    """An arm's p99 against ``ratio`` × production's p99 over the same window, with the test that
    tells a slower model from a busy machine's noise (see the module's notes).

    ``above`` of ``n`` requests took longer than ``limit_ms``; a model as fast as production
    leaves about 1 % there, so ``p_value`` is P(Binomial(n, 0.01) >= above).
    """

    ratio: float
    baseline_p99_ms: float
    limit_ms: float
    p99_ms: float
    n: int
    above: int
    p_value: float
    alpha: float
    above_limit: bool  # the point p99 is above the limit
    slower: bool  # above the limit and shown so: a breach
    floor_ms: float = 0.0  # the limit is never below this

    def describe(self) -> str:
        limit = f"{self.ratio:g}× production's p99 {self.baseline_p99_ms:.1f} ms"
        if self.floor_ms:
            limit = f"the larger of {limit} and {self.floor_ms:g} ms"
        return (f"p99 {self.p99_ms:.1f} ms against {limit} = {self.limit_ms:.1f} ms; {self.above} of {self.n} "
                f"requests above it (p = {self.p_value:.3g})")


def relative_latency(latencies_ms: Sequence[float], baseline_ms: Sequence[float], ratio: float,
                     alpha: float = RELATIVE_LATENCY_ALPHA, floor_ms: float = 0.0) -> RelativeLatency:
    """Judge ``latencies_ms`` against ``ratio`` × the p99 of ``baseline_ms`` (production's
    requests in the same window), or ``floor_ms`` when that is larger: on a quiet machine both
    arms answer in a few milliseconds, where a scheduler hiccup on a handful of requests is a
    larger ratio than any model difference a person would roll back for."""
    ratio = _positive(ratio, "max_latency_p99_ratio")
    arm = _values(latencies_ms, "latencies_ms")
    baseline = _latency(baseline_ms, "production latencies_ms")
    limit = max(ratio * baseline.p99_ms, floor_ms)
    p99 = float(np.percentile(arm, 99))
    above = int(np.sum(arm > limit + _LIMIT_SLACK))
    p_value = float(stats.binom.sf(above - 1, arm.size, 0.01)) if above else 1.0
    above_limit = _exceeds(p99, limit)
    return RelativeLatency(ratio=ratio, baseline_p99_ms=baseline.p99_ms, limit_ms=limit, p99_ms=p99, n=int(arm.size),
                           above=above, p_value=p_value, alpha=alpha, above_limit=above_limit,
                           slower=above_limit and p_value < alpha, floor_ms=floor_ms)


# ---------------------------------------------------------------------------------------------
# Canary


@dataclass(frozen=True)
class CanaryArm:
    """What one arm of a canary served: requests, failed requests, their latencies, and a quality
    metric (for example accuracy on the rows whose labels have arrived) when there is one."""

    n_requests: int
    n_errors: int
    latencies_ms: Sequence[float]
    metric: float | None = None
    n_labelled: int = 0  # requests whose label has arrived: the metric is their share of right answers

    def __post_init__(self) -> None:
        # Checked here so that a bad arm fails where it is built, not deep inside the analysis.
        n_requests = _count(self.n_requests, "n_requests")
        n_errors = _count(self.n_errors, "n_errors")
        n_labelled = _count(self.n_labelled, "n_labelled")
        if n_labelled > n_requests:
            raise ValueError(f"n_labelled ({n_labelled}) cannot exceed n_requests ({n_requests}).")
        if n_requests == 0:
            raise ValueError("A canary arm with zero requests has no error rate; let it serve traffic first.")
        if n_errors > n_requests:
            raise ValueError(f"n_errors ({n_errors}) cannot exceed n_requests ({n_requests}).")
        if self.metric is not None and not (
            isinstance(self.metric, (int, float, np.number)) and math.isfinite(self.metric)
        ):
            raise ValueError(f"metric must be a finite number or None, got {self.metric!r}.")
        _latency(self.latencies_ms, "latencies_ms")


@dataclass(frozen=True)
class Guardrails:
    """Limits a canary must stay within; crossing any one of them means roll back.

    ``max_metric_drop`` None means the canary has no label-based guardrail (a problem type whose
    answers are not right or wrong, such as regression). ``max_latency_p99_ms`` None means no
    absolute latency limit; ``max_latency_p99_ratio`` (None: none) limits the canary's p99 to
    that multiple of production's p99 over the same window (see the module's notes), but never
    below ``latency_floor_ms``.
    """

    max_error_rate: float = 0.01
    max_latency_p99_ms: float | None = 50.0
    max_metric_drop: float | None = 0.02
    max_latency_p99_ratio: float | None = None
    latency_floor_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_error_rate < 1.0:
            raise ValueError(f"max_error_rate is a share and must be in [0, 1), got {self.max_error_rate!r}.")
        if self.max_latency_p99_ms is not None:
            _positive(self.max_latency_p99_ms, "max_latency_p99_ms")
        if self.max_latency_p99_ratio is not None:
            _positive(self.max_latency_p99_ratio, "max_latency_p99_ratio")
        if self.max_metric_drop is not None and not (
                math.isfinite(self.max_metric_drop) and self.max_metric_drop >= 0):
            raise ValueError(f"max_metric_drop must be zero or positive, got {self.max_metric_drop!r}.")


@dataclass(frozen=True)
class CanaryAnalysis(_AsDict):
    """Per-arm figures, the guardrails breached, and whether to roll back.

    ``error_rate_test`` (canary vs production, two-proportion z-test) is for information only:
    the error-rate guardrail is absolute, because a canary is too small to wait for significance.
    """

    production: dict[str, Any]
    canary: dict[str, Any]
    breaches: tuple[str, ...]
    rollback: bool
    verdict: str
    error_rate_test: dict[str, float]
    missing: tuple[str, ...] = ()
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    relative_latency: dict[str, Any] | None = None  # RelativeLatency.as_dict() with a ratio guardrail


def _arm_figures(arm: CanaryArm) -> dict[str, Any]:
    return {
        "n_requests": int(arm.n_requests),
        "n_errors": int(arm.n_errors),
        "error_rate": arm.n_errors / arm.n_requests,
        "latency": latency_summary(arm.latencies_ms).as_dict(),
        "metric": None if arm.metric is None else float(arm.metric),
        "n_labelled": int(arm.n_labelled),
    }


def canary_analysis(
    production: CanaryArm, canary: CanaryArm, guardrails: Guardrails = Guardrails()
) -> CanaryAnalysis:
    """Judge the canary against the guardrails; each breach names its guardrail and the numbers.

    A breach (a point value over its limit) fails the canary and rolls it back. Without a breach
    the canary passes only when every guardrail is also shown to hold (see the module's notes);
    otherwise it is "inconclusive" and ``missing`` names each guardrail that lacks evidence:
    requests, labels, or the power its labelled sample reached. A metric guardrail with no labels
    in an arm is missing evidence, never a pass.
    """
    prod, can = _arm_figures(production), _arm_figures(canary)
    test = _two_proportions(
        production.n_errors, production.n_requests, canary.n_errors, canary.n_requests, 0.05
    )
    breaches: list[str] = []
    if _exceeds(can["error_rate"], guardrails.max_error_rate):
        breaches.append(
            # Two decimals: error-rate limits are often fractions of a percent.
            f"error rate {_percent(can['error_rate'], 2)} > {_percent(guardrails.max_error_rate, 2)} "
            f"(max_error_rate); production {_percent(prod['error_rate'], 2)}, "
            f"two-proportion p = {test.p_value:.3g}"
        )
    canary_p99 = can["latency"]["p99_ms"]
    if guardrails.max_latency_p99_ms is not None and _exceeds(canary_p99, guardrails.max_latency_p99_ms):
        breaches.append(
            f"latency p99 {canary_p99:.1f} ms > {guardrails.max_latency_p99_ms:.1f} ms (max_latency_p99_ms); "
            f"production p99 {prod['latency']['p99_ms']:.1f} ms"
        )
    relative = (None if guardrails.max_latency_p99_ratio is None else
                relative_latency(canary.latencies_ms, production.latencies_ms, guardrails.max_latency_p99_ratio,
                                 floor_ms=guardrails.latency_floor_ms))
    if relative is not None and relative.slower:
        breaches.append(f"latency {relative.describe()} (max_latency_p99_ratio)")
    max_drop = guardrails.max_metric_drop
    if max_drop is not None and prod["metric"] is not None and can["metric"] is not None:
        drop = prod["metric"] - can["metric"]
        if _exceeds(drop, max_drop):
            breaches.append(
                f"metric drop {drop:.4g} > {max_drop:.4g} (max_metric_drop); "
                f"production {prod['metric']:.4g}, canary {can['metric']:.4g}"
            )
    missing, evidence = _canary_evidence(production, canary, guardrails, prod, can, relative)
    return CanaryAnalysis(
        production=prod,
        canary=can,
        breaches=tuple(breaches),
        rollback=bool(breaches),
        verdict="failed" if breaches else ("inconclusive" if missing else "passed"),
        missing=() if breaches else tuple(missing),
        evidence=evidence,
        error_rate_test={
            "difference": test.difference,
            "statistic": test.statistic,
            "p_value": test.p_value,
            "ci_low": test.ci_low,
            "ci_high": test.ci_high,
            "alpha": 0.05,
        },
        relative_latency=None if relative is None else relative.as_dict(),
    )


def _canary_evidence(production: CanaryArm, canary: CanaryArm, guardrails: Guardrails,
                     prod: dict[str, Any], can: dict[str, Any],
                     relative: RelativeLatency | None = None) -> tuple[list[str], dict[str, Any]]:
    """What a "passed" canary would need that this one lacks, and the bounds it was judged on."""
    missing: list[str] = []
    n = canary.n_requests
    error_upper = proportion_upper(canary.n_errors, n)
    needed = requests_for_zero_errors(guardrails.max_error_rate)
    if _exceeds(error_upper, guardrails.max_error_rate):
        if needed is None:
            why = "a limit of 0 cannot be shown by any sample: allow a small error rate"
        elif canary.n_errors == 0:
            why = f"{needed:,} requests without an error would show it"
        else:
            why = "more requests at this error rate would show it, or the rate is above the limit"
        missing.append(
            f"requests: {n:,} canary requests with {canary.n_errors} error(s) put the error rate's 95% upper "
            f"bound at {_percent(error_upper, 2)}, above the {_percent(guardrails.max_error_rate, 2)} limit; {why}"
        )
    latency_bound = p99_upper(canary.latencies_ms)
    limits = [] if guardrails.max_latency_p99_ms is None else [(guardrails.max_latency_p99_ms, "")]
    if relative is not None:
        limits.append((relative.limit_ms, f" ({relative.ratio:g}× production's p99 "
                                          f"{relative.baseline_p99_ms:.1f} ms)"))
    if limits and latency_bound is None:
        missing.append(f"requests: {can['latency']['n']:,} timed canary requests, {requests_for_p99()} needed "
                       "for a 95% upper bound of the p99 latency")
    elif limits:
        for limit, why in limits:
            if _exceeds(latency_bound, limit):  # type: ignore[arg-type]
                missing.append(f"latency: the p99's 95% upper bound {latency_bound:.1f} ms is above the "
                               f"{limit:.1f} ms limit{why} (p99 {can['latency']['p99_ms']:.1f} ms)")
    if relative is not None and relative.above_limit and not relative.slower:
        missing.append(f"latency: {relative.describe()}: not shown slower than production (a canary as fast "
                       f"gives that by chance), nor shown to hold")
    evidence: dict[str, Any] = {
        "confidence": EVIDENCE_CONFIDENCE, "error_rate_upper": error_upper, "requests_for_error_rate": needed,
        "latency_p99_upper_ms": latency_bound, "requests_for_p99": requests_for_p99(),
    }
    if guardrails.max_metric_drop is not None:
        evidence.update(_metric_evidence(production, canary, guardrails.max_metric_drop, missing))
    return missing, evidence


def _metric_evidence(production: CanaryArm, canary: CanaryArm, margin: float,
                     missing: list[str]) -> dict[str, Any]:
    """Non-inferiority of the canary's accuracy: the 95% upper bound of the drop must be within
    ``margin``. Reports the power the labelled sample has to show that when there is no drop, and
    the labelled canary requests that would give ``PLANNED_POWER``."""
    unlabelled = [name for name, arm in (("canary", canary), ("production", production))
                  if arm.metric is None or arm.n_labelled == 0]
    if unlabelled:
        missing.append(f"labels: no labelled {' or '.join(unlabelled)} requests, so the metric guardrail "
                       f"(a drop of at most {margin:.4g}) is unchecked; label the logged requests first")
        return {"labelled": {"production": production.n_labelled, "canary": canary.n_labelled}}
    n_p, n_c = production.n_labelled, canary.n_labelled
    # Shares smoothed by one success and one failure, so an arm that got everything right still has
    # a variance (0 of 44 wrong is not proof of a perfect model).
    p_p = (float(production.metric) * n_p + 1) / (n_p + 2)  # type: ignore[arg-type]
    p_c = (float(canary.metric) * n_c + 1) / (n_c + 2)  # type: ignore[arg-type]
    se = math.sqrt(p_p * (1 - p_p) / n_p + p_c * (1 - p_c) / n_c)
    z = float(stats.norm.ppf(EVIDENCE_CONFIDENCE))
    drop = float(production.metric) - float(canary.metric)  # type: ignore[arg-type]
    upper = drop + z * se
    power = float(stats.norm.cdf(margin / se - z)) if margin > 0 else 0.0
    ratio = n_p / n_c
    pooled = (p_p * n_p + p_c * n_c) / (n_p + n_c)
    z_power = float(stats.norm.ppf(PLANNED_POWER))
    needed = (math.ceil(pooled * (1 - pooled) * (1 + 1 / ratio) * (z + z_power) ** 2 / margin**2)
              if margin > 0 else None)
    if _exceeds(upper, margin):
        missing.append(
            f"power: {n_c:,} labelled canary and {n_p:,} production requests put the accuracy drop's 95% upper "
            f"bound at {upper:.4g}, above the {margin:.4g} limit; the power to show a drop within it was "
            f"{power:.0%}" + (f", about {needed:,} labelled canary requests would give {PLANNED_POWER:.0%}"
                              if needed else "")
        )
    return {"labelled": {"production": n_p, "canary": n_c}, "metric_drop_upper": upper, "power": power,
            "labelled_canary_needed": needed}


# ---------------------------------------------------------------------------------------------
# A/B tests


@dataclass(frozen=True)
class SampleRatioMismatch(_AsDict):
    """Whether the split between the arms is what the experiment was set up to deliver.

    A mismatch means the assignment or the logging is broken, and the A/B result cannot be
    trusted however significant it looks.
    """

    expected_share_b: float
    observed_share_b: float
    chi2: float
    p_value: float
    mismatch: bool
    alpha: float = SRM_ALPHA


def sample_ratio_mismatch(
    n_a: int, n_b: int, *, expected_share_b: float = 0.5, alpha: float = SRM_ALPHA
) -> SampleRatioMismatch:
    """Chi-square goodness of fit of the observed counts to the expected split (1 degree of freedom)."""
    n_a, n_b = _count(n_a, "n_a"), _count(n_b, "n_b")
    expected_share_b = _open_unit(expected_share_b, "expected_share_b")
    alpha = _open_unit(alpha, "alpha")
    total = n_a + n_b
    if total == 0:
        raise ValueError("Both arms are empty; a sample ratio check needs assigned users or requests.")
    expected_a, expected_b = total * (1.0 - expected_share_b), total * expected_share_b
    chi2 = (n_a - expected_a) ** 2 / expected_a + (n_b - expected_b) ** 2 / expected_b
    p_value = float(stats.chi2.sf(chi2, df=1))
    return SampleRatioMismatch(
        expected_share_b=expected_share_b,
        observed_share_b=n_b / total,
        chi2=float(chi2),
        p_value=p_value,
        mismatch=p_value < alpha,
        alpha=alpha,
    )


@dataclass(frozen=True)
class ABTest(_AsDict):
    """An A/B comparison of B (challenger) against A (control); ``difference`` is B − A.

    ``power`` is the power the sample size was computed for (None without an ``mde``), and
    ``relative_lift`` is the difference over |mean A| (None when mean A is 0).
    """

    test: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    relative_lift: float | None
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    alpha: float
    significant: bool
    srm: SampleRatioMismatch
    required_n_per_arm: int | None
    mde: float | None
    power: float | None


def _relative_lift(difference: float, mean_a: float) -> float | None:
    return difference / abs(mean_a) if mean_a != 0 else None


def _ceil(value: float) -> int:
    # A result that is a whole number on paper can come out as n + 1e-12 in floating point.
    return max(1, math.ceil(value - 1e-9))


def sample_size_proportions(
    baseline_rate: float, mde: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users per arm to detect an absolute lift ``mde`` over ``baseline_rate`` (two-sided).

    The usual formula without continuity correction: the alpha term uses the pooled variance
    (the null's), the power term the two rates' own variances (the alternative's).
    """
    if not 0.0 <= baseline_rate < 1.0:
        raise ValueError(f"baseline_rate is a conversion rate and must be in [0, 1), got {baseline_rate!r}.")
    mde = _positive(mde, "mde")
    alpha, power = _open_unit(alpha, "alpha"), _open_unit(power, "power")
    p1, p2 = float(baseline_rate), float(baseline_rate) + mde
    if p2 >= 1.0:
        raise ValueError(
            f"baseline_rate + mde = {p2:.4g} is not a rate below 1; mde is an absolute lift "
            f"(0.02 means {baseline_rate:.4g} -> {baseline_rate + 0.02:.4g}), so choose a smaller one."
        )
    z_alpha, z_beta = stats.norm.ppf(1.0 - alpha / 2.0), stats.norm.ppf(power)
    p_bar = (p1 + p2) / 2.0
    null_sd = math.sqrt(2.0 * p_bar * (1.0 - p_bar))
    alternative_sd = math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
    return _ceil((z_alpha * null_sd + z_beta * alternative_sd) ** 2 / mde**2)


def sample_size_means(sd: float, mde: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Units per arm to detect a difference ``mde`` in means with standard deviation ``sd`` in each
    arm (two-sided, normal approximation): 2 (z_alpha/2 + z_beta)^2 sd^2 / mde^2."""
    sd, mde = _positive(sd, "sd"), _positive(mde, "mde")
    alpha, power = _open_unit(alpha, "alpha"), _open_unit(power, "power")
    z_alpha, z_beta = stats.norm.ppf(1.0 - alpha / 2.0), stats.norm.ppf(power)
    return _ceil(2.0 * (z_alpha + z_beta) ** 2 * sd**2 / mde**2)


def ab_test_proportions(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    *,
    alpha: float = 0.05,
    expected_share_b: float = 0.5,
    mde: float | None = None,
    power: float = 0.8,
) -> ABTest:
    """Two-proportion z-test of B's conversion rate against A's, with the SRM check and, given an
    ``mde``, the sample size per arm the test needed (with A's observed rate as the baseline)."""
    successes_a, n_a = _count(successes_a, "successes_a"), _count(n_a, "n_a")
    successes_b, n_b = _count(successes_b, "successes_b"), _count(n_b, "n_b")
    if n_a == 0 or n_b == 0:
        raise ValueError(f"Each arm needs at least one user (n_a={n_a}, n_b={n_b}); run the test longer.")
    if successes_a > n_a or successes_b > n_b:
        raise ValueError(
            f"Successes cannot exceed users (A: {successes_a}/{n_a}, B: {successes_b}/{n_b}); "
            "count each user at most once."
        )
    alpha, power = _open_unit(alpha, "alpha"), _open_unit(power, "power")
    srm = sample_ratio_mismatch(n_a, n_b, expected_share_b=expected_share_b)
    required = (
        None if mde is None else sample_size_proportions(successes_a / n_a, mde, alpha=alpha, power=power)
    )
    test = _two_proportions(successes_a, n_a, successes_b, n_b, alpha)
    return ABTest(
        test="two_proportion_z",
        n_a=n_a,
        n_b=n_b,
        mean_a=test.rate_a,
        mean_b=test.rate_b,
        difference=test.difference,
        relative_lift=_relative_lift(test.difference, test.rate_a),
        ci_low=test.ci_low,
        ci_high=test.ci_high,
        statistic=test.statistic,
        p_value=test.p_value,
        alpha=alpha,
        significant=test.p_value < alpha,
        srm=srm,
        required_n_per_arm=required,
        mde=None if mde is None else float(mde),
        power=None if mde is None else power,
    )


def ab_test_means(
    values_a: Sequence[float],
    values_b: Sequence[float],
    *,
    alpha: float = 0.05,
    expected_share_b: float = 0.5,
    mde: float | None = None,
    power: float = 0.8,
) -> ABTest:
    """Welch's t-test of B's mean against A's (no equal-variance assumption: a new model often
    changes the spread as well as the mean), with a t interval on Welch–Satterthwaite df.

    The sample size for an ``mde`` uses the root mean of the two sample variances as ``sd``, so
    it plans for the variance of the difference this test actually faces.
    """
    a = _values(values_a, "values_a", min_n=2)
    b = _values(values_b, "values_b", min_n=2)
    alpha, power = _open_unit(alpha, "alpha"), _open_unit(power, "power")
    n_a, n_b = int(a.size), int(b.size)
    # An arm whose values are all equal has no variance, even when rounding in var() says 1e-37.
    var_a = 0.0 if np.ptp(a) == 0 else float(a.var(ddof=1))
    var_b = 0.0 if np.ptp(b) == 0 else float(b.var(ddof=1))
    se_a2, se_b2 = var_a / n_a, var_b / n_b
    se = math.sqrt(se_a2 + se_b2)
    if se == 0:
        raise ValueError(
            "The values show no variation within either arm (all equal, or differences too small "
            "to measure), so there is nothing to test; check that the metric is recorded per user or request."
        )
    if not math.isfinite(se):
        raise ValueError(
            "The values are too large to square without overflow; rescale them (for example to thousands)."
        )
    mean_a, mean_b = float(a.mean()), float(b.mean())
    difference = mean_b - mean_a
    df = (se_a2 + se_b2) ** 2 / (se_a2**2 / (n_a - 1) + se_b2**2 / (n_b - 1))
    statistic = difference / se
    p_value = float(min(1.0, 2.0 * stats.t.sf(abs(statistic), df)))
    half_width = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
    srm = sample_ratio_mismatch(n_a, n_b, expected_share_b=expected_share_b)
    required = (
        None
        if mde is None
        else sample_size_means(math.sqrt((var_a + var_b) / 2.0), mde, alpha=alpha, power=power)
    )
    return ABTest(
        test="welch_t",
        n_a=n_a,
        n_b=n_b,
        mean_a=mean_a,
        mean_b=mean_b,
        difference=difference,
        relative_lift=_relative_lift(difference, mean_a),
        ci_low=difference - half_width,
        ci_high=difference + half_width,
        statistic=float(statistic),
        p_value=p_value,
        alpha=alpha,
        significant=p_value < alpha,
        srm=srm,
        required_n_per_arm=required,
        mde=None if mde is None else float(mde),
        power=None if mde is None else power,
    )
