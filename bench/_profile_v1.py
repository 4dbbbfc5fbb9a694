"""The previous design of ``app.ml.drift_reference`` (before session 19), kept verbatim so that
``bench.drift_profile`` measures the current design against it in the same run; nothing in the
workbench imports it. What follows is its original docstring.

What drift needs to remember about the training data, built once and stored as plain bytes.

A monitoring batch is compared against the data the model was trained on, and that data must
not have to be re-read (or even still exist) each time a batch arrives. The profile keeps just
enough to reproduce every statistic exactly, not approximately:

- numeric features: the sorted distinct finite values and how many reference rows are at or
  below each (the whole empirical CDF, so the KS statistic is exact, ties included), plus the
  PSI bin edges cut at reference quantiles and the reference count in each bin;
- categorical features: the count of each category, compared as text so that 1 and "1" read
  from two file formats are the same category.

The byte format is a small JSON header followed by raw little-endian arrays. It is
deterministic (the same profile gives the same bytes, so a stored profile can be hashed and
audited) and it is read without pickle, so a tampered file can at worst be rejected, never run.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from app.ml.errors import DataFileError

FEATURE_KINDS = ("numeric", "categorical")

_MAGIC = b"MLWB-DRIFT-REFERENCE\n"
_FORMAT_VERSION = 1
# Arrays start on 8-byte boundaries so that loading is a zero-copy view, not a copy.
_ALIGN = 8


class _CorruptProfile(ValueError):
    """A profile that parsed but does not hold together; its message already says what to do."""


@dataclass(frozen=True, eq=False)
class NumericReference:
    """The reference side of one numeric feature.

    ``cumulative[j]`` is the number of reference values ``<= values[j]``, so
    ``cumulative[j] / n`` is the reference CDF at that value, computed the way
    ``scipy.stats.ks_2samp`` computes it. ``edges`` are the inner PSI bin edges: bin ``k``
    holds ``edges[k-1] <= x < edges[k]``, the outer bins are open.
    """

    n: int
    values: np.ndarray
    cumulative: np.ndarray
    edges: np.ndarray
    bin_counts: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        """How many reference rows hold each distinct value (rebuilds the raw sample)."""
        return np.diff(self.cumulative, prepend=0)

    @property
    def bin_shares(self) -> np.ndarray:
        return self.bin_counts / self.n if self.n else self.bin_counts.astype("float64")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericReference):
            return NotImplemented
        return self.n == other.n and all(
            np.array_equal(getattr(self, name), getattr(other, name))
            for name in ("values", "cumulative", "edges", "bin_counts")
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays: equal but not hashable


@dataclass(frozen=True)
class CategoricalReference:
    """The reference side of one categorical feature: category (as text) -> row count.

    Categories are kept sorted, so two profiles of the same data are equal and serialise to
    the same bytes whatever order the rows came in.
    """

    n: int
    counts: dict[str, int]

    @cached_property
    def categories(self) -> pd.Index:
        """The categories as an index, to map a batch's categories onto these in one call."""
        return pd.Index(list(self.counts), dtype=object)

    @cached_property
    def count_array(self) -> np.ndarray:
        return np.fromiter(self.counts.values(), dtype=np.int64, count=len(self.counts))


@dataclass(frozen=True)
class ReferenceProfile:
    """Everything ``app.ml.drift.compare`` needs from the training data, and nothing else."""

    features: dict[str, str]
    n_rows: int
    bins: int
    numeric: dict[str, NumericReference] = field(default_factory=dict)
    categorical: dict[str, CategoricalReference] = field(default_factory=dict)

    def select(self, names: Iterable[str]) -> ReferenceProfile:
        """The same profile restricted to ``names`` (e.g. the features, without the label)."""
        keep = [n for n in self.features if n in set(names)]
        return ReferenceProfile(
            {n: self.features[n] for n in keep}, self.n_rows, self.bins,
            {n: r for n, r in self.numeric.items() if n in keep},
            {n: r for n, r in self.categorical.items() if n in keep},
        )

    def to_bytes(self) -> bytes:
        """Serialise to the deterministic, pickle-free format described in the module docstring."""
        arrays: list[np.ndarray] = []
        offset = 0

        def place(array: np.ndarray, dtype: str) -> list[int]:
            nonlocal offset
            data = np.ascontiguousarray(array, dtype=dtype)
            arrays.append(data)
            start = offset
            offset += data.nbytes
            return [start, int(data.size)]

        numeric: dict[str, Any] = {}
        # Placed in name order, as the JSON header lists them, so that a profile and its
        # reloaded copy (whose dicts may be ordered differently) give the same bytes.
        for name in sorted(self.numeric):
            ref = self.numeric[name]
            numeric[name] = {
                "n": ref.n,
                "values": place(ref.values, "<f8"),
                "cumulative": place(ref.cumulative, "<i8"),
                "edges": place(ref.edges, "<f8"),
                "bin_counts": place(ref.bin_counts, "<i8"),
            }
        categorical = {
            name: {"n": ref.n, "categories": list(ref.counts), "counts": list(ref.counts.values())}
            for name, ref in self.categorical.items()
        }
        blob = b"".join(array.tobytes() for array in arrays)
        header = {
            "format": _FORMAT_VERSION,
            "n_rows": self.n_rows,
            "bins": self.bins,
            "features": [[name, kind] for name, kind in self.features.items()],
            "numeric": numeric,
            "categorical": categorical,
            "blob_bytes": len(blob),
            "crc32": zlib.crc32(blob),
        }
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
        text += b" " * (-(len(_MAGIC) + 8 + len(text)) % _ALIGN)
        return _MAGIC + len(text).to_bytes(8, "little") + text + blob

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Load a profile written by ``to_bytes``; any other input raises ``ValueError``.

        The arrays are read-only views into ``data`` (no copy), which is why loading a
        reference of a few hundred thousand rows takes milliseconds.
        """
        try:
            view = memoryview(data).cast("B")
        except TypeError as exc:
            raise ValueError(f"a drift reference profile is bytes, not {type(data).__name__}") from exc
        if len(view) < len(_MAGIC) + 8 or bytes(view[: len(_MAGIC)]) != _MAGIC:
            raise ValueError("this is not a drift reference profile (it does not start with the profile marker)")
        start = len(_MAGIC) + 8
        header_len = int.from_bytes(view[len(_MAGIC) : start], "little")
        if start + header_len > len(view):
            raise ValueError("the drift reference profile is truncated: rebuild it from the training data")
        try:
            header = json.loads(bytes(view[start : start + header_len]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"the drift reference profile's header is corrupt ({exc}): rebuild it") from exc
        if not isinstance(header, dict) or header.get("format") != _FORMAT_VERSION:
            version = header.get("format") if isinstance(header, dict) else None
            raise ValueError(
                f"drift reference profile format {version!r} is not supported (expected {_FORMAT_VERSION}): "
                "rebuild the profile from the training data"
            )
        blob = memoryview(view)[start + header_len :]
        try:
            return cls._from_header(header, blob)
        except _CorruptProfile:
            raise
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise ValueError(
                f"the drift reference profile is corrupt ({exc!r}): rebuild it from the training data"
            ) from exc

    @classmethod
    def _from_header(cls, header: dict[str, Any], blob: memoryview) -> ReferenceProfile:
        if len(blob) != header["blob_bytes"]:
            raise _CorruptProfile(
                f"the drift reference profile is truncated or padded ({len(blob)} data bytes, "
                f"expected {header['blob_bytes']}): rebuild it from the training data"
            )
        if zlib.crc32(blob) != header["crc32"]:
            raise _CorruptProfile(
                "the drift reference profile's data fails its checksum: rebuild it from the training data"
            )

        def take(spec: list[int], dtype: str) -> np.ndarray:
            start, size = int(spec[0]), int(spec[1])
            width = np.dtype(dtype).itemsize
            if start < 0 or size < 0 or start + size * width > len(blob):
                raise _CorruptProfile("the drift reference profile points outside its data: rebuild it")
            return np.frombuffer(blob, dtype=dtype, count=size, offset=start)

        features = {str(name): str(kind) for name, kind in header["features"]}
        stored = {"numeric": header["numeric"], "categorical": header["categorical"]}
        extra = (set(stored["numeric"]) | set(stored["categorical"])) - set(features)
        if extra:
            raise _CorruptProfile(
                f"the drift reference profile holds data for unlisted features {sorted(extra)}: rebuild it"
            )
        numeric: dict[str, NumericReference] = {}
        categorical: dict[str, CategoricalReference] = {}
        for name, kind in features.items():
            _check_kind(name, kind)
            spec = stored[kind].get(name)
            if spec is None:
                raise _CorruptProfile(f"the drift reference profile has no data for feature {name!r}: rebuild it")
            if kind == "numeric":
                numeric[name] = NumericReference(
                    n=int(spec["n"]),
                    values=take(spec["values"], "<f8"),
                    cumulative=take(spec["cumulative"], "<i8"),
                    edges=take(spec["edges"], "<f8"),
                    bin_counts=take(spec["bin_counts"], "<i8"),
                )
                _check_numeric(name, numeric[name])
            else:
                counts = {str(c): int(k) for c, k in zip(spec["categories"], spec["counts"], strict=True)}
                if sum(counts.values()) != int(spec["n"]) or any(k <= 0 for k in counts.values()):
                    raise _CorruptProfile(
                        f"the drift reference profile's counts for {name!r} are inconsistent: rebuild it"
                    )
                categorical[name] = CategoricalReference(n=int(spec["n"]), counts=counts)
        return cls(
            features=features,
            n_rows=int(header["n_rows"]),
            bins=int(header["bins"]),
            numeric=numeric,
            categorical=categorical,
        )


def infer_features(frame: pd.DataFrame, *, exclude: Iterable[str] = ()) -> dict[str, str]:
    """Kind of each column: numeric dtypes are numeric, everything else categorical.

    Booleans are categorical although pandas calls them numeric: a KS test on 0/1 says less
    than a chi-square on two categories, and "True"/"False" read back from CSV are text.
    """
    skip = set(exclude)
    kinds: dict[str, str] = {}
    for name in frame.columns:
        if name in skip:
            continue
        dtype = frame[name].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        kinds[str(name)] = "numeric" if numeric else "categorical"
    return kinds


def build_reference(frame: pd.DataFrame, features: dict[str, str], *, bins: int = 10) -> ReferenceProfile:
    """Profile ``frame`` (the training data) for later comparisons against monitoring batches.

    Missing and non-finite values are left out, as they are from the batches, so the two sides
    are compared on the same footing. PSI edges are the reference quantiles at 1/bins, 2/bins,
    ... (duplicates merged), the same cut ``app.ml.drift.psi`` makes.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DataFileError(
            f"the reference data lacks the feature column(s) {', '.join(map(repr, missing))}: "
            "build the reference from the data the model was trained on"
        )
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    for name, kind in features.items():
        _check_kind(name, kind)
        if kind == "numeric":
            numeric[name] = _numeric_reference(finite_sorted(frame[name]), bins)
        else:
            labels, counts = category_counts(frame[name])
            order = np.argsort(labels, kind="stable")
            categorical[name] = CategoricalReference(
                n=int(counts.sum()),
                counts={str(labels[i]): int(counts[i]) for i in order},
            )
    return ReferenceProfile(
        features=dict(features),
        n_rows=len(frame),
        bins=bins,
        numeric=numeric,
        categorical=categorical,
    )


def finite_sorted(column: pd.Series) -> np.ndarray:
    """The column's finite values as a new sorted float64 array (missing and text dropped).

    Shared with ``app.ml.drift`` so that both sides drop exactly the same values. Only one
    copy of the column is made: it is filtered into a fresh array and sorted in place.
    """
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
        raw = column.to_numpy()
        owned = dtype != np.float64
        array = raw.astype(np.float64) if owned else raw
    else:
        array = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        owned = True
    finite = np.isfinite(array)
    if finite.all():
        values = array if owned else array.copy()
    else:
        values = array[finite]
    del finite, array
    values.sort()
    return values


def category_counts(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(labels as text, counts) of the column's non-missing values, labels unique.

    Counting happens on the raw values (pandas' hash-based ``value_counts``) and only the
    distinct labels are turned into text, so a million-row column is never copied as strings.
    1, 1.0 and "1" are one category "1": integer codes read from a file with one missing
    value become floats, and their categories must not be renamed because of it.
    """
    counted = column.value_counts(dropna=True, sort=False)
    counted = counted[counted.to_numpy() > 0]  # a categorical dtype lists unused categories too
    index = counted.index
    if index.dtype.kind == "f" or index.dtype == object:
        labels = np.array([_label(value) for value in index], dtype=object)
    else:
        labels = index.astype(str).to_numpy(dtype=object)
    counts = counted.to_numpy(dtype=np.int64)
    if len(pd.unique(labels)) != len(labels):  # 1 and "1" in an object column: one category
        merged = pd.Series(counts).groupby(labels, sort=False).sum()
        labels = merged.index.to_numpy(dtype=object)
        counts = merged.to_numpy(dtype=np.int64)
    return labels, counts


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _numeric_reference(values: np.ndarray, bins: int) -> NumericReference:
    n = len(values)
    if n == 0:
        empty_f, empty_i = np.empty(0, np.float64), np.empty(0, np.int64)
        return NumericReference(0, empty_f, empty_i, empty_f, empty_i)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    distinct = values[starts]
    cumulative = np.append(starts[1:], n).astype(np.int64)
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    # Rows below each edge, read off the sorted values: bin k is edges[k-1] <= x < edges[k].
    below = np.searchsorted(values, edges, side="left")
    bin_counts = np.diff(np.concatenate(([0], below, [n]))).astype(np.int64)
    return NumericReference(n, distinct, cumulative, edges, bin_counts)


def _check_kind(name: str, kind: str) -> None:
    if kind not in FEATURE_KINDS:
        raise ValueError(f"feature {name!r} has kind {kind!r}: use 'numeric' or 'categorical'")


def _check_numeric(name: str, ref: NumericReference) -> None:
    """Reject arrays that would make the statistics silently wrong rather than fail."""
    expected_bins = len(ref.edges) + 1 if ref.n else 0
    lengths_ok = len(ref.values) == len(ref.cumulative) and len(ref.bin_counts) == expected_bins
    if not lengths_ok or (not ref.n and len(ref.values)):
        raise _CorruptProfile(
            f"the drift reference profile's arrays for {name!r} do not match in length: rebuild it"
        )
    if ref.n and (
        not np.all(ref.values[1:] > ref.values[:-1])
        or not np.all(np.isfinite(ref.values))
        or ref.cumulative[0] <= 0
        or not np.all(ref.cumulative[1:] > ref.cumulative[:-1])
        or int(ref.cumulative[-1]) != ref.n
        or int(ref.bin_counts.sum()) != ref.n
        or np.any(ref.bin_counts < 0)
        or not np.all(ref.edges[1:] > ref.edges[:-1])
    ):
        raise _CorruptProfile(f"the drift reference profile's values for {name!r} are inconsistent: rebuild it")
