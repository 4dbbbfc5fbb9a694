"""The drift reference profile at scale: build time, serialise time, size and peak memory.

`python -m bench.drift_profile [--quick]` profiles a reference of 1M rows × 60 columns (50
continuous of several shapes with few ties, 10 categorical as text; `--quick`: 200k rows) with
the current design (``app.ml.drift_reference``: a seeded sample of at most ``SAMPLE_ROWS`` rows,
float32 where exact, byte planes deflated, written to a stream) and with the previous one
(``bench._profile_v1``: the whole CDF as raw float64/int64, assembled in memory by ``to_bytes``),
in the same run on the same data.

Peak memory is the data's own size plus the most memory traced (``tracemalloc``, which sees
numpy's and pandas' buffers) while the profile is built and serialised, as a multiple of the
data's size. Targets (issue 14): build ≤ 3 s, serialise ≤ 1 s, ≤ 100 MB, peak ≤ 2× the data.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FULL_ROWS = 1_000_000
QUICK_ROWS = 200_000
N_NUMERIC = 50
N_CATEGORICAL = 10


def make_reference(rows: int, seed: int = 14) -> tuple[pd.DataFrame, dict[str, str]]:
    """Continuous columns of ten shapes (normal, heavy-tailed, skewed, bounded, bimodal; scaled
    and shifted so no two are alike) and text categories of 3 to 40 levels with uneven shares."""
    rng = np.random.default_rng(seed)
    shapes: list[Callable[[int], np.ndarray]] = [
        lambda n: rng.normal(0.0, 1.0, n),
        lambda n: rng.exponential(1.0, n),
        lambda n: rng.gamma(2.0, 1.0, n),
        lambda n: rng.lognormal(0.0, 0.8, n),
        lambda n: rng.standard_t(3, n),
        lambda n: rng.uniform(-1.0, 1.0, n),
        lambda n: rng.beta(2.0, 5.0, n),
        lambda n: rng.weibull(1.5, n),
        lambda n: np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(1, 1, n)),
        lambda n: rng.pareto(3.0, n),
    ]
    columns: dict[str, Any] = {}
    features: dict[str, str] = {}
    for i in range(N_NUMERIC):
        columns[f"x{i:02d}"] = shapes[i % len(shapes)](rows) * (1 + i / 10) + i
        features[f"x{i:02d}"] = "numeric"
    for i in range(N_CATEGORICAL):
        levels = np.array([f"level-{i}-{j}" for j in range(3 + 4 * i)], dtype=object)
        shares = rng.dirichlet(np.ones(len(levels)))
        # object column of distinct str objects, as a CSV or Parquet read gives
        columns[f"c{i}"] = pd.Series(levels[rng.choice(len(levels), rows, p=shares)]).map(lambda s: s + "")
        features[f"c{i}"] = "categorical"
    return pd.DataFrame(columns), features


@dataclass(frozen=True)
class Measure:
    build_s: float
    serialise_s: float
    load_s: float
    size: int
    peak_extra: int  # most memory traced beyond the data while building and serialising


def _measure(build: Callable[[], Any], serialise: Callable[[Any], int], load: Callable[[], Any]) -> Measure:
    gc.collect()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        profile = build()
        built = time.perf_counter() - started
        started = time.perf_counter()
        size = serialise(profile)
        serialised = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del profile
    gc.collect()
    started = time.perf_counter()
    load()
    loaded = time.perf_counter() - started
    return Measure(built, serialised, loaded, size, peak)


def current_design(frame: pd.DataFrame, features: dict[str, str], path: str) -> Measure:
    """Build, then stream to a file (what registration does, in its worker)."""
    from app.ml.drift_reference import ReferenceProfile, build_reference

    def serialise(profile: ReferenceProfile) -> int:
        with open(path, "wb") as fh:
            return profile.write(fh)

    def load() -> None:
        with open(path, "rb") as fh:
            ReferenceProfile.read(fh)

    return _measure(lambda: build_reference(frame, features), serialise, load)


def previous_design(frame: pd.DataFrame, features: dict[str, str], path: str) -> Measure:
    """Build, ``to_bytes``, write the bytes to a file (what registration did, in the caller)."""
    from bench import _profile_v1

    def serialise(profile: Any) -> int:
        data = profile.to_bytes()
        with open(path, "wb") as fh:
            fh.write(data)
        return len(data)

    def load() -> None:
        with open(path, "rb") as fh:
            _profile_v1.ReferenceProfile.from_bytes(fh.read())

    return _measure(lambda: _profile_v1.build_reference(frame, features), serialise, load)


def _row(name: str, m: Measure, data_bytes: int) -> str:
    peak = (data_bytes + m.peak_extra) / data_bytes
    return (f"{name:9s} build {m.build_s:6.2f} s  serialise {m.serialise_s:5.2f} s  load {m.load_s:5.2f} s  "
            f"{m.size / 1e6:7.1f} MB  peak {peak:4.2f}x the data")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drift_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows instead of {FULL_ROWS:,}")
    parser.add_argument("--no-previous", action="store_true", help="skip the previous design (it needs ~2x the memory)")
    args = parser.parse_args(argv)
    from app.ml.drift_reference import SAMPLE_ROWS

    rows = QUICK_ROWS if args.quick else FULL_ROWS
    started = time.perf_counter()
    frame, features = make_reference(rows)
    data_bytes = int(frame.memory_usage(deep=True).sum())
    print(f"== drift reference profile: {rows:,} rows × {N_NUMERIC} continuous + {N_CATEGORICAL} categorical "
          f"columns, {data_bytes / 1e9:.2f} GB in memory (generated in {time.perf_counter() - started:.1f} s; "
          f"load {os.getloadavg()[0]:.1f}) ==")
    with tempfile.TemporaryDirectory(prefix="mlwb-bench-profile-") as tmp:
        ours = current_design(frame, features, os.path.join(tmp, "current.profile"))
        print(_row("current", ours, data_bytes) + f"  (sample of {min(rows, SAMPLE_ROWS):,} rows, streamed)")
        if not args.no_previous:
            previous = previous_design(frame, features, os.path.join(tmp, "previous.profile"))
            print(_row("previous", previous, data_bytes) + "  (whole CDF, to_bytes in memory)")
            print(f"ratio     build {previous.build_s / ours.build_s:5.1f}x faster, serialise "
                  f"{previous.serialise_s / max(ours.serialise_s, 1e-9):5.1f}x faster, "
                  f"{previous.size / ours.size:5.1f}x smaller")
        else:
            print("previous  not measured (--no-previous); issue 14 measured it at build 10–12 s, to_bytes 4–8 s, "
                  "800 MB, peak 2.1x the data (3.4 GB over 1.6 GB)")
    print("targets   build ≤ 3 s, serialise ≤ 1 s, ≤ 100 MB, peak ≤ 2x the data")


if __name__ == "__main__":
    main()
