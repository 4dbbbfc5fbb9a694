"""The stored drift reference profile: what it keeps (the whole reference, or a documented seeded
sample of it), that the statistics are exact against what it keeps (KS against scipy), how it is
stored (float32 where exact, deflated planes, a stream), that its size is bounded whatever the
reference's size, and that version 1 files are still read."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from app.ml.drift import compare
from app.ml.drift_reference import (
    SAMPLE_ROWS,
    ReferenceProfile,
    build_reference,
    sample_positions,
)


def _header(data: bytes) -> dict:
    start = len(b"MLWB-DRIFT-REFERENCE\n") + 8
    length = int.from_bytes(data[start - 8 : start], "little")
    return json.loads(data[start : start + length])


def _mixed_frame(rows: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    x[::97] = np.nan
    x[1::211] = np.inf
    return pd.DataFrame({
        "continuous": x,  # float64 that does not fit float32
        "negative": -rng.exponential(size=rows),  # all below zero: the order-preserving keys flip
        "signs": np.round(rng.normal(size=rows), 2),  # ties, -0.0 and 0.0, both signs
        "counts": rng.poisson(3, rows),  # integers: stored as float32, exactly
        "empty": np.full(rows, np.nan),
        "city": rng.choice(["Zürich", "Genève", "Basel"], rows),
    })


FEATURES = {"continuous": "numeric", "negative": "numeric", "signs": "numeric", "counts": "numeric",
            "empty": "numeric", "city": "categorical"}


def test_profile_round_trips_through_a_stream_exactly_and_deterministically() -> None:
    frame = _mixed_frame(20_000)
    profile = build_reference(frame, FEATURES)
    assert not profile.sampled and profile.sample_rows is None and profile.n_rows == 20_000
    stream = io.BytesIO()
    written = profile.write(stream)
    data = stream.getvalue()
    assert written == len(data) and data == profile.to_bytes()
    loaded = ReferenceProfile.read(io.BytesIO(data))
    assert loaded == profile and list(loaded.features) == list(FEATURES)
    for name, ref in loaded.numeric.items():
        assert ref.values.dtype == np.float64 and ref.cumulative.dtype == np.int64, name
        np.testing.assert_array_equal(ref.values, profile.numeric[name].values)  # bit for bit
    assert loaded.to_bytes() == data
    header = _header(data)
    assert header["format"] == 2
    assert header["numeric"]["counts"]["values"]["dtype"] == "<f4"  # integers round-trip in float32
    assert header["numeric"]["continuous"]["values"]["dtype"] == "<f8"  # these would not
    batch = _mixed_frame(8_000, seed=4)
    assert compare(loaded, batch) == compare(profile, batch)


def test_ks_against_a_whole_stored_profile_equals_scipy() -> None:
    """Below the sample size nothing is sampled: KS is scipy's two-sample test on the training
    data itself, for the asymptotic (large) and the exact (small) p-value alike."""
    rng = np.random.default_rng(11)
    for n_ref, n_cur in ((60_000, 25_000), (3_000, 2_000)):
        reference = pd.DataFrame({"x": rng.gamma(2.0, 1.0, n_ref), "t": np.round(rng.standard_t(4, n_ref), 1)})
        current = pd.DataFrame({"x": rng.gamma(2.0, 1.0, n_cur) + 0.02, "t": np.round(rng.standard_t(4, n_cur), 1)})
        profile = ReferenceProfile.from_bytes(build_reference(reference, {"x": "numeric", "t": "numeric"}).to_bytes())
        assert not profile.sampled
        for result in compare(profile, current):
            expected = ks_2samp(reference[result.feature], current[result.feature])
            assert result.n_reference == n_ref
            assert result.ks == pytest.approx(expected.statistic, rel=0, abs=1e-15)
            assert result.ks_pvalue == pytest.approx(expected.pvalue, rel=1e-9)


def test_a_larger_reference_is_profiled_on_a_documented_seeded_sample() -> None:
    """Above ``sample_rows`` the profile keeps a seeded sample (the same rows for every column)
    and says so; KS is then exactly scipy's against that sample."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.lognormal(size=5_000), "c": rng.choice(list("abcd"), 5_000)})
    frame.loc[::50, "x"] = np.nan
    profile = build_reference(frame, {"x": "numeric", "c": "categorical"}, sample_rows=1_000)
    assert profile.sampled and profile.sample_rows == 1_000 and profile.n_rows == 5_000
    assert "sample of 1,000 of the 5,000" in profile.describe()
    positions = sample_positions(5_000, 1_000)
    assert positions is not None and len(np.unique(positions)) == 1_000
    sample = frame.iloc[positions]
    assert profile.categorical["c"].counts == sample["c"].value_counts().sort_index().to_dict()
    current = pd.DataFrame({"x": rng.lognormal(0.05, 1.0, 20_000), "c": rng.choice(list("abcd"), 20_000)})
    [ks_result, _] = compare(profile, current)
    expected = ks_2samp(sample["x"].dropna(), current["x"])
    assert ks_result.n_reference == sample["x"].notna().sum()
    assert ks_result.ks == expected.statistic and ks_result.ks_pvalue == pytest.approx(expected.pvalue, rel=1e-9)
    # Seeded: the same data gives the same bytes; the sample survives the round trip.
    data = profile.to_bytes()
    assert build_reference(frame, {"x": "numeric", "c": "categorical"}, sample_rows=1_000).to_bytes() == data
    assert ReferenceProfile.from_bytes(data).sample_rows == 1_000


def test_the_default_sample_size_is_where_sampling_starts() -> None:
    x = pd.DataFrame({"x": np.arange(SAMPLE_ROWS + 1, dtype=np.float64)})
    assert sample_positions(SAMPLE_ROWS) is None and sample_positions(SAMPLE_ROWS + 1) is not None
    whole = build_reference(x.iloc[:SAMPLE_ROWS], {"x": "numeric"})
    sampled = build_reference(x, {"x": "numeric"})
    assert not whole.sampled and whole.numeric["x"].n == SAMPLE_ROWS
    assert sampled.sampled and sampled.numeric["x"].n == SAMPLE_ROWS and sampled.n_rows == SAMPLE_ROWS + 1


def test_size_is_bounded_whatever_the_reference_size() -> None:
    """Continuous columns cost at most the sample's raw float64 (they compress below it), and a
    reference four times larger gives a profile of the same size."""
    rng = np.random.default_rng(9)

    def size(rows: int) -> int:
        frame = pd.DataFrame({f"x{i}": rng.normal(i, 1 + i, rows) for i in range(4)})
        return len(build_reference(frame, dict.fromkeys(frame.columns, "numeric"), sample_rows=20_000).to_bytes())

    small, large = size(40_000), size(160_000)
    assert large <= 4 * 20_000 * 8  # under the raw float64 of the sample, counts included
    assert abs(large - small) < 0.05 * small


def test_mean_std_and_quantiles_for_a_wasserstein_distance() -> None:
    rng = np.random.default_rng(2)
    x = np.round(rng.gamma(2.0, 1.0, 7_000), 2)
    ref = ReferenceProfile.from_bytes(build_reference(pd.DataFrame({"x": x}), {"x": "numeric"}).to_bytes()).numeric["x"]
    grid = np.linspace(0.0, 1.0, 101)
    np.testing.assert_array_equal(ref.quantiles(grid), np.quantile(x, grid, method="inverted_cdf"))
    assert ref.mean == pytest.approx(x.mean(), rel=1e-12) and ref.std == pytest.approx(x.std(), rel=1e-12)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ref.quantiles([1.5])


def test_version_1_profiles_are_still_read() -> None:
    """Versions registered before format 2 keep their stored profile (a run is registered once)."""
    from bench import _profile_v1

    frame = _mixed_frame(5_000)
    old = _profile_v1.build_reference(frame, FEATURES).to_bytes()
    assert _header(old)["format"] == 1
    loaded = ReferenceProfile.from_bytes(old)
    assert loaded == build_reference(frame, FEATURES) and not loaded.sampled


def test_a_tampered_plane_is_refused_not_inflated() -> None:
    """A header that claims a deflated plane holds far more than it does is refused with a
    message, and inflating stops at the claimed size (a small file cannot fill the memory)."""
    frame = pd.DataFrame({"x": np.random.default_rng(1).normal(size=5_000)})
    data = build_reference(frame, {"x": "numeric"}).to_bytes()
    header = _header(data)
    counts = header["numeric"]["x"]["counts"]
    assert all(deflated for _, deflated in counts["planes"])  # every count is 1: deflates to nothing
    start = len(b"MLWB-DRIFT-REFERENCE\n") + 8
    blob = data[start + int.from_bytes(data[start - 8 : start], "little") :]
    for size in (10**9, 4_999):
        counts["size"] = size
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        lying = data[: start - 8] + len(text).to_bytes(8, "little") + text + blob
        with pytest.raises(ValueError, match="rebuild"):
            ReferenceProfile.from_bytes(lying)
