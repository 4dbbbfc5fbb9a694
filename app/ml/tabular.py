"""Reading a user's table safely, and describing it (hash, schema, profile).

Why the CSV checks run before pandas: pandas is forgiving in ways that hide bad data (it
pads short rows with NaN, renames duplicate columns to ``a.1``, guesses encodings, reads a
gzip by accident). A dataset version is evidence, so a file that is not what it looks like is
refused with a sentence that says which line to fix, instead of being silently repaired.

Some problems do not make a file unusable but change what a model learns from it; those load,
and come back as ``Finding`` records next to the frame (``load_table``), each naming the column
and the line. The decisions, so a reviewer can rely on them:

* "NA", "null", "None" stay strings; only empty cells are missing.
* "inf", "-inf", "nan", "NaN" (any case, also "Infinity") in an otherwise numeric column are
  read as missing values (NaN), never as infinities: an infinity makes scikit-learn refuse the
  whole matrix at training time, far from the import that could have explained it. A finding
  says how many there were. A numeric Parquet/CSV column already holding infinities gets the
  same treatment.
* A mostly-numeric column with some text stays text, so no value is silently dropped.
* Digit strings with leading zeros (zip codes, account numbers) and integers beyond 2**53 in
  magnitude stay strings: turning them into numbers would lose the zeros or, through float64,
  the last digits.
* A field longer than ``max_field_chars`` is refused with its line number rather than loaded:
  a multi-kilobyte cell is almost always a broken quote that swallowed many rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.ml.errors import DataFileError
from app.ml.findings import Finding

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
_OTHER_DELIMITERS: tuple[str, ...] = (";", "\t", "|")
_EXAMPLES = 3  # how many offending values a finding quotes

NON_FINITE_PATTERN = r"[+-]?(?:inf|infinity|nan)"
INTEGER_PATTERN = r"[+-]?\d+"
ISO_DATE_PATTERN = (
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
# =, +, -, @ followed by a letter (or "=" followed by anything): what a spreadsheet runs.
FORMULA_PATTERN = r"\s*(?:=\S|[+\-@]\s*[A-Za-z])"
_MAX_EXACT_FLOAT_INT = "9007199254740992"  # 2**53, as 16 digits


@dataclass(frozen=True)
class LoadedTable:
    """A table that passed every refusal, and what is worth knowing about how it loaded."""

    frame: pd.DataFrame
    findings: tuple[Finding, ...]


def load_table(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = 1_000_000_000,
    max_field_chars: int = 10_000,
) -> LoadedTable:
    """Read a CSV or Parquet file, refusing files that are not clean tables.

    Every refusal is a ``DataFileError`` whose message names the file and says what to do.
    Problems a user should know about but that do not make the file unusable (see the module
    docstring) are returned as findings, each naming its column and the line (CSV) or row
    (Parquet) of an example.
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
        frame = _read_parquet(file, size)
        findings = _column_findings(frame, None, None)
        return LoadedTable(frame, tuple(findings))
    return _read_csv(file, size, max_field_chars)


def read_table(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = 1_000_000_000,
    max_field_chars: int = 10_000,
) -> pd.DataFrame:
    """``load_table(...).frame``: the same refusals and conversions, without the findings."""
    return load_table(path, max_bytes=max_bytes, max_field_chars=max_field_chars).frame


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


def _read_csv(file: Path, size: int, max_field_chars: int) -> LoadedTable:
    """Check the raw bytes and the row shape, let pandas infer types, then review each column."""
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
    lines = _check_csv_shape(name, text, max_field_chars)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
            low_memory=False,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataFileError(f"{name} could not be parsed as CSV ({exc}): check its format") from exc
    findings: list[Finding] = []
    if raw.startswith(_UTF8_BOM):
        findings.append(Finding(
            "bom", str(frame.columns[0]), "info",
            f"the file starts with a UTF-8 byte-order mark; it was removed so the first column "
            f"is named {str(frame.columns[0])!r}",
        ))
    line_of = lines if len(lines) == len(frame) else None  # pandas skipped something csv did not
    findings += _column_findings(frame, line_of, text)
    return LoadedTable(frame, tuple(findings))


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


def _check_csv_shape(name: str, text: str, max_field_chars: int) -> array:
    """Refuse bad headers, other delimiters, over-long fields and ragged rows.

    Returns the line on which each data row starts (1-based), so findings can point at lines
    even when quoted fields span several of them.
    """
    old_limit = csv.field_size_limit()
    csv.field_size_limit(max(old_limit, max_field_chars + 1))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    starts = array("q")
    try:
        header = next(reader, None)
        while header == []:  # pandas skips blank lines before the header too
            header = next(reader, None)
        if header is None:
            raise DataFileError(f"{name} is empty: export the data again with a header row")
        _check_delimiter(name, header, text)
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
        _check_field_lengths(name, header, header, reader.line_num, max_field_chars)
        previous_end = reader.line_num
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not row or (len(row) == 1 and len(header) == 1 and not row[0].strip()):
                continue  # blank (or whitespace-only) lines: pandas skips them as well
            if len(row) != len(header):
                raise DataFileError(
                    f"{name} line {reader.line_num} has {len(row)} fields but the header has "
                    f"{len(header)}: fix the row or quote its commas"
                )
            if max(map(len, row)) > max_field_chars:
                _check_field_lengths(name, header, row, start, max_field_chars)
            starts.append(start)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataFileError(
                f"{name} line {reader.line_num} has a field longer than the "
                f"{max_field_chars:,}-character limit: check for an unclosed quote there, or "
                "shorten the text"
            ) from exc
        raise DataFileError(
            f"{name} line {reader.line_num} is not valid CSV ({exc}): fix the quoting on that line"
        ) from exc
    finally:
        csv.field_size_limit(old_limit)
    if len(starts) == 0:
        raise DataFileError(f"{name} has a header but no data rows: export the rows too")
    return starts


def _check_delimiter(name: str, header: list[str], text: str) -> None:
    """Refuse a file whose single header column is really several joined by ';', tab or '|'.

    Checked before the row shape, because a ';'-file with decimal commas would otherwise be
    reported as ragged rows, which sends the user looking in the wrong place.
    """
    if len(header) != 1:
        return
    sample = [line for line in text.splitlines()[:50] if line.strip()][:6]
    for delimiter in _OTHER_DELIMITERS:
        count = header[0].count(delimiter)
        if count and all(line.count(delimiter) == count for line in sample[1:]):
            raise DataFileError(
                f"{name} looks {delimiter!r}-delimited (its header is one column "
                f"{_show(header[0])}): export with commas"
            )


def _check_field_lengths(
    name: str, header: list[str], row: list[str], line: int, max_field_chars: int
) -> None:
    """Refuse the first over-long field of ``row``, naming its line and column."""
    for column, field in zip(header, row):
        if len(field) > max_field_chars:
            raise DataFileError(
                f"{name} line {line} has a {len(field):,}-character value in column "
                f"{column!r}, more than the {max_field_chars:,}-character limit: check for an "
                "unclosed quote there, or shorten the text"
            )


def _read_parquet(file: Path, size: int) -> pd.DataFrame:
    """Read Parquet with pyarrow, refusing the same bad column names as for CSV."""
    import pyarrow.parquet as pq

    name = file.name
    if size == 0:
        raise DataFileError(f"{name} is empty: export the data again")
    try:
        schema = pq.read_schema(file)
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise DataFileError(
            f"{name} is not a readable Parquet file ({exc}): export it again"
        ) from exc
    names = list(schema.names)
    nested = [f"'{field.name}' ({field.type})" for field in schema if field.type.num_fields > 0]
    if nested:
        raise DataFileError(
            f"{name} has nested column(s) {', '.join(nested)}: a dataset holds one value per cell, so "
            "flatten them (one column per field, or the list as text) and import again"
        )
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


# --- per-column review after loading --------------------------------------------------------


def _column_findings(
    frame: pd.DataFrame, lines: Sequence[int] | None, text: str | None
) -> list[Finding]:
    """Review every column, converting it in place where the module docstring says so.

    ``lines`` maps row positions to CSV lines (None: say "row N"); ``text`` is the CSV text,
    needed to see the digits of columns pandas already turned into numbers.
    """
    findings: list[Finding] = [
        Finding("padded_name", str(column), "warning",
                f"column name {str(column)!r} has spaces around it: it is kept as written, so name it with the "
                f"spaces (or rename it to {str(column).strip()!r} in the file and import it again)")
        for column in frame.columns if str(column) != str(column).strip()
    ]
    original_index = frame.index
    frame.index = pd.RangeIndex(len(frame))  # positions, for line numbers; restored below
    try:
        _review_columns(frame, lines, text, findings)
    finally:
        frame.index = original_index
    return findings


def _review_columns(
    frame: pd.DataFrame, lines: Sequence[int] | None, text: str | None, findings: list[Finding]
) -> None:
    """The body of ``_column_findings``, on a frame indexed by row position."""
    raw_numeric: pd.DataFrame | None = None
    if text is not None:
        # numeric columns (their digits), and object columns pandas filled with Python ints
        # too big for int64 next to other values (those become text again)
        numeric = [c for c in frame.columns
                   if (pd.api.types.is_numeric_dtype(frame[c].dtype)
                       and not pd.api.types.is_bool_dtype(frame[c].dtype))
                   or (frame[c].dtype == object and column_kind(frame[c]) != "boolean")]
        if numeric:
            raw_numeric = pd.read_csv(
                io.StringIO(text), usecols=numeric, dtype=str, keep_default_na=False,
                na_values=[""], skip_blank_lines=True, low_memory=False,
            )
            if len(raw_numeric) != len(frame):
                raw_numeric = None
    for column in list(frame.columns):
        series = frame[column]
        dtype = series.dtype
        label = str(column)
        if pd.api.types.is_bool_dtype(dtype):
            pass  # True/False: only the column's shape (constant, all empty) below is worth checking
        elif pd.api.types.is_numeric_dtype(dtype):
            raw = raw_numeric[column] if raw_numeric is not None else None
            findings += _numeric_column(frame, label, column, raw, lines)
        elif pd.api.types.is_string_dtype(dtype) or dtype == object:
            if dtype == object and raw_numeric is not None and column in raw_numeric.columns \
                    and column_kind(series) != "boolean":
                frame[column] = raw_numeric[column].astype("str")
            findings += _text_column(frame, label, column, lines, from_csv=text is not None)
        findings += _shape_of_values(frame[column], label)


def _numeric_column(
    frame: pd.DataFrame, label: str, column: Any, raw: pd.Series | None,
    lines: Sequence[int] | None,
) -> list[Finding]:
    """Leading zeros and big integers (back to strings), infinities (to NaN)."""
    findings: list[Finding] = []
    if raw is not None:
        present = raw.dropna()
        if len(present) and bool(present.str.fullmatch(INTEGER_PATTERN).all()):
            leading = present.str.match(r"[+-]?0\d")
            big = _beyond_float_precision(present)
            if leading.any() or big.any():
                frame[column] = raw.astype("str")
            if leading.any():
                examples = _examples(present[leading], lines)
                findings.append(Finding(
                    "leading_zeros", label, "info",
                    f"column {label!r} has {int(leading.sum()):,} values with leading zeros "
                    f"(such as {examples}): kept as text so the zeros survive, as for zip codes "
                    "or account numbers",
                ))
            if big.any():
                findings.append(_precision_finding(label, present[big], lines))
            return findings
    values = frame[column]
    if pd.api.types.is_float_dtype(values.dtype):
        infinite = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
        if infinite.any():
            shown = raw[infinite] if raw is not None else values[infinite]
            frame[column] = values.mask(infinite)
            findings.append(_non_finite_finding(label, shown, lines))
    return findings


def _text_column(
    frame: pd.DataFrame, label: str, column: Any, lines: Sequence[int] | None, *, from_csv: bool
) -> list[Finding]:
    """Mixed types, inf/nan literals, big integers, bad dates and formula-like cells."""
    findings: list[Finding] = []
    present = frame[column].dropna()
    if not pd.api.types.is_string_dtype(present.dtype) or present.dtype == object:
        present = present[present.map(lambda v: isinstance(v, str))].astype("str")
    if not len(present):
        return findings
    stripped = present.str.strip()
    if from_csv:
        special = stripped.str.fullmatch(NON_FINITE_PATTERN, case=False)
        number = pd.to_numeric(stripped.mask(special), errors="coerce").notna() | special
        if bool(number.all()) and bool(special.any()):
            cells = frame[column].astype("str").str.strip()
            literal = cells.str.fullmatch(NON_FINITE_PATTERN, case=False).fillna(False)
            converted = pd.to_numeric(cells.mask(literal.astype(bool)), errors="coerce")
            converted = converted.astype("float64")
            # every cell emptied is reported: the literals and the numbers too big for a float (1e400)
            emptied = (literal.astype(bool) | np.isinf(converted)) & frame[column].notna()
            frame[column] = converted.mask(np.isinf(converted))
            findings.append(_non_finite_finding(label, present[emptied.loc[present.index]], lines))
            return findings
        integer = stripped.str.fullmatch(INTEGER_PATTERN)
        if bool(integer.all()):
            big = _beyond_float_precision(stripped)
            if big.any():
                findings.append(_precision_finding(label, present[big], lines))
            return findings
        if float(number.mean()) > 0.5:
            text = present[~number]
            findings.append(Finding(
                "mixed_types", label, "warning",
                f"column {label!r} is mostly numeric ({int(number.sum()):,} of {len(present):,} "
                f"values) but has {len(text):,} text values such as {_examples(text, lines)}: "
                "kept as text; fix or blank those cells to make it numeric",
            ))
        else:
            findings += _date_findings(label, present, stripped, lines)
    formula = present.str.match(FORMULA_PATTERN) & ~stripped.str.fullmatch(
        NON_FINITE_PATTERN, case=False)
    if formula.any():
        findings.append(Finding(
            "formula_text", label, "warning",
            f"column {label!r} has {int(formula.sum()):,} cells that start like a spreadsheet "
            f"formula (such as {_examples(present[formula], lines)}): a spreadsheet opening an "
            "export would run them (CSV injection); they are kept as text, escape them before "
            "sharing the data as a spreadsheet",
        ))
    return findings


def _date_findings(
    label: str, present: pd.Series, stripped: pd.Series, lines: Sequence[int] | None
) -> list[Finding]:
    """A column that is mostly ISO dates but has some values that are not valid dates."""
    iso = stripped.str.fullmatch(ISO_DATE_PATTERN)
    if float(iso.mean()) <= 0.5:
        return []
    parsed = pd.to_datetime(stripped.where(iso), format="ISO8601", errors="coerce", utc=True)
    bad = ~(iso & parsed.notna())
    if not bad.any():
        return []
    return [Finding(
        "bad_dates", label, "warning",
        f"column {label!r} is mostly ISO dates ({int((~bad).sum()):,} of {len(present):,} "
        f"values) but {int(bad.sum()):,} are not valid dates, such as "
        f"{_examples(present[bad], lines)}: kept as text; fix those cells",
    )]


def _shape_of_values(series: pd.Series, label: str) -> list[Finding]:
    """Columns that cannot help a model: no values at all, or one value everywhere."""
    n_missing = int(series.isna().sum())
    if n_missing == len(series):
        return [Finding(
            "all_empty", label, "warning",
            f"column {label!r} is empty in all {len(series):,} rows: drop it or fill it",
        )]
    try:
        unique = series.dropna().unique()
    except TypeError:  # unhashable cells (lists from Parquet): not a constant to report
        return []
    if len(unique) == 1:
        gaps = f" (and {n_missing:,} empty cells)" if n_missing else ""
        return [Finding(
            "constant", label, "warning",
            f"column {label!r} has the single value {_show(_plain(unique[0]))} in every "
            f"row{gaps}: it cannot help a model; drop it or check the export",
        )]
    return []


def _beyond_float_precision(digits: pd.Series) -> pd.Series:
    """Which integer strings are beyond 2**53 in magnitude (float64 would change them)."""
    core = digits.str.strip().str.lstrip("+-").str.lstrip("0")
    length = core.str.len()
    return (length > 16) | ((length == 16) & (core > _MAX_EXACT_FLOAT_INT))


def _precision_finding(label: str, big: pd.Series, lines: Sequence[int] | None) -> Finding:
    return Finding(
        "integer_precision", label, "warning",
        f"column {label!r} has {len(big):,} integers beyond 2**53 (such as "
        f"{_examples(big, lines)}): kept as text, because as numbers they would lose their last "
        "digits; if they are identifiers, leave them out of the features",
    )


def _non_finite_finding(label: str, shown: pd.Series, lines: Sequence[int] | None) -> Finding:
    return Finding(
        "non_finite", label, "warning",
        f"column {label!r} has {len(shown):,} inf/nan values (such as "
        f"{_examples(shown, lines)}): read as missing values so training does not fail on "
        "them; fix the export if they meant something else",
    )


def _examples(values: pd.Series, lines: Sequence[int] | None) -> str:
    """The first few distinct offending values, each with the line (CSV) or row it is on."""
    shown: list[str] = []
    seen: set[str] = set()
    for position, value in zip(_positions(values), values.tolist()):
        text = str(value)
        if text in seen:
            continue
        seen.add(text)
        where = f"line {lines[position]}" if lines is not None else f"row {position + 1}"
        shown.append(f"{_show(text)} on {where}")
        if len(shown) == _EXAMPLES:
            break
    return ", ".join(shown)


def _positions(values: pd.Series) -> list[int]:
    """Row positions of a filtered slice of a column (``_column_findings`` indexes by position)."""
    return [int(i) for i in values.index]


def _show(value: Any, limit: int = 40) -> str:
    """repr() of a value, shortened, so a finding stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[-1]


# --- hash, schema, profile ------------------------------------------------------------------


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
