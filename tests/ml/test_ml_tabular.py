"""Reading tables: every refusal names the file and the fix; clean files keep their types."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from app.ml.errors import DataFileError
from app.ml.tabular import profile_of, read_table, schema_of, sha256_file


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def refusal(path: Path, **kwargs: int) -> str:
    with pytest.raises(DataFileError) as caught:
        read_table(path, **kwargs)
    message = str(caught.value)
    assert path.name in message
    assert "\n" not in message
    return message


def test_clean_csv_keeps_numeric_columns_numeric_and_na_strings_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "age,region,score,flag\n31,NA,0.5,true\n45,EU,,false\n")
    df = read_table(path)
    assert list(df.columns) == ["age", "region", "score", "flag"]
    assert pd.api.types.is_integer_dtype(df["age"])
    assert pd.api.types.is_float_dtype(df["score"])
    assert df["region"].tolist() == ["NA", "EU"]
    assert pd.isna(df.loc[1, "score"])
    assert schema_of(df) == {
        "age": "numeric", "region": "categorical", "score": "numeric", "flag": "boolean",
    }


def test_bom_is_stripped_from_first_column_name(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfid,v\n1,2\n")
    assert list(read_table(path).columns) == ["id", "v"]


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in refusal(tmp_path / "nowhere.csv")


def test_unknown_suffix(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "data.xlsx", "a\n1\n"))
    assert ".csv" in message and ".parquet" in message


@pytest.mark.parametrize("content", ["", "  \n\n "])
def test_empty_file(tmp_path: Path, content: str) -> None:
    assert "empty" in refusal(write(tmp_path, "empty.csv", content))


def test_too_large(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "big.csv", "a,b\n1,2\n" * 20), max_bytes=50)
    assert "limit" in message


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (gzip.compress(b"a,b\n1,2\n"), "gzip"),
        (b"PK\x03\x04rest-of-zip", "zip"),
        (bz2.compress(b"a,b\n1,2\n"), "bzip2"),
        (b"\xfd7zXZ\x00\x00rest", "xz"),
    ],
)
def test_compressed_file(tmp_path: Path, payload: bytes, kind: str) -> None:
    message = refusal(write(tmp_path, "packed.csv", payload))
    assert "looks compressed" in message and kind in message and "decompress it first" in message


def test_nul_bytes(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "bin.csv", b"a,b\n1,2\n3,\x00\n"))
    assert "binary, not CSV" in message and "line 3" in message


def test_invalid_utf8_names_line_and_offset(tmp_path: Path) -> None:
    raw = b"name,city\nann,Lisbon\nbob,K\xf6ln\n"
    message = refusal(write(tmp_path, "latin.csv", raw))
    assert "UTF-8" in message
    assert "line 3" in message
    bad_offset = raw.index(b"\xf6")
    assert f"offset {bad_offset}" in message


def test_blank_header_name(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "blank.csv", "a,,c\n1,2,3\n"))
    assert "blank column name" in message and "position 2" in message


def test_duplicate_header_names_are_named(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "dup.csv", "id,x,id,y,x\n1,2,3,4,5\n"))
    assert "duplicate" in message and "'id'" in message and "'x'" in message and "'y'" not in message


def test_ragged_row_names_first_bad_line_and_counts(tmp_path: Path) -> None:
    rows = "a,b,c,d,e\n" + "1,2,3,4,5\n" * 5 + "1,2,3\n" + "1,2\n"
    message = refusal(write(tmp_path, "data.csv", rows))
    assert message.startswith("data.csv line 7 has 3 fields but the header has 5")
    assert "quote" in message


def test_quoted_commas_and_newlines_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", 'a,b\n"x, y",1\n"two\nlines",2\n')
    df = read_table(path)
    assert df["a"].tolist() == ["x, y", "two\nlines"]


def test_header_without_rows(tmp_path: Path) -> None:
    assert "no data rows" in refusal(write(tmp_path, "head.csv", "a,b,c\n"))


def test_parquet_round_trip_and_duplicate_names(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pd.DataFrame({"a": [1, 2], "b": ["x", "NA"]}).to_parquet(good)
    df = read_table(good)
    assert df["b"].tolist() == ["x", "NA"] and schema_of(df)["a"] == "numeric"

    dup = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), dup)
    assert "duplicate" in refusal(dup)

    broken = write(tmp_path, "broken.parquet", b"not parquet at all")
    assert "Parquet" in refusal(broken)


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    data = b"a,b\n" + b"1,2\n" * 100_000
    path = write(tmp_path, "h.csv", data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_profile_is_plain_json(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "n": [1.0, 2.0, None, 4.0],
            "c": ["a", "b", "a", None],
            "b": [True, False, True, True],
            "t": pd.to_datetime(["2024-01-01", "2024-02-01", None, "2024-03-01"]),
            "empty": [None, None, None, None],
        }
    )
    profile = profile_of(df)
    assert json.loads(json.dumps(profile, allow_nan=False)) == profile
    assert profile["n_rows"] == 4 and profile["n_columns"] == 5
    n = profile["columns"]["n"]
    assert n["kind"] == "numeric" and n["missing"] == 1 and n["unique"] == 3
    assert n["mean"] == pytest.approx(7 / 3) and n["min"] == 1.0 and n["max"] == 4.0
    c = profile["columns"]["c"]
    assert c["kind"] == "categorical" and c["top"][0] == ["a", 2]
    assert profile["columns"]["b"]["kind"] == "boolean"
    assert profile["columns"]["t"]["kind"] == "datetime"
    assert profile["columns"]["empty"]["missing"] == 4
