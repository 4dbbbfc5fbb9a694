"""The `mlwb` command-line contract, run as real subprocesses against a real workspace.

One fresh demo is built here through `mlwb demo` (small data) and shared by this module's
tests; everything else runs in an empty per-test workspace.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest

from tests.registries import registry_env

REPO = Path(__file__).resolve().parents[1]
# Every test here reads the one workspace `mlwb demo` built (a module fixture): keep them on one
# xdist worker so the demo is built once (make test runs `--dist loadgroup`).
pytestmark = pytest.mark.xdist_group("cli-demo")

OK_RE = re.compile(r"^audit chain OK: (\d+) events, head (\d+) ([0-9a-f]{64})$")
PDF_HEAD_RE = re.compile(r"Audit chain head: (\d+) ([0-9a-f]{64})")


def mlwb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO, env=env if env is not None else os.environ.copy(), capture_output=True, text=True,
        timeout=300,
    )


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = mlwb(*args, env=env)
    assert result.returncode == 0, f"mlwb {' '.join(args)} failed:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def _verify(env: dict[str, str] | None = None) -> tuple[int, int, str]:
    return _verify_with_digest(env)[:3]  # type: ignore[return-value]


def _verify_with_digest(env: dict[str, str] | None = None) -> tuple[int, int, str, str]:
    line, digest_line, rows_line = ok("audit", "verify", env=env).strip().splitlines()
    assert rows_line.startswith("governed rows OK: "), rows_line
    match = OK_RE.match(line)
    assert match, line
    digest = re.fullmatch(r"evidence digest ([0-9a-f]{64})", digest_line)
    assert digest, digest_line
    return int(match[1]), int(match[2]), match[3], digest[1]


def _rows(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh workspace in which `mlwb demo` was run once, and the environment to reach it."""
    home = tmp_path_factory.mktemp("cli-demo") / "mlwb-home"
    env = os.environ.copy()
    env.pop("MLWB_DATABASE_URL", None)
    env.pop("MLWB_SIGNING_KEY", None)
    env.update(MLWB_HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env |= registry_env(home, keep=True)  # on PostgreSQL a database of its own, kept for the module
    result = mlwb("demo", "--rows", "4000", "--batch-rows", "1000", env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        "ctr-demo: created; stage 6 of 6; 2 monitoring alert(s)",
        f"your signing key was created ({home / 'signing.key'}): back it up; `mlwb people whoami` shows it"]
    # First use of a workspace without a keyring says where the key went, once, as a note.
    assert any(line.startswith("note: No usable OS keyring") for line in result.stderr.splitlines())
    assert (home / "audit.key").is_file()
    yield env


def test_demo_project_is_listed_at_stage_six(demo_env: dict[str, str]) -> None:
    result = mlwb("projects", env=demo_env)
    assert result.returncode == 0
    assert "note:" not in result.stderr  # the key notice is not repeated
    (line,) = [row for row in _rows(result.stdout) if "ctr-demo" in row]
    assert line.startswith("ctr-demo\tstage 6 Monitoring\t")
    assert "gate passed" in line and "growth" in line


def test_running_the_demo_again_duplicates_nothing(demo_env: dict[str, str]) -> None:
    def snapshot() -> tuple[int, int, int, int]:
        runs = _rows(ok("runs", "ctr-demo", env=demo_env))
        models = _rows(ok("models", "ctr-demo", env=demo_env))
        batches = [r for r in _rows(ok("monitor", "list", "ctr-demo", env=demo_env)) if r.startswith("2026-")]
        count, _seq, _hash = _verify(demo_env)
        return len(runs), len(models), len(batches), count

    before = snapshot()
    assert before[:3] == (6, 3, 3)  # 4 trained runs, the baseline and champion re-scored by the retraining

    again = mlwb("demo", "--rows", "4000", "--batch-rows", "1000", env=demo_env)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert again.stdout.strip() == "ctr-demo: already present, brought up to date; stage 6 of 6; 2 monitoring alert(s)"

    after = snapshot()
    assert after[:3] == before[:3]
    # Nothing was re-done, so nothing new was audited either.
    assert after[3] == before[3]


def test_report_prints_the_same_audit_head_as_verify(demo_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "ctr-demo report.pdf"
    # deterministic: records nothing, so the head verify prints afterwards is the one in the PDF
    stdout = ok("report", "ctr-demo", "--deterministic", "--out", str(out), env=demo_env)
    printed = re.search(r"\(audit chain head (\d+) ([0-9a-f]{64})\)", stdout)
    assert printed, stdout

    count, seq, head_hash, digest = _verify_with_digest(demo_env)
    text = " ".join(" ".join(page.extract_text() or "" for page in pypdf.PdfReader(str(out)).pages).split())
    in_pdf = set(PDF_HEAD_RE.findall(text))
    assert in_pdf == {(str(seq), head_hash)}
    assert set(re.findall(r"Evidence digest: ([0-9a-f]{64})", text)) == {digest}
    assert (int(printed[1]), printed[2]) == (seq, head_hash)
    assert count == seq


def test_new_project_is_listed_at_stage_one(mlwb_home: Path) -> None:
    created = ok("projects", "new", "my-proj", "--problem-type", "binary_classification", "--maturity", "enterprise")
    assert created.strip() == "my-proj: created at stage 1 (Business goal)"
    (line,) = _rows(ok("projects"))
    fields = line.split("\t")
    assert fields[0] == "my-proj"
    assert fields[1] == "stage 1 Business goal"
    assert fields[2].startswith("gate 0/")
    assert fields[3] == "enterprise"

    again = mlwb("projects", "new", "my-proj", "--problem-type", "regression")
    assert again.returncode == 2
    assert again.stderr.strip() == "error: project 'my-proj' already exists: pick another slug or open it"

    gate = ok("gate", "my-proj")
    assert gate.splitlines()[0] == "stage 1 Business goal: OPEN"
    assert "[MISS]" in gate

    refused = mlwb("advance", "my-proj")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: stage 1 gate of 'my-proj' is not passed")
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("report", "nope", "--out", "{tmp}/nope.pdf"),
        ("gate", "nope"),
        ("runs", "nope"),
    ],
    ids=["report", "gate", "runs"],
)
def test_unknown_project_exits_2_with_one_error_line(mlwb_home: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    result = mlwb(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith("note:")]
    assert len(errors) == 1 and errors[0].startswith("error: no project 'nope'")
    assert result.stdout == ""
    assert not (tmp_path / "nope.pdf").exists()
