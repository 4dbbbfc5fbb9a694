"""What drift needs to remember about the training data, built once and stored as compact bytes.

A monitoring batch is compared against the data the model was trained on, and that data must
not have to be re-read (or even still exist) each time a batch arrives. The profile keeps just
enough to reproduce every statistic exactly against the rows it profiled:

- numeric features: the sorted distinct finite values and how many profiled rows hold each
  (the whole empirical CDF, so the KS statistic is exact, ties included), plus the PSI bin edges
  cut at quantiles and the count in each bin;
- categorical features: the count of each category, compared as text so that 1 and "1" read
  from two file formats are the same category.

**Which rows are profiled.** A reference of at most ``SAMPLE_ROWS`` (100,000) rows is profiled
whole: KS, PSI and chi-square against it equal scipy's on the training data itself. A larger
one is profiled on a seeded uniform sample of ``SAMPLE_ROWS`` of its rows, the same rows for
every column (``sample_positions``): the statistics are then exact against that sample, which is
a valid two-sample test of the batch against the training distribution with ``n_reference`` the
sample's size. ``ReferenceProfile.sampled`` and ``describe()`` say which. Why a sample: storing
the whole CDF of 1M continuous rows took 16 bytes per row and column (800 MB for 50 columns), and
a sample of 100k moves a KS distance by about 0.003 and a PSI bin share by about 0.001, far
below any threshold a verdict uses (0.1), while the test keeps its power at any batch size.

**The byte format** (version 2) is a small JSON header followed by the arrays, each byte-plane
shuffled and deflated where that pays (sorted values are stored as the differences of their
order-preserving integer keys, so their high bytes are nearly constant and compress away; float32
is used where every value round-trips exactly; counts use the narrowest unsigned integer). It is
deterministic (the same profile gives the same bytes, so a stored profile can be hashed and
audited), written to a stream (``write``) without assembling the file in memory, and read without
pickle, so a tampered file can at worst be rejected, never run. Version 1 files (raw float64 and
int64 arrays of the whole reference) are still read.

The interface ``app.ml.drift`` relies on: ``NumericReference.n``, ``values`` (float64, sorted,
distinct), ``counts``/``cumulative``, ``edges``, ``bin_counts``; and for distances on the values
(the normed Wasserstein distance) ``mean``, ``std`` and ``quantiles(probabilities)``.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any

import numpy as np
import pandas as pd

from app.ml.drift_statistics import describe_basis
from app.ml.errors import DataFileError

FEATURE_KINDS = ("numeric", "categorical")

#: The most reference rows a profile keeps; a larger reference is profiled on a seeded sample.
SAMPLE_ROWS = 100_000
#: The seed of that sample: the same data in the same row order always gives the same profile.
SAMPLE_SEED = 20_240_607

_MAGIC = b"MLWB-DRIFT-REFERENCE\n"
_FORMAT_VERSION = 2
_LEGACY_FORMAT = 1
# A byte plane is deflated only when a sample of it has under 4 bits of entropy a byte (it will at
# least halve). Measured on continuous columns: the top planes of sorted values' key differences
# deflate to under 2%; the next one to 50–80% at ~8 ms a column, a quarter of the encoding time
# for 3% of the size; the low ones not at all. A histogram costs microseconds, a trial deflate
# of the sample as much as deflating a small plane.
_ENTROPY_SAMPLE = 4096
_DEFLATE_BELOW_BITS = 4.0
_DEFLATE_LEVEL = 1  # level 6 shrinks these planes by under 2% more, at several times the time


class _CorruptProfile(ValueError):
    """A profile that parsed but does not hold together; its message already says what to do."""


@dataclass(frozen=True, eq=False)
class NumericReference:
    """The reference side of one numeric feature, over the rows the profile kept.

    ``cumulative[j]`` is the number of profiled values ``<= values[j]``, so
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
        """How many profiled rows hold each distinct value (rebuilds the raw sample).

        Computed on each call rather than kept: it would add 8 bytes per stored value."""
        return np.diff(self.cumulative, prepend=0)

    @property
    def bin_shares(self) -> np.ndarray:
        return self.bin_counts / self.n if self.n else self.bin_counts.astype("float64")

    @cached_property
    def mean(self) -> float:
        """Mean of the profiled values (nan when there are none)."""
        if not self.n:
            return float("nan")
        return float(np.dot(self.values, self.counts) / self.n)

    @cached_property
    def std(self) -> float:
        """Population standard deviation (ddof 0, as ``numpy.std``) of the profiled values.

        What a normed Wasserstein distance divides by; nan when there are no values."""
        if not self.n:
            return float("nan")
        centred = self.values - self.mean
        return float(np.sqrt(np.dot(centred * centred, self.counts) / self.n))  # two passes: no cancellation

    def quantiles(self, probabilities: Iterable[float] | np.ndarray) -> np.ndarray:
        """The inverse empirical CDF at ``probabilities`` (numpy's ``method="inverted_cdf"``):
        the smallest profiled value whose CDF reaches p. Exact on the stored rows, so a fixed grid
        of them is the reference's quantile function for a Wasserstein distance."""
        p = np.asarray(probabilities, dtype=np.float64)
        if not self.n:
            return np.full(p.shape, np.nan)
        if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
            raise ValueError("quantile probabilities must lie in [0, 1]")
        ranks = np.maximum(np.ceil(p * self.n), 1)
        return self.values[np.searchsorted(self.cumulative, ranks, side="left")]

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
    """Everything ``app.ml.drift.compare`` needs from the training data, and nothing else.

    ``n_rows`` is the number of rows of the reference data; ``sample_rows`` the number profiled
    when that was a seeded sample of them (None: every row was profiled).
    """

    features: dict[str, str]
    n_rows: int
    bins: int
    numeric: dict[str, NumericReference] = field(default_factory=dict)
    categorical: dict[str, CategoricalReference] = field(default_factory=dict)
    sample_rows: int | None = None

    @property
    def sampled(self) -> bool:
        """True when the statistics are exact against a seeded sample, not the whole reference."""
        return self.sample_rows is not None

    @property
    def profiled_rows(self) -> int:
        return self.n_rows if self.sample_rows is None else self.sample_rows

    def describe(self) -> str:
        """One sentence for a person: what the statistics are exact against."""
        return describe_basis(self.n_rows, self.sample_rows)

    def select(self, names: Iterable[str]) -> ReferenceProfile:
        """The same profile restricted to ``names`` (e.g. the features, without the label)."""
        keep = [n for n in self.features if n in set(names)]
        return ReferenceProfile(
            {n: self.features[n] for n in keep}, self.n_rows, self.bins,
            {n: r for n, r in self.numeric.items() if n in keep},
            {n: r for n, r in self.categorical.items() if n in keep},
            self.sample_rows,
        )

    def write(self, stream: IO[bytes]) -> int:
        """Write the profile to ``stream`` in the format the module docstring describes; returns
        the number of bytes written.

        Only the encoded arrays (the size of the file, a small fraction of the data profiled)
        are held at once; the file itself is never assembled in memory.
        """
        names = sorted(self.numeric)

        def encode(name: str) -> tuple[dict[str, Any], list[bytes]]:
            ref = self.numeric[name]
            specs: dict[str, Any] = {"n": ref.n}
            planes: list[bytes] = []
            for key, array, kind in (("values", ref.values, "sorted"), ("counts", ref.counts, "count"),
                                     ("edges", ref.edges, "float"), ("bin_counts", ref.bin_counts, "count")):
                specs[key], encoded = _encode(array, kind)
                planes.extend(encoded)
            return specs, planes

        # Columns are encoded on two threads (deflate and most of numpy release the GIL); their
        # planes are placed in name order, as the JSON header lists them, so that a profile and
        # its reloaded copy (whose dicts may be ordered differently) give the same bytes.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="profile-write") as pool:
            encoded = list(pool.map(encode, names))
        numeric = {name: specs for name, (specs, _) in zip(names, encoded, strict=True)}
        chunks = [plane for _, planes in encoded for plane in planes]
        del encoded
        offset = sum(len(chunk) for chunk in chunks)
        crc = 0
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
        categorical = {
            name: {"n": ref.n, "categories": list(ref.counts), "counts": list(ref.counts.values())}
            for name, ref in self.categorical.items()
        }
        header = {
            "format": _FORMAT_VERSION,
            "n_rows": self.n_rows,
            "sample_rows": self.sample_rows,
            "bins": self.bins,
            "features": [[name, kind] for name, kind in self.features.items()],
            "numeric": numeric,
            "categorical": categorical,
            "blob_bytes": offset,
            "crc32": crc,
        }
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
        stream.write(_MAGIC)
        stream.write(len(text).to_bytes(8, "little"))
        stream.write(text)
        for chunk in chunks:
            stream.write(chunk)
        return len(_MAGIC) + 8 + len(text) + offset

    def to_bytes(self) -> bytes:
        """The bytes ``write`` produces, for callers that want them in memory (small profiles)."""
        buffer = io.BytesIO()
        self.write(buffer)
        return buffer.getvalue()

    @classmethod
    def read(cls, stream: IO[bytes]) -> ReferenceProfile:
        """Load a profile from an open binary file (see ``from_bytes``)."""
        return cls.from_bytes(stream.read())

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Load a profile written by ``write`` (or a version 1 file); any other input raises
        ``ValueError`` with a message that says what to do."""
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
        version = header.get("format") if isinstance(header, dict) else None
        if version not in (_FORMAT_VERSION, _LEGACY_FORMAT):
            raise ValueError(
                f"drift reference profile format {version!r} is not supported (expected {_FORMAT_VERSION}): "
                "rebuild the profile from the training data"
            )
        blob = memoryview(view)[start + header_len :]
        try:
            return cls._from_header(header, blob)
        except _CorruptProfile:
            raise
        except (KeyError, TypeError, IndexError, AttributeError, ValueError, zlib.error) as exc:
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
        legacy = header["format"] == _LEGACY_FORMAT
        reader = _LegacyReader(blob) if legacy else _Reader(blob)
        features = {str(name): str(kind) for name, kind in header["features"]}
        stored = {"numeric": header["numeric"], "categorical": header["categorical"]}
        extra = (set(stored["numeric"]) | set(stored["categorical"])) - set(features)
        if extra:
            raise _CorruptProfile(
                f"the drift reference profile holds data for unlisted features {sorted(extra)}: rebuild it"
            )
        numeric: dict[str, NumericReference] = {}
        categorical: dict[str, CategoricalReference] = {}
        # Version 2 arrays follow one another in name order (as ``write`` placed them).
        for name in sorted(features, key=lambda n: (features[n] != "numeric", n)):
            kind = features[name]
            _check_kind(name, kind)
            spec = stored[kind].get(name)
            if spec is None:
                raise _CorruptProfile(f"the drift reference profile has no data for feature {name!r}: rebuild it")
            if kind == "numeric":
                numeric[name] = reader.numeric(spec)
                _check_numeric(name, numeric[name])
            else:
                counts = {str(c): int(k) for c, k in zip(spec["categories"], spec["counts"], strict=True)}
                if sum(counts.values()) != int(spec["n"]) or any(k <= 0 for k in counts.values()):
                    raise _CorruptProfile(
                        f"the drift reference profile's counts for {name!r} are inconsistent: rebuild it"
                    )
                categorical[name] = CategoricalReference(n=int(spec["n"]), counts=counts)
        reader.finish()
        sample_rows = header.get("sample_rows")
        return cls(
            features=features,
            n_rows=int(header["n_rows"]),
            bins=int(header["bins"]),
            numeric={name: numeric[name] for name in features if name in numeric},
            categorical={name: categorical[name] for name in features if name in categorical},
            sample_rows=None if sample_rows is None else int(sample_rows),
        )


# --- encoding of the arrays (format 2) -------------------------------------------------------------

_SIGN = {4: np.uint32(1 << 31), 8: np.uint64(1 << 63)}
_ALL = {4: np.uint32(0xFFFF_FFFF), 8: np.uint64(0xFFFF_FFFF_FFFF_FFFF)}


def _encode(array: np.ndarray, kind: str) -> tuple[dict[str, Any], list[bytes]]:
    """(spec for the header, the stored planes) of one array.

    ``kind``: "sorted" for strictly increasing finite floats (stored as key differences),
    "float" for other floats, "count" for non-negative integers.
    """
    if kind == "count":
        top = int(array.max()) if len(array) else 0
        dtype = next(d for d in ("<u1", "<u2", "<u4", "<u8") if top <= np.iinfo(d).max)
        raw = np.ascontiguousarray(array, dtype=dtype)
    else:
        as64 = np.ascontiguousarray(array, dtype="<f8")
        narrow = as64.astype("<f4")
        exact = bool(np.array_equal(narrow.astype("<f8"), as64))  # float32 only where it round-trips
        raw = narrow if exact else as64
        dtype = raw.dtype.str
        if kind == "sorted" and len(raw):
            width = raw.dtype.itemsize
            bits = raw.view(f"<u{width}")
            # Order-preserving key: negative floats have all their bits flipped, others their sign.
            negative = (bits >> (8 * width - 1)).astype(bool)
            keys = bits ^ np.where(negative, _ALL[width], _SIGN[width])
            raw = np.diff(keys, prepend=keys.dtype.type(0))
    width = raw.dtype.itemsize
    planes_view = raw.view(np.uint8).reshape(len(raw), width)
    specs: list[list[int]] = []
    planes: list[bytes] = []
    for k in range(width):
        plane = planes_view[:, k].tobytes()
        deflated = 0
        if len(plane) >= 64 and _entropy_bits(planes_view[:: max(1, len(raw) // _ENTROPY_SAMPLE), k]) < _DEFLATE_BELOW_BITS:
            packed = zlib.compress(plane, _DEFLATE_LEVEL)
            if len(packed) < len(plane):
                plane, deflated = packed, 1
        specs.append([len(plane), deflated])
        planes.append(plane)
    return {"dtype": dtype, "size": len(array), "kind": kind, "planes": specs}, planes


def _entropy_bits(sample: np.ndarray) -> float:
    """Shannon entropy, in bits per byte, of a sample of bytes."""
    counts = np.bincount(sample, minlength=256)
    shares = counts[counts > 0] / len(sample)
    return float(-(shares * np.log2(shares)).sum())


class _Reader:
    """Decodes the format 2 arrays one after another from the data that follows the header."""

    def __init__(self, blob: memoryview) -> None:
        self.blob = blob
        self.offset = 0

    def array(self, spec: dict[str, Any]) -> np.ndarray:
        name, size, kind = spec["dtype"], int(spec["size"]), spec["kind"]
        if name not in ("<f4", "<f8", "<u1", "<u2", "<u4", "<u8") or size < 0:
            raise _CorruptProfile("the drift reference profile stores an array of an unknown type: rebuild it")
        dtype = np.dtype(name)
        width = dtype.itemsize
        if len(spec["planes"]) != width:
            raise _CorruptProfile("the drift reference profile's array layout is inconsistent: rebuild it")
        planes: list[bytes | memoryview] = []
        for length, deflated in spec["planes"]:
            length = int(length)
            if length < 0 or self.offset + length > len(self.blob):
                raise _CorruptProfile("the drift reference profile points outside its data: rebuild it")
            piece = self.blob[self.offset : self.offset + length]
            self.offset += length
            # Bounded: a tampered size cannot make a small file inflate to gigabytes.
            plane = zlib.decompressobj().decompress(piece, size + 1) if deflated else piece
            if len(plane) != size:
                raise _CorruptProfile("the drift reference profile's array sizes are inconsistent: rebuild it")
            planes.append(plane)
        joined = np.empty((size, width), dtype=np.uint8)  # allocated once every plane proved its size
        for k, plane in enumerate(planes):
            joined[:, k] = np.frombuffer(plane, dtype=np.uint8)
        if kind == "sorted" and size:
            keys = np.cumsum(joined.view(f"<u{width}").ravel(), dtype=f"<u{width}")
            positive = (keys >> (8 * width - 1)).astype(bool)  # a key with its top bit set was a float >= 0
            bits = keys ^ np.where(positive, _SIGN[width], _ALL[width])
            return bits.view(dtype).astype(np.float64)
        values = joined.view(dtype).ravel()
        return values.astype(np.float64 if dtype.kind == "f" else np.int64)

    def numeric(self, spec: dict[str, Any]) -> NumericReference:
        values = self.array(spec["values"])
        counts = self.array(spec["counts"])
        if len(counts) != len(values):
            raise _CorruptProfile("the drift reference profile's arrays do not match in length: rebuild it")
        if np.any(counts <= 0):
            raise _CorruptProfile("the drift reference profile holds a value with no rows: rebuild it")
        return NumericReference(
            n=int(spec["n"]), values=values, cumulative=np.cumsum(counts, dtype=np.int64),
            edges=self.array(spec["edges"]), bin_counts=self.array(spec["bin_counts"]),
        )

    def finish(self) -> None:
        if self.offset != len(self.blob):
            raise _CorruptProfile("the drift reference profile has data no feature refers to: rebuild it")


class _LegacyReader:
    """Format 1: raw little-endian arrays at recorded offsets, loaded as zero-copy views."""

    def __init__(self, blob: memoryview) -> None:
        self.blob = blob

    def take(self, spec: list[int], dtype: str) -> np.ndarray:
        start, size = int(spec[0]), int(spec[1])
        width = np.dtype(dtype).itemsize
        if start < 0 or size < 0 or start + size * width > len(self.blob):
            raise _CorruptProfile("the drift reference profile points outside its data: rebuild it")
        return np.frombuffer(self.blob, dtype=dtype, count=size, offset=start)

    def numeric(self, spec: dict[str, Any]) -> NumericReference:
        return NumericReference(
            n=int(spec["n"]),
            values=self.take(spec["values"], "<f8"),
            cumulative=self.take(spec["cumulative"], "<i8"),
            edges=self.take(spec["edges"], "<f8"),
            bin_counts=self.take(spec["bin_counts"], "<i8"),
        )

    def finish(self) -> None:
        return None


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


def sample_positions(n_rows: int, limit: int = SAMPLE_ROWS) -> np.ndarray | None:
    """Sorted positions of the rows profiled out of ``n_rows``, or None when all of them are.

    A seeded uniform sample without replacement, so the same reference (in the same row order)
    always gives the same profile and the same bytes. Sorted, so taking them reads memory in
    order.
    """
    if limit < 1:
        raise ValueError(f"the reference sample size must be at least 1, got {limit}")
    if n_rows <= limit:
        return None
    rng = np.random.default_rng(SAMPLE_SEED)
    positions = rng.choice(n_rows, size=limit, replace=False)
    positions.sort()
    return positions


def build_reference(
    frame: pd.DataFrame,
    features: dict[str, str],
    *,
    bins: int = 10,
    sample_rows: int = SAMPLE_ROWS,
    source_rows: int | None = None,
) -> ReferenceProfile:
    """Profile ``frame`` (the training data) for later comparisons against monitoring batches.

    A frame of more than ``sample_rows`` rows is profiled on the seeded sample
    ``sample_positions`` picks (see the module docstring). A caller that already took that sample
    (to score only the sampled rows, say) passes the sample as ``frame`` and the size of the data
    it was drawn from as ``source_rows``.

    Missing and non-finite values are left out, as they are from the batches, so the two sides
    are compared on the same footing. PSI edges are the quantiles at 1/bins, 2/bins, ...
    (duplicates merged), the same cut ``app.ml.drift.psi`` makes.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DataFileError(
            f"the reference data lacks the feature column(s) {', '.join(map(repr, missing))}: "
            "build the reference from the data the model was trained on"
        )
    if source_rows is not None:
        if source_rows < len(frame):
            raise ValueError(f"a sample of {len(frame)} rows cannot come from {source_rows} rows")
        positions = None
        n_rows, sampled = source_rows, (len(frame) if source_rows > len(frame) else None)
    else:
        positions = sample_positions(len(frame), sample_rows)
        n_rows, sampled = len(frame), (None if positions is None else len(positions))
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    for name, kind in features.items():
        _check_kind(name, kind)
        column = frame[name]
        if positions is not None:
            column = column.take(positions)
        if kind == "numeric":
            numeric[name] = _numeric_reference(finite_sorted(column), bins)
        else:
            labels, counts = category_counts(column)
            order = np.argsort(labels, kind="stable")
            categorical[name] = CategoricalReference(
                n=int(counts.sum()),
                counts={str(labels[i]): int(counts[i]) for i in order},
            )
        del column
    return ReferenceProfile(
        features=dict(features),
        n_rows=n_rows,
        bins=bins,
        numeric=numeric,
        categorical=categorical,
        sample_rows=sampled,
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
