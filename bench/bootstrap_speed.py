"""How long does the paired bootstrap behind every run comparison take? (6,000 rows, 1,000
resamples, ROC AUC: the size of the demo's validation part)

- ``app.ml.comparison.paired_bootstrap``: resamples drawn in cache-sized blocks, both models'
  AUCs computed for a whole block at once in numpy;
- baseline: the obvious loop, ``sklearn.metrics.roc_auc_score`` for each model on each
  resample, over the same resamples (same seed, same draws), in the same run.

Both give the same percentile interval; the benchmark prints how far apart the two are, so a
faster path that drifted from the textbook computation would show.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

N_ROWS = 6_000
N_RESAMPLES = 1_000
REPEATS = 5
BASELINE_REPEATS = 2  # each loop takes seconds; two keep the benchmark short
SEED = 0
ALPHA = 0.05


def scores(n: int = N_ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 0/1 target and two models' scores, b a little better than a."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    return y, rng.random(n) * 0.7 + 0.3 * y, rng.random(n) * 0.6 + 0.4 * y


def loop_bootstrap(y: np.ndarray, sa: np.ndarray, sb: np.ndarray) -> list[float]:
    """The baseline: one resample at a time, scikit-learn's AUC for each model.

    Draws its resamples from the same seeded generator in the same order as
    ``paired_bootstrap`` (rows of one ``integers`` call per block are consecutive draws).
    """
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(SEED)
    n = y.shape[0]
    out = np.empty(N_RESAMPLES)
    for i in range(N_RESAMPLES):
        idx = rng.integers(0, n, size=n, dtype=np.int64)
        out[i] = roc_auc_score(y[idx], sb[idx]) - roc_auc_score(y[idx], sa[idx])
    low, high = np.percentile(out, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return [float(low), float(high)]


def main() -> None:
    from app.ml.comparison import paired_bootstrap

    y, sa, sb = scores()
    result = paired_bootstrap(y, sa, sb, "roc_auc", n_resamples=N_RESAMPLES, seed=SEED, alpha=ALPHA)  # warm-up
    ours = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = paired_bootstrap(y, sa, sb, "roc_auc", n_resamples=N_RESAMPLES, seed=SEED, alpha=ALPHA)
        ours.append(time.perf_counter() - started)
    loop = []
    for _ in range(BASELINE_REPEATS):
        started = time.perf_counter()
        baseline_ci = loop_bootstrap(y, sa, sb)
        loop.append(time.perf_counter() - started)
    o, b = statistics.median(ours), statistics.median(loop)
    gap = max(abs(x - z) for x, z in zip(result["ci"], baseline_ci))
    print(f"== paired bootstrap: {N_ROWS:,} rows, {N_RESAMPLES:,} resamples, roc_auc ==")
    print(f"paired_bootstrap              {o:7.3f} s  (median of {REPEATS})")
    print(f"baseline: roc_auc_score loop  {b:7.3f} s  (median of {BASELINE_REPEATS}), {b / o:.1f}x ours")
    print(f"95% CI ours [{result['ci'][0]:.5f}, {result['ci'][1]:.5f}], loop [{baseline_ci[0]:.5f}, "
          f"{baseline_ci[1]:.5f}], largest gap {gap:.1e}; undefined resamples {result['n_undefined']}")


if __name__ == "__main__":
    main()
