"""Bad data files are refused with one sentence, through the service and through `mlwb`.

A refused import leaves no dataset version and no audit event; the CLI prints one line that
starts with "error:", exits 2 and never shows a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import NotFound, WorkbenchError
from app.services import audit_trail, datasets, projects
from app.services.workbench import Workbench

REPO = Path(__file__).resolve().parents[1]
PROJECT = "imports"

# name -> (file name, bytes or None for "no file", project, message fragment)
CASES: dict[str, tuple[str, bytes | None, str, str]] = {
    "empty": ("empty.csv", b"", PROJECT, "empty.csv is empty"),
    "blank-lines-only": ("blank.csv", b"\n \n\n", PROJECT, "blank.csv is empty"),
    "non-utf8": ("latin.csv", b"a,b\n1,\xff\n", PROJECT, "latin.csv is not valid UTF-8: line 2 has the byte 0xff"),
    "ragged": ("ragged.csv", b"a,b\n1,2\n3\n", PROJECT, "ragged.csv line 3 has 1 fields but the header has 2"),
    "duplicate-header": ("dupes.csv", b"a,b,a\n1,2,3\n", PROJECT, "dupes.csv has duplicate column names 'a'"),
    "header-only": ("header.csv", b"a,b\n", PROJECT, "header.csv has a header but no data rows"),
    "gzipped": ("packed.csv", gzip.compress(b"a,b\n1,2\n"), PROJECT, "packed.csv looks compressed (gzip)"),
    "missing-file": ("nowhere.csv", None, PROJECT, "nowhere.csv does not exist"),
    "unknown-project": ("good.csv", b"a,b\n1,2\n", "nope", "no project 'nope'"),
}


def _write(tmp_path: Path, name: str, content: bytes | None) -> Path:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def project_wb(wb: Workbench) -> Workbench:
    projects.create_project(wb, PROJECT, problem_type="binary_classification")
    return wb


@pytest.mark.parametrize("case", list(CASES))
def test_service_refuses_bad_file_and_writes_nothing(project_wb: Workbench, tmp_path: Path, case: str) -> None:
    name, content, slug, fragment = CASES[case]
    path = _write(tmp_path, name, content)
    before = audit_trail.head(project_wb)
    expected = NotFound if case == "unknown-project" else WorkbenchError
    with pytest.raises(expected) as info:
        datasets.import_dataset(project_wb, slug, path)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert audit_trail.head(project_wb) == before
    assert datasets.list_datasets(project_wb, PROJECT) == []
    assert not any(wb_file.is_file() for wb_file in project_wb.workspace.artifacts_dir.rglob("*"))


@pytest.mark.parametrize("case", list(CASES))
def test_cli_refuses_bad_file_with_one_error_line(project_wb: Workbench, tmp_path: Path, case: str) -> None:
    name, content, slug, fragment = CASES[case]
    path = _write(tmp_path, name, content)
    before = audit_trail.head(project_wb)

    result = _cli("data", "import", slug, str(path))

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert result.stdout == ""
    assert audit_trail.head(project_wb) == before
    assert datasets.list_datasets(project_wb, PROJECT) == []


def test_cli_import_prints_the_version_number_and_sha256(project_wb: Workbench, tmp_path: Path) -> None:
    path = _write(tmp_path, "good.csv", b"age,city,clicked\n31,Lisbon,1\n45,Berlin,0\n27,Lisbon,0\n")
    result = _cli("data", "import", PROJECT, str(path), "--target", "clicked")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # The project has no statement yet: the one finding is the stage-order warning (issue 13, point 6).
    match = re.fullmatch(r"dataset (\d+) sha256 ([0-9a-f]{64}) rows 3 columns 3\n"
                         r"  finding \[warning\] stage_order : imported before the problem statement was approved[^\n]*\n",
                         result.stdout)
    assert match, result.stdout
    (version,) = datasets.list_datasets(project_wb, PROJECT)
    assert int(match[1]) == version.number
    assert match[2] == version.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert version.target == "clicked"
    assert audit_trail.verify(project_wb).ok

    again = _cli("data", "import", PROJECT, str(path), "--target", "clicked")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"dataset {version.number} sha256 {version.sha256}")
    assert "already imported" in again.stdout
    assert len(datasets.list_datasets(project_wb, PROJECT)) == 1


def test_cli_unknown_target_is_refused(project_wb: Workbench, tmp_path: Path) -> None:
    path = _write(tmp_path, "good.csv", b"age,clicked\n31,1\n45,0\n")
    before = audit_trail.head(project_wb)
    result = _cli("data", "import", PROJECT, str(path), "--target", "bought")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: target column 'bought' is not in good.csv (columns: age, clicked)"]
    assert audit_trail.head(project_wb) == before


def test_checking_a_dataset_too_small_to_split_reports_quality_and_says_leakage_was_not_checked(
        project_wb: Workbench, tmp_path: Path) -> None:
    path = _write(tmp_path, "ten.csv", b"a,y\n" + b"".join(f"{i},{i % 2}\n".encode() for i in range(10)))
    version = datasets.import_dataset(project_wb, PROJECT, path, target="y")
    done = _cli("data", "check", PROJECT, str(version.number))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "leakage was not checked: no stratified split of these 10 rows is possible" in done.stdout
    assert "at least 7 per class" in done.stdout


def test_a_parquet_file_with_nested_columns_is_refused_naming_them(project_wb: Workbench, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"a": [1, 2], "s": [{"x": 1}, {"x": 2}], "l": [[1], [2]],
                             "m": pa.array([[("k", 1)], [("k", 2)]], type=pa.map_(pa.string(), pa.int64())),
                             "y": [0, 1]}), path)
    head = audit_trail.head(project_wb)
    done = _cli("data", "import", PROJECT, str(path), "--target", "y")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "nested.parquet has nested column(s) 's' (struct<x: int64>), 'l' (list<element: int64>), 'm' (map<" \
        in done.stderr
    assert audit_trail.head(project_wb) == head and datasets.list_datasets(project_wb, PROJECT) == []


def test_what_an_import_empties_or_doubts_is_said(project_wb: Workbench, tmp_path: Path) -> None:
    """Every cell read as missing is counted (1e400 too), a padded header and a four-class target
    in a binary project each get a finding."""
    path = _write(tmp_path, "odd.csv", b"a, b ,y\n1e400,1,0\nNaN,2,1\nInfinity,3,2\n4,4,3\n5,5,0\n-inf,6,1\n")
    version = datasets.import_dataset(project_wb, PROJECT, path, target="y")
    detail = {f["check"]: f["detail"] for f in version.findings}
    assert detail["non_finite"].startswith("column 'a' has 4 inf/nan values (such as '1e400' on line 2")
    assert "column name ' b ' has spaces around it" in detail["padded_name"]
    quality = {f["check"]: f for f in datasets.check_dataset(project_wb, PROJECT, version.id).quality}
    assert quality["target_classes"]["severity"] == "error"
    assert "target 'y' has 4 classes (0, 1, 2, 3) but the project is binary classification" in \
        quality["target_classes"]["detail"]


def test_control_characters_in_user_text_never_reach_the_terminal(project_wb: Workbench, tmp_path: Path) -> None:
    path = _write(tmp_path, "\x1b[31mred\nname\r.csv", b"a,y\n1,0\n2,1\n")
    datasets.import_dataset(project_wb, PROJECT, path, target="y")
    done = _cli("data", "list", PROJECT)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\r" not in done.stdout
    line, warning = done.stdout.splitlines()  # the version, and its stage-order warning (no statement yet)
    assert "\\x1b[31mred\\x0aname\\x0d.csv" in line
    assert warning.startswith("  warning: imported before the problem statement was approved")


def test_names_and_titles_are_limited_at_the_door(wb: Workbench) -> None:
    from app.services import findings, people
    from app.signing import new_signing_key

    head = audit_trail.head(wb)
    with pytest.raises(WorkbenchError, match="a project name is 100,000 characters long; keep it to 200"):
        projects.create_project(wb, "long", problem_type="regression", name="n" * 100_000)
    with pytest.raises(WorkbenchError, match="a person's name is 101 characters long; keep it to 100"):
        people.add_person(wb, "p" * 101, new_signing_key().public_line, "validator")
    projects.create_project(wb, "short", problem_type="regression", name="A sensible name")
    with pytest.raises(WorkbenchError, match="a finding's title is 201 characters long"):
        findings.record_finding(wb, "short", title="t" * 201, severity="low")
    assert audit_trail.head(wb)[1] == head[1] + 1
