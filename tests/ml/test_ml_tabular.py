"""Reading tables: every refusal names the file and the fix; clean files keep their types."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.ml.errors import DataFileError
from app.ml.findings import Finding
from app.ml.tabular import LoadedTable, load_table, profile_of, read_table, schema_of, sha256_file


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
    ids=["gzip", "zip", "bzip2", "xz"],  # gzip's header holds the time: xdist workers must agree on ids
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



# --- load_table: findings and the newer refusals -------------------------------------------


def loaded(tmp_path: Path, text: str | bytes, name: str = "data.csv", **kwargs: int) -> LoadedTable:
    return load_table(write(tmp_path, name, text), **kwargs)


def only(table: LoadedTable, check: str) -> Finding:
    matches = [f for f in table.findings if f.check == check]
    assert len(matches) == 1, table.findings
    return matches[0]


def test_clean_file_has_no_findings_and_read_table_is_its_frame(tmp_path: Path) -> None:
    text = "id,age,city,score\n1,31,Lisbon,0.5\n2,45,Berlin,-1.25\n3,28,NA,2\n"
    table = loaded(tmp_path, text)
    assert table.findings == ()
    pd.testing.assert_frame_equal(table.frame, read_table(tmp_path / "data.csv"))
    assert table.frame["score"].tolist() == [0.5, -1.25, 2.0]


def test_bom_is_accepted_with_an_info_finding(tmp_path: Path) -> None:
    table = loaded(tmp_path, b"\xef\xbb\xbfid,v\n1,2\n2,3\n")
    finding = only(table, "bom")
    assert finding.severity == "info" and finding.column == "id"
    assert "byte-order mark" in finding.detail and "'id'" in finding.detail
    assert finding.as_dict() == {"check": "bom", "column": "id", "severity": "info",
                                 "detail": finding.detail}


@pytest.mark.parametrize(("delimiter", "shown"), [(";", "';'"), ("\t", "'\\t'"), ("|", "'|'")])
def test_other_delimiters_are_refused_before_the_row_shape(
    tmp_path: Path, delimiter: str, shown: str
) -> None:
    # decimal commas would otherwise make this look like ragged rows
    rows = ["id", "price", "city"], ["1", "2,5", "Lisbon"], ["2", "3,75", "Porto"]
    text = "\n".join(delimiter.join(r) for r in rows) + "\n"
    message = refusal(write(tmp_path, "semi.csv", text))
    assert f"looks {shown}-delimited" in message and "export with commas" in message


def test_single_column_whose_name_has_a_semicolon_is_fine(tmp_path: Path) -> None:
    table = loaded(tmp_path, "note;kind\nplain\nother\n")
    assert table.frame["note;kind"].tolist() == ["plain", "other"]


def test_mixed_types_names_examples_and_lines_and_keeps_text(tmp_path: Path) -> None:
    text = "amount,x\n" + "".join(f"{i},{i}\n" for i in range(10)) + "n/a,1\n12,1\nn/a,2\n?,3\n"
    table = loaded(tmp_path, text)
    finding = only(table, "mixed_types")
    assert finding.column == "amount" and finding.severity == "warning"
    assert "11 of 14 values" in finding.detail and "3 text values" in finding.detail
    assert "'n/a' on line 12" in finding.detail and "'?' on line 15" in finding.detail
    assert table.frame["amount"].tolist()[10] == "n/a"
    assert not pd.api.types.is_numeric_dtype(table.frame["amount"])


def test_line_numbers_follow_multi_line_quoted_fields(tmp_path: Path) -> None:
    text = 'n,note\n1,"two\nlines"\n2,x\n3,y\n4,z\noops,w\n'
    finding = only(loaded(tmp_path, text), "mixed_types")
    assert "'oops' on line 7" in finding.detail


def test_inf_and_nan_literals_become_missing_with_a_count(tmp_path: Path) -> None:
    text = "a,b\n1.5,1.0\ninf,2.0\nnan,inf\n-inf,4.0\nNaN,5.0\n2.5,-Infinity\n"
    table = loaded(tmp_path, text)
    a = [f for f in table.findings if f.column == "a"]
    assert [f.check for f in a] == ["non_finite"]
    assert "4 inf/nan values" in a[0].detail and "'inf' on line 3" in a[0].detail
    assert "missing values" in a[0].detail
    b = [f for f in table.findings if f.column == "b"]
    assert [f.check for f in b] == ["non_finite"] and "2 inf/nan values" in b[0].detail
    frame = table.frame
    assert pd.api.types.is_float_dtype(frame["a"]) and pd.api.types.is_float_dtype(frame["b"])
    assert frame["a"].isna().tolist() == [False, True, True, True, True, False]
    assert not np.isinf(frame[["a", "b"]].to_numpy()).any()
    assert "formula_text" not in {f.check for f in table.findings}  # "-inf" is not a formula


def test_constant_and_all_empty_columns(tmp_path: Path) -> None:
    table = loaded(tmp_path, "k,c,e\n1,x,\n2,x,\n3,,\n")
    constant = only(table, "constant")
    assert constant.column == "c" and "single value 'x'" in constant.detail
    assert "1 empty cells" in constant.detail
    empty = only(table, "all_empty")
    assert empty.column == "e" and "empty in all 3 rows" in empty.detail


def test_bad_dates_are_named(tmp_path: Path) -> None:
    days = [f"2024-01-{d:02d}" for d in range(1, 10)] + ["2024-02-30", "31/01/2024"]
    text = "day,v\n" + "".join(f"{d},{i}\n" for i, d in enumerate(days))
    finding = only(loaded(tmp_path, text), "bad_dates")
    assert finding.column == "day" and "9 of 11" in finding.detail
    assert "'2024-02-30' on line 11" in finding.detail and "'31/01/2024' on line 12" in finding.detail


def test_valid_dates_have_no_finding(tmp_path: Path) -> None:
    text = "day,v\n2024-01-01,1\n2024-01-02T10:00:00Z,2\n2024-01-03 10:00,3\n"
    assert loaded(tmp_path, text).findings == ()


def test_leading_zero_identifiers_stay_strings(tmp_path: Path) -> None:
    table = loaded(tmp_path, "zip,n\n01234,1\n12345,2\n00501,3\n,4\n")
    finding = only(table, "leading_zeros")
    assert finding.severity == "info" and finding.column == "zip"
    assert "2 values" in finding.detail and "'01234' on line 2" in finding.detail
    assert table.frame["zip"].tolist()[:3] == ["01234", "12345", "00501"]
    assert pd.isna(table.frame["zip"].iloc[3])
    assert pd.api.types.is_integer_dtype(table.frame["n"])


def test_integers_beyond_2_53_stay_exact(tmp_path: Path) -> None:
    exact, beyond, huge = 2**53, -(2**53 + 1), 123456789012345678901234
    text = f"small,big,huge\n{exact},{beyond},1\n1,2,\n3,4,{huge}\n"
    table = loaded(tmp_path, text)
    flagged = {f.column: f for f in table.findings if f.check == "integer_precision"}
    assert set(flagged) == {"big", "huge"}
    assert flagged["big"].severity == "warning"
    assert f"'{beyond}' on line 2" in flagged["big"].detail and "kept as text" in flagged["big"].detail
    assert f"'{huge}' on line 4" in flagged["huge"].detail
    assert table.frame["big"].tolist() == [str(beyond), "2", "4"]
    assert table.frame["huge"].tolist()[2] == str(huge)
    assert table.frame["small"].tolist()[0] == exact  # 2**53 itself is exact in float64


def test_formula_like_text_is_counted_but_negative_numbers_are_not(tmp_path: Path) -> None:
    text = (
        "comment,delta,handle\n"
        '"=HYPERLINK(""http://x"")",-1,@ann\n'
        "+cmd,-2.5,bob\n"
        "-SUM(A1),-3,carl\n"
        "plain text,4,dora\n"
        "1+1,5,eve\n"
    )
    table = loaded(tmp_path, text)
    findings = {f.column: f for f in table.findings if f.check == "formula_text"}
    assert set(findings) == {"comment", "handle"}
    assert findings["comment"].severity == "warning"
    assert "3 cells" in findings["comment"].detail and "CSV injection" in findings["comment"].detail
    assert "on line 2" in findings["comment"].detail and "'+cmd' on line 3" in findings["comment"].detail
    assert "1 cells" in findings["handle"].detail
    assert pd.api.types.is_float_dtype(table.frame["delta"])


def test_over_long_field_is_refused_with_line_and_column(tmp_path: Path) -> None:
    text = "id,note\n1,short\n2," + "x" * 101 + "\n"
    message = refusal(write(tmp_path, "long.csv", text), max_field_chars=100)
    assert "line 3" in message and "'note'" in message and "100-character limit" in message
    assert list(loaded(tmp_path, text, name="ok.csv", max_field_chars=101).frame.columns) == ["id", "note"]


def test_field_beyond_the_csv_module_default_limit(tmp_path: Path) -> None:
    big = "y" * 140_000  # the csv module refuses fields over 131,072 characters by default
    text = "id,note\n1,a\n2," + big + "\n"
    assert "line 3" in refusal(write(tmp_path, "huge.csv", text))
    table = loaded(tmp_path, text, name="allowed.csv", max_field_chars=200_000)
    assert table.frame["note"].iloc[1] == big


def test_na_like_strings_stay_strings_only_empty_is_missing(tmp_path: Path) -> None:
    table = loaded(tmp_path, "code,v\nNA,1\nnull,2\nNone,3\n,4\n")
    assert table.frame["code"].tolist()[:3] == ["NA", "null", "None"]
    assert pd.isna(table.frame["code"].iloc[3])
    assert table.findings == ()


def test_parquet_findings_use_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pd.DataFrame(
        {"c": ["k", "k", "k"], "e": [None, None, None], "x": [1.0, np.inf, 3.0],
         "t": ["ok", "=cmd()", "fine"]},
        index=[10, 20, 30],
    ).to_parquet(path)
    table = load_table(path)
    checks = {(f.check, f.column) for f in table.findings}
    assert checks == {("constant", "c"), ("all_empty", "e"), ("non_finite", "x"),
                      ("formula_text", "t")}
    assert "row 2" in only(table, "non_finite").detail
    assert "row 2" in only(table, "formula_text").detail
    assert pd.isna(table.frame["x"].loc[20]) and list(table.frame.index) == [10, 20, 30]


def test_parquet_blank_column_name_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "blank.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["a", " "]), path)
    assert "blank column name at position 2" in refusal(path)
