"""Reading a user's table safely, and describing it (hash, schema, profile).

Why the CSV checks run before pandas: pandas is forgiving in ways that hide bad data (it
pads short rows with NaN, renames duplicate columns to ``a.1``, guesses encodings, reads a
gzip by accident). A dataset version is evidence, so a file that is not what it looks like is
refused with a sentence that says which line to fix, instead of being silently repaired.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.ml.errors import DataFileError

CSV_SUFFIXES = frozenset({".csv", ".txt"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})

# Leading bytes of the compressed formats people most often hand over by mistake.
_COMPRESSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
_TOP_VALUES = 5


def read_table(path: str | os.PathLike[str], *, max_bytes: int = 1_000_000_000) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, refusing files that are not clean tables.

    Every refusal is a ``DataFileError`` whose message names the file and says what to do.
    CSV text cells keep the literal strings "NA", "null", "None"; only empty cells are missing,
    because a category called "NA" (North America, not applicable) is data, not a gap.
    """
    file = Path(path)
    name = file.name
    suffix = file.suffix.lower()
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise DataFileError(
            f"{name} has the suffix {suffix or '(none)'!r}, which is not a table format: "
            "save it as .csv or .parquet and import it again"
        )
    size = _checked_size(file, max_bytes)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(file, size)
    return _read_csv(file, size)


def _checked_size(file: Path, max_bytes: int) -> int:
    """Return the file size after refusing missing, unreadable or oversized files."""
    name = file.name
    if not file.exists():
        raise DataFileError(f"{name} does not exist at {file}: check the path and try again")
    if not file.is_file():
        raise DataFileError(f"{name} is not a regular file: choose a .csv or .parquet file")
    if not os.access(file, os.R_OK):
        raise DataFileError(f"{name} cannot be read (permission denied): fix its permissions")
    size = file.stat().st_size
    if size > max_bytes:
        raise DataFileError(
            f"{name} is {size:,} bytes, more than the {max_bytes:,}-byte limit: "
            "sample or split it before importing"
        )
    return size


def _read_csv(file: Path, size: int) -> pd.DataFrame:
    """Check the raw bytes and the row shape, then let pandas infer the column types."""
    name = file.name
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{name} cannot be read ({exc.strerror}): check the file") from exc
    if size == 0 or not raw.strip():
        raise DataFileError(f"{name} is empty: export the data again with a header row")
    for magic, kind in _COMPRESSED_MAGIC:
        if raw.startswith(magic):
            raise DataFileError(
                f"{name} looks compressed ({kind}): decompress it first and import the .csv"
            )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataFileError(f"{name} is encoded as UTF-16: save it as UTF-8 and import it again")
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        raise DataFileError(
            f"{name} contains a NUL byte on line {line}, so it is binary, not CSV: "
            "export it as plain-text CSV"
        )
    text = _decode_utf8(name, raw)
    _check_csv_shape(name, text)
    try:
        return pd.read_csv(
            io.StringIO(text),
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
            low_memory=False,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataFileError(f"{name} could not be parsed as CSV ({exc}): check its format") from exc


def _decode_utf8(name: str, raw: bytes) -> str:
    """Decode strictly, so a Latin-1 file is refused at the byte that gives it away."""
    body = raw[len(_UTF8_BOM):] if raw.startswith(_UTF8_BOM) else raw
    try:
        return body.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(raw) - len(body))
        line = raw.count(b"\n", 0, offset) + 1
        raise DataFileError(
            f"{name} is not valid UTF-8: line {line} has the byte 0x{raw[offset]:02x} at byte "
            f"offset {offset}; save the file as UTF-8 and import it again"
        ) from exc


def _check_csv_shape(name: str, text: str) -> None:
    """Refuse bad headers and ragged rows, naming the first offending line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        while header == []:  # pandas skips blank lines before the header too
            header = next(reader, None)
        if header is None:
            raise DataFileError(f"{name} is empty: export the data again with a header row")
        blanks = [i + 1 for i, column in enumerate(header) if not column.strip()]
        if blanks:
            where = ", ".join(str(i) for i in blanks)
            raise DataFileError(
                f"{name} has a header with a blank column name at position {where}: "
                "give every column a name"
            )
        duplicates = sorted(c for c, n in Counter(header).items() if n > 1)
        if duplicates:
            raise DataFileError(
                f"{name} has duplicate column names {', '.join(map(repr, duplicates))}: "
                "rename them so every column is unique"
            )
        n_rows = 0
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise DataFileError(
                    f"{name} line {reader.line_num} has {len(row)} fields but the header has "
                    f"{len(header)}: fix the row or quote its commas"
                )
            n_rows += 1
    except csv.Error as exc:
        raise DataFileError(
            f"{name} line {reader.line_num} is not valid CSV ({exc}): fix the quoting on that line"
        ) from exc
    if n_rows == 0:
        raise DataFileError(f"{name} has a header but no data rows: export the rows too")


def _read_parquet(file: Path, size: int) -> pd.DataFrame:
    """Read Parquet with pyarrow, refusing the same bad column names as for CSV."""
    import pyarrow.parquet as pq

    name = file.name
    if size == 0:
        raise DataFileError(f"{name} is empty: export the data again")
    try:
        names = list(pq.read_schema(file).names)
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise DataFileError(
            f"{name} is not a readable Parquet file ({exc}): export it again"
        ) from exc
    blanks = [i + 1 for i, column in enumerate(names) if not str(column).strip()]
    if blanks:
        raise DataFileError(
            f"{name} has a blank column name at position {', '.join(map(str, blanks))}: "
            "give every column a name"
        )
    duplicates = sorted(str(c) for c, n in Counter(names).items() if n > 1)
    if duplicates:
        raise DataFileError(
            f"{name} has duplicate column names {', '.join(map(repr, duplicates))}: "
            "rename them so every column is unique"
        )
    try:
        frame = pd.read_parquet(file, engine="pyarrow")
    except Exception as exc:
        raise DataFileError(f"{name} could not be read as Parquet ({exc}): export it again") from exc
    if len(frame) == 0:
        raise DataFileError(f"{name} has columns but no rows: export the rows too")
    return frame


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks so big files fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def column_kind(series: pd.Series) -> str:
    """Name the kind of a column: "numeric", "categorical", "boolean" or "datetime".

    Booleans are checked before numbers because pandas counts bool as numeric, and a column
    of True/False with gaps comes out of pandas as ``object`` holding bools.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if dtype == object:
        values = series.dropna()
        if len(values) and all(isinstance(v, (bool, np.bool_)) for v in values):
            return "boolean"
    return "categorical"


def schema_of(df: pd.DataFrame) -> dict[str, str]:
    """Map each column to its kind; this is the schema stored with a dataset version."""
    return {str(name): column_kind(df[name]) for name in df.columns}


def profile_of(df: pd.DataFrame) -> dict[str, Any]:
    """Summarise each column in plain JSON types (no numpy scalars, no NaN).

    Stored as evidence with the dataset version and used as the reference for drift, so it
    must survive ``json.dumps`` and compare equal after a round trip.
    """
    columns: dict[str, dict[str, Any]] = {}
    for name in df.columns:
        series = df[name]
        kind = column_kind(series)
        entry: dict[str, Any] = {
            "kind": kind,
            "missing": int(series.isna().sum()),
            "unique": int(series.nunique(dropna=True)),
        }
        if kind == "numeric":
            values = pd.to_numeric(series, errors="coerce").astype("float64")
            entry.update(
                mean=_finite(values.mean()),
                std=_finite(values.std()),
                min=_finite(values.min()),
                max=_finite(values.max()),
            )
        elif kind == "datetime":
            present = series.dropna()
            entry.update(
                min=present.min().isoformat() if len(present) else None,
                max=present.max().isoformat() if len(present) else None,
            )
        else:
            counts = series.dropna().value_counts().head(_TOP_VALUES)
            entry["top"] = [[_plain(value), int(count)] for value, count in counts.items()]
        columns[str(name)] = entry
    return {"n_rows": int(len(df)), "n_columns": int(df.shape[1]), "columns": columns}


def _finite(value: Any) -> float | None:
    """A float, or None where the statistic is undefined (empty column, single value std)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """Turn a numpy scalar into the matching Python type so json.dumps accepts it."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
